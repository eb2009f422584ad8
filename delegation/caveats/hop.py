"""Hop: delegation to a named sub-agent's key, signed by the holder in force.

The body is ``[agent_id, public_key, signature]``. The signature is Ed25519 by the holder in
force over ``"delegation/v1/hop\\0" || chain_digest(prefix) || CBOR([agent_id, public_key])``,
where the prefix is the token up to, not including, this caveat. The verifier checks it while
walking the chain (see :mod:`delegation._verifier`); from then on the named key is the holder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from delegation import _patterns as patterns
from delegation._cbor import CBORValue
from delegation._crypto.ed25519 import is_safe_public_key
from delegation._keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, encode_public_key
from delegation.caveats import _body
from delegation.caveats.delegatee import Delegatees
from delegation.caveats.depth import MaxDepth
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import MalformedToken, NotNarrowing, PatternError
from delegation.limits import MAX_HOPS


@dataclass(frozen=True, slots=True)
class Hop(Caveat):
    type_id: ClassVar[int] = 10
    name: ClassVar[str] = "hop"

    agent_id: str
    public_key: bytes
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        try:
            patterns.check_agent_id(self.agent_id)
        except (PatternError, TypeError) as exc:
            raise MalformedToken(f"hop agent id: {exc}") from exc
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            raise MalformedToken("a hop's public key is 32 bytes")
        if not is_safe_public_key(self.public_key):
            raise MalformedToken("a hop's public key is not a canonical, full-order Ed25519 key")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_BYTES:
            raise MalformedToken("a hop's signature is 64 bytes")

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if not isinstance(body, list) or len(body) != 3:
            raise MalformedToken("a hop is [agent_id, public_key, signature]")
        agent_id, public_key, signature = body
        return cls(_body.text(agent_id, "hop agent id"), public_key, signature)

    def to_body(self) -> CBORValue:
        return [self.agent_id, self.public_key, self.signature]

    def describe(self) -> dict[str, str]:
        return {"agent_id": self.agent_id, "public_key": encode_public_key(self.public_key)}

    def check(self, ctx: CheckContext) -> None:
        """Nothing per request: the signature and holder continuity are chain checks."""

    def check_narrows(self, parent: ParentView) -> None:
        if parent.hops + 1 > MAX_HOPS:
            raise NotNarrowing(f"a token carries at most {MAX_HOPS} hops")
        for before, cap in parent.of_type(MaxDepth):
            if parent.hops + 1 - before > cap.further_hops:
                raise NotNarrowing(
                    f"delegating would exceed the token's max_depth {cap.further_hops}"
                )
        for _, allowed in parent.of_type(Delegatees):
            if not allowed.allows(self.agent_id):
                raise NotNarrowing(
                    f"agent {self.agent_id!r} is not an allowed delegatee {list(allowed.patterns)}"
                )
