"""An MCP server built with the official SDK, served by uvicorn on loopback, called by the SDK's
real client over streamable HTTP: every ``tools/call`` is checked against the chain before the
tool runs, a denial is a tool error with the reason codes, ``tools/list`` carries the
declarations and hides what the token cannot call, and the SDK's own auth plumbing (the 401
and ``get_access_token()``) keeps working."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from delegation import (
    Agent,
    AgentKey,
    AuthoringError,
    Keyring,
    MemoryState,
    Request,
    Revocation,
    RevocationKind,
    Scope,
    TaskRecord,
    delegate,
    mint,
    prove,
)
from delegation.http._credential import Credential
from delegation.http.verify import LocalVerifier
from delegation.mcp import (
    META_CREDENTIAL,
    DelegatedSession,
    DelegatedTools,
    DelegationTokenVerifier,
    current_grant,
)
from tests.serving import serve_asgi


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class World:
    url: str
    keyring: Keyring
    state: MemoryState
    calls: list[tuple[str, dict[str, Any]]]
    seen: list[dict[str, Any]]
    server: MCPServer

    def token(self, key: AgentKey, **scope: Any) -> str:
        task = TaskRecord(
            task_id="task-7",
            approved_by="alice@example.com",
            approved_at=int(time.time()),
            statement="read account 42's notes",
        )
        base: dict[str, Any] = {"audiences": ["crm"], "expires_in": 600}
        return mint(self.keyring, task, Agent("orchestrator", key.public_key),
                    Scope(**{**base, **scope})).encode()  # fmt: skip


@pytest.fixture
def world() -> Iterator[World]:
    keyring, state = Keyring.generate(), MemoryState()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    tools = DelegatedTools(LocalVerifier(keyring, state), audience="crm")
    server = MCPServer(
        "crm",
        token_verifier=DelegationTokenVerifier("crm"),
        # the audience is checked per call, against the chain, by the verifier
        auth=AuthSettings(
            issuer_url=AnyHttpUrl("http://127.0.0.1:1/"),
            resource_server_url=AnyHttpUrl(f"{url}/mcp"),
            validate_token_resource=False,
        ),
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []

    @tools.tool(server, action="read", resource="crm://accounts/{account_id}/notes")
    def read_notes(account_id: str) -> str:
        calls.append(("read_notes", {"account_id": account_id}))
        grant = current_grant()
        access = get_access_token()
        assert grant is not None
        seen.append({
            "task": grant.task.task_id,
            "approver": grant.approver,
            "agents": [link.agent_id for link in grant.agents],
            "client_id": None if access is None else access.client_id,
        })  # fmt: skip
        return f"notes of {account_id}"

    @tools.tool(server, action="write", resource="crm://accounts/{account_id}/notes")
    def add_note(account_id: str, text: str) -> str:
        calls.append(("add_note", {"account_id": account_id, "text": text}))
        return "filed"

    @server.tool()
    def undeclared() -> str:  # no declaration: refused, and not listed
        calls.append(("undeclared", {}))
        return "ran"

    tools.install(server)
    runner, thread, _ = serve_asgi(server.streamable_http_app(), port=port, what="the MCP server")
    yield World(url, keyring, state, calls, seen, server)
    runner.should_exit = True
    thread.join(timeout=20)


def _run(coro: Any) -> Any:
    return anyio.run(lambda: coro)


async def _session(world: World, header: str | None, work: Any) -> Any:
    headers = {} if header is None else {"Authorization": header}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{world.url}/mcp", http_client=http)) as client,
    ):
        return await work(client)


def _codes(result: Any) -> list[str]:
    assert result.is_error
    body = json.loads(result.content[0].text)
    return [r["code"] for r in body["reasons"]]


def test_a_call_the_chain_allows_runs_with_the_task_and_chain_visible(world: World) -> None:
    key = AgentKey.generate()
    token = world.token(key, tools=["read_notes"], actions=["read"])

    async def work(client: Any) -> Any:
        session = DelegatedSession(client, token, key, audience="crm")
        listed = await session.list_tools()
        return listed, await session.call_tool("read_notes", {"account_id": "42"})

    listed, result = _run(_session(world, Credential(token).header(), work))
    assert [t.name for t in listed.tools] == ["read_notes"]  # filtered to what it may call
    assert listed.tools[0].meta["delegation"] == {
        "audience": "crm", "action": "read", "resource": "crm://accounts/{account_id}/notes",
        "intent": None,
    }  # fmt: skip
    assert not result.is_error, result
    assert world.calls == [("read_notes", {"account_id": "42"})]
    assert world.seen == [{"task": "task-7", "approver": "alice@example.com",
                           "agents": ["orchestrator"], "client_id": "orchestrator"}]  # fmt: skip


def test_denials_of_every_kind_are_tool_errors_and_the_tool_never_runs(world: World) -> None:
    key = AgentKey.generate()
    token = world.token(key, tools=["read_notes", "add_note"], actions=["read"])
    header = Credential(token).header()
    read = Request.from_json({"audience": "crm", "tool": "read_notes", "action": "read",
                              "resource": "crm://accounts/42/notes",
                              "args": {"account_id": "42"}})  # fmt: skip

    async def work(client: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        args = {"account_id": "42"}

        async def call(name: str, arguments: dict[str, Any], credential: str | None) -> Any:
            meta = None if credential is None else {META_CREDENTIAL: credential}
            return await client.call_tool(name, arguments, meta=meta)

        out["no proof"] = await call("read_notes", args, None)  # the header has none
        good = Credential(token, prove(token, key, read)).encode()
        out["first"] = await call("read_notes", args, good)
        out["replay"] = await call("read_notes", args, good)
        other = Request.from_json({**read.to_json(), "resource": "crm://accounts/43/notes",
                                   "args": {"account_id": "43"}})  # fmt: skip
        out["proof for another call"] = await call(
            "read_notes", args, Credential(token, prove(token, key, other)).encode()
        )
        out["out of scope"] = await call(
            "add_note", {"account_id": "42", "text": "hi"},
            Credential(token, prove(token, key, Request.from_json({
                "audience": "crm", "tool": "add_note", "action": "write",
                "resource": "crm://accounts/42/notes",
                "args": {"account_id": "42", "text": "hi"}}))).encode(),
        )  # fmt: skip
        out["malformed"] = await call("read_notes", args, "dlg1.not*base64")
        out["another token than the header's"] = await call(
            "read_notes", args, Credential(world.token(key), None).encode()
        )
        out["undeclared"] = await call("undeclared", {}, good)
        out["missing argument"] = await call("read_notes", {}, good)
        return out

    answers = _run(_session(world, header, work))
    assert not answers["first"].is_error
    assert _codes(answers["no proof"]) == ["pop_required"]
    assert _codes(answers["replay"]) == ["replay"]
    assert _codes(answers["proof for another call"]) == ["pop_invalid"]
    assert "action_not_allowed" in _codes(answers["out of scope"])
    assert _codes(answers["malformed"]) == ["malformed"]
    assert _codes(answers["another token than the header's"]) == ["malformed"]
    assert _codes(answers["undeclared"]) == ["not_declared"]
    assert _codes(answers["missing argument"]) == ["malformed"]
    assert world.calls == [("read_notes", {"account_id": "42"})]  # only the one allowed
    text = json.dumps([a.content[0].text for a in answers.values() if a.is_error])
    assert token not in text  # never echoed


def test_a_stolen_token_and_a_revoked_one_are_denied(world: World) -> None:
    key, thief = AgentKey.generate(), AgentKey.generate()
    token = world.token(key, tools=["read_notes"])

    async def stolen(client: Any) -> Any:
        # the thief has the token but not the key: it can present the token, not a proof
        return await client.call_tool(
            "read_notes", {"account_id": "42"}, meta={META_CREDENTIAL: Credential(token).encode()}
        )

    read = Request.from_json({"audience": "crm", "tool": "read_notes", "action": "read",
                              "resource": "crm://accounts/42/notes",
                              "args": {"account_id": "42"}})  # fmt: skip
    with pytest.raises(AuthoringError):  # nor can it sign one with its own key
        prove(token, thief, read)
    assert _codes(_run(_session(world, Credential(token).header(), stolen))) == ["pop_required"]
    world.state.revoke(Revocation(RevocationKind.TASK, "task-7"), int(time.time()))

    async def revoked(client: Any) -> Any:
        return await DelegatedSession(client, token, key, audience="crm").call_tool(
            "read_notes", {"account_id": "42"}
        )

    assert _codes(_run(_session(world, Credential(token).header(), revoked))) == ["revoked"]
    assert world.calls == []


def test_a_sub_agent_calls_with_its_own_narrowed_token(world: World) -> None:
    orchestrator, researcher = AgentKey.generate(), AgentKey.generate()
    root = world.token(orchestrator, tools=["read_notes", "add_note"])
    child = delegate(root, orchestrator, Agent("researcher", researcher.public_key),
                     Scope(tools=["read_notes"], actions=["read"])).encode()  # fmt: skip

    async def work(client: Any) -> Any:
        session = DelegatedSession(client, child, researcher, audience="crm")
        return await session.call_tool("read_notes", {"account_id": "42"})

    assert not _run(_session(world, Credential(child).header(), work)).is_error
    assert world.seen[-1]["agents"] == ["orchestrator", "researcher"]


def test_without_a_credential_the_sdk_answers_401_pointing_at_its_metadata(
    world: World,
) -> None:
    answer = httpx2.post(f"{world.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401
    assert "resource_metadata" in answer.headers["www-authenticate"]
    metadata = httpx2.get(f"{world.url}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == f"{world.url}/mcp"
    assert world.calls == []


def test_without_headers_the_credential_travels_in_the_calls_meta(world: World) -> None:
    """The SDK's in-memory client, like stdio, has no HTTP request and no Authorization
    header: the session's credential in ``_meta`` is all the server checks."""
    key = AgentKey.generate()
    token = world.token(key, tools=["read_notes"])

    async def work() -> tuple[Any, Any]:
        async with Client(world.server) as client:
            session = DelegatedSession(client, token, key, audience="crm")
            allowed = await session.call_tool("read_notes", {"account_id": "42"})
            bare = await client.call_tool("read_notes", {"account_id": "42"})
            return allowed, bare

    allowed, bare = anyio.run(work)
    assert not allowed.is_error
    assert _codes(bare) == ["token_required"]
    assert world.calls == [("read_notes", {"account_id": "42"})]


def test_a_server_publishing_another_audience_gets_no_proof(world: World) -> None:
    """The session pins the audience it means to call: a server whose tools name another
    audience (one that mirrors another server's, to collect proofs good there) is refused
    before anything is signed."""
    from delegation.errors import MalformedRequest

    key = AgentKey.generate()
    token = world.token(key, tools=["read_notes"])

    async def work(client: Any) -> Any:
        session = DelegatedSession(client, token, key, audience="payments")
        return await session.call_tool("read_notes", {"account_id": "42"})

    with pytest.raises(BaseException) as caught:  # noqa: PT011 (unwrapped below)
        _run(_session(world, Credential(token).header(), work))
    inner = caught.value
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    assert isinstance(inner, MalformedRequest)
    assert world.calls == []
