"""The floors the targets are measured against: one Ed25519 verification by libsodium and by
OpenSSL, and the bare HMAC chain over a token's bytes; and, not a target, the least a
pure-Python warm verify can do. Keys are benchmark fixtures."""

from __future__ import annotations

from _hashlib import hmac_digest as _hmac_digest
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from workload import Timed

from delegation import Decision
from delegation._crypto import pop_message
from delegation._proof import parse as parse_proof
from delegation.limits import CLOCK_SKEW_SECONDS, POP_MAX_AGE_SECONDS
from delegation.stores import NonceClaim, StateQuery
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


# The least a pure-Python warm verify can do, for comparison with ours (not a system: it
# checks only what a call in scope needs and is never asked about one out of scope).
WarmItem = tuple[Any, str, str, Any]


def python_warm_floor(item: WarmItem) -> bool:
    """One warm holder-bound verify cut to what no Python verifier can skip: read the proof,
    digest the request, assemble the proof message, one libsodium verify, one state check
    that claims the nonce, one Decision. No layers, no revocation walk beyond the state's, no
    caveat-by-caveat checks, no discharges, no type questions: a lower bound, not a verifier.
    Takes ``ours.HolderBound.warm_inputs`` items (verifier, token text, proof, request)."""
    verifier, text, proof, request = item
    chain = verifier._chains[text]
    now = verifier._clock()
    if not chain._scope.allows(request, now):
        return False
    issued_at, nonce, signature = parse_proof(proof)
    holder = chain.agents[-1].public_key
    message = pop_message(chain._token_digest, request.digest(), issued_at, nonce)
    crypto_sign_open(signature + message, holder)
    claim = NonceClaim(holder + nonce, issued_at + POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS)
    answer = verifier._state.check(StateQuery(chain._revocations, claim), now)
    if answer.revoked is not None or answer.replayed:
        return False
    decision = Decision(
        True,
        (),
        chain.task,
        chain.agents,
        chain.token_id,
        chain.root_id,
        chain.key_id,
        chain.expires,
        now,
    )
    return decision.allowed
