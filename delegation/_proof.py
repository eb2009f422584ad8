"""Proof of possession: the holder signs each request with the key the token is bound to.

A proof is unpadded base64url of the CBOR array ``[1, issued_at, nonce, signature]``. The
signature is Ed25519 by the token's current holder over::

    "delegation/v1/pop\\0" || CBOR([SHA-256(token bytes), request digest, issued_at, nonce])

so it binds this token, this exact request, a time and a fresh 16-byte nonce (in the spirit of
DPoP, RFC 9449 section 4.3). A verifier accepts it for ``POP_MAX_AGE_SECONDS`` after
``issued_at``, allows ``CLOCK_SKEW_SECONDS`` of a prover clock running ahead, and records the
nonce so it works once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from delegation import _cbor, _crypto, _wire
from delegation._keys import SIGNATURE_BYTES, AgentKey
from delegation._request import Request
from delegation._token import UnverifiedToken, decode
from delegation.errors import AuthoringError, MalformedToken
from delegation.limits import MAX_PROOF_CHARS, MAX_TIME

PROOF_VERSION = 1
NONCE_BYTES = 16


@dataclass(frozen=True, slots=True)
class Proof:
    issued_at: int
    nonce: bytes
    signature: bytes

    def encode(self) -> str:
        return _wire.b64encode(
            _cbor.dumps([PROOF_VERSION, self.issued_at, self.nonce, self.signature])
        )

    @classmethod
    def decode(cls, text: str) -> Proof:
        """Parse a proof. Raises MalformedToken or TokenTooLarge."""
        data = _wire.b64decode(text, MAX_PROOF_CHARS, "proof")
        # The layout is fixed, so it is read byte by byte rather than through a generic
        # decoder: array(4), unsigned 1, unsigned issued_at (shortest form), bytes(16), bytes(64).
        if data[:2] != b"\x84\x01":
            raise MalformedToken("a proof is [1, issued_at, nonce, signature]")
        issued_at, pos = _read_uint(data, 2)
        if not 0 <= issued_at < MAX_TIME:
            raise MalformedToken("proof issued_at is not a valid time")
        nonce_at, sig_at = pos + 1, pos + 1 + NONCE_BYTES + 2
        if (
            data[pos : pos + 1] != b"\x50"
            or data[nonce_at + NONCE_BYTES : sig_at] != b"\x58\x40"
            or len(data) != sig_at + SIGNATURE_BYTES
        ):
            raise MalformedToken("a proof is [1, issued_at, nonce(16), signature(64)]")
        return cls(issued_at, data[nonce_at : nonce_at + NONCE_BYTES], data[sig_at:])

    def message(self, token_bytes: bytes, request: Request) -> bytes:
        return _crypto.pop_message(
            _crypto.token_digest(token_bytes), request.digest(), self.issued_at, self.nonce
        )

    def replay_key(self, holder_public_key: bytes) -> bytes:
        return holder_public_key + self.nonce


def _read_uint(data: bytes, pos: int) -> tuple[int, int]:
    """A CBOR unsigned integer in its shortest form at ``pos``. Returns (value, next position)."""
    if pos >= len(data) or data[pos] >> 5 != 0:
        raise MalformedToken("proof issued_at is not an unsigned integer")
    info = data[pos] & 0x1F
    if info < 24:
        return info, pos + 1
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None or pos + 1 + size > len(data):
        raise MalformedToken("proof issued_at is not an unsigned integer")
    value = int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
    if value < (24 if size == 1 else 1 << (4 * size)):
        raise MalformedToken("proof issued_at is not in its shortest form")
    return value, pos + 1 + size


def prove(
    token: str | UnverifiedToken,
    key: AgentKey,
    request: Request,
    *,
    now: int | None = None,
) -> str:
    """Sign ``request`` for ``token`` with the holder's ``key``; returns the one-line proof.

    Raises AuthoringError if ``key`` is not the token's current holder (such a proof could
    never verify), and MalformedToken for a token that cannot be decoded.
    """
    return _prove(token, key, request, now=now, nonce=secrets.token_bytes(NONCE_BYTES))


def _prove(
    token: str | UnverifiedToken, key: AgentKey, request: Request, *, now: int | None, nonce: bytes
) -> str:
    """``prove`` with a given nonce: for reproducible test vectors, never for real proofs."""
    tok = decode(token) if isinstance(token, str) else token
    if tok.holder.public_key != key.public_key:
        raise AuthoringError("only the token's current holder can prove possession of it")
    issued_at = int(time.time()) if now is None else now
    if type(issued_at) is not int or not 0 <= issued_at < MAX_TIME:
        raise AuthoringError(f"a proof's time is whole seconds in [0, {MAX_TIME})")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise AuthoringError(f"a proof nonce is {NONCE_BYTES} bytes")
    unsigned = Proof(issued_at, nonce, b"")
    signature = key.sign(unsigned.message(tok.token_bytes, request))
    return Proof(issued_at, nonce, signature).encode()
