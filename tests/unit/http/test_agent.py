"""The agent's flow through DelegationAuth against fake servers (MockTransport): the route map
fetched once per origin, a credential only where a route is declared, the approval asked,
polled and retried once, and each way it stops with a typed error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from delegation.http import (
    ROUTE_MAP_PATH,
    ApprovalFailed,
    ApprovalProgress,
    Credential,
    DelegationAuth,
    RouteMapUnavailable,
    print_progress,
)

from ._world import TOKEN, WRITER

MAP = {
    "format": "delegation-http/1",
    "audience": "crm",
    "routes": [
        {"methods": ["GET"], "path": "/h", "public": True},
        {
            "methods": ["POST"],
            "path": "/accounts/{account_id}/notes",
            "tool": "crm.update",
            "action": "write",
            "resource": "crm://accounts/{account_id}/notes",
            "intent": None,
            "body": "json",
        },
    ],
}
APPROVAL = {"reasons": [{"code": "approval_required", "hop": None, "caveat": 2, "detail": "x"}]}


class Fake:
    def __init__(self, *, tool: list[httpx.Response] | None = None, polls: int = 1) -> None:
        self.seen: list[httpx.Request] = []
        self.tool = tool or [httpx.Response(200, json={"ok": True})]
        self.polls = polls

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == ROUTE_MAP_PATH:
            return httpx.Response(200, json=MAP)
        if request.url.host == "svc" and request.method == "POST":
            return httpx.Response(
                201, json={"approval_id": "a1", "poll_url": "/v1/approvals/poll/s"}
            )
        if request.url.host == "svc":
            self.polls -= 1
            if self.polls > 0:
                return httpx.Response(202, json={"state": "pending"})
            return httpx.Response(200, json={"state": "approved", "discharges": ["DIS"]})
        return self.tool.pop(0)


def _client(fake: Fake, **options: Any) -> httpx.Client:
    auth = DelegationAuth(TOKEN, WRITER, audience="crm", poll_interval=0, **options)
    return httpx.Client(base_url="http://crm", auth=auth, transport=httpx.MockTransport(fake))


def test_the_route_map_is_fetched_once_and_only_declared_routes_get_a_credential() -> None:
    fake = Fake(tool=[httpx.Response(200), httpx.Response(200), httpx.Response(200)])
    with _client(fake) as agent:
        agent.post("/accounts/42/notes", json={"text": "a"})
        agent.post("/accounts/42/notes", json={"text": "b"})
        agent.get("/h")
    paths = [r.url.path for r in fake.seen]
    assert paths == [ROUTE_MAP_PATH, "/accounts/42/notes", "/accounts/42/notes", "/h"]
    first, second = (Credential.parse(r.headers["authorization"]) for r in fake.seen[1:3])
    assert first.token == second.token == TOKEN
    assert first.proof != second.proof  # a fresh proof per request
    assert "authorization" not in fake.seen[3].headers


def test_an_approval_is_asked_polled_and_the_call_sent_once_more() -> None:
    fake = Fake(tool=[httpx.Response(403, json=APPROVAL), httpx.Response(200)], polls=3)
    progress: list[ApprovalProgress] = []
    with _client(fake, approvals="http://svc", progress=progress.append) as agent:
        assert agent.post("/accounts/42/notes", json={"text": "a"}).status_code == 200
    asked = next(r for r in fake.seen if r.url.path == "/v1/approvals")
    body = json.loads(asked.content)
    assert body["request"]["resource"] == "crm://accounts/42/notes"
    assert body["proof"] != Credential.parse(fake.seen[1].headers["authorization"]).proof
    retried = Credential.parse(fake.seen[-1].headers["authorization"])
    assert retried.discharges == ("DIS",)
    assert [p.state for p in progress] == ["asked", "pending", "pending", "approved"]


def test_other_denials_are_returned_as_they_are() -> None:
    other = {"reasons": [{"code": "approval_required"}, {"code": "tool_not_allowed"}]}
    fake = Fake(tool=[httpx.Response(403, json=other)])
    with _client(fake, approvals="http://svc") as agent:
        assert agent.post("/accounts/42/notes", json={}).status_code == 403
    assert not any(r.url.host == "svc" for r in fake.seen)


def test_a_refused_approval_request_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == ROUTE_MAP_PATH:
            return httpx.Response(200, json=MAP)
        if request.url.host == "svc":
            return httpx.Response(401, json={"code": "pop_invalid"})
        return httpx.Response(403, json=APPROVAL)

    auth = DelegationAuth(TOKEN, WRITER, audience="crm", approvals="http://svc")
    agent = httpx.Client(base_url="http://crm", auth=auth, transport=httpx.MockTransport(handler))
    with agent, pytest.raises(ApprovalFailed, match="pop_invalid") as caught:
        agent.post("/accounts/42/notes", json={})
    assert caught.value.response.status_code == 403


def test_no_route_map_is_a_typed_error() -> None:
    agent = httpx.Client(
        base_url="http://crm",
        auth=DelegationAuth(TOKEN, WRITER, audience="crm"),
        transport=httpx.MockTransport(lambda _: httpx.Response(404)),
    )
    with agent, pytest.raises(RouteMapUnavailable):
        agent.get("/x")


def test_progress_can_be_printed(capsys: pytest.CaptureFixture[str]) -> None:
    from delegation import Request

    call = Request(audience="crm", tool="crm.update", action="write")
    print_progress(ApprovalProgress("pending", "a1", call, 12.4, 300))
    assert (
        capsys.readouterr().err
        == "delegation: approval a1 of crm.update write: pending (12 s of 300 s)\n"
    )
