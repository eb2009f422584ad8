"""RemoteVerifier against a fake service (httpx's MockTransport): what it sends, and that
anything but a decision denies with ``store_unavailable``. The real service: tests/http."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from delegation import Decision, Request
from delegation.http import RemoteVerifier
from delegation.http.remote import decision_from_json

from ._world import TOKEN

CALL = Request(audience="crm", tool="crm.update", action="write", args={"n": 1.0})


def _ask(handler: Any) -> Decision:
    verifier = RemoteVerifier("http://svc", "dlg_k", transport=httpx.MockTransport(handler))

    async def go() -> Decision:
        verdict = await verifier.verify(TOKEN, CALL, "PROOF", ["D"])
        await verifier.aclose()
        return verdict.decision

    return anyio.run(go)


def test_it_posts_the_call_with_its_key() -> None:
    seen: list[httpx.Request] = []
    denial = {"allowed": False, "reasons": [{"code": "replay", "detail": "x"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={**denial, "decision_id": "id", "receipt": None})

    assert _ask(handler).code == "replay"
    (request,) = seen
    assert request.url.path == "/v1/verify"
    assert request.headers["authorization"] == "Bearer dlg_k"
    body = json.loads(request.content)
    assert body == {
        "token": TOKEN,
        "request": CALL.to_json(),
        "proof": "PROOF",
        "discharges": ["D"],
    }
    assert type(body["request"]["args"]["n"]) is float  # 1.0 stays a float on the wire


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"code": "unauthenticated"}),
        httpx.Response(403, json={"code": "wrong_audience_for_key"}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"allowed": True, "reasons": [], "decision_id": "x"}),  # no task
        httpx.Response(200, json={"allowed": "yes", "reasons": [], "decision_id": "x"}),
    ],
)
def test_anything_but_a_decision_denies(answer: httpx.Response) -> None:
    decision = _ask(lambda _: answer)
    assert not decision.allowed
    assert decision.code == "store_unavailable"


def test_a_service_out_of_reach_denies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    decision = _ask(handler)
    assert (decision.allowed, decision.code) == (False, "store_unavailable")
    assert "unreachable" in decision.reasons[0].detail


def test_an_unknown_code_from_a_newer_service_is_still_a_denial() -> None:
    decision = decision_from_json(
        {"allowed": False, "reasons": [{"code": "new_thing", "detail": "x"}]}
    )
    assert (decision.allowed, decision.code) == (False, "internal_error")
