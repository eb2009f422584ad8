"""The floors the targets are measured against: one Ed25519 verification by libsodium and by
OpenSSL, and the bare HMAC chain over a token's bytes. Keys are benchmark fixtures."""

from __future__ import annotations

from _hashlib import hmac_digest as _hmac_digest

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from workload import Timed

from delegation.testing import fixtures

# A proof-sized message: the 18-byte domain and 100 bytes (the library signs about as much).
MESSAGE = b"delegation/v1/pop\x00" + bytes(range(100))


def ed25519_libsodium() -> Timed:
    """One ``crypto_sign_open`` (libsodium through PyNaCl) on a signed message made beforehand:
    the fastest Ed25519 verification here, and the unit of the warm and first-sight targets."""
    key = fixtures.agent_key(99)
    signed = key.sign(MESSAGE) + MESSAGE
    public = key.public_key

    def call() -> None:
        crypto_sign_open(signed, public)

    return call


def ed25519_openssl() -> Timed:
    """One ``Ed25519PublicKey.verify`` (pyca cryptography, OpenSSL) on a loaded key."""
    key = fixtures.agent_key(99)
    signature = key.sign(MESSAGE)
    public = Ed25519PublicKey.from_public_bytes(key.public_key)

    def call() -> None:
        public.verify(signature, MESSAGE)

    return call


def hmac_chain(key: bytes, messages: list[bytes]) -> Timed:
    """A bare loop of chained one-shot HMAC-SHA256 (OpenSSL's, the primitive the library calls),
    one per message: the token's identifier and each caveat (caveats + 1 calls)."""

    def call() -> None:
        sig = key
        for msg in messages:
            sig = _hmac_digest(sig, msg, "sha256")

    return call
