"""SQLiteState: only files it made, one atomic check per verify, and how it fails.

Multi-process agreement is in ``tests/concurrency/``; here one process, one or two handles.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from delegation import (
    Agent,
    Code,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    Verifier,
    mint,
    prove,
)
from delegation.stores import (
    NonceClaim,
    Revocation,
    RevocationKind,
    RevocationRecord,
    SQLiteState,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores.sqlite import APPLICATION_ID, SCHEMA_VERSION
from delegation.testing.fixtures import agent_key
from tests.conftest import NOW

TASK = RevocationKind.TASK
TOKEN = RevocationKind.TOKEN
AGENT = RevocationKind.AGENT
KEY = RevocationKind.KEY
R = UnavailableReason
PUBLIC = "A" * 43


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def state(path: Path) -> Iterator[SQLiteState]:
    s = SQLiteState.create(path)
    yield s
    s.close()


def limit(key: bytes, n: int, keep_until: int = NOW + 3600) -> UseLimit:
    return UseLimit(key, n, keep_until)


def claim(state: SQLiteState, key: bytes, expires_at: int, now: int) -> bool:
    return not state.check(StateQuery((), NonceClaim(key, expires_at)), now).replayed


def spend(state: SQLiteState, limits: Sequence[UseLimit], now: int) -> int | None:
    return state.check(StateQuery((), None, limits), now).exhausted


def first_revoked(state: SQLiteState, candidates: Sequence[Revocation]) -> Revocation | None:
    return state.check(StateQuery(candidates), NOW).revoked


def unavailable(reason: UnavailableReason, call: Callable[[], object]) -> StoreUnavailable:
    with pytest.raises(StoreUnavailable) as caught:
        call()
    assert caught.value.reason is reason, caught.value
    return caught.value


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# --- nonces ----------------------------------------------------------------------------------


def test_claim_is_once_per_key(state: SQLiteState) -> None:
    assert claim(state, b"n1", NOW + 60, NOW) is True
    assert claim(state, b"n1", NOW + 60, NOW) is False
    assert claim(state, b"n1", NOW + 600, NOW + 30) is False
    assert claim(state, b"n2", NOW + 60, NOW) is True
    assert claim(state, b"n1\x00", NOW + 60, NOW) is True
    assert claim(state, b"", NOW + 60, NOW) is True
    assert claim(state, b"", NOW + 60, NOW) is False


def test_claim_expires(state: SQLiteState) -> None:
    assert claim(state, b"n", NOW + 60, NOW)
    assert not claim(state, b"n", NOW + 60, NOW + 59)
    assert claim(state, b"n", NOW + 200, NOW + 60)  # expires_at is exclusive
    assert not claim(state, b"n", NOW + 200, NOW + 100)


def test_expired_rows_are_swept(state: SQLiteState, path: Path) -> None:
    for i in range(300):
        claim(state, i.to_bytes(4, "big"), NOW + 10, NOW)
        spend(state, [limit(b"u" + i.to_bytes(4, "big"), 1, NOW + 10)], NOW)
    for i in range(300):
        claim(state, b"x" + i.to_bytes(4, "big"), NOW + 1000, NOW + 500)
    with raw(path) as db:
        (nonces,) = db.execute("SELECT COUNT(*) FROM nonces WHERE expires_at <= ?", (NOW + 500,))
        (uses,) = db.execute("SELECT COUNT(*) FROM uses WHERE keep_until <= ?", (NOW + 500,))
    assert nonces[0] < 300
    assert uses[0] < 300


# --- revocations -----------------------------------------------------------------------------


def test_revoke_is_idempotent_and_the_first_candidate_in_order_is_reported(
    state: SQLiteState,
) -> None:
    a, b, c = Revocation(TASK, "t"), Revocation(TOKEN, "ab12" * 8), Revocation(KEY, "k1")
    assert first_revoked(state, [a, b, c]) is None
    assert first_revoked(state, []) is None
    state.revoke(b, NOW)
    state.revoke(b, NOW + 5)
    state.revoke(c, NOW + 1)
    assert first_revoked(state, [a, b, c]) == b
    assert first_revoked(state, [c, b]) == c
    assert first_revoked(state, [a]) is None
    assert state.revocations() == [RevocationRecord(b, NOW), RevocationRecord(c, NOW + 1)]


def test_revocation_kind_is_part_of_the_match(state: SQLiteState) -> None:
    state.revoke(Revocation(TASK, "same"), NOW)
    assert first_revoked(state, [Revocation(KEY, "same")]) is None
    assert first_revoked(state, [Revocation(TASK, "same")]) == Revocation(TASK, "same")


HOSTILE = ["x' OR '1'='1", "'; DROP TABLE revocations; --", '" OR ""="', "%", "_", "a%", "*",
           "\\", "é", "🙂", " ", "x" * 256]  # fmt: skip
"""Task ids a token may carry that mean something to SQL or to LIKE."""


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_are_stored_and_matched_literally(state: SQLiteState, value: str) -> None:
    state.revoke(Revocation(TASK, value), NOW)
    assert first_revoked(state, [Revocation(TASK, value)]) == Revocation(TASK, value)
    near = {"1", "abc", "a", "b", "x", "x" * 255, value + "y", "y" + value}
    near.discard(value)
    for other in sorted(v for v in near if len(v) <= 256):
        assert first_revoked(state, [Revocation(TASK, other)]) is None, repr(other[:20])
    assert state.revocations() == [RevocationRecord(Revocation(TASK, value), NOW)]


def test_hostile_values_leave_the_schema_intact(state: SQLiteState, path: Path) -> None:
    for value in HOSTILE:
        state.revoke(Revocation(TASK, value), NOW)
    assert len(state.revocations()) == len(HOSTILE)
    assert claim(state, b"n", NOW + 60, NOW)
    state.close()
    SQLiteState(path).close()  # still exactly the tables it made


def test_many_candidates_at_once(state: SQLiteState) -> None:
    candidates = [Revocation(TOKEN, f"{i:032x}") for i in range(200)]
    state.revoke(candidates[150], NOW)
    assert first_revoked(state, candidates) == candidates[150]


def test_the_schema_refuses_a_misspelled_kind_from_another_writer(
    state: SQLiteState, path: Path
) -> None:
    with raw(path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO revocations VALUES ('chain', ?, 1)", ("00" * 16,))


# --- use counts ------------------------------------------------------------------------------


def test_spend_counts_up_to_the_limit(state: SQLiteState) -> None:
    for expected in range(1, 4):
        assert spend(state, [limit(b"k", 3)], NOW) is None
        assert state.count(b"k") == expected
    assert spend(state, [limit(b"k", 3)], NOW) == 0
    assert state.count(b"k") == 3


def test_spend_is_all_or_nothing(state: SQLiteState) -> None:
    assert spend(state, [limit(b"big", 5), limit(b"small", 1)], NOW) is None
    assert spend(state, [limit(b"big", 5), limit(b"small", 1)], NOW) == 1
    assert state.count(b"big") == 1
    assert state.count(b"small") == 1
    assert spend(state, [limit(b"small", 1), limit(b"big", 5)], NOW) == 0
    assert state.count(b"big") == 1
    assert spend(state, [limit(b"big", 5)], NOW) is None
    assert state.count(b"big") == 2


def test_spend_reports_the_first_exhausted_limit(state: SQLiteState) -> None:
    spend(state, [limit(b"a", 1), limit(b"b", 1)], NOW)
    assert spend(state, [limit(b"c", 9), limit(b"b", 1), limit(b"a", 1)], NOW) == 1
    assert state.count(b"c") == 0


def test_counts_are_forgotten_after_keep_until(state: SQLiteState) -> None:
    assert spend(state, [limit(b"k", 1, NOW + 100)], NOW) is None
    assert spend(state, [limit(b"k", 1, NOW + 100)], NOW + 99) == 0
    assert spend(state, [limit(b"k", 1, NOW + 200)], NOW + 100) is None
    assert spend(state, [limit(b"k", 1, NOW + 200)], NOW + 150) == 0


def test_keep_until_only_grows(state: SQLiteState) -> None:
    assert spend(state, [limit(b"k", 2, NOW + 1000)], NOW) is None
    assert spend(state, [limit(b"k", 2, NOW + 10)], NOW) is None
    # The longer keep_until of the first use holds the count.
    assert spend(state, [limit(b"k", 2, NOW + 10)], NOW + 500) == 0


def test_count_of_an_unknown_key_is_zero(state: SQLiteState) -> None:
    assert state.count(b"nothing") == 0


# --- one check: revocation, nonce and spend in one transaction --------------------------------


def test_a_revoked_check_claims_its_nonce_and_spends_nothing(state: SQLiteState) -> None:
    revoked = Revocation(TASK, "t")
    state.revoke(revoked, NOW)
    query = StateQuery([revoked], NonceClaim(b"n", NOW + 90), [limit(b"k", 1)])
    assert state.check(query, NOW) == StateAnswer(revoked, False, None)
    assert not claim(state, b"n", NOW + 90, NOW)
    assert state.count(b"k") == 0


def test_a_replayed_check_spends_nothing(state: SQLiteState) -> None:
    assert claim(state, b"n", NOW + 90, NOW)
    query = StateQuery([Revocation(TASK, "t")], NonceClaim(b"n", NOW + 90), [limit(b"k", 1)])
    assert state.check(query, NOW) == StateAnswer(None, True, None)
    assert state.count(b"k") == 0


def test_a_read_only_check_does_not_wait_for_the_write_lock(state: SQLiteState, path: Path) -> None:
    """A query that only reads revocations is a read transaction: a writer elsewhere does not
    block it (WAL), while a query that writes waits for the lock and then fails."""
    state.revoke(Revocation(TASK, "t"), NOW)
    slow = SQLiteState(path, timeout=0.05)
    blocker = raw(path)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        assert first_revoked(slow, [Revocation(TASK, "t")]) == Revocation(TASK, "t")
        unavailable(R.LOCKED, lambda: claim(slow, b"n", NOW + 60, NOW))
        unavailable(R.LOCKED, lambda: spend(slow, [limit(b"k", 1)], NOW))
        blocker.execute("ROLLBACK")
        assert claim(slow, b"n", NOW + 60, NOW)  # the failed attempts left nothing behind
        assert spend(slow, [limit(b"k", 1)], NOW) is None
    finally:
        blocker.close()
        slow.close()


# --- persistence and sharing -----------------------------------------------------------------


def test_reopening_the_file_keeps_everything(path: Path) -> None:
    first = SQLiteState.create(path)
    assert claim(first, b"n", NOW + 60, NOW)
    first.revoke(Revocation(AGENT, PUBLIC), NOW)
    assert spend(first, [limit(b"k", 2)], NOW) is None
    first.close()
    second = SQLiteState(path)
    try:
        assert not claim(second, b"n", NOW + 60, NOW + 1)
        assert first_revoked(second, [Revocation(AGENT, PUBLIC)]) == Revocation(AGENT, PUBLIC)
        assert second.count(b"k") == 1
        assert spend(second, [limit(b"k", 2)], NOW) is None
        assert spend(second, [limit(b"k", 2)], NOW) == 0
    finally:
        second.close()


def test_two_handles_on_one_file_agree(state: SQLiteState, path: Path) -> None:
    with SQLiteState(path) as two:
        assert claim(state, b"n", NOW + 60, NOW)
        assert not claim(two, b"n", NOW + 60, NOW)
        two.revoke(Revocation(KEY, "k1"), NOW)
        assert first_revoked(state, [Revocation(KEY, "k1")]) == Revocation(KEY, "k1")
        assert spend(state, [limit(b"u", 1)], NOW) is None
        assert spend(two, [limit(b"u", 1)], NOW) == 0


def test_replay_across_verifiers_sharing_the_file(state: SQLiteState, path: Path) -> None:
    keyring = Keyring.generate()  # throwaway, test only
    holder = agent_key(0x21)  # TEST FIXTURE ONLY
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
    with SQLiteState(path) as two:
        v1 = Verifier(keyring, state=state, clock=lambda: NOW)
        v2 = Verifier(keyring, state=two, clock=lambda: NOW)
        assert v1.verify(token, request, proof).allowed
        assert v2.verify(token, request, proof).code is Code.REPLAY
        two.revoke(Revocation(RevocationKind.TASK, "task-s"), NOW)
        fresh = prove(token, holder, request, now=NOW)
        assert v1.verify(token, request, fresh).code is Code.REVOKED


# --- only a file made by create is opened ----------------------------------------------------


def test_create_marks_the_file_and_records_the_schema_version(
    state: SQLiteState, path: Path
) -> None:
    with raw(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_never_creates_a_file(path: Path) -> None:
    error = unavailable(R.UNREACHABLE, lambda: SQLiteState(path))
    assert "state init" in str(error)
    assert not path.exists()


def test_create_accepts_an_empty_file_and_reopens_its_own(path: Path) -> None:
    path.touch()
    with SQLiteState.create(path) as state:
        state.revoke(Revocation(TASK, "t"), NOW)
    with SQLiteState.create(path) as again:  # an existing state file is opened, kept as is
        assert [r.revocation for r in again.revocations()] == [Revocation(TASK, "t")]


def test_an_empty_file_is_not_a_state_file(path: Path) -> None:
    path.touch()
    error = unavailable(R.NOT_A_STATE_FILE, lambda: SQLiteState(path))
    assert "empty" in str(error)
    assert path.read_bytes() == b""


def _foreign_database(path: Path, schema: str) -> bytes:
    with raw(path) as db:
        db.executescript(schema)
    db.close()
    return path.read_bytes()


FOREIGN = {
    "another program": "CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('la');",
    "an unmarked file with our old tables": """
        CREATE TABLE nonces (key BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
        CREATE TABLE revocations (kind TEXT NOT NULL, value TEXT NOT NULL,
            revoked_at INTEGER NOT NULL, PRIMARY KEY (kind, value));
        CREATE TABLE uses (key BLOB PRIMARY KEY, used INTEGER NOT NULL,
            keep_until INTEGER NOT NULL);
    """,
    "another program's mark": "PRAGMA application_id = 1234;",
    "only a schema version": "PRAGMA user_version = 1;",
}


@pytest.mark.parametrize("schema", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize("how", ["open", "create"])
def test_another_database_is_refused_and_left_untouched(path: Path, schema: str, how: str) -> None:
    before = _foreign_database(path, schema)
    opener = SQLiteState if how == "open" else SQLiteState.create
    error = unavailable(R.NOT_A_STATE_FILE, lambda: opener(path))
    assert "not a delegation state file" in str(error)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all, just some bytes " * 100,
        os.urandom(8192),
        b'{"kind": "delegation-keyring", "keys": []}',
    ],
    ids=["text", "random", "json"],
)
@pytest.mark.parametrize("how", ["open", "create"])
def test_a_file_that_is_no_database_is_refused_and_left_untouched(
    path: Path, content: bytes, how: str
) -> None:
    path.write_bytes(content)
    opener = SQLiteState if how == "open" else SQLiteState.create
    unavailable(R.NOT_A_STATE_FILE, lambda: opener(path))
    assert path.read_bytes() == content


def test_a_damaged_header_is_refused(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(StoreUnavailable) as caught:
        SQLiteState(path)
    assert caught.value.reason in (R.NOT_A_STATE_FILE, R.CORRUPT)


def test_a_newer_schema_is_refused(state: SQLiteState, path: Path) -> None:
    state.close()
    with raw(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    error = unavailable(R.NEWER_SCHEMA, lambda: SQLiteState(path))
    assert "newer version" in str(error)
    unavailable(R.NEWER_SCHEMA, lambda: SQLiteState.create(path))


def test_an_unknown_older_schema_version_is_corrupt(state: SQLiteState, path: Path) -> None:
    state.close()
    with raw(path) as db:
        db.execute("PRAGMA user_version = 0")
    unavailable(R.CORRUPT, lambda: SQLiteState(path))


ALTERATIONS = [
    "DROP TABLE uses",
    "DROP INDEX nonces_expiry",
    "CREATE TABLE extra (x INTEGER)",
    "CREATE TRIGGER forget AFTER INSERT ON revocations BEGIN DELETE FROM revocations; END",
    "ALTER TABLE uses ADD COLUMN note TEXT",
]


@pytest.mark.parametrize("alteration", ALTERATIONS)
def test_tables_this_library_did_not_make_are_corrupt(
    state: SQLiteState, path: Path, alteration: str
) -> None:
    state.close()
    with raw(path) as db:
        db.execute(alteration)
    error = unavailable(R.CORRUPT, lambda: SQLiteState(path))
    assert "tables" in str(error)


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    unavailable(R.NOT_A_STATE_FILE, lambda: SQLiteState(tmp_path))
    unavailable(R.NOT_A_STATE_FILE, lambda: SQLiteState.create(tmp_path))


def test_a_missing_parent_directory_is_unreachable(tmp_path: Path) -> None:
    unavailable(R.UNREACHABLE, lambda: SQLiteState.create(tmp_path / "no" / "such" / "s.db"))


def test_a_file_locked_at_open_is_locked(state: SQLiteState, path: Path) -> None:
    blocker = raw(path)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        unavailable(R.LOCKED, lambda: SQLiteState(path, timeout=0.05))
    finally:
        blocker.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
def test_unreadable_and_read_only_files_say_so(state: SQLiteState, path: Path) -> None:
    state.close()
    path.chmod(0)
    try:
        unavailable(R.UNREADABLE, lambda: SQLiteState(path))
        path.chmod(0o400)
        unavailable(R.READ_ONLY, lambda: SQLiteState(path))
    finally:
        path.chmod(0o600)


def test_details_name_no_path(tmp_path: Path) -> None:
    secret = tmp_path / "customer-acme-secret-name"
    secret.mkdir()
    calls: list[Callable[[], object]] = [
        lambda: SQLiteState(secret / "state.db"),
        lambda: SQLiteState(secret),
        lambda: SQLiteState.create(secret / "x" / "state.db"),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert "acme" not in str(caught.value)


# --- rows it did not write, and other failures, are StoreUnavailable -------------------------


def _insert_unchecked(path: Path, sql: str, params: Sequence[object] = ()) -> None:
    """Write a row as another program could, past the schema's CHECK constraints."""
    with raw(path) as db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute(sql, params)


GARBAGE_USES = [
    ("INSERT INTO uses VALUES (?, 'many', ?)", (b"k", NOW + 100)),
    ("INSERT INTO uses VALUES (?, 1, 'later')", (b"k", None)),
    ("INSERT INTO uses VALUES (?, 0, ?)", (b"k", NOW + 100)),
    ("INSERT INTO uses VALUES (?, -5, ?)", (b"k", NOW + 100)),
    ("INSERT INTO uses VALUES (?, 1.5, ?)", (b"k", NOW + 100)),
    ("INSERT INTO uses VALUES (?, x'00', ?)", (b"k", NOW + 100)),
]


@pytest.mark.parametrize(("sql", "params"), GARBAGE_USES, ids=range(len(GARBAGE_USES)))
def test_a_use_row_it_did_not_write_is_corrupt(
    state: SQLiteState, path: Path, sql: str, params: tuple[object, ...]
) -> None:
    _insert_unchecked(path, sql, [p for p in params if p is not None])
    error = unavailable(R.CORRUPT, lambda: spend(state, [limit(b"k", 5)], NOW))
    assert "corrupt" in str(error)


def test_a_nonce_row_it_did_not_write_is_corrupt(state: SQLiteState, path: Path) -> None:
    _insert_unchecked(path, "INSERT INTO nonces VALUES (?, 'soon')", (b"n",))
    unavailable(R.CORRUPT, lambda: claim(state, b"n", NOW + 60, NOW))


@pytest.mark.parametrize(
    ("kind", "value"),
    [("chain", "00" * 16), ("bogus", "x"), ("token", "NOT HEX"), ("key", "no spaces")],
)
def test_a_revocation_row_it_did_not_write_is_corrupt(
    state: SQLiteState, path: Path, kind: str, value: str
) -> None:
    _insert_unchecked(path, "INSERT INTO revocations VALUES (?, ?, 1)", (kind, value))
    unavailable(R.CORRUPT, state.revocations)


def test_a_revocation_row_of_the_wrong_type_is_corrupt(state: SQLiteState, path: Path) -> None:
    _insert_unchecked(path, "INSERT INTO revocations VALUES ('task', ?, 'yesterday')", ("t",))
    unavailable(R.CORRUPT, state.revocations)


def test_tables_dropped_while_open_are_corrupt(state: SQLiteState, path: Path) -> None:
    state.revoke(Revocation(TASK, "t"), NOW)
    with raw(path) as db:
        for table in ("revocations", "uses", "nonces"):
            db.execute(f"DROP TABLE {table}")
    unavailable(R.CORRUPT, lambda: first_revoked(state, [Revocation(TASK, "t")]))
    unavailable(R.CORRUPT, lambda: state.revoke(Revocation(TASK, "u"), NOW))
    unavailable(R.CORRUPT, lambda: spend(state, [limit(b"k", 1)], NOW))
    unavailable(R.CORRUPT, lambda: claim(state, b"n", NOW + 60, NOW))
    unavailable(R.CORRUPT, lambda: state.count(b"k"))
    unavailable(R.CORRUPT, state.revocations)


def test_a_state_that_may_not_write_is_read_only(state: SQLiteState) -> None:
    state.revoke(Revocation(TASK, "t"), NOW)
    state._db.execute("PRAGMA query_only = ON")
    assert first_revoked(state, [Revocation(TASK, "t")]) == Revocation(TASK, "t")
    unavailable(R.READ_ONLY, lambda: claim(state, b"n", NOW + 60, NOW))
    unavailable(R.READ_ONLY, lambda: state.revoke(Revocation(TASK, "u"), NOW))


def test_a_closed_state_is_unreachable(state: SQLiteState) -> None:
    state.close()
    state.close()  # closing twice is harmless
    unavailable(R.UNREACHABLE, lambda: claim(state, b"n", NOW + 60, NOW))
    unavailable(R.UNREACHABLE, lambda: state.revoke(Revocation(TASK, "t"), NOW))
    unavailable(R.UNREACHABLE, lambda: first_revoked(state, [Revocation(TASK, "t")]))
    unavailable(R.UNREACHABLE, lambda: spend(state, [limit(b"k", 1)], NOW))
    unavailable(R.UNREACHABLE, state.revocations)


# Guards against: values SQLite cannot bind escaping as exceptions other than StoreUnavailable,
# against the protocol ("answers or raises StoreUnavailable"): an integer past 2**63 raises
# OverflowError. Verifier inputs cannot reach these (times are < 2**34), so a verifier would
# still only deny.
def test_unbindable_values_are_store_unavailable(state: SQLiteState) -> None:
    unavailable(R.ERROR, lambda: claim(state, b"n", 2**64, NOW))
    unavailable(R.ERROR, lambda: spend(state, [limit(b"k", 1, 2**64)], NOW))


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)])
def test_state_is_synced_to_disk_unless_told_otherwise(
    tmp_path: Path, durable: bool, level: int
) -> None:
    """FULL (2) by default: a revocation lost to a power cut would revive a token."""
    SQLiteState.create(tmp_path / "d.db").close()
    state = SQLiteState(tmp_path / "d.db", durable=durable)
    try:
        assert state._db.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        state.close()
