"""HMAC chain, chain digests and signed payloads (``delegation._crypto``).

specs/threats.md: "Any flipped, dropped, reordered, truncated or spliced byte or caveat
fails the HMAC chain" (at the primitive level; end to end in test_verifier); "A hop counts only
if signed by the holder in force" (domain separation: a hop signature is not a proof and vice
versa). Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import hashlib
import hmac

from delegation import _cbor, _crypto, _wire
from tests.conftest import seeded_agent

ROOT_KEY = b"\x07" * 32  # test-only


def h(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def test_initial_signature_is_libmacaroons_key_derivation() -> None:
    derived = h(b"macaroons-key-generator", ROOT_KEY)
    assert _crypto.initial_signature(ROOT_KEY, b"ident") == h(derived, b"ident")


def test_first_and_third_party_chain_steps() -> None:
    sig = b"\x01" * 32
    assert _crypto.chain_step(sig, _wire.RawCaveat(b"cav")) == h(sig, b"cav")
    third = _wire.RawCaveat(b"cid", b"vid", "loc")
    assert _crypto.chain_step(sig, third) == h(sig, h(sig, b"vid") + h(sig, b"cid"))


def test_chain_signature_folds_every_caveat_in_order() -> None:
    cavs = [_wire.RawCaveat(b"a"), _wire.RawCaveat(b"b")]
    expected = h(h(_crypto.initial_signature(ROOT_KEY, b"id"), b"a"), b"b")
    assert _crypto.chain_signature(ROOT_KEY, b"id", cavs) == expected
    assert _crypto.chain_signature(ROOT_KEY, b"id", cavs[::-1]) != expected
    assert _crypto.chain_signature(ROOT_KEY, b"id", cavs[:1]) != expected
    assert _crypto.chain_signature(ROOT_KEY, b"id", [_wire.RawCaveat(b"ab")]) != expected
    assert _crypto.chain_signature(b"\x08" * 32, b"id", cavs) != expected


def test_location_plays_no_part_in_the_chain() -> None:
    a = _crypto.chain_step(b"\x01" * 32, _wire.RawCaveat(b"c", b"v", "https://a.example"))
    b = _crypto.chain_step(b"\x01" * 32, _wire.RawCaveat(b"c", b"v", "https://b.example"))
    assert a == b


def test_macs_equal() -> None:
    assert _crypto.macs_equal(b"a" * 32, b"a" * 32)
    assert not _crypto.macs_equal(b"a" * 32, b"b" * 32)
    assert not _crypto.macs_equal(b"a" * 32, b"a" * 31)


def test_chain_digest_is_framed_and_domain_separated() -> None:
    start = _crypto.digest_start(b"id")
    assert start == hashlib.sha256(b"delegation/v1/chain\x00" + b"\x00\x00\x00\x02id").digest()
    step = _crypto.digest_step(start, _wire.RawCaveat(b"c"))
    assert step == hashlib.sha256(start + b"\x00\x00\x00\x01c" + b"\x00").digest()
    third = _crypto.digest_step(start, _wire.RawCaveat(b"c", b"v"))
    assert third == hashlib.sha256(start + b"\x00\x00\x00\x01c" + b"\x01\x00\x00\x00\x01v").digest()
    # Framing: moving bytes between cid and vid changes the digest.
    a = _crypto.digest_step(start, _wire.RawCaveat(b"ab", b"c"))
    b = _crypto.digest_step(start, _wire.RawCaveat(b"a", b"bc"))
    assert a != b
    # A first-party caveat and a third-party one with an empty vid are different chain states.
    assert _crypto.digest_step(start, _wire.RawCaveat(b"c", b"")) != step


def test_hop_and_pop_messages_are_domain_separated() -> None:
    digest = b"\x09" * 32
    hop = _crypto.hop_message(digest, "sub", b"\x01" * 32)
    assert hop == b"delegation/v1/hop\x00" + digest + _cbor.dumps(["sub", b"\x01" * 32])
    pop = _crypto.pop_message(digest, b"\x02" * 32, 5, b"\x03" * 16)
    assert pop == b"delegation/v1/pop\x00" + _cbor.dumps([digest, b"\x02" * 32, 5, b"\x03" * 16])
    assert not pop.startswith(b"delegation/v1/hop")


def test_a_hop_signature_does_not_verify_as_a_proof() -> None:
    key = seeded_agent(9)
    digest = b"\x09" * 32
    hop = _crypto.hop_message(digest, "sub", b"\x01" * 32)
    sig = key.sign(hop)
    assert _crypto.ed25519_verify(key.public_key, sig, hop)
    pop = _crypto.pop_message(digest, b"\x01" * 32, 0, b"\x00" * 16)
    assert not _crypto.ed25519_verify(key.public_key, sig, pop)


def test_ed25519_verify_never_raises() -> None:
    key = seeded_agent(9)
    sig = key.sign(b"m")
    assert _crypto.ed25519_verify(key.public_key, sig, b"m")
    assert not _crypto.ed25519_verify(key.public_key, sig, b"n")
    assert not _crypto.ed25519_verify(seeded_agent(8).public_key, sig, b"m")
    assert not _crypto.ed25519_verify(key.public_key, sig[:63], b"m")
    assert not _crypto.ed25519_verify(key.public_key, b"", b"m")
    assert not _crypto.ed25519_verify(key.public_key[:31], sig, b"m")
    assert not _crypto.ed25519_verify(b"", sig, b"m")


def test_token_digest_is_sha256() -> None:
    assert _crypto.token_digest(b"abc") == hashlib.sha256(b"abc").digest()


def test_the_inlined_chain_walk_agrees_with_chain_step() -> None:
    """chain_states_derived inlines chain_step for speed; both must be the same chain."""
    caveats = [
        _wire.RawCaveat(b"\x82\x03\x81ax"),
        _wire.RawCaveat(b"cid", b"v" * 60, "https://tp.example"),
        _wire.RawCaveat(b""),
    ]
    root = b"\x09" * 32
    stepped = [_crypto.initial_signature(root, b"id")]
    for caveat in caveats:
        stepped.append(_crypto.chain_step(stepped[-1], caveat))
    assert _crypto.chain_states_derived(_crypto.derive_key(root), b"id", caveats) == stepped
