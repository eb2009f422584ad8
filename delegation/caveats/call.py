"""Call: the request is exactly this call (its digest). Approval discharges carry one.

The body is the 32-byte request digest (:meth:`delegation.Request.digest`): audience, tool,
action, resource, intent and every argument. Any other call fails ``approval_required``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation import _crypto
from delegation._cbor import CBORValue
from delegation.caveats.registry import Caveat, CheckContext
from delegation.errors import CaveatFailed, Code, MalformedToken

DIGEST_BYTES = 32


@dataclass(frozen=True, slots=True)
class Call(Caveat):
    type_id: ClassVar[int] = 11
    name: ClassVar[str] = "call"

    digest: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != DIGEST_BYTES:
            raise MalformedToken("a call caveat is a 32-byte request digest")

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if not isinstance(body, bytes):
            raise MalformedToken("a call caveat is a 32-byte request digest")
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.digest

    def describe(self) -> str:
        return self.digest.hex()

    def check(self, ctx: CheckContext) -> None:
        if not _crypto.macs_equal(ctx.request.digest(), self.digest):
            raise CaveatFailed(Code.APPROVAL_REQUIRED, "the approval covers a different call")
