"""``delegation.cli.demo_service``: the root scope it sends is the one the in-process demo
mints, and a service that answers otherwise than the story expects is a surprise and exit 1
(the story played end to end, as a process, is tests/e2e/test_demo_service.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from delegation import Budget, Scope
from delegation.cli import demo_service
from delegation.cli.demo import ROOT_SCOPE
from tests.service.conftest import serve
from verifier_service import schemas
from verifier_service.service import Conflict, Service


@dataclass
class Running:
    service: Service
    url: str
    admin_key_file: Path

    def play(self) -> tuple[int, list[str]]:
        out = io.StringIO()
        status = demo_service.run(self.url, str(self.admin_key_file), out)
        return status, out.getvalue().splitlines()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    service = Service(tmp_path / "data", environ={})
    admin = service.bootstrap_admin()
    assert admin is not None
    server, thread, url = serve(service)
    yield Running(service, url, admin)
    server.should_exit = True
    thread.join(timeout=20)
    service.close()


def test_the_root_scope_sent_is_the_demos_root_scope() -> None:
    body = demo_service._scope_body(ROOT_SCOPE)
    minted = schemas.to_scope(schemas.ScopeSpec(**body))  # the service's strict model
    now = 1_800_000_000
    assert [c.describe() for c in minted.caveats(now)] == [
        c.describe() for c in ROOT_SCOPE.caveats(now)
    ]


@pytest.mark.parametrize(
    "scope",
    [
        Scope(audiences=["crm"], expires_in=60, max_uses=1),
        Scope(audiences=["crm"], expires_in=60, budgets=[Budget("pages", 5, 1)]),
        Scope(audiences=["crm"], expires=1_800_000_000),
    ],
)
def test_a_scope_it_cannot_carry_over_is_refused(scope: Scope) -> None:
    with pytest.raises(ValueError, match="carried over"):
        demo_service._scope_body(scope)


def test_the_story_passes_against_the_service(running: Running) -> None:
    status, lines = running.play()
    assert status == 0, "\n".join(lines)
    assert not any("!!" in line for line in lines)


def test_a_revocation_that_does_nothing_is_a_surprise(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    def revoke(admin: Any, kind: str, value: str) -> dict[str, Any]:
        return {"kind": kind, "value": value, "revoked_at": 0, "cursor": 1}  # and revokes nothing

    monkeypatch.setattr(running.service, "revoke", revoke)
    status, lines = running.play()
    assert status == 1
    assert "   !! the revocation feed does not list it" in lines
    revoked = next(i for i, line in enumerate(lines) if "An admin revokes" in line)
    allowed = lines.index("   [ALLOW] researcher reads crm://accounts/42/notes", revoked)
    assert "!! expected revoked, got allow" in "\n".join(lines[allowed : allowed + 4])
    assert lines[-3].endswith("; 2 surprises! (act 1: 10; act 2: 14).")


def test_a_refusal_the_story_does_not_expect_stops_it(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decide(*_: Any) -> dict[str, Any]:
        raise Conflict("decided elsewhere")

    monkeypatch.setattr(running.service, "decide", decide)
    status, lines = running.play()
    assert status == 1
    [stopped] = [line for line in lines if "the story stops here" in line]
    assert stopped.startswith("   !! POST /v1/approvals/")
    assert "/decision answered 409 already_decided: decided elsewhere (expected 200)" in stopped
    assert "surprises!" in lines[-3]


@pytest.mark.parametrize(
    ("api_key", "key_id"),
    [("dlg_0123456789abcdef_c2VjcmV0_with_underscores", "0123456789abcdef"), ("nope", "?")],
)
def test_only_the_key_id_is_shown(api_key: str, key_id: str) -> None:
    assert demo_service._key_id(api_key) == key_id
