"""Remote mode: every call is decided by the verifier service's ``POST /v1/verify``, with a
verifier API key bound to this server's audience (``specs/service.md``). The answer is the
library's decision, with the service's ``decision_id`` and signed receipt.

A service that cannot be reached, times out, refuses the key or answers anything but a
decision denies (``store_unavailable``): never an allow, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from delegation._decision import Decision, Reason
from delegation._keys import decode_public_key
from delegation._request import Request
from delegation._task import Link, TaskRecord
from delegation.errors import Code
from delegation.http.verify import Verdict

log = logging.getLogger("delegation.http")


class RemoteVerifier:
    """Asks the service at ``url`` with ``api_key`` (a ``verifier`` key). ``timeout`` bounds
    each call (a slow service denies); ``transport`` is httpx's, for tests."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the server's event loop
            self._client = httpx.AsyncClient(
                base_url=self._url,
                headers=self._headers,
                timeout=self._timeout,
                transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def verify(
        self, token: str, request: Request, proof: str | None, discharges: Sequence[str]
    ) -> Verdict:
        body = {
            "token": token,
            "request": request.to_json(),
            "proof": proof,
            "discharges": list(discharges),
        }
        try:
            answer = await self._http().post("/v1/verify", json=body)
        except httpx.HTTPError as exc:
            log.warning("the verifier service cannot be reached: %s", type(exc).__name__)
            return _unavailable("unreachable")
        if answer.status_code != 200:
            log.warning("the verifier service answered %d to /v1/verify", answer.status_code)
            return _unavailable(f"answered {answer.status_code}")
        try:
            doc = answer.json()
            decision = decision_from_json(doc)
            decision_id, receipt = doc["decision_id"], doc.get("receipt")
            if not isinstance(decision_id, str) or not isinstance(receipt, dict | None):
                raise TypeError("decision_id")
        except Exception:  # anything but a decision denies
            log.exception("the verifier service answered something that is not a decision")
            return _unavailable("error")
        return Verdict(decision, decision_id, receipt)


def _unavailable(why: str) -> Verdict:
    detail = f"the verifier service cannot answer ({why})"
    return Verdict(Decision(False, (Reason(Code.STORE_UNAVAILABLE, detail),)))


def _code(value: object) -> Code:
    try:
        return Code(str(value))
    except ValueError:  # a code from a newer service: still a denial
        return Code.INTERNAL_ERROR


def decision_from_json(doc: Any) -> Decision:
    """A decision as ``Decision.to_json`` wrote it. Raises (KeyError, TypeError, ValueError)
    for anything else."""
    reasons = tuple(
        Reason(_code(r["code"]), str(r["detail"]), r.get("hop"), r.get("caveat"))
        for r in doc["reasons"]
    )
    task = doc.get("task")
    agents = tuple(
        Link(a["agent_id"], decode_public_key(a["public_key"]), a.get("hop_id"))
        for a in doc.get("agents") or ()
    )
    allowed = doc["allowed"]
    if type(allowed) is not bool:
        raise TypeError("allowed is a boolean")
    if allowed and (task is None or not agents):
        raise ValueError("an allow names its task and its agents")
    return Decision(
        allowed,
        reasons,
        task=None
        if task is None
        else TaskRecord(
            task_id=task["task_id"],
            approved_by=task["approved_by"],
            approved_at=task["approved_at"],
            statement=task["statement"],
        ),
        agents=agents,
        token_id=doc.get("token_id"),
        root_id=doc.get("root_id"),
        key_id=doc.get("key_id"),
        expires=doc.get("expires"),
        at=doc.get("at"),
    )
