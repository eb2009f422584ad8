"""DelegationMiddleware in process (httpx's ASGITransport): the router's own match decides
the route checked (mounts included), websockets and bugs deny, the route map is served, and
the handler gets the body it was checked on. Real servers: tests/http."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from delegation import MemoryState, Request, prove
from delegation.http import (
    ROUTE_MAP_PATH,
    Credential,
    DelegationMiddleware,
    LocalVerifier,
    Verdict,
    granted,
    protect,
    public,
)

from ._world import KEYRING, TOKEN, WRITER

ran: list[str] = []


@protect("crm.update", "write", "crm://accounts/{account_id}/notes")
async def add_note(request: HttpRequest) -> JSONResponse:
    ran.append("add_note")
    body = await request.json()
    return JSONResponse({"body": body, "holder": granted(request).holder.agent_id})


@public
async def open_(request: HttpRequest) -> JSONResponse:
    with pytest.raises(LookupError):
        granted(request)
    return JSONResponse({"authorization": request.headers.get("authorization")})


async def ws(websocket: Any) -> None:  # pragma: no cover - never reached
    ran.append("ws")


def _app(verifier: Any = None) -> Starlette:
    api = [Route("/accounts/{account_id:int}/notes", add_note, methods=["POST"])]
    app = Starlette(
        routes=[Mount("/api", routes=api), Route("/open", open_), WebSocketRoute("/ws", ws)]
    )
    app.add_middleware(
        DelegationMiddleware,
        verifier=verifier or LocalVerifier(KEYRING, MemoryState()),
        audience="crm",
    )
    return app


def _call(app: Starlette, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:
            return await client.request(method, path, **kw)

    return anyio.run(go)


def _header(args: dict[str, Any]) -> dict[str, str]:
    call = Request(
        audience="crm",
        tool="crm.update",
        action="write",
        resource="crm://accounts/42/notes",
        args=args,
    )
    return {"Authorization": Credential(TOKEN, prove(TOKEN, WRITER, call)).header()}


def test_a_mounted_route_is_checked_and_gets_its_body() -> None:
    ran.clear()
    answer = _call(
        _app(), "POST", "/api/accounts/42/notes", json={"t": 1}, headers=_header({"t": 1})
    )
    assert answer.json() == {"body": {"t": 1}, "holder": "writer"}
    assert ran == ["add_note"]


def test_the_route_map_lists_mounted_routes_under_their_prefix() -> None:
    doc = _call(_app(), "GET", ROUTE_MAP_PATH).json()
    assert doc["audience"] == "crm"
    paths = {r["path"]: r for r in doc["routes"]}
    assert paths["/api/accounts/{account_id:int}/notes"]["tool"] == "crm.update"
    assert paths["/open"]["public"] is True


def test_a_public_route_never_sees_the_credential() -> None:
    answer = _call(_app(), "GET", "/open", headers={"Authorization": "Bearer dlg1.A.B"})
    assert answer.json() == {"authorization": None}


def test_a_verifier_that_raises_is_a_503_not_a_500() -> None:
    class Broken:
        async def verify(self, *_: Any) -> Verdict:
            raise RuntimeError("bug")

    ran.clear()
    answer = _call(_app(Broken()), "POST", "/api/accounts/42/notes", json={}, headers=_header({}))
    assert (answer.status_code, answer.json()["code"]) == (503, "internal_error")
    assert "bug" not in answer.text
    assert ran == []


def test_a_websocket_is_refused() -> None:
    sent: list[dict[str, Any]] = []

    async def go() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            sent.append(message)

        await _app()({"type": "websocket", "path": "/ws", "headers": []}, receive, send)

    anyio.run(go)
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_no_router_denies() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        ran.append("inner")

    middleware = DelegationMiddleware(inner, verifier=LocalVerifier(KEYRING, None), audience="crm")
    answer = _call(middleware, "GET", "/x")  # type: ignore[arg-type]
    assert (answer.status_code, answer.json()["code"]) == (503, "internal_error")
