"""Differential tests against pymacaroons 0.13.0 (a test-only dependency).

Our tokens are libmacaroons V2 binary framing with the libmacaroons HMAC chain, so pymacaroons
must read them field for field and its HMAC primitives must reproduce our signature chain; and a
macaroon pymacaroons builds must decode and check here.

Where pymacaroons gets in the way of binary (CBOR) caveat ids, and how these tests work around it:

- ``Macaroon.add_first_party_caveat`` decodes the predicate as UTF-8, so it raises
  ``UnicodeDecodeError`` on every one of our caveats (CBOR arrays start with byte 0x82). We append
  ``pymacaroons.Caveat`` objects ourselves and sign them with ``pymacaroons.utils``.
- The stock ``Verifier`` also decodes every first-party caveat id as UTF-8 before calling the
  checkers, so it raises ``UnicodeDecodeError`` too. We replace its first-party delegate (an
  attribute it exposes) with one that hands the raw bytes to the checkers and updates the
  signature with ``pymacaroons.utils.sign_first_party_caveat``.
- ``Macaroon.inspect`` raises on binary caveat ids (it catches only ``UnicodeEncodeError``).
- Its serializer always writes a location field, empty when there is none, so re-serializing one
  of our location-less tokens inserts the two bytes ``01 00``. The location is not covered by the
  HMAC (libmacaroons), so that spelling still chain-checks here; a proof of possession binds the
  exact bytes, so a proof for one spelling does not verify with the other.
- Its text form is unpadded base64url of the binary bytes, like ours, and it always decodes with
  the URL-safe alphabet, so our text form goes straight into ``Macaroon.deserialize``.

Keys here are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

import pymacaroons
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymacaroons.exceptions import MacaroonInvalidSignatureException
from pymacaroons.serializers.binary_serializer import BinarySerializer
from pymacaroons.utils import (
    create_initial_signature,
    hmac_concat,
    sign_first_party_caveat,
    sign_third_party_caveat,
    truncate_or_pad,
)

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _crypto,
    _wire,
    attenuate,
    delegate,
    prove,
    prove_for_approval,
)
from delegation._keys import RootKey
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._thirdparty.caveat import ApproverKey, decode_discharge
from delegation._token import Identifier, _mint
from delegation.caveats import Audience, Tool, Validity
from delegation.testing.fixtures import root_secret
from tests.conftest import NOW, seeded_agent

ROOT_SECRET = root_secret(1)  # test fixture only
LOCATION = "https://crm.example/tools"
HOP_COUNTS = [0, 1, 4]
REQUEST = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://accounts/42/notes",
    intent="summarise",
)
TASK = TaskRecord(
    task_id="task-42",
    approved_by="alice@example.com",
    approved_at=NOW - 60,
    statement="Summarise account 42's notes",
)


def _keyring() -> Keyring:
    return Keyring([RootKey("test-k1", ROOT_SECRET, NOW)])


def _chain(hops: int, location: str | None = None) -> tuple[UnverifiedToken, list[AgentKey]]:
    """Mint, attenuate, then delegate ``hops`` times, each hop followed by narrowing caveats."""
    keys = [seeded_agent(1)]
    scope = Scope(
        audiences=["crm"],
        tools=["crm.read", "crm.update"],
        actions=["read", "write"],
        resources=["crm://accounts/42/**"],
        intents=["summarise", "update-notes"],
        expires=NOW + 3600,
        max_depth=4,
    )
    token = _mint(
        _keyring(),
        TASK,
        Agent("orchestrator", keys[0].public_key),
        scope,
        location=location,
        now=NOW,
        nonce=b"\x00" * 16,
    )
    token = attenuate(token, Scope(intents=["summarise"]), now=NOW)
    for i in range(hops):
        nxt = seeded_agent(10 + i)
        narrower = Scope(tools=["crm.read"], actions=["read"], expires=NOW + 3000 - 60 * i)
        token = delegate(
            token, keys[-1], Agent(f"agent-{i + 1}", nxt.public_key), narrower, now=NOW
        )
        keys.append(nxt)
    return token, keys


def _pm_deserialize(token: UnverifiedToken) -> Any:
    return pymacaroons.Macaroon.deserialize(token.encode())


def _pm_signature(mac: Any) -> bytes:
    sig: bytes = binascii.unhexlify(mac.signature_bytes)
    return sig


class _BytesCaveatDelegate:
    """Replaces pymacaroons' first-party verifier delegate, which decodes caveat ids as UTF-8.

    Gives the checkers the raw caveat bytes; the signature update is pymacaroons' own primitive.
    """

    def verify_first_party_caveat(self, verifier: Any, caveat: Any, signature: bytes) -> bool:
        return any(callback(caveat.caveat_id_bytes) for callback in verifier.callbacks)

    def update_signature(self, signature: bytes, caveat: Any) -> bytes:
        return binascii.unhexlify(sign_first_party_caveat(signature, caveat.caveat_id_bytes))


def _pm_verifier(check: Callable[[Any], bool]) -> Any:
    verifier = pymacaroons.Verifier()
    verifier.first_party_caveat_verifier_delegate = _BytesCaveatDelegate()
    verifier.satisfy_general(check)
    return verifier


def _pm_build(
    identifier: bytes, cids: list[bytes], root_key: bytes, location: str | None = None
) -> Any:
    """A V2 macaroon built and signed by pymacaroons, caveat by caveat, with binary ids."""
    mac = pymacaroons.Macaroon(
        location=location, identifier=identifier, key=root_key, version=pymacaroons.MACAROON_V2
    )
    for cid in cids:
        mac.caveats.append(pymacaroons.Caveat(caveat_id=cid, version=pymacaroons.MACAROON_V2))
        mac.signature = sign_first_party_caveat(binascii.unhexlify(mac.signature_bytes), cid)
    return mac


# --- our token -> pymacaroons -------------------------------------------------------------


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_reads_our_text_and_binary_forms(hops: int) -> None:
    token, _ = _chain(hops)
    from_text = pymacaroons.Macaroon.deserialize(token.encode())
    from_bytes = BinarySerializer().deserialize_raw(token.token_bytes)
    for mac in (from_text, from_bytes):
        assert mac.version == pymacaroons.MACAROON_V2
        assert mac.identifier_bytes == token.raw.identifier
        assert [c.caveat_id_bytes for c in mac.caveats] == [c.cid for c in token.raw.caveats]
        assert all(c.first_party() and c.verification_key_id is None for c in mac.caveats)
        assert _pm_signature(mac) == token.raw.signature
        assert mac.location == ""  # pymacaroons' spelling of "no location"
    assert len(token.raw.caveats) == 7 + 1 + 4 * hops  # root scope, attenuation, hop + 3 each


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_reserializes_our_token_with_location_byte_for_byte(hops: int) -> None:
    token, _ = _chain(hops, location=LOCATION)
    mac = _pm_deserialize(token)
    assert mac.location == LOCATION
    assert BinarySerializer().serialize_raw(mac) == token.token_bytes
    assert mac.serialize() == token.encode()


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_adds_an_empty_location_field_to_our_location_less_token(hops: int) -> None:
    token, _ = _chain(hops)
    respelled = BinarySerializer().serialize_raw(_pm_deserialize(token))
    assert respelled == token.token_bytes[:1] + b"\x01\x00" + token.token_bytes[1:]
    raw = _wire.decode(respelled)
    assert raw.location == ""
    assert (raw.identifier, raw.caveats, raw.signature) == (
        token.raw.identifier,
        token.raw.caveats,
        token.raw.signature,
    )


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_hmac_primitives_reproduce_our_chain_step_by_step(hops: int) -> None:
    token, _ = _chain(hops)
    raw = token.raw
    sig_hex = create_initial_signature(ROOT_SECRET, raw.identifier)
    assert sig_hex == _crypto.initial_signature(ROOT_SECRET, raw.identifier).hex().encode()
    for i, cav in enumerate(raw.caveats):
        sig_hex = sign_first_party_caveat(binascii.unhexlify(sig_hex), cav.cid)
        ours = _crypto.chain_signature(ROOT_SECRET, raw.identifier, raw.caveats[: i + 1])
        assert binascii.unhexlify(sig_hex) == ours
    assert binascii.unhexlify(sig_hex) == raw.signature


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_verifier_accepts_our_token_with_a_bytes_caveat_delegate(hops: int) -> None:
    token, _ = _chain(hops)
    expected = [c.cid for c in token.raw.caveats]
    seen: list[bytes] = []

    def check(cid: Any) -> bool:
        seen.append(cid)
        return cid in expected

    assert _pm_verifier(check).verify(_pm_deserialize(token), ROOT_SECRET) is True
    assert seen == expected


def test_stock_pymacaroons_verifier_cannot_read_binary_caveats() -> None:
    token, _ = _chain(1)
    verifier = pymacaroons.Verifier()
    verifier.satisfy_general(lambda predicate: True)
    with pytest.raises(UnicodeDecodeError):
        verifier.verify(_pm_deserialize(token), ROOT_SECRET)


def test_pymacaroons_inspect_cannot_show_binary_caveats() -> None:
    token, _ = _chain(0)
    with pytest.raises(UnicodeDecodeError):
        _pm_deserialize(token).inspect()


@pytest.mark.parametrize("hops", HOP_COUNTS)
def test_pymacaroons_verifier_rejects_wrong_key_dropped_and_refused_caveats(hops: int) -> None:
    token, _ = _chain(hops)
    with pytest.raises(MacaroonInvalidSignatureException):
        _pm_verifier(lambda cid: True).verify(_pm_deserialize(token), b"\x02" * 32)

    truncated = _pm_deserialize(token)
    del truncated.caveats[-1]
    with pytest.raises(MacaroonInvalidSignatureException):
        _pm_verifier(lambda cid: True).verify(truncated, ROOT_SECRET)

    # pymacaroons reports an unmet caveat as a signature mismatch (what we avoid: see STYLE.md).
    last = token.raw.caveats[-1].cid
    with pytest.raises(MacaroonInvalidSignatureException):
        _pm_verifier(lambda cid: cid != last).verify(_pm_deserialize(token), ROOT_SECRET)


# --- pymacaroons -> us --------------------------------------------------------------------


def test_pymacaroons_refuses_binary_caveats_through_its_builder() -> None:
    mac = pymacaroons.Macaroon(
        identifier=b"\xa1\x01\x01", key=ROOT_SECRET, version=pymacaroons.MACAROON_V2
    )
    with pytest.raises(UnicodeDecodeError):
        mac.add_first_party_caveat(Audience(("crm",)).encode())


@pytest.mark.parametrize("hops", HOP_COUNTS)
@pytest.mark.parametrize("location", [None, LOCATION])
def test_a_macaroon_pymacaroons_builds_decodes_here_field_for_field(
    hops: int, location: str | None
) -> None:
    ours, _ = _chain(hops, location=location)
    cids = [c.cid for c in ours.raw.caveats]
    mac = _pm_build(ours.raw.identifier, cids, ROOT_SECRET, location)
    data = BinarySerializer().serialize_raw(mac)

    raw = _wire.decode(data)
    assert raw.identifier == ours.raw.identifier
    assert raw.caveats == ours.raw.caveats
    assert raw.location == ("" if location is None else location)
    assert raw.signature == _pm_signature(mac) == ours.raw.signature
    assert _crypto.chain_signature(ROOT_SECRET, raw.identifier, raw.caveats) == raw.signature
    if location is not None:
        assert data == ours.token_bytes


def test_a_token_pymacaroons_mints_verifies_here_with_a_proof() -> None:
    holder = seeded_agent(1)
    identifier = Identifier("test-k1", b"\x07" * 16, TASK, Agent("orch", holder.public_key))
    caveats = [Validity(None, NOW + 600), Audience(("crm",)), Tool(("crm.read",))]
    mac = _pm_build(identifier.encode(), [c.encode() for c in caveats], ROOT_SECRET)
    text = mac.serialize()  # pymacaroons' own unpadded base64url

    verifier = Verifier(_keyring(), state=MemoryState(), clock=lambda: NOW)
    decision = verifier.verify(text, REQUEST, prove(text, holder, REQUEST, now=NOW))
    assert decision.allowed, decision.reasons
    assert decision.task == TASK
    assert [link.agent_id for link in decision.agents] == ["orch"]

    other_tool = Request(audience="crm", tool="crm.update", action="read")
    denied = verifier.verify(text, other_tool, prove(text, holder, other_tool, now=NOW))
    assert [r.code for r in denied.reasons] == [Code.TOOL_NOT_ALLOWED]

    del mac.caveats[-1]  # drop the tool caveat, keep the old signature
    stripped = mac.serialize()
    denied = verifier.verify(stripped, other_tool, prove(stripped, holder, other_tool, now=NOW))
    assert [r.code for r in denied.reasons] == [Code.BAD_SIGNATURE]


def test_a_pymacaroons_respelling_of_our_token_needs_its_own_proof() -> None:
    token, keys = _chain(4)
    respelled = _wire.b64encode(BinarySerializer().serialize_raw(_pm_deserialize(token)))
    assert respelled != token.encode()
    verifier = Verifier(_keyring(), state=MemoryState(), clock=lambda: NOW)

    own = verifier.verify(respelled, REQUEST, prove(respelled, keys[-1], REQUEST, now=NOW))
    assert own.allowed, own.reasons
    original_proof = prove(token, keys[-1], REQUEST, now=NOW)
    crossed = verifier.verify(respelled, REQUEST, original_proof)
    assert [r.code for r in crossed.reasons] == [Code.POP_INVALID]


def test_third_party_caveat_chain_step_matches_pymacaroons() -> None:
    sig = _crypto.initial_signature(ROOT_SECRET, b"id")
    cav = _wire.RawCaveat(b"\x82\x19\x04\x00\x01", b"\x00\xff" * 20, "https://approvals.example")
    theirs = binascii.unhexlify(sign_third_party_caveat(sig, cav.vid, cav.cid))
    assert _crypto.chain_step(sig, cav) == theirs

    raw = _wire.RawMacaroon(b"id", (cav,), _crypto.chain_step(sig, cav))
    mac = BinarySerializer().deserialize_raw(_wire.encode(raw))
    (pm_cav,) = mac.caveats
    assert (pm_cav.caveat_id_bytes, pm_cav.verification_key_id, pm_cav.location) == (
        cav.cid,
        cav.vid,
        cav.location,
    )


# --- both directions on arbitrary bytes ---------------------------------------------------

_identifiers = st.binary(min_size=1, max_size=300)
_cids = st.lists(st.binary(min_size=1, max_size=120), max_size=10)
_keys = st.binary(min_size=32, max_size=64)
_locations = st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/.-", max_size=40)


@settings(max_examples=60, deadline=None)
@given(identifier=_identifiers, cids=_cids, key=_keys, location=_locations)
def test_arbitrary_pymacaroons_macaroon_decodes_and_chains_here(
    identifier: bytes, cids: list[bytes], key: bytes, location: str | None
) -> None:
    mac = _pm_build(identifier, cids, key, location)
    raw = _wire.decode(BinarySerializer().serialize_raw(mac))
    assert raw.identifier == identifier
    assert [c.cid for c in raw.caveats] == cids
    assert all(c.vid is None and c.location is None for c in raw.caveats)
    assert raw.location == (location or "")
    assert _crypto.chain_signature(key, raw.identifier, raw.caveats) == raw.signature
    assert raw.signature == _pm_signature(mac)


@settings(max_examples=60, deadline=None)
@given(identifier=_identifiers, cids=_cids, key=_keys, location=_locations)
def test_arbitrary_macaroon_we_frame_reads_and_verifies_in_pymacaroons(
    identifier: bytes, cids: list[bytes], key: bytes, location: str | None
) -> None:
    caveats = tuple(_wire.RawCaveat(c) for c in cids)
    sig = _crypto.chain_signature(key, identifier, caveats)
    data = _wire.encode(_wire.RawMacaroon(identifier, caveats, sig, location))
    mac = pymacaroons.Macaroon.deserialize(_wire.b64encode(data))
    assert mac.identifier_bytes == identifier
    assert [c.caveat_id_bytes for c in mac.caveats] == cids
    assert _pm_signature(mac) == sig
    assert _pm_verifier(lambda cid: cid in cids).verify(mac, key) is True


# --- discharge binding --------------------------------------------------------------------

_APPROVER = ApproverKey.from_seed(b"\x52" * 32)  # test fixture only
_signatures = st.binary(min_size=32, max_size=32)


@settings(max_examples=100, deadline=None)
@given(token_signature=_signatures, discharge_signature=_signatures)
def test_bind_is_pymacaroons_hash_signatures_binder(
    token_signature: bytes, discharge_signature: bytes
) -> None:
    """libmacaroons' binding, as pymacaroons' HashSignaturesBinder computes it: the two-MAC
    concatenation under a key of 32 zero bytes."""
    theirs = hmac_concat(truncate_or_pad(b"\0"), token_signature, discharge_signature)
    assert _crypto.bind(token_signature, discharge_signature) == binascii.unhexlify(theirs)


def test_a_discharge_pymacaroons_binds_verifies_here() -> None:
    token, keys = _chain(1)
    gated = require_approval(token, _APPROVER.public_key, rules=["crm.read"])
    approver = Approver(_APPROVER)
    asked = prove_for_approval(gated, keys[-1], REQUEST, now=NOW)
    (pending,) = approver.pending(gated, REQUEST, asked, now=NOW)
    unbound = approver.approve(pending, now=NOW)

    root = pymacaroons.Macaroon.deserialize(gated.encode())
    theirs = root.prepare_for_request(pymacaroons.Macaroon.deserialize(unbound))
    ours = bind_discharge(gated, unbound)
    assert _pm_signature(theirs) == decode_discharge(ours).signature

    proof = prove(gated, keys[-1], REQUEST, now=NOW)
    for bound in (ours, theirs.serialize()):
        verifier = Verifier(_keyring(), state=MemoryState(), clock=lambda: NOW)  # unspent
        decision = verifier.verify(gated, REQUEST, proof, discharges=[bound])
        assert decision.allowed, decision.reasons
