"""Tool servers behind ``DelegationMiddleware`` on loopback, called by agents through httpx.

``tool_server`` serves a FastAPI app (uvicorn, a thread of the test process, a free port)
whose handlers record every call they run, so a test can say no handler ran for a denial.
``service`` is a real verifier service (tests/service/conftest.py's way) for remote mode,
the approvals and the revocation feed. Both modes share one interface, so the denial tests run
against each: ``world`` mints a task's root token in the mode's own way (a local keyring, or
the service's ``POST /v1/tasks``) and names the app's URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from pydantic import BaseModel

from delegation import (
    Agent,
    AgentKey,
    Keyring,
    MemoryState,
    Revocation,
    RevocationKind,
    Scope,
    TaskRecord,
    encode_public_key,
    mint,
)
from delegation.http import (
    CallVerifier,
    DelegationMiddleware,
    LocalVerifier,
    RemoteVerifier,
    granted,
    protect,
    public,
)
from tests.service.conftest import Served, serve
from tests.serving import serve_asgi
from verifier_service.service import Service

AUDIENCE = "crm"


class Note(BaseModel):
    text: str


@dataclass
class Calls:
    """What the handlers ran: (route, what they saw)."""

    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def make_app(verifier: CallVerifier, calls: Calls, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/accounts/{account_id}/notes")
    @protect("crm.update", "write", "crm://accounts/{account_id}/notes")
    async def add_note(account_id: int, note: Note, request: HttpRequest) -> dict[str, Any]:
        grant = granted(request)
        calls.seen.append(
            (
                "add_note",
                {
                    "account_id": account_id,
                    "text": note.text,
                    "authorization": request.headers.get("authorization"),
                    "task": grant.task.task_id,
                    "approver": grant.approver,
                    "agents": [a.agent_id for a in grant.agents],
                    "decision_id": grant.decision_id,
                },
            )
        )
        return {"filed": True, "holder": grant.holder.agent_id}

    @app.get("/accounts/{account_id}/notes/{note_id}")
    @protect("crm.read", "read", "crm://accounts/{account_id}/notes/{note_id}", body="none")
    async def read_note(account_id: int, note_id: str, request: HttpRequest) -> dict[str, Any]:
        calls.seen.append(("read_note", {"note_id": note_id}))
        return {"note": note_id}

    @app.get("/healthz")
    @public
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/undeclared")
    async def undeclared() -> dict[str, str]:
        calls.seen.append(("undeclared", {}))
        return {"oops": "ran"}

    app.add_middleware(DelegationMiddleware, verifier=verifier, audience=AUDIENCE, **options)
    return app


@dataclass
class Running:
    url: str
    calls: Calls


def _serve_app(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    return serve_asgi(app, what="the tool server")


@pytest.fixture
def tool_server() -> Iterator[Callable[..., Running]]:
    """Start a tool server in front of a verifier: ``tool_server(verifier, **options)``."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(verifier: CallVerifier, **options: Any) -> Running:
        calls = Calls()
        server, thread, url = _serve_app(make_app(verifier, calls, **options))
        started.append((server, thread))
        return Running(url, calls)

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Served]:
    """A real verifier service on its embedded default (SQLite in a data directory)."""
    svc = Service(tmp_path / "service-data", environ={})
    admin_file = svc.bootstrap_admin()
    assert admin_file is not None
    server, thread, url = serve(svc)
    yield Served(url, admin_file.read_text().strip(), svc)
    server.should_exit = True
    thread.join(timeout=20)
    svc.close()


SCOPE: dict[str, Any] = {
    "audiences": [AUDIENCE],
    "tools": ["crm.read", "crm.update"],
    "resources": ["crm://accounts/42/**"],
    "expires_in": 600,
}


@dataclass
class World:
    """One mode: ``mode`` local or remote, the tool server, and a way to mint root tokens
    (``root(needs_approval=...)`` -> (token, orchestrator key)) and to revoke."""

    mode: str
    app: Running
    root: Callable[..., tuple[str, AgentKey]]
    revoke: Callable[[str, str], None]
    service: Served | None = None
    state: MemoryState | None = None


def _local(tool_server: Callable[..., Running]) -> World:
    keyring, state = Keyring.generate(), MemoryState()
    app = tool_server(LocalVerifier(keyring, state))

    def root(needs_approval: tuple[str, ...] = ()) -> tuple[str, AgentKey]:
        assert not needs_approval, "approvals are the service's: remote mode"
        key = AgentKey.generate()
        task = TaskRecord(
            task_id="task-42",
            approved_by="alice@example.com",
            approved_at=int(time.time()),
            statement="File notes on account 42",
        )
        sc = Scope(
            audiences=SCOPE["audiences"],
            tools=SCOPE["tools"],
            resources=SCOPE["resources"],
            expires_in=SCOPE["expires_in"],
        )
        return str(mint(keyring, task, Agent("orchestrator", key.public_key), sc)), key

    def revoke(kind: str, value: str) -> None:
        state.revoke(Revocation(RevocationKind(kind), value), int(time.time()))

    return World("local", app, root, revoke, state=state)


def _remote(tool_server: Callable[..., Running], service: Served) -> World:
    approver = service.key("approver", "alice@example.com")
    verifier_key = service.key("verifier", "crm", [AUDIENCE])
    app = tool_server(RemoteVerifier(service.url, verifier_key))

    def root(needs_approval: tuple[str, ...] = ()) -> tuple[str, AgentKey]:
        key = AgentKey.generate()
        body = {
            "statement": "File notes on account 42",
            "holder": {"agent_id": "orchestrator", "public_key": encode_public_key(key.public_key)},
            "scope": SCOPE,
            "needs_approval": list(needs_approval),
        }
        with service.client(approver) as client:
            minted = client.post("/v1/tasks", json=body)
        assert minted.status_code == 201, minted.text
        return str(minted.json()["token"]), key

    def revoke(kind: str, value: str) -> None:
        with service.client(service.admin) as admin:
            done = admin.post("/v1/revocations", json={"kind": kind, "value": value})
        assert done.status_code == 201, done.text

    return World("remote", app, root, revoke, service=service)


@pytest.fixture(params=["local", "remote"])
def world(request: pytest.FixtureRequest, tool_server: Callable[..., Running]) -> World:
    if request.param == "local":
        return _local(tool_server)
    return _remote(tool_server, request.getfixturevalue("service"))


@pytest.fixture
def remote(tool_server: Callable[..., Running], service: Served) -> World:
    return _remote(tool_server, service)
