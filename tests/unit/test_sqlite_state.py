"""SQLiteState: nonces, revocations and use counts in one file, and how it fails.

Multi-process agreement is in ``tests/concurrency/``; here one process, one or two handles.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    Verifier,
    mint,
    prove,
)
from delegation.stores import Revocation, RevocationKind, SQLiteState, StoreUnavailable, UseLimit
from tests.conftest import NOW

TASK = RevocationKind.TASK
CHAIN = RevocationKind.CHAIN
AGENT = RevocationKind.AGENT
KEY = RevocationKind.KEY


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def state(path: Path) -> Iterator[SQLiteState]:
    s = SQLiteState(path)
    yield s
    s.close()


def limit(key: bytes, n: int, keep_until: int = NOW + 3600) -> UseLimit:
    return UseLimit(key, n, keep_until)


# --- nonces ----------------------------------------------------------------------------------


def test_claim_is_once_per_key(state: SQLiteState) -> None:
    assert state.claim(b"n1", NOW + 60, NOW) is True
    assert state.claim(b"n1", NOW + 60, NOW) is False
    assert state.claim(b"n1", NOW + 600, NOW + 30) is False
    assert state.claim(b"n2", NOW + 60, NOW) is True
    assert state.claim(b"n1\x00", NOW + 60, NOW) is True
    assert state.claim(b"", NOW + 60, NOW) is True
    assert state.claim(b"", NOW + 60, NOW) is False


def test_claim_expires(state: SQLiteState) -> None:
    assert state.claim(b"n", NOW + 60, NOW)
    assert not state.claim(b"n", NOW + 60, NOW + 59)
    assert state.claim(b"n", NOW + 200, NOW + 60)  # expires_at is exclusive
    assert not state.claim(b"n", NOW + 200, NOW + 100)


def test_expired_nonces_are_swept(state: SQLiteState, path: Path) -> None:
    for i in range(300):
        state.claim(i.to_bytes(4, "big"), NOW + 10, NOW)
    state.claim(b"late", NOW + 1000, NOW + 500)  # new writes, long after the others expired
    for i in range(300):
        state.claim(b"x" + i.to_bytes(4, "big"), NOW + 1000, NOW + 500)
    with sqlite3.connect(path) as db:
        (left,) = db.execute("SELECT COUNT(*) FROM nonces WHERE expires_at <= ?", (NOW + 500,))
        assert left[0] < 300


# --- revocations -----------------------------------------------------------------------------


def test_revoke_is_idempotent_and_first_revoked_keeps_candidate_order(
    state: SQLiteState,
) -> None:
    a, b, c = Revocation(TASK, "t"), Revocation(CHAIN, "ab12"), Revocation(KEY, "k1")
    assert state.first_revoked([a, b, c]) is None
    assert state.first_revoked([]) is None
    state.revoke(b, NOW)
    state.revoke(b, NOW + 5)
    state.revoke(c, NOW + 1)
    assert state.first_revoked([a, b, c]) == b
    assert state.first_revoked([c, b]) == c
    assert state.first_revoked([a]) is None
    assert state.revocations() == [(b, NOW), (c, NOW + 1)]


def test_revocation_kind_is_part_of_the_match(state: SQLiteState) -> None:
    state.revoke(Revocation(TASK, "same"), NOW)
    for kind in (CHAIN, AGENT, KEY):
        assert state.first_revoked([Revocation(kind, "same")]) is None
    assert state.first_revoked([Revocation(TASK, "same")]) == Revocation(TASK, "same")


HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE revocations; --",
    '" OR ""="',
    "%",
    "_",
    "a%",
    "*",
    "\\",
    "é",
    "🙂",
    "a\x00b",
    " ",
    "",
    "x" * 1_000_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_are_stored_and_matched_literally(state: SQLiteState, value: str) -> None:
    state.revoke(Revocation(TASK, value), NOW)
    assert state.first_revoked([Revocation(TASK, value)]) == Revocation(TASK, value)
    near = {"1", "abc", "a", "b", "x", "x" * 999_999, "x" * 1_000_001, value + "y", "y" + value}
    near.discard(value)
    for other in sorted(near):
        assert state.first_revoked([Revocation(TASK, other)]) is None, repr(other[:20])
    assert state.revocations() == [(Revocation(TASK, value), NOW)]


def test_hostile_values_leave_the_schema_intact(state: SQLiteState, path: Path) -> None:
    for value in HOSTILE:
        state.revoke(Revocation(CHAIN, value), NOW)
    assert len(state.revocations()) == len(HOSTILE)
    assert state.claim(b"n", NOW + 60, NOW)
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"nonces", "revocations", "uses"} <= tables


def test_nul_in_a_value_is_not_a_terminator(state: SQLiteState) -> None:
    state.revoke(Revocation(TASK, "a\x00b"), NOW)
    assert state.first_revoked([Revocation(TASK, "a")]) is None
    assert state.first_revoked([Revocation(TASK, "a\x00")]) is None
    state.revoke(Revocation(TASK, "c"), NOW)
    assert state.first_revoked([Revocation(TASK, "c\x00d")]) is None


def test_many_candidates_at_once(state: SQLiteState) -> None:
    candidates = [Revocation(CHAIN, f"{i:032x}") for i in range(200)]
    state.revoke(candidates[150], NOW)
    assert state.first_revoked(candidates) == candidates[150]


# --- use counts ------------------------------------------------------------------------------


def test_consume_counts_up_to_the_limit(state: SQLiteState) -> None:
    for expected in range(1, 4):
        assert state.consume([limit(b"k", 3)], NOW) is None
        assert state.count(b"k") == expected
    assert state.consume([limit(b"k", 3)], NOW) == 0
    assert state.count(b"k") == 3


def test_consume_is_all_or_nothing(state: SQLiteState) -> None:
    assert state.consume([limit(b"big", 5), limit(b"small", 1)], NOW) is None
    assert state.consume([limit(b"big", 5), limit(b"small", 1)], NOW) == 1
    assert state.count(b"big") == 1
    assert state.count(b"small") == 1
    assert state.consume([limit(b"small", 1), limit(b"big", 5)], NOW) == 0
    assert state.count(b"big") == 1
    assert state.consume([limit(b"big", 5)], NOW) is None
    assert state.count(b"big") == 2


def test_consume_reports_the_first_exhausted_limit(state: SQLiteState) -> None:
    state.consume([limit(b"a", 1), limit(b"b", 1)], NOW)
    assert state.consume([limit(b"c", 9), limit(b"b", 1), limit(b"a", 1)], NOW) == 1
    assert state.count(b"c") == 0


def test_empty_consume_is_fine(state: SQLiteState) -> None:
    assert state.consume([], NOW) is None


def test_counts_are_forgotten_after_keep_until(state: SQLiteState) -> None:
    assert state.consume([limit(b"k", 1, NOW + 100)], NOW) is None
    assert state.consume([limit(b"k", 1, NOW + 100)], NOW + 99) == 0
    assert state.consume([limit(b"k", 1, NOW + 200)], NOW + 100) is None
    assert state.consume([limit(b"k", 1, NOW + 200)], NOW + 150) == 0


def test_keep_until_only_grows(state: SQLiteState) -> None:
    assert state.consume([limit(b"k", 2, NOW + 1000)], NOW) is None
    assert state.consume([limit(b"k", 2, NOW + 10)], NOW) is None
    # The longer keep_until of the first use holds the count.
    assert state.consume([limit(b"k", 2, NOW + 10)], NOW + 500) == 0


def test_count_of_an_unknown_key_is_zero(state: SQLiteState) -> None:
    assert state.count(b"nothing") == 0


# --- persistence and sharing -----------------------------------------------------------------


def test_reopening_the_file_keeps_everything(path: Path) -> None:
    first = SQLiteState(path)
    assert first.claim(b"n", NOW + 60, NOW)
    first.revoke(Revocation(AGENT, "pk"), NOW)
    assert first.consume([limit(b"k", 2)], NOW) is None
    first.close()
    second = SQLiteState(path)
    try:
        assert not second.claim(b"n", NOW + 60, NOW + 1)
        assert second.first_revoked([Revocation(AGENT, "pk")]) == Revocation(AGENT, "pk")
        assert second.count(b"k") == 1
        assert second.consume([limit(b"k", 2)], NOW) is None
        assert second.consume([limit(b"k", 2)], NOW) == 0
    finally:
        second.close()


def test_two_handles_on_one_file_agree(path: Path) -> None:
    one, two = SQLiteState(path), SQLiteState(path)
    try:
        assert one.claim(b"n", NOW + 60, NOW)
        assert not two.claim(b"n", NOW + 60, NOW)
        two.revoke(Revocation(KEY, "k1"), NOW)
        assert one.first_revoked([Revocation(KEY, "k1")]) == Revocation(KEY, "k1")
        assert one.consume([limit(b"u", 1)], NOW) is None
        assert two.consume([limit(b"u", 1)], NOW) == 0
    finally:
        one.close()
        two.close()


def test_in_memory_database_works() -> None:
    state = SQLiteState(":memory:")
    try:
        assert state.claim(b"n", NOW + 60, NOW)
        assert not state.claim(b"n", NOW + 60, NOW)
    finally:
        state.close()


def test_replay_across_verifiers_sharing_the_file(path: Path) -> None:
    keyring = Keyring.generate()  # throwaway, test only
    holder = AgentKey.from_seed(b"\x21" * 32)  # TEST FIXTURE ONLY
    token = mint(
        keyring,
        TaskRecord(
            task_id="task-s", approved_by="alice", approved_at=NOW, statement="sqlite replay"
        ),
        Agent("orchestrator", holder.public_key),
        Scope(audiences=["crm"], expires=NOW + 3600),
        now=NOW,
    )
    request = Request(audience="crm", tool="crm.read", action="read")
    proof = prove(token, holder, request, now=NOW)
    one, two = SQLiteState(path), SQLiteState(path)
    try:
        v1 = Verifier(keyring, nonce_store=one, revocations=one, uses=one, clock=lambda: NOW)
        v2 = Verifier(keyring, nonce_store=two, revocations=two, uses=two, clock=lambda: NOW)
        assert v1.verify(token, request, proof).allowed
        assert v2.verify(token, request, proof).code is Code.REPLAY
        two.revoke(Revocation(RevocationKind.TASK, "task-s"), NOW)
        fresh = prove(token, holder, request, now=NOW)
        assert v1.verify(token, request, fresh).code is Code.REVOKED
    finally:
        one.close()
        two.close()


# --- failure is StoreUnavailable, never a sqlite3 error --------------------------------------


def test_directory_path_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SQLiteState(tmp_path)


def test_missing_parent_directory_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SQLiteState(tmp_path / "no" / "such" / "state.db")


def _open_and_claim(path: Path) -> None:
    """Open and use: should opening ever succeed lazily, the first use must fail cleanly."""
    state = SQLiteState(path)
    try:
        state.claim(b"n", NOW + 60, NOW)
    finally:
        state.close()


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all, just some bytes " * 100,
        os.urandom(8192),
        b"SQLite format 3\x00" + b"\xff" * 4000,
    ],
    ids=["text", "random", "bad-header"],
)
def test_corrupt_file_is_store_unavailable(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreUnavailable):
        _open_and_claim(path)


def test_file_corrupted_while_open_is_store_unavailable(path: Path) -> None:
    state = SQLiteState(path)
    try:
        state.revoke(Revocation(TASK, "t"), NOW)
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE revocations")
            db.execute("DROP TABLE uses")
            db.execute("DROP TABLE nonces")
        with pytest.raises(StoreUnavailable):
            state.first_revoked([Revocation(TASK, "t")])
        with pytest.raises(StoreUnavailable):
            state.revoke(Revocation(TASK, "u"), NOW)
        with pytest.raises(StoreUnavailable):
            state.consume([limit(b"k", 1)], NOW)
        with pytest.raises(StoreUnavailable):
            state.claim(b"n", NOW + 60, NOW)
        with pytest.raises(StoreUnavailable):
            state.count(b"k")
        with pytest.raises(StoreUnavailable):
            state.revocations()
    finally:
        state.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_store_unavailable(path: Path) -> None:
    SQLiteState(path).close()
    path.chmod(0)
    try:
        with pytest.raises(StoreUnavailable):
            _open_and_claim(path)
    finally:
        path.chmod(0o600)


def test_closed_state_is_store_unavailable(path: Path) -> None:
    state = SQLiteState(path)
    state.close()
    with pytest.raises(StoreUnavailable):
        state.claim(b"n", NOW + 60, NOW)
    with pytest.raises(StoreUnavailable):
        state.revoke(Revocation(TASK, "t"), NOW)
    with pytest.raises(StoreUnavailable):
        state.first_revoked([Revocation(TASK, "t")])
    with pytest.raises(StoreUnavailable):
        state.consume([limit(b"k", 1)], NOW)


def test_lock_held_past_the_timeout_is_store_unavailable(path: Path) -> None:
    state = SQLiteState(path, timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            state.claim(b"n", NOW + 60, NOW)
        with pytest.raises(StoreUnavailable):
            state.consume([limit(b"k", 1)], NOW)
        blocker.execute("ROLLBACK")
        assert state.claim(b"n", NOW + 60, NOW)  # the failed attempts left nothing behind
        assert state.consume([limit(b"k", 1)], NOW) is None
    finally:
        blocker.close()
        state.close()


# Fixed bug: values SQLite cannot bind escape as non-StoreUnavailable exceptions,
# against the store protocol ("answers or raises StoreUnavailable"). delegation/stores/
# sqlite.py catches only sqlite3.Error: a lone surrogate (what a non-UTF-8 CLI argument
# becomes under surrogateescape) raises UnicodeEncodeError from revoke/first_revoked, and an
# integer past 2**63 raises OverflowError from claim/consume. Verifier inputs cannot reach
# these (times are < 2**34, texts come from CBOR), so the verifier still only denies.
def test_unbindable_values_are_store_unavailable(state: SQLiteState) -> None:
    with pytest.raises(StoreUnavailable):
        state.revoke(Revocation(TASK, "\udcff"), NOW)
    with pytest.raises(StoreUnavailable):
        state.first_revoked([Revocation(TASK, "\udcff")])
    with pytest.raises(StoreUnavailable):
        state.claim(b"n", 2**64, NOW)
    with pytest.raises(StoreUnavailable):
        state.consume([limit(b"k", 1, 2**64)], NOW)


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)])
def test_state_is_synced_to_disk_unless_told_otherwise(
    tmp_path: Path, durable: bool, level: int
) -> None:
    """FULL (2) by default: a revocation lost to a power cut would revive a token."""
    state = SQLiteState(tmp_path / "d.db", durable=durable)
    try:
        assert state._db.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        state.close()
