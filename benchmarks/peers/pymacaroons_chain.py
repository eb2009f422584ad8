"""pymacaroons on our token: the same bytes, verified as a bearer macaroon.

``Macaroon.deserialize(text)`` (our text form is its binary serializer's) and
``Verifier.verify(macaroon, root_key)``: the HMAC chain, with every caveat checked against the
call by a general satisfier that decodes our CBOR caveat with cbor2 and checks validity,
audience, tool, action and resource; a hop caveat satisfies (a bearer macaroon has no holder,
so its signature is not pymacaroons' to check) and any other caveat fails. pymacaroons' stock
first-party delegate decodes every caveat id as UTF-8, which CBOR is not, so the verifier's
delegate is one that hands the bytes to the satisfier and signs with pymacaroons' own
``sign_first_party_caveat``: the stock delegate's work minus the UTF-8 decode.
"""

from __future__ import annotations

import binascii
import itertools
from collections.abc import Callable
from typing import Any

import cbor2
import ours
import pymacaroons
from pymacaroons.utils import sign_first_party_caveat
from workload import NOW, Call, System, resource_allowed

_VALIDITY, _AUDIENCE, _TOOL, _ACTION, _RESOURCE, _HOP = 1, 2, 3, 4, 5, 10
_NOT_BEFORE, _EXPIRES = 1, 2
COLD_TOKENS = 64
"""pymacaroons keeps no cache, so the cold inputs cycle through this many distinct tokens."""


def satisfier(call: Call) -> Callable[[bytes], bool]:
    """Whether one of our caveats allows ``call`` at NOW; anything not understood fails."""

    def satisfied(cid: bytes) -> bool:
        try:
            type_id, body = cbor2.loads(cid)
        except (cbor2.CBORDecodeError, ValueError, TypeError):
            return False
        if type_id == _VALIDITY:
            return bool(body.get(_NOT_BEFORE, 0) <= NOW < body.get(_EXPIRES, NOW + 1))
        if type_id == _AUDIENCE:
            return call.audience in body
        if type_id == _TOOL:
            return call.tool in body
        if type_id == _ACTION:
            return call.action in body
        if type_id == _RESOURCE:
            return any(resource_allowed(p, call.resource) for p in body)
        return bool(type_id == _HOP)

    return satisfied


class _BytesCaveatDelegate:
    def verify_first_party_caveat(self, verifier: Any, caveat: Any, signature: bytes) -> bool:
        return any(callback(caveat.caveat_id_bytes) for callback in verifier.callbacks)

    def update_signature(self, signature: bytes, caveat: Any) -> bytes:
        return binascii.unhexlify(sign_first_party_caveat(signature, caveat.caveat_id_bytes))


def new_verifier(call: Call) -> Any:
    verifier = pymacaroons.Verifier()
    verifier.first_party_caveat_verifier_delegate = _BytesCaveatDelegate()
    verifier.satisfy_general(satisfier(call))
    return verifier


Item = tuple[Any, str]


def verify(item: Item) -> bool:
    verifier, text = item
    try:
        return verifier.verify(pymacaroons.Macaroon.deserialize(text), ours.ROOT_SECRET) is True
    except pymacaroons.exceptions.MacaroonException:
        return False


class Pymacaroons(System[Item]):
    """Cold: a fresh verifier per call. Warm: one verifier, the same token again."""

    name = "pymacaroons"
    signatures = ("0 (HMACs)", "0 (HMACs)")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.ours = ours.OurTokens(depth)
        self.texts = [t.encode() for t, _ in self.ours.new_tokens(COLD_TOKENS)]
        self.verifiers: dict[Call, Any] = {}

    def cold_inputs(self, n: int, call: Call) -> list[Item]:
        texts = itertools.islice(itertools.cycle(self.texts), n)
        return [(new_verifier(call), text) for text in texts]

    def warm_inputs(self, n: int, call: Call) -> list[Item]:
        verifier = self.verifiers.setdefault(call, new_verifier(call))
        return [(verifier, self.ours.text)] * n

    def cold(self, item: Item) -> bool:
        return verify(item)

    def warm(self, item: Item) -> bool:
        return verify(item)
