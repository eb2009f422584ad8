"""Every cryptographic primitive the library uses, and nothing else. Private: see the spec.

Only this package imports pyca ``cryptography``, ``hmac`` or ``hashlib`` (a static check in
``tests/unit/crypto/test_boundary.py`` holds the rest of the package to that). The layers above
give the bytes their meaning and turn :class:`SealError` into their own errors.

- :mod:`.chain`: the libmacaroons HMAC chain and key derivation, discharge binding, the
  approval spend key, chain digests, the hop and proof-of-possession messages. Its names are
  re-exported here, since every layer of the library walks the chain.
- :mod:`.ed25519`: signing keys, signature verification, public key screening.
- :mod:`.seal`: X25519 + HKDF-SHA256 + ChaCha20-Poly1305 tickets, verification ids, fresh
  caveat root keys.
"""

from __future__ import annotations

from delegation._crypto.chain import (
    APPROVAL_DOMAIN,
    ASK_DOMAIN,
    CHAIN_DOMAIN,
    HOP_DOMAIN,
    KEY_GENERATOR,
    POP_DOMAIN,
    ROOT_KEY_BYTES,
    approval_spend_key,
    bind,
    chain_digests,
    chain_signature,
    chain_signatures,
    chain_states_derived,
    chain_step,
    derive_key,
    digest_start,
    digest_step,
    hop_message,
    initial_signature,
    macs_equal,
    new_root_key,
    pop_message,
    token_digest,
)
from delegation._crypto.ed25519 import ed25519_verify
from delegation._crypto.seal import SealError

__all__ = [
    "APPROVAL_DOMAIN",
    "ASK_DOMAIN",
    "CHAIN_DOMAIN",
    "HOP_DOMAIN",
    "KEY_GENERATOR",
    "POP_DOMAIN",
    "ROOT_KEY_BYTES",
    "SealError",
    "approval_spend_key",
    "bind",
    "chain_digests",
    "chain_signature",
    "chain_signatures",
    "chain_states_derived",
    "chain_step",
    "derive_key",
    "digest_start",
    "digest_step",
    "ed25519_verify",
    "hop_message",
    "initial_signature",
    "macs_equal",
    "new_root_key",
    "pop_message",
    "token_digest",
]
