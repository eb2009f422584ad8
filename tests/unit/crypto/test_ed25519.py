"""Ed25519 public-key screening and verification (``delegation._crypto.ed25519``).

OpenSSL verifies against any 32 bytes that decode to a point; under a small-order key such as
the identity point, a fixed signature verifies for every message. So a token bound to such a
key, or a hop to one, would let anyone prove possession. Verification is libsodium's (PyNaCl),
which refuses such keys itself; screening refuses them wherever a key is read, and is held here
to the pure-Python reference screening: the same verdict on every 32 bytes.

specs/threats.md: "Proof of possession ... by the current holder's key" (no key that
anyone can sign for); "A hop counts only if signed by the holder in force" (no hop to such a
key); "One token, one spelling" (no non-canonical key encodings).
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_core_ed25519_add

from delegation import (
    Agent,
    AgentKey,
    Code,
    MalformedToken,
    Request,
    UnverifiedToken,
    Verifier,
    _crypto,
    decode_public_key,
    encode_public_key,
)
from delegation._crypto.ed25519 import is_safe_public_key
from delegation._proof import Proof
from delegation.caveats import Hop
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

# --- the reference screening, RFC 8032 section 5.1 arithmetic -------------------------------

_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode(data: bytes) -> tuple[int, int] | None:
    """(x, y) for a canonical encoding of a curve point, else None."""
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = (v * x * x) % _P
    if vx2 == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    # Extended coordinates (X, Y, Z, T), a = -1 (RFC 8032 section 5.1.4).
    x, y, z, _ = point
    a = x * x % _P
    b = y * y % _P
    c = 2 * z * z % _P
    h = (a + b) % _P
    e = (h - (x + y) * (x + y)) % _P
    g = (a - b) % _P
    f = (c + g) % _P
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _reference_is_safe(data: bytes) -> bool:
    """The screening in plain RFC 8032 point arithmetic (section 5.1.3, then [8]P): a canonical
    encoding of a point whose order is not small (not 1, 2, 4 or 8). Slow and obviously right:
    the reference the library's screening is held to."""
    decoded = _decode(data)
    if decoded is None:
        return False
    x, y = decoded
    point = (x, y, 1, x * y % _P)
    for _ in range(3):
        point = _double(point)
    px, py, pz, _ = point
    return not (px == 0 and py == pz)


IDENTITY = bytes([1]) + bytes(31)
ANY_MESSAGE_SIGNATURE = IDENTITY + bytes(32)  # R = identity, S = 0
UNSAFE = {
    "identity": IDENTITY,
    "order-4 (y = 0)": bytes(32),
    "order-2 (y = -1)": bytes.fromhex(
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ),
    "order-8 a": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "order-8 b": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "order-8 a, other sign": bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
    ),
    "order-8 b, other sign": bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"
    ),
    "identity with sign bit (x = 0)": bytes([1]) + bytes(30) + b"\x80",
    "y = p (non-canonical)": bytes.fromhex(
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ),
    "y = p + 1 (non-canonical identity)": bytes.fromhex(
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    ),
    "31 bytes": bytes(31),
    "33 bytes": bytes(33),
}
TORSION = [UNSAFE[name] for name in UNSAFE if name.startswith("order-")]
HONEST = seeded_agent(1).public_key
MIXED_ORDER = {
    f"honest key + {name}": crypto_core_ed25519_add(HONEST, UNSAFE[name])
    for name in UNSAFE
    if name.startswith("order-")
}
"""Points of large order with a small-order component: not small order, so they pass, as they
always have (``specs/token-format.md`` section 5.1 says why that is safe)."""
P = _P


def _openssl_verifies(key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def test_why_screening_is_needed() -> None:
    message = b"any message at all"
    assert _openssl_verifies(IDENTITY, ANY_MESSAGE_SIGNATURE, message)
    assert not _crypto.ed25519_verify(IDENTITY, ANY_MESSAGE_SIGNATURE, message)


@pytest.mark.parametrize("name", sorted(MIXED_ORDER))
def test_keys_with_a_small_order_component_pass_as_under_the_reference(name: str) -> None:
    key = MIXED_ORDER[name]
    assert _reference_is_safe(key)
    assert is_safe_public_key(key)


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_the_reference_refuses_every_unsafe_key_too(name: str) -> None:
    assert not _reference_is_safe(UNSAFE[name])


def _near(y: int, sign: int) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


@settings(max_examples=500)
@given(
    st.binary(min_size=32, max_size=32)
    | st.builds(
        _near,
        st.sampled_from([0, 1, 2, P - 2, P - 1, P, P + 1, P + 18, 2**255 - 1])
        | st.integers(0, 2**255 - 1),
        st.integers(0, 1),
    )
    | st.builds(crypto_core_ed25519_add, st.sampled_from([HONEST]), st.sampled_from(TORSION))
)
def test_screening_gives_the_reference_verdict_on_any_32_bytes(data: bytes) -> None:
    assert is_safe_public_key(data) == _reference_is_safe(data)


@settings(max_examples=60)
@given(st.integers(0, 255), st.sampled_from(TORSION))
def test_every_honest_key_passes_and_so_does_it_plus_a_small_order_point(
    n: int, torsion: bytes
) -> None:
    key = seeded_agent(n).public_key
    assert is_safe_public_key(key)
    assert _reference_is_safe(key)
    mixed = crypto_core_ed25519_add(key, torsion)
    assert is_safe_public_key(mixed) == _reference_is_safe(mixed)


@settings(max_examples=200)
@given(
    st.integers(0, 255),
    st.binary(max_size=200),
    st.integers(0, 63),
    st.integers(1, 255),
)
def test_libsodium_and_openssl_agree_on_honest_and_mutated_signatures(
    n: int, message: bytes, position: int, flip: int
) -> None:
    key = seeded_agent(n)
    signature = key.sign(message)
    assert _crypto.ed25519_verify(key.public_key, signature, message)
    assert _openssl_verifies(key.public_key, signature, message)
    mutated = bytearray(signature)
    mutated[position] ^= flip
    ours = _crypto.ed25519_verify(key.public_key, bytes(mutated), message)
    # libsodium is the stricter of the two (it also refuses a small-order R): never looser.
    assert not ours or _openssl_verifies(key.public_key, bytes(mutated), message)
    assert not ours  # a flipped bit breaks an honest signature under either


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_small_order_and_non_canonical_keys_are_unsafe(name: str) -> None:
    assert not is_safe_public_key(UNSAFE[name])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 200, 255])
def test_generated_keys_are_safe(n: int) -> None:
    assert is_safe_public_key(seeded_agent(n).public_key)
    assert is_safe_public_key(AgentKey.generate().public_key)


@pytest.mark.parametrize("name", ["identity", "order-8 a", "y = p + 1 (non-canonical identity)"])
def test_unsafe_keys_are_refused_wherever_a_key_is_read(name: str) -> None:
    key = UNSAFE[name]
    with pytest.raises(MalformedToken):
        Agent("mallory", key)
    with pytest.raises(MalformedToken):
        Hop("mallory", key, ANY_MESSAGE_SIGNATURE)
    with pytest.raises(MalformedToken):
        decode_public_key(encode_public_key(key))


def test_a_hop_to_the_identity_key_does_not_parse(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    # A holder signs a hop to a key anyone can sign for, then hands the token to the world.
    message = _crypto.hop_message(_forge.chain_digest(root_token), "anyone", IDENTITY)
    sig = orchestrator.sign(message)
    cid = _forge.caveat_bytes(Hop.type_id, "83" + "66" + b"anyone".hex() + "5820" + IDENTITY.hex())
    cid += bytes.fromhex("5840") + sig
    token = _forge.append_raw(root_token, cid)
    request = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    proof = Proof(NOW, b"\x01" * 16, ANY_MESSAGE_SIGNATURE).encode()
    decision = verifier.verify(token, request, proof)
    assert not decision
    assert [(r.code, r.hop, r.caveat) for r in decision.reasons] == [(Code.MALFORMED, 0, 7)]
    assert "full-order" in decision.reasons[0].detail


def test_a_token_bound_to_the_identity_key_does_not_decode(verifier: Verifier) -> None:
    good = _forge.identifier(holder=seeded_agent(1))
    forged = good.replace(seeded_agent(1).public_key, IDENTITY)
    assert forged != good
    request = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    proof = Proof(NOW, b"\x01" * 16, ANY_MESSAGE_SIGNATURE).encode()
    decision = verifier.verify(_forge.frame(forged, root_key=b"\x01" * 32), request, proof)
    assert [r.code for r in decision.reasons] == [Code.MALFORMED]
