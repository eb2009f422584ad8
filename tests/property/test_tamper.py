"""Law: any changed, dropped, inserted, truncated, reordered or spliced byte or caveat denies.

The denial is an integrity code (``malformed``, ``too_large``, ``bad_signature``,
``unknown_key``), it says nothing about the token (no task, no chain, no token id), and it is
never another exception. Each change below is made without re-signing, as a thief would.

The location fields are the exception, by libmacaroons' design: they are not covered by the
HMAC chain, so the story tokens carry none, and their own law is the last test here (a changed
location grants nothing, and the proof of possession still binds the exact bytes).
"""

from __future__ import annotations

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from delegation import (
    Code,
    Decision,
    UnverifiedToken,
    _crypto,
    _wire,
    decode,
    default_registry,
    mint,
)
from delegation.caveats import Hop
from delegation.testing.hostile import append_raw_caveats
from delegation.testing.world import (
    AGENTS,
    INTEGRITY_CODES,
    KEYRING,
    LEGIT_BYTES,
    STORY,
    STORY_REQUEST,
    STORY_SCOPE,
    TASK,
    codes,
    new_verifier,
    no_internal_errors,
    proof_for,
    verify_as_holder,
)
from tests.conftest import NOW

WITH_CAVEATS = tuple(t for t in STORY if t.raw.caveats)
DONOR_CAVEATS = tuple(dict.fromkeys(c for t in STORY for c in t.raw.caveats))
"""Every caveat of every story token, to splice into the others."""
HOPS = tuple(c for c in DONOR_CAVEATS if isinstance(default_registry().decode(c.cid), Hop))


def _verify_tampered(data: bytes, original: UnverifiedToken) -> Decision:
    """Verify the tampered bytes as a thief would present them: with the holder's proof."""
    proof = proof_for(original, STORY_REQUEST)
    with no_internal_errors():
        return new_verifier().verify(_wire.b64encode(data), STORY_REQUEST, proof)


def _assert_opaque_integrity_denial(decision: Decision) -> None:
    assert not decision.allowed
    assert len(decision.reasons) == 1, codes(decision)
    assert decision.code in INTEGRITY_CODES, codes(decision)
    # To the presenter an integrity failure reveals nothing about the token it claims to be.
    assert decision.task is None
    assert decision.agents == ()
    assert decision.root_id is None
    assert decision.reasons[0].hop is None
    assert decision.reasons[0].caveat is None


def _signed_spans(token: UnverifiedToken) -> list[tuple[int, int]]:
    """Byte ranges of the caveat bodies and the signature: changing a byte in one of them keeps
    the framing and the identifier intact, so only the HMAC chain can catch it."""
    data = token.token_bytes
    spans, start = [], data.index(token.raw.identifier) + len(token.raw.identifier)
    for cav in token.raw.caveats:
        begin = data.index(cav.cid, start)
        spans.append((begin, begin + len(cav.cid)))
        start = begin + len(cav.cid)
    spans.append((len(data) - _wire.MAC_BYTES, len(data)))
    return spans


def test_story_tokens_allow_their_request() -> None:
    """The tampering below starts from tokens that do allow the request."""
    for token in STORY:
        decision = verify_as_holder(token, STORY_REQUEST)
        assert decision.allowed, codes(decision)


@st.composite
def byte_changes(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(("flip", "drop", "insert", "truncate", "replace", "append")))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return kind, data[:pos] + bytes([data[pos] ^ (1 << draw(st.integers(0, 7)))]) + data[
            pos + 1 :
        ]
    if kind == "drop":
        return kind, data[:pos] + data[pos + 1 :]
    if kind == "insert":
        return kind, data[:pos] + bytes([draw(st.integers(0, 255))]) + data[pos:]
    if kind == "truncate":
        return kind, data[:pos]
    if kind == "replace":
        return kind, data[:pos] + bytes([draw(st.integers(0, 255))]) + data[pos + 1 :]
    return kind, data + draw(st.binary(min_size=1, max_size=4))


@settings(max_examples=400, deadline=None)
@given(token=st.sampled_from(STORY), data=st.data())
def test_any_byte_change_is_an_opaque_integrity_denial(
    token: UnverifiedToken, data: st.DataObject
) -> None:
    kind, changed = data.draw(byte_changes(token.token_bytes), label="change")
    assume(changed not in LEGIT_BYTES)
    decision = _verify_tampered(changed, token)
    event(f"{kind}: {decision.code}")
    _assert_opaque_integrity_denial(decision)


@settings(max_examples=200, deadline=None)
@given(token=st.sampled_from(WITH_CAVEATS), data=st.data())
def test_any_bit_flip_in_a_caveat_or_the_signature_is_bad_signature(
    token: UnverifiedToken, data: st.DataObject
) -> None:
    begin, end = data.draw(st.sampled_from(_signed_spans(token)), label="span")
    pos = data.draw(st.integers(begin, end - 1), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    raw = bytearray(token.token_bytes)
    raw[pos] ^= 1 << bit
    decision = _verify_tampered(bytes(raw), token)
    assert codes(decision) == (Code.BAD_SIGNATURE,)
    _assert_opaque_integrity_denial(decision)


@settings(max_examples=150, deadline=None)
@given(token=st.sampled_from(STORY), data=st.data())
def test_any_bit_flip_in_the_identifier_is_an_opaque_integrity_denial(
    token: UnverifiedToken, data: st.DataObject
) -> None:
    """The identifier is read before the MAC is checked (key id, task, holder): a change there
    may be unparseable (malformed), name another key (unknown_key) or fail the chain."""
    begin = token.token_bytes.index(token.raw.identifier)
    pos = data.draw(st.integers(begin, begin + len(token.raw.identifier) - 1), label="position")
    raw = bytearray(token.token_bytes)
    raw[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    decision = _verify_tampered(bytes(raw), token)
    event(str(decision.code))
    _assert_opaque_integrity_denial(decision)


CAVEAT_CHANGES = (
    "drop",
    "reorder",
    "splice",
    "replace",
    "duplicate",
    "truncate",
    "swap signature",
    "swap identifier",
)


@settings(max_examples=300, deadline=None)
@given(
    token=st.sampled_from(WITH_CAVEATS),
    kind=st.sampled_from(CAVEAT_CHANGES),
    data=st.data(),
)
def test_any_caveat_change_is_bad_signature(
    token: UnverifiedToken, kind: str, data: st.DataObject
) -> None:
    caveats = list(token.raw.caveats)
    raw = token.raw
    signature, identifier = raw.signature, raw.identifier
    index = data.draw(st.integers(0, len(caveats) - 1), label="index")
    donor = data.draw(st.sampled_from(DONOR_CAVEATS), label="donor caveat")
    other = data.draw(st.sampled_from([t for t in STORY if t is not token]), label="other token")
    if kind == "drop":
        del caveats[index]
    elif kind == "reorder":
        caveats = data.draw(st.permutations(caveats), label="order")
    elif kind == "splice":
        caveats.insert(data.draw(st.integers(0, len(caveats)), label="at"), donor)
    elif kind == "replace":
        caveats[index] = donor
    elif kind == "duplicate":
        caveats.insert(index, caveats[index])
    elif kind == "truncate":
        caveats = caveats[:index]
    elif kind == "swap signature":
        signature = other.raw.signature
    else:
        identifier = other.raw.identifier
    changed = _wire.encode(_wire.RawMacaroon(identifier, tuple(caveats), signature, raw.location))
    assume(changed not in LEGIT_BYTES)
    decision = _verify_tampered(changed, token)
    assert codes(decision) == (Code.BAD_SIGNATURE,)
    _assert_opaque_integrity_denial(decision)


@settings(max_examples=100, deadline=None)
@given(token=st.sampled_from(STORY), hop=st.sampled_from(HOPS))
def test_a_hop_signed_for_one_chain_never_counts_in_another(
    token: UnverifiedToken, hop: _wire.RawCaveat
) -> None:
    """Any holder can extend the HMAC chain, so a hop lifted from another token passes the
    integrity check; its signature over a different chain prefix must not."""
    digest = _crypto.digest_start(token.raw.identifier)
    for cav in token.raw.caveats:
        digest = _crypto.digest_step(digest, cav)
    signed_prefixes = set()
    for donor in STORY:
        prefix = _crypto.digest_start(donor.raw.identifier)
        for cav in donor.raw.caveats:
            if cav == hop:
                signed_prefixes.add(prefix)
            prefix = _crypto.digest_step(prefix, cav)
    assume(digest not in signed_prefixes)  # else the hop really was signed for this prefix
    spliced = append_raw_caveats(token, [hop.cid])
    with no_internal_errors():
        decision = new_verifier().verify(
            spliced.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
        )
    assert codes(decision) == (Code.BAD_HOP,)


LOCATED = mint(KEYRING, TASK, AGENTS[1], STORY_SCOPE, location="https://crm.example", now=NOW)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_changed_location_grants_nothing(data: st.DataObject) -> None:
    """A location is a hint outside the HMAC: changing it leaves the same token (same ids, same
    authority), and a proof made for the original bytes does not carry over to the new ones."""
    if data.draw(st.booleans(), label="flip a byte"):
        raw = bytearray(LOCATED.token_bytes)
        pos = data.draw(st.integers(2, 2 + len("https://crm.example") - 1), label="position")
        raw[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        changed = bytes(raw)
    else:
        location = data.draw(
            st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
        )
        raw_mac = LOCATED.raw
        changed = _wire.encode(
            _wire.RawMacaroon(raw_mac.identifier, raw_mac.caveats, raw_mac.signature, location)
        )
    assume(changed != LOCATED.token_bytes)
    decision = _verify_tampered(changed, LOCATED)
    event(str(decision.code))
    assert not decision.allowed
    if decision.code in INTEGRITY_CODES:  # the location is no longer printable UTF-8
        _assert_opaque_integrity_denial(decision)
        return
    assert codes(decision) == (Code.POP_INVALID,)
    moved = decode(_wire.b64encode(changed))
    assert (moved.root_id, moved.token_id) == (LOCATED.root_id, LOCATED.token_id)
    assert moved.agents() == LOCATED.agents()
    assert moved.unsafe_caveats() == LOCATED.unsafe_caveats()
