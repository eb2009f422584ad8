"""An agent's ``DelegatedSession`` against an MCP server in remote mode (the verifier service's
``/v1/verify``, a real service on loopback): a call that needs a human's yes is asked at the
service, approved by a person through the service's API while the agent polls, and made once
more with the discharge; a refusal stays a refusal; every decision is in the service's log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from delegation import AgentKey, encode_public_key
from delegation.http._credential import Credential
from delegation.http.remote import RemoteVerifier
from delegation.mcp import DelegatedSession, DelegatedTools, DelegationTokenVerifier
from delegation.mcp.client import ApprovalRefused
from tests.service.conftest import serve
from tests.serving import serve_asgi
from tests.unit.mcp.test_server import _free_port
from verifier_service.service import Service


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.service = Service(tmp / "service", environ={})
        admin_file = self.service.bootstrap_admin()
        assert admin_file is not None
        self.admin = admin_file.read_text().strip()
        self._http, self._thread, self.service_url = serve(self.service)
        self.approver = self._key("approver", "alice@example.com")
        verifier = self._key("verifier", "crm-mcp", ["crm"])
        self.auditor = self._key("auditor", "audit")
        self.calls: list[str] = []
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        remote = RemoteVerifier(self.service_url, verifier)

        @asynccontextmanager
        async def lifespan(_server: Any) -> AsyncIterator[dict[str, Any]]:
            yield {}
            await remote.aclose()  # its HTTP client lives in the server's event loop

        tools = DelegatedTools(
            remote,
            audience="crm",
            approvals_url=f"{self.service_url}/v1/approvals",
        )
        server = MCPServer(
            "crm",
            lifespan=lifespan,
            token_verifier=DelegationTokenVerifier("crm"),
            auth=AuthSettings(
                issuer_url=AnyHttpUrl(self.service_url),
                resource_server_url=AnyHttpUrl(f"{self.url}/mcp"),
                validate_token_resource=False,  # the verifier checks the audience per call
            ),
        )

        @tools.tool(server, action="write", resource="crm://accounts/{account_id}/notes")
        def add_note(account_id: str, text: str) -> str:
            self.calls.append(text)
            return "filed"

        tools.install(server)
        self._mcp, self._mcp_thread, _ = serve_asgi(
            server.streamable_http_app(), port=port, what="the MCP server"
        )

    def _key(self, role: str, principal: str, audiences: list[str] | None = None) -> str:
        body: dict[str, Any] = {"role": role, "principal": principal}
        if audiences:
            body["audiences"] = audiences
        answer = httpx.post(f"{self.service_url}/v1/apikeys", json=body,
                            headers={"Authorization": f"Bearer {self.admin}"})  # fmt: skip
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["api_key"]
        return key

    def mint(self, holder: AgentKey) -> str:
        answer = httpx.post(
            f"{self.service_url}/v1/tasks",
            headers={"Authorization": f"Bearer {self.approver}"},
            json={
                "statement": "File a note on account 42",
                "holder": {"agent_id": "writer",
                           "public_key": encode_public_key(holder.public_key)},
                "scope": {"audiences": ["crm"], "expires_in": 600, "tools": ["add_note"]},
                "needs_approval": ["add_note:write"],
            },
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token

    def human(self, approve: bool) -> threading.Thread:
        """A person who, once a request waits, decides it."""

        def decide() -> None:
            auth = {"Authorization": f"Bearer {self.approver}"}
            for _ in range(200):
                waiting = httpx.get(f"{self.service_url}/v1/approvals", headers=auth).json()
                if waiting["approvals"]:
                    approval = waiting["approvals"][0]
                    assert approval["call"]["tool"] == "add_note"
                    httpx.post(
                        f"{self.service_url}/v1/approvals/{approval['approval_id']}/decision",
                        headers=auth, json={"approve": approve},
                    )  # fmt: skip
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=decide, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._mcp.should_exit = True
        self._mcp_thread.join(timeout=20)
        self._http.should_exit = True
        self._thread.join(timeout=20)
        self.service.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    yield made
    made.close()


async def _call(stack: Stack, token: str, key: AgentKey, progress: list[str]) -> Any:
    headers = {"Authorization": Credential(token).header()}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{stack.url}/mcp", http_client=http)) as client,
    ):
        session = DelegatedSession(
            client, token, key, audience="crm", poll_every=0.05, approval_timeout=20,
            on_progress=progress.append,
        )  # fmt: skip
        return await session.call_tool("add_note", {"account_id": "42", "text": "summary"})


def test_a_call_that_needs_a_human_goes_through_the_approval_and_runs_once(
    stack: Stack,
) -> None:
    key = AgentKey.generate()
    token = stack.mint(key)
    progress: list[str] = []
    human = stack.human(approve=True)
    result = anyio.run(_call, stack, token, key, progress)
    human.join(timeout=20)
    assert not result.is_error, result
    assert stack.calls == ["summary"]
    assert progress[0].startswith("waiting for a human's approval")
    assert progress[-1] == "approved"
    log = httpx.get(f"{stack.service_url}/v1/audit",
                    headers={"Authorization": f"Bearer {stack.auditor}"}).text  # fmt: skip
    decisions = [json.loads(line) for line in log.splitlines()]
    codes = [d["codes"] for d in decisions if d["kind"] == "decision"]
    assert codes == [["approval_required"], []]  # the first call, then the approved one
    assert token not in log


def test_a_human_who_says_no_leaves_the_call_refused(stack: Stack) -> None:
    key = AgentKey.generate()
    token = stack.mint(key)
    human = stack.human(approve=False)
    with pytest.raises(BaseException) as caught:  # noqa: PT011 (unwrapped below)
        anyio.run(_call, stack, token, key, [])
    human.join(timeout=20)
    assert isinstance(_innermost(caught.value), ApprovalRefused)
    assert stack.calls == []


def _innermost(exc: BaseException) -> BaseException:
    """The error out of the client's task groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
