"""Law: a caveat this verifier does not understand survives byte for byte and always denies.

Any type id the registry does not know (unassigned core ids, the reserved range, application
ids) with any allowed CBOR body decodes to an UnknownCaveat holding the exact bytes; a holder
can still attenuate and delegate the token, the bytes stay where they were, and verification
denies with ``unknown_caveat`` at that caveat, whatever else the token allows.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from delegation import (
    Code,
    Scope,
    UnverifiedToken,
    _cbor,
    attenuate,
    decode,
    default_registry,
    delegate,
)
from delegation.caveats import UnknownCaveat
from delegation.caveats.registry import MAX_TYPE_ID
from delegation.limits import MAX_CAVEAT_BYTES, MAX_CBOR_DEPTH
from delegation.testing.strategies import cbor_values_nested
from delegation.testing.world import (
    AGENTS,
    HOP1,
    NARROW,
    ROOT,
    STORY_REQUEST,
    codes,
    holder_key,
    no_internal_errors,
    verify_as_holder,
)
from tests.conftest import NOW

REGISTRY = default_registry()
KNOWN = frozenset(f.type_id for f in REGISTRY.families())
unknown_type_ids = (
    st.integers(1, 127) | st.integers(128, 1023) | st.integers(1024, MAX_TYPE_ID)
).filter(lambda t: t not in KNOWN)
bodies = cbor_values_nested(MAX_CBOR_DEPTH - 1)
"""The body sits one level inside ``[type_id, body]``."""


def _unknown(type_id: int, body: _cbor.CBORValue) -> bytes:
    cid = _cbor.dumps([type_id, body])
    assume(len(cid) <= MAX_CAVEAT_BYTES)
    return cid


@settings(max_examples=200, deadline=None)
@given(type_id=unknown_type_ids, body=bodies)
def test_an_unknown_caveat_decodes_to_its_exact_bytes(type_id: int, body: _cbor.CBORValue) -> None:
    cid = _unknown(type_id, body)
    caveat = REGISTRY.decode(cid)
    assert isinstance(caveat, UnknownCaveat)
    assert caveat.type_id == type_id
    assert caveat.raw == cid
    assert caveat.encode() == cid


@settings(max_examples=100, deadline=None)
@given(
    type_id=unknown_type_ids,
    body=bodies,
    base=st.sampled_from((ROOT, NARROW, HOP1)),
    then_delegate=st.booleans(),
)
def test_an_unknown_caveat_survives_descendants_and_always_denies(
    type_id: int, body: _cbor.CBORValue, base: UnverifiedToken, then_delegate: bool
) -> None:
    cid = _unknown(type_id, body)
    with_unknown = attenuate(base, [UnknownCaveat(type_id, cid)], now=NOW)
    index = len(base.raw.caveats)
    segment = len(base.agents()) - 1
    token = attenuate(with_unknown, Scope(tools=["t.read"]), now=NOW)
    if then_delegate:
        in_chain = {link.public_key for link in token.agents()}
        to = next(a for a in AGENTS.values() if a.public_key not in in_chain)
        token = delegate(token, holder_key(token), to, Scope(intents=["sum"]), now=NOW)
    again = decode(token.encode())
    assert again.raw.caveats[index].cid == cid  # byte for byte, at the same place
    assert again.token_bytes == token.token_bytes
    assert isinstance(again.unsafe_caveats()[index], UnknownCaveat)
    for presented in (with_unknown, token):
        with no_internal_errors():
            decision = verify_as_holder(presented, STORY_REQUEST)
        assert codes(decision) == (Code.UNKNOWN_CAVEAT,)
        assert decision.reasons[0].caveat == index
        assert decision.reasons[0].hop == segment
    # Without the unknown caveat the same call is allowed: the denial is the caveat's alone.
    assert verify_as_holder(base, STORY_REQUEST).allowed
