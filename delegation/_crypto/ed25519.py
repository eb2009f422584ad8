"""Ed25519: signing keys, verification, and public key screening. Private.

Signing is pyca ``cryptography``'s (OpenSSL); verifying is libsodium's, through PyNaCl (also a
pyca project): measured here, its verification takes half the time of OpenSSL's, and it is the
one Ed25519 check every call pays (``benchmarks/``). RFC 8032 signatures are deterministic, so
which library signs changes no byte. libsodium's verification also refuses a small-order or
non-canonical key, a non-canonical ``S`` and a small-order ``R``.

Screening: a small-order point (the identity among them) lets anyone forge signatures that
verify under OpenSSL, and a non-canonical encoding is a second spelling of a key. Tokens name
keys that were chosen by their holders, so every key read from a token or a user is screened
(:func:`is_safe_public_key`): the canonical encoding of a curve point that is not of small
order, RFC 8032 section 5.1 (``specs/token-format.md`` section 5.1). The range and small-order
checks are comparisons; whether the bytes decode to a point is asked of libsodium, which
decompresses the point. ``tests/unit/crypto/test_ed25519.py`` holds it to the same rule written
in plain point arithmetic, slow and obviously right.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.bindings import crypto_core_ed25519_add, crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.exceptions import RuntimeError as SodiumError

PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32
SIGNATURE_BYTES = 64

_P = 2**255 - 19


_Y_MASK = (1 << 255) - 1
_SMALL_ORDER_Y = frozenset(
    {
        0,  # order 4: (+-sqrt(-1), 0)
        1,  # the identity (0, 1)
        _P - 1,  # order 2: (0, -1)
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,  # order 8
        _P - 0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,  # order 8
    }
)
"""The y-coordinates of the eight points of small order (each y is two points, +-x)."""
_BASE = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")


@lru_cache(maxsize=8192)
def is_safe_public_key(data: bytes) -> bool:
    """True for a canonical encoding of a curve point whose order is not small (not 1, 2, 4 or
    8), at a fraction of the cost of plain point arithmetic."""
    if not isinstance(data, bytes) or len(data) != PUBLIC_KEY_BYTES:
        return False
    y = int.from_bytes(data, "little") & _Y_MASK
    # y >= p is a second spelling; the small-order points include both with x = 0 (y = +-1),
    # so the one non-canonical sign bit (x = 0, sign 1) is refused here too.
    if y >= _P or y in _SMALL_ORDER_Y:
        return False
    try:  # libsodium decompresses both points first and refuses bytes that are not a point
        crypto_core_ed25519_add(data, _BASE)
    except (SodiumError, CryptoError, ValueError, TypeError):
        return False
    return True


class SigningKey:
    """An Ed25519 private key, its 32-byte seed and its 32 raw public key bytes."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"SigningKey(public_key={self.public_key.hex()})"

    @classmethod
    def generate(cls) -> Self:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        """The key for a 32-byte seed. Raises ValueError for another length, TypeError for
        something that is not bytes."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message`` (RFC 8032, deterministic)."""
        return self._private.sign(message)


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s over ``message``. Never raises: a key or a
    signature of the wrong length is False. Screen keys with :func:`is_safe_public_key`."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True
