"""The PostgreSQL state (``delegation.stores.postgres``) against the real server: only a schema
it made is used, every failure is StoreUnavailable with its reason, it reconnects by itself,
and values are plain data. The State contract itself (revocations, nonces, uses, budgets,
reservations) runs on it in test_state.py and test_budget_state.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from delegation.stores import (
    Charge,
    NonceClaim,
    Revocation,
    RevocationKind,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores.postgres import SCHEMA_VERSION, PostgresState
from tests.conftest import NOW, POSTGRES_DSN

R = UnavailableReason
KEEP = NOW + 3600


@pytest.fixture
def state(pg_schema: str) -> Iterator[PostgresState]:
    made = PostgresState.create(POSTGRES_DSN, schema=pg_schema)
    yield made
    made.close()


def raw(schema: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(POSTGRES_DSN, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def unavailable(reason: UnavailableReason, call: Callable[[], object]) -> StoreUnavailable:
    with pytest.raises(StoreUnavailable) as caught:
        call()
    assert caught.value.reason is reason, caught.value.detail
    return caught.value


def test_create_makes_the_schema_once_and_opening_finds_it(pg_schema: str) -> None:
    PostgresState.create(POSTGRES_DSN, schema=pg_schema).close()
    PostgresState.create(POSTGRES_DSN, schema=pg_schema).close()  # idempotent
    with PostgresState(POSTGRES_DSN, schema=pg_schema) as state:
        assert state.revocations() == []
    with raw(pg_schema) as db:
        assert db.execute("SELECT version FROM delegation_meta").fetchall() == [(SCHEMA_VERSION,)]


def test_creating_from_several_threads_at_once_makes_it_once(pg_schema: str) -> None:
    errors: list[BaseException] = []

    def make() -> None:
        try:
            PostgresState.create(POSTGRES_DSN, schema=pg_schema).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with raw(pg_schema) as db:
        assert db.execute("SELECT count(*) FROM delegation_meta").fetchone() == (1,)


def test_opening_never_creates(pg_schema: str) -> None:
    error = unavailable(R.NOT_A_STATE_FILE, lambda: PostgresState(POSTGRES_DSN, schema=pg_schema))
    assert "PostgresState.create" in error.detail


def test_a_schema_of_another_program_is_refused_and_left_untouched(pg_schema: str) -> None:
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as db:
        db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        db.execute(sql.SQL("CREATE TABLE {}.accounts (id int)").format(sql.Identifier(pg_schema)))
    for opener in (PostgresState, PostgresState.create):
        unavailable(R.NOT_A_STATE_FILE, lambda o=opener: o(POSTGRES_DSN, schema=pg_schema))  # type: ignore[misc]
    with raw(pg_schema) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,),
        ).fetchall()
    assert tables == [("accounts",)]


def test_a_newer_schema_is_refused(state: PostgresState, pg_schema: str) -> None:
    with raw(pg_schema) as db:
        db.execute("UPDATE delegation_meta SET version = %s", (SCHEMA_VERSION + 1,))
    unavailable(R.NEWER_SCHEMA, lambda: PostgresState(POSTGRES_DSN, schema=pg_schema))


@pytest.mark.parametrize(
    "alteration",
    ["DROP TABLE holds", "CREATE TABLE extra (x int)", "DELETE FROM delegation_meta",
     "INSERT INTO delegation_meta VALUES (1)", "UPDATE delegation_meta SET version = 0"],
)  # fmt: skip
def test_tables_this_library_did_not_make_are_corrupt(
    state: PostgresState, pg_schema: str, alteration: str
) -> None:
    with raw(pg_schema) as db:
        db.execute(alteration)
    unavailable(R.CORRUPT, lambda: PostgresState(POSTGRES_DSN, schema=pg_schema))


def test_a_table_dropped_while_open_is_corrupt(state: PostgresState, pg_schema: str) -> None:
    with raw(pg_schema) as db:
        db.execute("DROP TABLE uses")
    query = StateQuery((), None, (UseLimit(b"u" * 32, 1, KEEP),))
    unavailable(R.CORRUPT, lambda: state.check(query, NOW))


def test_an_unreachable_server_says_so_without_the_connection_string() -> None:
    dsn = "host=127.0.0.1 port=9 dbname=test user=secret-user password=hunter2 connect_timeout=1"
    error = unavailable(R.UNREACHABLE, lambda: PostgresState(dsn, schema="x", timeout=1))
    assert "hunter2" not in str(error)
    assert "secret-user" not in str(error)
    assert "127.0.0.1" not in str(error)


def test_it_reconnects_by_itself_after_the_connection_is_lost(state: PostgresState) -> None:
    state.revoke(Revocation(RevocationKind.TASK, "t"), NOW)
    assert len(state._idle) == 1  # one call at a time: one connection, back in the pool
    pid = state._idle[0].info.backend_pid  # this state's own server process, and no other
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert killed == (True,)
    failures: list[UnavailableReason] = []
    records = None
    for _ in range(3):
        try:
            records = state.revocations()
            break
        except StoreUnavailable as exc:
            failures.append(exc.reason)
    assert failures in ([], [R.UNREACHABLE])
    assert records is not None
    assert [r.revocation.value for r in records] == ["t"]


def test_a_row_locked_past_the_timeout_is_locked(pg_schema: str) -> None:
    state = PostgresState.create(POSTGRES_DSN, schema=pg_schema, timeout=0.5)
    key = b"k" * 32
    state.check(StateQuery((), None, (UseLimit(key, 5, KEEP),)), NOW)
    with raw(pg_schema) as holder, holder.transaction():
        holder.execute("SELECT used FROM uses WHERE key = %s FOR UPDATE", (key,))
        query = StateQuery((), None, (UseLimit(key, 5, KEEP),))
        unavailable(R.LOCKED, lambda: state.check(query, NOW))
    assert state.count(key) == 1  # the locked check counted nothing
    assert state.check(query, NOW).exhausted is None
    assert state.count(key) == 2
    state.close()


@pytest.mark.parametrize(
    "value", ["x' OR '1'='1", "t); DROP TABLE revocations; --", "\\", "é 🙂", "%s", "$1"]
)
def test_hostile_values_are_plain_data(state: PostgresState, value: str) -> None:
    revocation = Revocation(RevocationKind.TASK, value)
    state.revoke(revocation, NOW)
    other = Revocation(RevocationKind.TASK, value + "x")
    assert state.check(StateQuery((other, revocation)), NOW).revoked == revocation
    assert [r.revocation for r in state.revocations()] == [revocation]


def test_a_value_it_cannot_hold_is_an_error(state: PostgresState) -> None:
    charge = Charge(b"b" * 32, "nul\x00unit", 10, 1, KEEP)
    query = StateQuery((), None, (), (charge,), None)
    from delegation.stores import Hold

    held = StateQuery((), None, (), (charge,), Hold(b"r" * 16, NOW + 9))
    assert state.check(query, NOW).spent == (1,)  # the unit is not stored without a hold
    unavailable(R.ERROR, lambda: state.check(held, NOW))
    assert state.spent(b"b" * 32, NOW) == 1  # and the failed check charged nothing


def test_two_handles_on_one_schema_agree(state: PostgresState, pg_schema: str) -> None:
    nonce = NonceClaim(b"n" * 48, NOW + 90)
    with PostgresState(POSTGRES_DSN, schema=pg_schema) as other:
        assert state.check(StateQuery((), nonce), NOW).replayed is False
        assert other.check(StateQuery((), nonce), NOW).replayed is True
        assert other.check(StateQuery((), nonce), NOW + 90).replayed is False


def test_a_read_only_check_writes_nothing(state: PostgresState, pg_schema: str) -> None:
    state.check(StateQuery((Revocation(RevocationKind.TASK, "t"),)), NOW)
    with raw(pg_schema) as db:
        for table in ("nonces", "uses", "budgets", "holds", "revocations"):
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert db.execute(query).fetchone() == (0,), table


def test_a_closed_state_is_unreachable(state: PostgresState) -> None:
    state.close()
    unavailable(R.UNREACHABLE, lambda: state.revocations())
    unavailable(R.UNREACHABLE, lambda: state.check(StateQuery(()), NOW))


@pytest.mark.parametrize(("dsn", "schema", "timeout"), [(1, "s", 1.0), ("", "", 1.0)])
def test_bad_arguments_are_refused(dsn: object, schema: str, timeout: float) -> None:
    with pytest.raises(TypeError):
        PostgresState(dsn, schema=schema, timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_a_timeout_is_positive_and_finite(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        PostgresState(POSTGRES_DSN, schema="s", timeout=timeout)


def test_a_version_1_schema_is_upgraded_in_place_keeping_its_rows(
    state: PostgresState, pg_schema: str
) -> None:
    state.revoke(Revocation(RevocationKind.TASK, "task-1"), NOW)
    state.close()
    with raw(pg_schema) as db:  # as version 1 made it: no leases
        db.execute("DROP TABLE leases")
        db.execute("UPDATE delegation_meta SET version = 1")
    with PostgresState(POSTGRES_DSN, schema=pg_schema) as again:
        assert [r.revocation.value for r in again.revocations()] == ["task-1"]
        assert again.lease_horizon() == 0
        again.lease("replica-a", NOW + 10)
        assert again.lease_horizon() == NOW + 10
    with raw(pg_schema) as db:
        assert db.execute("SELECT version FROM delegation_meta").fetchall() == [(SCHEMA_VERSION,)]


def test_a_lease_only_grows_and_the_horizon_is_the_latest(state: PostgresState) -> None:
    state.lease("a", NOW + 30)
    state.lease("a", NOW + 5)  # an older renewal arriving late shortens nothing
    state.lease("b", NOW + 20)
    assert state.lease_horizon() == NOW + 30


def test_threads_check_side_by_side_on_several_connections(state: PostgresState) -> None:
    """Checks from several threads run on connections of their own (up to the pool's size),
    and counts stay exact: 8 threads, 40 checks each, one limit of 100."""
    limit = UseLimit(b"p" * 32, 100, KEEP)
    allowed: list[bool] = []
    gate = threading.Barrier(8)

    def go() -> None:
        gate.wait()
        for _ in range(40):
            answer = state.check(StateQuery((), None, (limit,)), NOW)
            allowed.append(answer.exhausted is None)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100
    assert 1 < len(state._idle) <= 8
