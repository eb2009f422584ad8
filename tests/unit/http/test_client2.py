"""DelegationAuth2: the same flow as an httpx2 auth, sync and async."""

from __future__ import annotations

import anyio
import httpx2

from delegation import Request
from delegation.http import Credential, DelegationAuth2

from ._world import TOKEN, WRITER

CALL = Request(audience="crm", tool="crm.update", action="write")


def test_httpx2_clients_carry_the_credential() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    auth = DelegationAuth2(TOKEN, WRITER, audience="crm", request_for=lambda _: CALL)
    with httpx2.Client(auth=auth, transport=httpx2.MockTransport(handler)) as agent:
        assert agent.get("http://crm/x").status_code == 200

    async def go() -> int:
        transport = httpx2.MockTransport(handler)
        async with httpx2.AsyncClient(auth=auth, transport=transport) as agent:
            return (await agent.get("http://crm/y")).status_code

    assert anyio.run(go) == 200
    assert [Credential.parse(r.headers["authorization"]).token for r in seen] == [TOKEN, TOKEN]
