"""The verifier service over real HTTP: uvicorn serving the app on a free loopback port, in a
thread of the test process, over a data directory of the test's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import POSTGRES_DSN
from tests.serving import serve_asgi
from verifier_service.app import create_app
from verifier_service.service import Service


@dataclass
class Served:
    url: str
    admin: str
    service: Service

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def key(self, role: str, principal: str = "someone", audiences: list[str] | None = None) -> str:
        with self.client(self.admin) as admin:
            body: dict[str, Any] = {"role": role, "principal": principal}
            if audiences is not None:
                body["audiences"] = audiences
            answer = admin.post("/v1/apikeys", json=body)
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["api_key"]
        return key


def serve(service: Service, **options: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    return serve_asgi(create_app(service, **options), what="the service")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The service's storage: the embedded default (SQLite files in the data directory), or
    the replicas' (the real PostgreSQL server, in schemas of this test's own)."""
    if request.param == "sqlite":
        return {}
    return {"database_url": POSTGRES_DSN, "schema": request.getfixturevalue("pg_schema")}


@pytest.fixture
def served(tmp_path: Path, backend: dict[str, Any]) -> Iterator[Served]:
    service = Service(tmp_path / "data", environ={}, **backend)
    admin_file = service.bootstrap_admin()
    assert admin_file is not None
    server, thread, url = serve(service)
    yield Served(url, admin_file.read_text().strip(), service)
    server.should_exit = True
    thread.join(timeout=20)
    service.close()


@pytest.fixture
def keys(served: Served) -> dict[str, str]:
    """An approver, an auditor and two verifiers: one for ``crm``, one for ``mail`` only."""
    return {
        "approver": served.key("approver", "alice@example.com"),
        "verifier": served.key("verifier", "crm-server", ["crm"]),
        "auditor": served.key("auditor", "audit-team"),
        "other": served.key("verifier", "mail-server", ["mail"]),
    }
