"""Validity window: ``not_before`` and ``expires``, whole seconds since the Unix epoch.

The verifier's clock decides. ``expires`` is exclusive and strict; ``not_before`` tolerates
``CLOCK_SKEW_SECONDS`` of an issuer clock running ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Self

from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, MalformedToken, NotNarrowing
from delegation.limits import CLOCK_SKEW_SECONDS

_NOT_BEFORE, _EXPIRES = 1, 2


def _when(t: int) -> str:
    """Unix seconds as people and machines both read them: ``1800000000 (2027-01-15T08:00:00Z)``."""
    return f"{t} ({datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"


@dataclass(frozen=True, slots=True)
class Validity(Caveat):
    type_id: ClassVar[int] = 1
    name: ClassVar[str] = "validity"

    not_before: int | None = None
    expires: int | None = None

    def __post_init__(self) -> None:
        if self.not_before is None and self.expires is None:
            raise MalformedToken("a validity caveat needs not_before, expires or both")
        if self.not_before is not None:
            _body.timestamp(self.not_before, "not_before")
        if self.expires is not None:
            _body.timestamp(self.expires, "expires")
        both = self.not_before is not None and self.expires is not None
        if both and self.not_before >= self.expires:  # type: ignore[operator]
            raise MalformedToken("not_before must come before expires")

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        fields = _body.int_map(body, "validity", frozenset({_NOT_BEFORE, _EXPIRES}))
        nbf, exp = fields.get(_NOT_BEFORE), fields.get(_EXPIRES)
        return cls(
            None if nbf is None else _body.timestamp(nbf, "not_before"),
            None if exp is None else _body.timestamp(exp, "expires"),
        )

    def to_body(self) -> CBORValue:
        body: dict[int, CBORValue] = {}
        if self.not_before is not None:
            body[_NOT_BEFORE] = self.not_before
        if self.expires is not None:
            body[_EXPIRES] = self.expires
        return body

    def describe(self) -> dict[str, int]:
        out = {}
        if self.not_before is not None:
            out["not_before"] = self.not_before
        if self.expires is not None:
            out["expires"] = self.expires
        return out

    def check(self, ctx: CheckContext) -> None:
        if self.expires is not None and ctx.now >= self.expires:
            raise CaveatFailed(Code.EXPIRED, f"the token expired at {_when(self.expires)}")
        if self.not_before is not None and ctx.now + CLOCK_SKEW_SECONDS < self.not_before:
            raise CaveatFailed(
                Code.NOT_YET_VALID, f"the token is not valid before {_when(self.not_before)}"
            )

    def check_narrows(self, parent: ParentView) -> None:
        if self.expires is None:
            return
        for _, other in parent.of_type(Validity):
            if other.expires is not None and self.expires > other.expires:
                raise NotNarrowing(
                    f"expiry {_when(self.expires)} is later than the token's {_when(other.expires)}"
                )
