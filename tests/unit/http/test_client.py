"""DelegationAuth as an httpx auth: the async flow, a call derived another way, and the
arguments it refuses."""

from __future__ import annotations

import anyio
import httpx
import pytest

from delegation import AgentKey, AuthoringError, Request
from delegation.http import AgentError, Credential, DelegationAuth

from ._world import TOKEN, WRITER

CALL = Request(audience="crm", tool="crm.update", action="write")


def test_the_async_flow_signs_with_the_call_given_by_request_for() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async def go() -> int:
        auth = DelegationAuth(TOKEN, WRITER, audience="crm", request_for=lambda _: CALL)
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(auth=auth, transport=transport) as agent:
            return (await agent.post("http://crm/anything", content=b"x")).status_code

    assert anyio.run(go) == 200
    (request,) = seen  # no route map fetched
    assert Credential.parse(request.headers["authorization"]).token == TOKEN


def test_it_refuses_what_cannot_sign() -> None:
    with pytest.raises(AgentError):
        DelegationAuth("", WRITER, audience="crm")
    with pytest.raises(AgentError):
        DelegationAuth(TOKEN, "key", audience="crm")  # type: ignore[arg-type]
    auth = DelegationAuth(TOKEN, AgentKey.generate(), audience="crm", request_for=lambda _: CALL)
    agent = httpx.Client(auth=auth, transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    with agent, pytest.raises(AuthoringError):  # not the token's holder
        agent.get("http://crm/x")
