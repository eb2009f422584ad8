"""Ed25519 signing keys and verification (``delegation._crypto.ed25519``), against RFC 8032's
first test vector and pyca's own verifier. Screening: ``tests/unit/crypto/test_ed25519.py``.

Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from delegation import AgentKey, KeyringError, _crypto
from delegation._crypto.ed25519 import SigningKey, ed25519_verify, is_safe_public_key
from delegation._wire import b64encode

# RFC 8032 section 7.1, TEST 1: the empty message.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc_8032_test_1() -> None:
    key = SigningKey.from_seed(SEED)
    assert key.public_key == PUBLIC
    assert key.seed() == SEED
    assert key.sign(b"") == SIGNATURE
    assert ed25519_verify(PUBLIC, SIGNATURE, b"")
    assert not ed25519_verify(PUBLIC, SIGNATURE, b"\x00")


def test_signatures_verify_with_pyca_and_here() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"message")
    assert len(signature) == 64
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, b"message")
    assert ed25519_verify(key.public_key, signature, b"message")
    assert is_safe_public_key(key.public_key)
    assert SigningKey.from_seed(key.seed()).public_key == key.public_key


def test_verify_is_reexported_for_the_verifier() -> None:
    assert _crypto.ed25519_verify is ed25519_verify


def test_agent_key_is_a_signing_key() -> None:
    agent = AgentKey.from_seed(SEED)
    assert agent.public_key == PUBLIC
    assert agent.sign(b"") == SIGNATURE
    assert AgentKey.from_json(agent.to_json()).public_key == PUBLIC
    assert SEED.hex() not in repr(agent)
    assert SEED.hex() not in repr(SigningKey.from_seed(SEED))


@pytest.mark.parametrize("seed", [b"", b"\x01" * 31, b"\x01" * 33])
def test_a_seed_of_the_wrong_length_is_value_error_and_keyring_error_from_a_file(
    seed: bytes,
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pyca's own message
        SigningKey.from_seed(seed)
    text = AgentKey.from_seed(SEED).to_json().replace(b64encode(SEED), b64encode(seed))
    with pytest.raises(KeyringError):
        AgentKey.from_json(text)
