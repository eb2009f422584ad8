"""What moved into ``delegation._crypto.chain`` with the HMAC chain: discharge binding, the
approval spend key and fresh root keys (the chain itself: ``tests/unit/crypto/test_crypto.py``;
binding against pymacaroons: ``tests/interop/test_pymacaroons.py``).

specs/threats.md: "a discharge ... works with that token and no other" (binding at the
primitive level). Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import hashlib
import hmac

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import _crypto, _wire
from delegation._thirdparty import caveat as tp

ZERO = bytes(32)


def h(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def test_bind_is_libmacaroons_binding() -> None:
    token_sig, discharge_sig = b"\x01" * 32, b"\x02" * 32
    expected = h(ZERO, h(ZERO, token_sig) + h(ZERO, discharge_sig))
    assert _crypto.bind(token_sig, discharge_sig) == expected
    assert tp.bind is _crypto.bind  # the third-party layer's name for it


def test_bind_is_ordered_and_binds_both_signatures() -> None:
    a, b, c = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    assert _crypto.bind(a, b) != _crypto.bind(b, a)
    assert _crypto.bind(a, b) != _crypto.bind(a, c)
    assert _crypto.bind(a, b) != _crypto.bind(c, b)
    assert _crypto.bind(a, _crypto.bind(a, b)) != _crypto.bind(a, b)  # bound twice differs


def test_bind_is_a_third_party_chain_step_under_the_zero_key() -> None:
    """Why it sits with the chain: the same two-MAC construction, token signature as vid."""
    a, b = b"\x01" * 32, b"\x02" * 32
    assert _crypto.bind(a, b) == _crypto.chain_step(ZERO, _wire.RawCaveat(b, a))


def test_approval_spend_key_is_the_specified_hash() -> None:
    """specs/third-party.md: spend_key = SHA-256("delegation/v1/approval\\0" || dsig[j])."""
    state = b"\x09" * 32
    expected = hashlib.sha256(b"delegation/v1/approval\x00" + state).digest()
    assert _crypto.approval_spend_key(state) == expected
    assert _crypto.approval_spend_key(b"\x08" * 32) != expected


def test_fresh_root_keys() -> None:
    keys = {_crypto.new_root_key() for _ in range(64)}
    assert len(keys) == 64
    assert {len(k) for k in keys} == {_crypto.ROOT_KEY_BYTES} == {32}


@settings(max_examples=300)
@given(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**34 - 1) | st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32]),
    st.binary(min_size=16, max_size=16),
    st.sampled_from([_crypto.POP_DOMAIN, _crypto.ASK_DOMAIN]),
)
def test_the_proof_message_is_the_canonical_cbor_array(
    token_digest: bytes, request_digest: bytes, issued_at: int, nonce: bytes, domain: bytes
) -> None:
    # Assembled by hand for speed; the spec's definition is the canonical CBOR array.
    expected = domain + cbor2.dumps(
        [token_digest, request_digest, issued_at, nonce], canonical=True
    )
    assert _crypto.pop_message(token_digest, request_digest, issued_at, nonce, domain) == expected


def test_the_two_proof_domains_differ_and_end_in_a_zero_byte() -> None:
    assert _crypto.POP_DOMAIN == b"delegation/v1/pop\x00"
    assert _crypto.ASK_DOMAIN == b"delegation/v1/ask\x00"
