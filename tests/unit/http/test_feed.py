"""RevocationFeed against a fake feed (MockTransport): paging, the feed's ``hop`` kind, a bad
answer keeping the cursor, and the guard that refuses while stale. The real service:
tests/http/test_revocation_feed.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from delegation import MemoryState, RevocationKind
from delegation.http import RevocationFeed
from delegation.http.feed import PAGE
from delegation.stores import StateQuery, StoreUnavailable


def _feed(pages: list[Any], state: MemoryState, now: list[float]) -> RevocationFeed:
    def handler(request: httpx.Request) -> httpx.Response:
        since = int(request.url.params["since"])
        assert request.headers["authorization"] == "Bearer key"
        for page in pages:
            if page["since"] == since:
                return httpx.Response(200, json=page["answer"])
        return httpx.Response(200, json={"revocations": [], "cursor": since})

    return RevocationFeed(
        "http://svc",
        "key",
        state,
        max_staleness=10,
        interval=1,
        clock=lambda: now[0],
        transport=httpx.MockTransport(handler),
    )


def item(cursor: int, kind: str, value: str) -> dict[str, Any]:
    return {"cursor": cursor, "kind": kind, "value": value, "revoked_at": 100 + cursor}


def test_it_pages_through_the_feed_and_maps_hop_to_token() -> None:
    first = [item(i + 1, "task", f"task-{i}") for i in range(PAGE)]
    pages = [
        {"since": 0, "answer": {"revocations": first, "cursor": PAGE}},
        {
            "since": PAGE,
            "answer": {"revocations": [item(PAGE + 1, "hop", "ab" * 16)], "cursor": PAGE + 1},
        },
    ]
    state, now = MemoryState(), [0.0]
    feed = _feed(pages, state, now)
    assert feed.poll() == PAGE + 1
    assert feed.cursor == PAGE + 1
    kinds = {r.revocation.kind for r in state.revocations()}
    assert kinds == {RevocationKind.TASK, RevocationKind.TOKEN}


def test_a_bad_answer_keeps_the_cursor_and_the_guard_refuses_when_stale() -> None:
    pages = [{"since": 0, "answer": {"revocations": [item(1, "chain", "x")], "cursor": 1}}]
    state, now = MemoryState(), [0.0]
    feed = _feed(pages, state, now)
    with pytest.raises(ValueError, match="unknown revocation kind"):
        feed.poll()
    assert feed.cursor == 0
    query = StateQuery([], None, [], [], None)
    with pytest.raises(StoreUnavailable):
        feed.state.check(query, 100)
    good = _feed([], state, now)
    good.poll()
    assert good.state.check(query, 100).revoked is None
    now[0] = 11.0
    with pytest.raises(StoreUnavailable, match="older than 10 s"):
        good.state.check(query, 100)


def test_the_interval_must_be_shorter_than_the_bound() -> None:
    with pytest.raises(ValueError, match="more often"):
        RevocationFeed("http://svc", "key", MemoryState(), max_staleness=5, interval=5)
