"""Proof of possession: the holder signs each request with the key the token is bound to.

A proof is unpadded base64url of the CBOR array ``[1, issued_at, nonce, signature]``. The
signature is Ed25519 by the token's current holder over::

    "delegation/v1/pop\\0" || CBOR([SHA-256(token bytes), request digest, issued_at, nonce])

so it binds this token, this exact request, a time and a fresh 16-byte nonce (in the spirit of
DPoP, RFC 9449 section 4.3). A verifier accepts it for ``POP_MAX_AGE_SECONDS`` after
``issued_at``, allows ``CLOCK_SKEW_SECONDS`` of a prover clock running ahead, and records the
nonce so it works once.

An approval request carries the same proof under another domain, ``"delegation/v1/ask\\0"``
(:func:`prove_for_approval`): the approver learns that the holder asked for this call, and the
proof is useless at a tool server, so neither the approver nor anyone who reads its requests can
make the call with it (``specs/proof-of-possession.md``, "Approval requests").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from delegation import _cbor, _crypto, _wire
from delegation._keys import SIGNATURE_BYTES, AgentKey
from delegation._request import Request
from delegation._token import UnverifiedToken, decode
from delegation.errors import AuthoringError, BadProof, MalformedToken, TokenError
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_PROOF_CHARS, MAX_TIME, POP_MAX_AGE_SECONDS

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
        return cls(*parse(text))

    def message(
        self, token_bytes: bytes, request: Request, domain: bytes = _crypto.POP_DOMAIN
    ) -> bytes:
        return _crypto.pop_message(
            _crypto.token_digest(token_bytes), request.digest(), self.issued_at, self.nonce, domain
        )

    def replay_key(self, holder_public_key: bytes) -> bytes:
        return replay_key(holder_public_key, self.nonce)


def replay_key(holder_public_key: bytes, nonce: bytes) -> bytes:
    """What a verifier records to accept a proof once: the holder's key, then the nonce."""
    return holder_public_key + nonce


def parse(text: str) -> tuple[int, bytes, bytes]:
    """:meth:`Proof.decode`'s fields (issued_at, nonce, signature), for the verifier, which
    reads each once. Raises MalformedToken or TokenTooLarge."""
    data = _wire.b64decode(text, MAX_PROOF_CHARS, "proof")
    # The layout is fixed, so it is read byte by byte rather than through a generic
    # decoder: array(4), unsigned 1, unsigned issued_at (shortest form), bytes(16), bytes(64).
    if data[:2] != b"\x84\x01":
        raise MalformedToken("a proof is [1, issued_at, nonce, signature]")
    if data[2:3] == b"\x1a" and len(data) >= 7:  # four bytes: every time of this century
        issued_at, pos = int.from_bytes(data[3:7], "big"), 7
        if issued_at < 0x10000:
            raise MalformedToken("proof issued_at is not in its shortest form")
    else:
        issued_at, pos = _read_uint(data, 2)
    if not 0 <= issued_at < MAX_TIME:
        raise MalformedToken("proof issued_at is not a valid time")
    sig_at = pos + 1 + NONCE_BYTES + 2
    if (
        len(data) != sig_at + SIGNATURE_BYTES
        or data[pos] != 0x50
        or data[sig_at - 2 : sig_at] != b"\x58\x40"
    ):
        raise MalformedToken("a proof is [1, issued_at, nonce(16), signature(64)]")
    return issued_at, data[pos + 1 : sig_at - 2], data[sig_at:]


_UINT_SIZES = {24: 1, 25: 2, 26: 4, 27: 8}
"""The bytes after a CBOR head whose additional information is 24 to 27."""


def _read_uint(data: bytes, pos: int) -> tuple[int, int]:
    """A CBOR unsigned integer in its shortest form at ``pos``. Returns (value, next position)."""
    if pos >= len(data) or data[pos] >> 5 != 0:
        raise MalformedToken("proof issued_at is not an unsigned integer")
    info = data[pos] & 0x1F
    if info < 24:
        return info, pos + 1
    size = _UINT_SIZES.get(info)
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


def prove_for_approval(
    token: str | UnverifiedToken,
    key: AgentKey,
    request: Request,
    *,
    now: int | None = None,
) -> str:
    """The holder's signed request to an approver to approve ``request`` for ``token``.

    Send it with the token and the call to the approval service
    (:meth:`delegation.Approver.pending`); the approval it gives is bound to this holder and
    this chain. It is not a proof for the call itself (another domain): prove that with
    :func:`prove` when making the call. Raises as :func:`prove`.
    """
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _prove(token, key, request, now=now, nonce=nonce, domain=_crypto.ASK_DOMAIN)


def _prove(
    token: str | UnverifiedToken,
    key: AgentKey,
    request: Request,
    *,
    now: int | None,
    nonce: bytes,
    domain: bytes = _crypto.POP_DOMAIN,
) -> str:
    """``prove`` (or, with ``ASK_DOMAIN``, ``prove_for_approval``) with a given nonce: for
    reproducible test vectors, never for real proofs."""
    tok = decode(token) if isinstance(token, str) else token
    if tok.holder.public_key != key.public_key:
        raise AuthoringError("only the token's current holder can prove possession of it")
    issued_at = int(time.time()) if now is None else now
    if type(issued_at) is not int or not 0 <= issued_at < MAX_TIME:
        raise AuthoringError(f"a proof's time is whole seconds in [0, {MAX_TIME})")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise AuthoringError(f"a proof nonce is {NONCE_BYTES} bytes")
    unsigned = Proof(issued_at, nonce, b"")
    signature = key.sign(unsigned.message(tok.token_bytes, request, domain))
    return Proof(issued_at, nonce, signature).encode()


def check_approval_request(tok: UnverifiedToken, request: Request, proof: str, now: int) -> None:
    """The approver's check of an approval request: ``proof`` is the token's holder's signature
    (as the token claims its holder) under the approval-request domain over this exact token and
    call, dated within the window a verifier accepts. Raises BadProof."""
    if not isinstance(proof, str):
        raise BadProof("an approval request's proof is text")
    try:
        parsed = Proof.decode(proof)
    except TokenError as exc:
        raise BadProof("the approval request's proof is malformed") from exc
    if parsed.issued_at > now + CLOCK_SKEW_SECONDS:
        raise BadProof("the approval request's proof is dated in the future")
    if now - parsed.issued_at > POP_MAX_AGE_SECONDS:
        raise BadProof("the approval request's proof is too old; sign a fresh one")
    message = parsed.message(tok.token_bytes, request, _crypto.ASK_DOMAIN)
    if not _crypto.ed25519_verify(tok.holder.public_key, parsed.signature, message):
        raise BadProof(
            "the approval request is not signed by the token's holder over this token and call"
        )
