"""How a denial is answered over HTTP: its status, its challenge and its JSON body
(``specs/http.md``, "Denials"). Nothing here repeats a credential, a token or a proof."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from delegation._decision import Reason
from delegation.errors import Code

NOT_DECLARED = "not_declared"
"""This layer's own code: a route that declares nothing and is not public."""

UNAVAILABLE = frozenset(
    {Code.STORE_UNAVAILABLE, Code.INTERNAL_ERROR, Code.STATE_REQUIRED, Code.POLICY_UNAVAILABLE}
)
"""Codes that mean the server could not decide (503, with ``Retry-After``): a policy that
errs or times out included, as a store that cannot answer."""
UNAUTHENTICATED = frozenset(
    {
        Code.TOKEN_REQUIRED,
        Code.MALFORMED,
        Code.TOO_LARGE,
        Code.UNKNOWN_KEY,
        Code.BAD_SIGNATURE,
        Code.MISSING_CAVEAT,
        Code.BAD_HOP,
        Code.REVOKED,
        Code.EXPIRED,
        Code.NOT_YET_VALID,
        Code.POP_REQUIRED,
        Code.POP_INVALID,
        Code.REPLAY,
    }
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A refusal ready to send: status, headers and the JSON body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: dict[str, Any]

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


def _quoted(text: str) -> str:
    """A challenge parameter's quoted-string: printable ASCII, quotes and backslashes escaped."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in text)
    return '"' + safe.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(realm: str, error: str | None, code: str | None, metadata: str | None) -> str:
    params = [f"realm={_quoted(realm)}"]
    if error is not None:
        params.append(f"error={_quoted(error)}")
    if code is not None:
        params.append(f"error_description={_quoted(code)}")
    if metadata is not None:
        params.append(f"resource_metadata={_quoted(metadata)}")
    return "Bearer " + ", ".join(params)


def status_of(codes: Sequence[str]) -> tuple[int, str]:
    """The status and RFC 6750 ``error`` for a denial's reason codes, the first row that
    applies: 503, then 401, then 403."""
    if any(c in UNAVAILABLE for c in codes):
        return 503, "temporarily_unavailable"
    if any(c in UNAUTHENTICATED for c in codes):
        return 401, "invalid_token"
    return 403, "insufficient_scope"


def denial(
    reasons: Sequence[Reason],
    *,
    realm: str,
    decision_id: str | None = None,
    metadata: str | None = None,
) -> Answer:
    """The answer to a denying decision's ``reasons`` (at least one)."""
    codes = [str(r.code) for r in reasons]
    status, error = status_of(codes)
    body: dict[str, Any] = {
        "error": error,
        "code": codes[0],
        "reasons": [r.to_json() for r in reasons],
    }
    if decision_id is not None:
        body["decision_id"] = decision_id
    headers: list[tuple[str, str]] = [("content-type", "application/json")]
    if status == 503:
        headers.append(("retry-after", "1"))
    else:
        if codes == [str(Code.TOKEN_REQUIRED)]:  # no credential: a bare challenge
            del body["error"]
            said = challenge(realm, None, None, metadata)
        else:
            said = challenge(realm, error, codes[0], metadata)
        headers.append(("www-authenticate", said))
    return Answer(status, tuple(headers), body)


def refusal(status: int, code: str, detail: str, *, realm: str, metadata: str | None) -> Answer:
    """An answer that is no verifier's decision: ``invalid_request`` (400, 413) for an HTTP
    request that cannot be a ``Request``, ``not_declared`` (403) for a route without a
    declaration."""
    error = "insufficient_scope" if status == 403 else "invalid_request"
    reason = {"code": code, "hop": None, "caveat": None, "detail": detail}
    body = {"error": error, "code": code, "reasons": [reason]}
    headers: list[tuple[str, str]] = [("content-type", "application/json")]
    if status == 403:
        headers.append(("www-authenticate", challenge(realm, error, code, metadata)))
    return Answer(status, tuple(headers), body)
