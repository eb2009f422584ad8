"""Group commit (``delegation.stores._group``, ``SQLiteState(group_commit=True)``): concurrent
writing checks share transactions and syncs, yet each is exactly what it would be alone: counts
exact, a nonce fresh once, a failing check failing alone, nothing answered before its commit,
and nothing submitted after close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from delegation.stores import (
    NonceClaim,
    SQLiteState,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores._group import GroupCommitter, Job
from tests.conftest import NOW

KEEP = NOW + 3600


def test_many_threads_count_exactly_and_claim_each_nonce_once(tmp_path: Path) -> None:
    state = SQLiteState.create(tmp_path / "s.db", group_commit=True)
    limit = UseLimit(b"u" * 32, 50, KEEP)
    shared = NonceClaim(b"n" * 48, NOW + 90)
    results: list[tuple[bool, int | None]] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        for i in range(20):
            nonce = shared if i == 0 else NonceClaim(bytes([w, i]) * 24, NOW + 90)
            answer = state.check(StateQuery((), nonce, (limit,)), NOW)
            with lock:
                results.append((answer.replayed, answer.exhausted))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for replayed, _ in results if replayed) == 7  # the shared nonce, 8 claims
    counted = [r for r in results if not r[0] and r[1] is None]
    assert len(counted) == 50
    assert state.count(limit.key) == 50
    state.close()


def test_a_check_that_fails_fails_alone(tmp_path: Path) -> None:
    state = SQLiteState.create(tmp_path / "s.db", group_commit=True)
    good = StateQuery((), NonceClaim(b"g" * 48, NOW + 90), (UseLimit(b"u" * 32, 5, KEEP),))
    bad = StateQuery((), None, (UseLimit(b"v" * 32, 5, 2**63),))  # keep_until overflows int64
    errors: list[BaseException] = []
    answers = []

    def run(query: StateQuery) -> None:
        try:
            answers.append(state.check(query, NOW))
        except StoreUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(q,)) for q in (good, bad, good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1
    assert sorted(a.replayed for a in answers) == [False, True]
    assert state.count(b"u" * 32) == 1
    assert state.count(b"v" * 32) == 0
    state.close()


def test_after_close_a_check_is_unreachable(tmp_path: Path) -> None:
    state = SQLiteState.create(tmp_path / "s.db", group_commit=True)
    state.close()
    with pytest.raises(StoreUnavailable) as closed:
        state.check(StateQuery((), NonceClaim(b"x" * 48, NOW + 90)), NOW)
    assert closed.value.reason is UnavailableReason.UNREACHABLE


def test_a_batch_that_breaks_its_promise_fails_closed() -> None:
    def broken(jobs: list[Job[int]]) -> None:
        raise RuntimeError("a bug in the owner")

    group: GroupCommitter[int] = GroupCommitter(broken, lambda: RuntimeError("closed"))
    with pytest.raises(RuntimeError, match="a bug in the owner"):
        group.submit(1)
    group.close()
    with pytest.raises(RuntimeError, match="closed"):
        group.submit(2)


def test_jobs_are_answered_in_batches_and_in_order() -> None:
    seen: list[list[int]] = []
    entered, gate = threading.Event(), threading.Event()

    def run(jobs: list[Job[int]]) -> None:
        entered.set()
        gate.wait()
        seen.append([job.payload for job in jobs])
        for job in jobs:
            job.answer = job.payload * 10

    group: GroupCommitter[int] = GroupCommitter(run, lambda: RuntimeError("closed"))
    out: dict[int, int] = {}

    def submit(n: int) -> None:
        out[n] = group.submit(n)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert entered.wait(10)  # the committer holds job 0, blocked in its "commit"
    rest = [threading.Thread(target=submit, args=(n,)) for n in range(1, 6)]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < 5 and time.monotonic() < deadline:
        time.sleep(0.001)
    gate.set()
    for t in [first, *rest]:
        t.join()
    group.close()
    assert out == {n: n * 10 for n in range(6)}
    assert [len(batch) for batch in seen] == [1, 5]  # the five that waited went in one batch
    assert seen[0] == [0]
