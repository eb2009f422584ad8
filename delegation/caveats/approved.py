"""Approved for: a discharge (or token) that holds only for the chain of agents that asked.

The body is ``[holder_key, caveats, chain_digest, approval_id]``: the Ed25519 key of the holder
that asked for the approval (proven by its signed approval request), how many caveats the token
it showed had, that token's chain digest ``D[caveats]``, and 16 random bytes naming this one
approval. It is satisfied by a chain whose holder is ``holder_key`` and whose digest after
``caveats`` caveats is ``chain_digest``: the chain the approver was shown, or the same chain
narrowed further by its holder. A sibling, a parent, a child or another branch through the
same key fails with ``wrong_chain`` (``specs/third-party.md``, "Approvals are bound to the
chain that asked").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation import _crypto
from delegation._cbor import CBORValue
from delegation._keys import PUBLIC_KEY_BYTES, encode_public_key
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext
from delegation.errors import CaveatFailed, Code, MalformedToken
from delegation.limits import MAX_CAVEATS

CHAIN_DIGEST_BYTES = 32
APPROVAL_ID_BYTES = 16
_ID_BYTES = 16  # a token id is the first 16 bytes of a chain digest


@dataclass(frozen=True, slots=True)
class ApprovedFor(Caveat):
    type_id: ClassVar[int] = 14
    name: ClassVar[str] = "approved_for"

    holder_key: bytes
    """The public key of the holder that asked (any 32 bytes: one no chain holds matches none)."""
    caveats: int
    """How many caveats the token the approver saw had."""
    chain_digest: bytes
    """That token's chain digest after those caveats: its token id is the first 16 bytes."""
    approval_id: bytes
    """16 random bytes: two approvals of one call are two approvals."""

    def __post_init__(self) -> None:
        if not isinstance(self.holder_key, bytes) or len(self.holder_key) != PUBLIC_KEY_BYTES:
            raise MalformedToken("approved_for names a 32-byte holder key")
        _body.integer(self.caveats, "approved_for caveat count", 0, MAX_CAVEATS)
        if not isinstance(self.chain_digest, bytes) or len(self.chain_digest) != CHAIN_DIGEST_BYTES:
            raise MalformedToken("approved_for names a 32-byte chain digest")
        if not isinstance(self.approval_id, bytes) or len(self.approval_id) != APPROVAL_ID_BYTES:
            raise MalformedToken("approved_for names a 16-byte approval id")

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if not isinstance(body, list) or len(body) != 4:
            raise MalformedToken("approved_for is [holder_key, caveats, chain_digest, approval_id]")
        holder_key, caveats, chain_digest, approval_id = body
        return cls(holder_key, caveats, chain_digest, approval_id)

    def to_body(self) -> CBORValue:
        return [self.holder_key, self.caveats, self.chain_digest, self.approval_id]

    @property
    def token_id(self) -> str:
        """The token id of the token the approver saw."""
        return self.chain_digest[:_ID_BYTES].hex()

    def describe(self) -> dict[str, object]:
        return {
            "holder": encode_public_key(self.holder_key),
            "token_id": self.token_id,
            "caveats": self.caveats,
            "approval_id": self.approval_id.hex(),
        }

    def check(self, ctx: CheckContext) -> None:
        digests = ctx.prefix_digests
        if self.caveats >= len(digests) or not _crypto.macs_equal(
            digests[self.caveats], self.chain_digest
        ):
            raise CaveatFailed(
                Code.WRONG_CHAIN,
                f"approved for another chain of agents (token {self.token_id} and its "
                "holder's own narrowings)",
            )
        if ctx.holder_key != self.holder_key:
            raise CaveatFailed(
                Code.WRONG_CHAIN,
                f"approved for the holder {encode_public_key(self.holder_key)}, not this one",
            )
