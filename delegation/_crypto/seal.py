"""Sealed boxes for third-party caveats: tickets and verification ids. Private.

Normative: ``specs/third-party.md``. What goes inside (the ticket's CBOR, what a caveat key is
for) and what a failure means to a presenter belong to :mod:`delegation._thirdparty.caveat`;
this module only seals and opens bytes, and raises :class:`SealError` for anything that does
not open.

- A ticket is sealed to a third party's X25519 public key ``tp``: ``eph || ChaCha20-Poly1305(
  key = HKDF-SHA256(X25519(eph, tp), salt = none, info = TICKET_DOMAIN || eph || tp),
  nonce = 12 zero bytes, aad = TICKET_DOMAIN)``, ``eph`` a fresh ephemeral public key. The key
  is fresh per ephemeral key, so the zero nonce is never reused under one key.
- A verification id seals a caveat root key under a chain state (a 32-byte HMAC, used directly
  as the AEAD key): ``nonce (12) || ChaCha20-Poly1305(key = state, nonce, aad = VID_AAD)``.
"""

from __future__ import annotations

import secrets
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

TICKET_DOMAIN = b"delegation/v1/ticket\x00"
VID_AAD = b"delegation/v1/vid"
KEY_BYTES = 32
"""X25519 public keys and seeds, AEAD keys, caveat root keys."""
NONCE_BYTES = 12
TAG_BYTES = 16
TICKET_OVERHEAD = KEY_BYTES + TAG_BYTES
"""A ticket's ephemeral public key and AEAD tag around its plaintext."""
VID_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
"""A verification id: nonce, sealed caveat root key, tag."""
_TICKET_NONCE = bytes(NONCE_BYTES)


class SealError(Exception):
    """A key that yields no shared secret (a low-order X25519 point), or a box that does not
    open: wrong key, wrong associated data, damaged or truncated. Deliberately says no more."""


def new_caveat_key() -> bytes:
    """A fresh caveat root key: KEY_BYTES from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def _public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _exchange(private: X25519PrivateKey, peer: bytes) -> bytes:
    """The X25519 shared secret. Raises SealError when OpenSSL refuses it: a peer key that is
    not 32 bytes, or a low-order point (the all-zero shared secret, RFC 7748 section 6.1)."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError as exc:
        raise SealError("no shared secret with that key") from exc


def _ticket_key(shared: bytes, eph_pub: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=TICKET_DOMAIN + eph_pub + recipient,
    )
    return hkdf.derive(shared)


def seal_ticket(recipient: bytes, plaintext: bytes, ephemeral_seed: bytes | None = None) -> bytes:
    """Seal ``plaintext`` to the X25519 public key ``recipient``. ``ephemeral_seed`` (32 bytes)
    is for reproducible vectors only. Raises SealError for a recipient with no shared secret."""
    ephemeral = (
        X25519PrivateKey.generate()
        if ephemeral_seed is None
        else X25519PrivateKey.from_private_bytes(ephemeral_seed)
    )
    eph_pub = _public_bytes(ephemeral)
    key = _ticket_key(_exchange(ephemeral, recipient), eph_pub, recipient)
    return eph_pub + ChaCha20Poly1305(key).encrypt(_TICKET_NONCE, plaintext, TICKET_DOMAIN)


class RecipientKey:
    """An X25519 key pair that tickets are sealed to: the public half seals, the private opens."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private: X25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = _public_bytes(private)

    def __repr__(self) -> str:
        return f"RecipientKey(public_key={self.public_key.hex()})"

    @classmethod
    def generate(cls) -> Self:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        """The key for 32 private bytes. Raises ValueError for another length, TypeError for
        something that is not bytes."""
        return cls(X25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def open_ticket(self, ticket: bytes) -> bytes:
        """The plaintext of a ticket sealed to this key. Raises SealError."""
        if len(ticket) < TICKET_OVERHEAD:
            raise SealError("ticket is too short")
        eph_pub = ticket[:KEY_BYTES]
        key = _ticket_key(_exchange(self._private, eph_pub), eph_pub, self.public_key)
        try:
            return ChaCha20Poly1305(key).decrypt(_TICKET_NONCE, ticket[KEY_BYTES:], TICKET_DOMAIN)
        except InvalidTag as exc:
            raise SealError("ticket does not open") from exc


def seal_vid(chain_state: bytes, caveat_key: bytes, nonce: bytes | None = None) -> bytes:
    """Seal ``caveat_key`` under a 32-byte chain state. ``nonce`` is for reproducible vectors
    only; a fresh one is random (12 bytes: fine for the one or few vids sealed per state)."""
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    return nonce + ChaCha20Poly1305(chain_state).encrypt(nonce, caveat_key, VID_AAD)


def open_vid(chain_state: bytes, vid: bytes) -> bytes:
    """The KEY_BYTES caveat root key sealed in ``vid`` under ``chain_state``. Raises SealError
    for a vid of any length but VID_BYTES, or one that does not open."""
    if len(vid) != VID_BYTES:
        raise SealError("verification id has the wrong length")
    try:
        return ChaCha20Poly1305(chain_state).decrypt(vid[:NONCE_BYTES], vid[NONCE_BYTES:], VID_AAD)
    except InvalidTag as exc:
        raise SealError("verification id does not open") from exc
