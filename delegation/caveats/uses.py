"""Max uses: the token (and everything derived from it after this caveat) allows N calls.

Counting needs shared state (:class:`delegation.stores.State`); the counter's key is
the chain digest up to and including this caveat, so every token derived from the one that
carries it shares one count. A use is counted only when every other check has passed.
``max_uses = 1`` is a single-use token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import NotNarrowing

MAX_USES_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class MaxUses(Caveat):
    type_id: ClassVar[int] = 12
    name: ClassVar[str] = "max_uses"

    uses: int

    def __post_init__(self) -> None:
        _body.integer(self.uses, "max_uses", 1, MAX_USES_LIMIT)

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        return cls(_body.integer(body, "max_uses", 1, MAX_USES_LIMIT))

    def to_body(self) -> CBORValue:
        return self.uses

    def check(self, ctx: CheckContext) -> None:
        """Nothing per caveat: the verifier counts all use limits at once, after every check."""

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(MaxUses):
            if self.uses > other.uses:
                raise NotNarrowing(f"max_uses {self.uses} is above the token's {other.uses}")
