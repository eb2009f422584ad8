"""The credential header: ``Authorization: Bearer dlg1.<token>.<proof>[.<discharge>]...``.

One header, so that a client that can set only ``Authorization`` (the MCP SDK's auth plumbing)
can send it; ``specs/http.md``, "The credential". Reading it is bounded by the header's length,
and every defect is a :class:`BadCredential` with the code a verifier would give.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from delegation.errors import Code, TokenError
from delegation.limits import MAX_DISCHARGES, MAX_PROOF_CHARS, MAX_TOKEN_CHARS

PREFIX = "dlg1."
SCHEME = "Bearer"
MAX_CREDENTIAL_CHARS = 32768
"""The longest ``Authorization`` header value read; longer is ``too_large`` unread."""

_PART = re.compile(r"[A-Za-z0-9_-]+")


class BadCredential(TokenError):
    """A credential header that cannot be used. ``code`` is ``token_required``, ``malformed``,
    ``too_large``, ``pop_invalid`` or ``bad_discharge``; ``detail`` never repeats the input."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class Credential:
    """What one request presents: a token, its proof (None: none was sent) and discharges."""

    token: str
    proof: str | None = None
    discharges: tuple[str, ...] = ()

    def encode(self) -> str:
        """The ``dlg1.`` text, without the scheme."""
        parts = [self.token, *([] if self.proof is None else [self.proof]), *self.discharges]
        if self.proof is None and self.discharges:
            raise ValueError("discharges follow a proof")
        return PREFIX + ".".join(parts)

    def header(self) -> str:
        """The ``Authorization`` header's value: ``Bearer dlg1....``."""
        return f"{SCHEME} {self.encode()}"

    @classmethod
    def parse(cls, value: str) -> Credential:
        """Read an ``Authorization`` header's value. Raises BadCredential."""
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise BadCredential(
                Code.TOO_LARGE, f"the credential is longer than {MAX_CREDENTIAL_CHARS} characters"
            )
        scheme, space, rest = value.partition(" ")
        if not space or scheme.lower() != "bearer" or not rest.startswith(PREFIX):
            raise BadCredential(
                Code.TOKEN_REQUIRED, "no delegation credential (Authorization: Bearer dlg1...)"
            )
        parts = rest[len(PREFIX) :].split(".")
        if not all(_PART.fullmatch(part) for part in parts):
            raise BadCredential(
                Code.MALFORMED, "a credential is dlg1. and base64url parts separated by '.'"
            )
        token, discharges = parts[0], tuple(parts[2:])
        proof = parts[1] if len(parts) > 1 else None
        if len(token) > MAX_TOKEN_CHARS:
            raise BadCredential(Code.TOO_LARGE, "the token is over the size limit")
        if proof is not None and len(proof) > MAX_PROOF_CHARS:
            raise BadCredential(Code.POP_INVALID, "the proof is over the size limit")
        if len(discharges) > MAX_DISCHARGES:
            raise BadCredential(
                Code.TOO_LARGE, f"a credential carries at most {MAX_DISCHARGES} discharges"
            )
        if any(len(d) > MAX_TOKEN_CHARS for d in discharges):
            raise BadCredential(Code.BAD_DISCHARGE, "a discharge is over the size limit")
        return cls(token, proof, discharges)


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> Credential:
    """The credential of an ASGI request's raw headers. Raises BadCredential: none, or more
    than one ``Authorization`` header (two credentials are refused, never chosen between)."""
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if not values:
        raise BadCredential(Code.TOKEN_REQUIRED, "no Authorization header")
    if len(values) > 1:
        raise BadCredential(Code.MALFORMED, "more than one Authorization header")
    return Credential.parse(values[0].decode("latin-1"))


def without_authorization(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` less every ``Authorization`` header: what a handler is given."""
    return [(name, value) for name, value in headers if name.lower() != b"authorization"]
