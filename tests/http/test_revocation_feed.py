"""Local mode following a real verifier service's revocation feed: a revocation made at the
service is enforced by the tool server after its next poll, and a feed staler than its bound
denies every call with 503 ``store_unavailable`` until a poll succeeds again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from delegation import Agent, AgentKey, Keyring, MemoryState, Scope, TaskRecord, decode, mint
from delegation.http import DelegationAuth, LocalVerifier, RevocationFeed
from tests.service.conftest import Served

from .conftest import AUDIENCE, Running

NOTE = {"text": "Renewal call booked"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _root(keyring: Keyring, task_id: str) -> tuple[str, AgentKey]:
    key = AgentKey.generate()
    task = TaskRecord(
        task_id=task_id,
        approved_by="alice@example.com",
        approved_at=int(time.time()),
        statement="File notes on account 42",
    )
    scope = Scope(audiences=[AUDIENCE], resources=["crm://accounts/42/**"], expires_in=600)
    return str(mint(keyring, task, Agent("orchestrator", key.public_key), scope)), key


def _call(app: Running, token: str, key: AgentKey) -> httpx.Response:
    auth = DelegationAuth(token, key, audience=AUDIENCE)
    with httpx.Client(base_url=app.url, auth=auth) as agent:
        return agent.post("/accounts/42/notes", json=NOTE)


def test_a_revocation_at_the_service_is_enforced_after_the_next_poll(
    tool_server: Callable[..., Running], service: Served
) -> None:
    keyring = Keyring.generate()
    feed = RevocationFeed(service.url, service.key("verifier", "crm", [AUDIENCE]), MemoryState())
    app = tool_server(LocalVerifier(keyring, feed.state))
    token, key = _root(keyring, "task-7")
    other, other_key = _root(keyring, "task-8")
    feed.poll()
    assert _call(app, token, key).status_code == 200
    with service.client(service.admin) as admin:
        revoked = admin.post(
            "/v1/revocations", json={"kind": "token", "value": decode(token).token_id}
        )
        assert revoked.status_code == 201
        by_hop = admin.post("/v1/revocations", json={"kind": "hop", "value": "ab" * 16})
        assert by_hop.status_code == 201  # the feed's "hop" is the state's token kind
    assert feed.poll() == 2
    assert feed.cursor == by_hop.json()["cursor"]
    answer = _call(app, token, key)
    assert (answer.status_code, answer.json()["code"]) == (401, "revoked")
    assert _call(app, other, other_key).status_code == 200  # another task lives on
    assert len(app.calls.seen) == 2
    feed.stop()


def test_a_stale_feed_denies_until_a_poll_succeeds(
    tool_server: Callable[..., Running], service: Served
) -> None:
    keyring, clock = Keyring.generate(), Clock()
    feed = RevocationFeed(
        service.url,
        service.key("verifier", "crm", [AUDIENCE]),
        MemoryState(),
        max_staleness=10,
        interval=1,
        clock=clock,
    )
    app = tool_server(LocalVerifier(keyring, feed.state))
    token, key = _root(keyring, "task-9")

    def code(answer: httpx.Response) -> Any:
        return (answer.status_code, answer.json().get("code"))

    # Never polled: nothing is known about revocations, so nothing is allowed.
    assert code(_call(app, token, key)) == (503, "store_unavailable")
    feed.poll()
    assert _call(app, token, key).status_code == 200
    clock.now += 10
    assert _call(app, token, key).status_code == 200  # at the bound: still fresh
    clock.now += 1
    stale = _call(app, token, key)
    assert code(stale) == (503, "store_unavailable")
    assert stale.headers["retry-after"] == "1"
    feed.poll()
    assert _call(app, token, key).status_code == 200
    assert len(app.calls.seen) == 3
    feed.stop()


def test_a_feed_that_cannot_be_read_keeps_its_cursor_and_goes_stale(
    tool_server: Callable[..., Running],
) -> None:
    clock = Clock()
    feed = RevocationFeed(
        "http://127.0.0.1:9",
        "dlg_x",
        MemoryState(),
        max_staleness=5,
        interval=1,
        clock=clock,
        timeout=1,
    )
    feed.start()  # the first poll fails; start() keeps going
    assert not feed.fresh()
    assert feed.cursor == 0
    assert feed.age is None
    feed.stop()
