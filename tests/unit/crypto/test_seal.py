"""Tickets and verification ids (``delegation._crypto.seal``): the exact construction of
``specs/third-party.md``, rebuilt here from RFC 7748's X25519 vector and pyca's HKDF and
ChaCha20-Poly1305, and every way a box fails to open, which is always SealError.

specs/threats.md: "a tampered ticket ... is bad_discharge" (at the primitive level);
"A sub-agent cannot approve itself" (a vid opens only under the chain state it was sealed to).
Keys and seeds are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from delegation import _crypto
from delegation._crypto import seal
from delegation._crypto.seal import RecipientKey, SealError
from delegation._thirdparty.caveat import ApproverKey, open_vid
from delegation.errors import BadDischarge, DelegationError

# RFC 7748 section 6.1: Alice's and Bob's X25519 keys and their shared secret.
ALICE_SEED = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_SEED = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
BOB = RecipientKey.from_seed(BOB_SEED)
OTHER = RecipientKey.from_seed(b"\x61" * 32)
PLAIN = b"\xa3\x01X \x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07"

P = 2**255 - 19
LOW_ORDER = {
    "0": 0,
    "1": 1,
    "order 8 (a)": 325606250916557431795983626356110631294008115727848805560023387167927233504,
    "order 8 (b)": 39382357235489614581723060781553021112529911719440698176882885853963445705823,
    "p - 1": P - 1,
    "p": P,
    "p + 1": P + 1,
    "0, top bit set": 2**255,
    "1, top bit set": 2**255 + 1,
}
"""X25519 public keys (u-coordinates, little-endian) whose shared secret with any private key
is all zeros: small-order points and their non-canonical spellings (X25519 ignores bit 255)."""


def _u(value: int) -> bytes:
    return value.to_bytes(32, "little")


def _ticket_key(shared: bytes, eph_pub: bytes, recipient: bytes) -> bytes:
    info = b"delegation/v1/ticket\x00" + eph_pub + recipient
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


# --- the construction ----------------------------------------------------------------------


def test_the_x25519_keys_are_rfc_7748s() -> None:
    assert BOB.public_key == BOB_PUBLIC
    assert RecipientKey.from_seed(ALICE_SEED).public_key == ALICE_PUBLIC
    assert BOB.seed() == BOB_SEED
    assert RecipientKey.from_seed(BOB.seed()).public_key == BOB.public_key


def test_a_ticket_is_the_ephemeral_key_then_the_specified_aead() -> None:
    ticket = seal.seal_ticket(BOB_PUBLIC, PLAIN, ALICE_SEED)
    assert ticket[:32] == ALICE_PUBLIC
    key = _ticket_key(SHARED, ALICE_PUBLIC, BOB_PUBLIC)
    expected = ChaCha20Poly1305(key).encrypt(bytes(12), PLAIN, b"delegation/v1/ticket\x00")
    assert ticket[32:] == expected
    assert len(ticket) == seal.TICKET_OVERHEAD + len(PLAIN)
    assert seal.seal_ticket(BOB_PUBLIC, PLAIN, ALICE_SEED) == ticket  # seeded: reproducible


def test_tickets_round_trip_with_a_fresh_ephemeral_key_each_time() -> None:
    first, second = seal.seal_ticket(BOB_PUBLIC, PLAIN), seal.seal_ticket(BOB_PUBLIC, PLAIN)
    assert first[:32] != second[:32]
    assert BOB.open_ticket(first) == BOB.open_ticket(second) == PLAIN
    assert BOB.open_ticket(seal.seal_ticket(BOB_PUBLIC, b"")) == b""


def test_a_vid_is_a_nonce_then_the_specified_aead() -> None:
    state, key, nonce = b"\x01" * 32, b"\x02" * 32, b"\x03" * 12
    vid = seal.seal_vid(state, key, nonce)
    assert vid == nonce + ChaCha20Poly1305(state).encrypt(nonce, key, b"delegation/v1/vid")
    assert len(vid) == seal.VID_BYTES == 60
    assert seal.open_vid(state, vid) == key


def test_vids_round_trip_with_a_fresh_nonce_each_time() -> None:
    state, key = b"\x01" * 32, b"\x02" * 32
    first, second = seal.seal_vid(state, key), seal.seal_vid(state, key)
    assert first[:12] != second[:12]
    assert seal.open_vid(state, first) == seal.open_vid(state, second) == key


def test_fresh_caveat_keys() -> None:
    keys = {seal.new_caveat_key() for _ in range(64)}
    assert len(keys) == 64
    assert {len(k) for k in keys} == {32}


# --- what does not open --------------------------------------------------------------------


def _damaged_tickets(ticket: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "ephemeral key only": ticket[:32],
        "one byte short of a tag": ticket[: seal.TICKET_OVERHEAD - 1],
        "tag only, no plaintext": ticket[: seal.TICKET_OVERHEAD],
        "truncated by one": ticket[:-1],
        "extended by one": ticket + b"\x00",
        "ephemeral key flipped": bytes([ticket[0] ^ 1]) + ticket[1:],
        "ciphertext flipped": ticket[:40] + bytes([ticket[40] ^ 1]) + ticket[41:],
        "tag flipped": ticket[:-1] + bytes([ticket[-1] ^ 0x80]),
        "another ephemeral key": OTHER.public_key + ticket[32:],
    }


@pytest.mark.parametrize("name", sorted(_damaged_tickets(b"\x00" * 80)))
def test_a_damaged_ticket_is_seal_error(name: str) -> None:
    ticket = seal.seal_ticket(BOB_PUBLIC, PLAIN)
    with pytest.raises(SealError):
        BOB.open_ticket(_damaged_tickets(ticket)[name])


def test_a_ticket_opens_only_under_its_recipients_key() -> None:
    with pytest.raises(SealError):
        OTHER.open_ticket(seal.seal_ticket(BOB_PUBLIC, PLAIN))


TICKET_AAD = b"delegation/v1/ticket\x00"
RIGHT_KEY = _ticket_key(SHARED, ALICE_PUBLIC, BOB_PUBLIC)
MISBUILT_TICKETS = {
    "other aad": (RIGHT_KEY, bytes(12), b"delegation/v1/vid"),
    "no aad": (RIGHT_KEY, bytes(12), b""),
    "other nonce": (RIGHT_KEY, b"\x00" * 11 + b"\x01", TICKET_AAD),
    "hkdf info without the keys": (
        HKDF(hashes.SHA256(), 32, None, TICKET_AAD).derive(SHARED),
        bytes(12),
        TICKET_AAD,
    ),
    "raw shared secret as the key": (SHARED, bytes(12), TICKET_AAD),
}
"""Tickets to Bob from Alice's ephemeral key, built with one fixed input other than the spec's."""


@pytest.mark.parametrize("name", sorted(MISBUILT_TICKETS))
def test_a_ticket_built_with_other_key_nonce_or_aad_is_seal_error(name: str) -> None:
    key, nonce, aad = MISBUILT_TICKETS[name]
    with pytest.raises(SealError):
        BOB.open_ticket(ALICE_PUBLIC + ChaCha20Poly1305(key).encrypt(nonce, PLAIN, aad))


def test_the_misbuilt_tickets_control_opens() -> None:
    control = ALICE_PUBLIC + ChaCha20Poly1305(RIGHT_KEY).encrypt(bytes(12), PLAIN, TICKET_AAD)
    assert BOB.open_ticket(control) == PLAIN


@pytest.mark.parametrize("name", sorted(LOW_ORDER))
def test_a_low_order_x25519_point_is_refused_both_ways(name: str) -> None:
    point = _u(LOW_ORDER[name] % 2**256)
    with pytest.raises(SealError):  # sealing to it: no shared secret to derive a key from
        seal.seal_ticket(point, PLAIN)
    ticket = seal.seal_ticket(BOB_PUBLIC, PLAIN)
    with pytest.raises(SealError):  # a ticket naming it as its ephemeral key
        BOB.open_ticket(point + ticket[32:])


STATE, CAVEAT_KEY, NONCE = b"\x01" * 32, b"\x02" * 32, b"\x03" * 12
VID = seal.seal_vid(STATE, CAVEAT_KEY, NONCE)
BAD_VIDS = {
    "other state": (b"\x04" * 32, VID),
    "truncated": (STATE, VID[:-1]),
    "extended": (STATE, VID + b"\x00"),
    "empty": (STATE, b""),
    "nonce changed": (STATE, b"\x05" * 12 + VID[12:]),
    "ciphertext flipped": (STATE, VID[:12] + bytes([VID[12] ^ 1]) + VID[13:]),
    "tag flipped": (STATE, VID[:-1] + bytes([VID[-1] ^ 1])),
    "other aad": (STATE, NONCE + ChaCha20Poly1305(STATE).encrypt(NONCE, CAVEAT_KEY, b"other")),
    "no aad": (STATE, NONCE + ChaCha20Poly1305(STATE).encrypt(NONCE, CAVEAT_KEY, None)),
    "a 31-byte key sealed": (STATE, seal.seal_vid(STATE, CAVEAT_KEY[:31], NONCE)),
}


@pytest.mark.parametrize("name", sorted(BAD_VIDS))
def test_a_vid_opens_only_under_its_chain_state_nonce_and_aad(name: str) -> None:
    state, vid = BAD_VIDS[name]
    with pytest.raises(SealError):
        seal.open_vid(state, vid)


def test_seal_error_is_private_and_the_third_party_layer_words_it() -> None:
    """SealError is not part of the exception tree; the protocol layer turns it into
    BadDischarge with its own (pinned) details, chained for the audit log only."""
    assert _crypto.SealError is SealError
    assert not issubclass(SealError, DelegationError | ValueError)
    state = b"\x01" * 32
    with pytest.raises(BadDischarge) as info:
        open_vid(state, seal.seal_vid(b"\x02" * 32, b"\x07" * 32))
    assert info.value.detail == "verification id does not open"
    assert isinstance(info.value.__cause__, SealError)
    with pytest.raises(BadDischarge) as info:
        open_vid(state, b"\x00" * 59)
    assert info.value.detail == "verification id has the wrong length"
    approver = ApproverKey.from_seed(BOB_SEED)
    with pytest.raises(BadDischarge) as info:
        approver.open_ticket(b"\x00" * 47)
    assert info.value.detail == "ticket is too short"
    with pytest.raises(BadDischarge) as info:
        approver.open_ticket(seal.seal_ticket(OTHER.public_key, PLAIN))
    assert info.value.detail == "ticket does not open under this key"
    assert isinstance(info.value.__cause__, SealError)


@pytest.mark.parametrize("seed", [b"", b"\x01" * 31, b"\x01" * 33])
def test_a_recipient_seed_of_the_wrong_length_is_value_error(seed: bytes) -> None:
    """KeyPairFile.from_json turns this ValueError into KeyringError."""
    with pytest.raises(ValueError):  # noqa: PT011 - pyca's own message
        RecipientKey.from_seed(seed)


def test_recipient_key_repr_shows_only_the_public_key() -> None:
    assert BOB_SEED.hex() not in repr(BOB)
    assert BOB_PUBLIC.hex() in repr(BOB)
