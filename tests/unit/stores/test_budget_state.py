"""Budgets and reservations in every store (``specs/state.md``): the same contract, asked of
MemoryState, SQLiteState and PostgresState alike.

A charge is counted with the call's use limits all or nothing; a balance never passes its
total; a reservation settles down (never up), once, before it expires, and after that its
charges stand in full.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from delegation.stores import (
    Charge,
    Hold,
    MemoryState,
    NonceClaim,
    Revocation,
    RevocationKind,
    SettleReason,
    SettleRefused,
    SQLiteState,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores.sqlite import _SCHEMA, _expected_objects
from tests.conftest import NOW, STATE_KINDS, make_state

KEEP = NOW + 3600
TASK = Revocation(RevocationKind.TASK, "task-42")
PARENT, CHILD, OTHER = b"P" * 32, b"C" * 32, b"O" * 32
RES = b"r" * 16


@pytest.fixture(params=STATE_KINDS)
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    made = make_state(request.param, request, tmp_path)
    yield made
    made.close()


def spent(state: State, key: bytes, now: int = NOW) -> int:
    return state.spent(key, now)


def charge(key: bytes, total: int, amount: int, unit: str = "usd", keep: int = KEEP) -> Charge:
    return Charge(key, unit, total, amount, keep)


def ask(
    state: State,
    *charges: Charge,
    spend: tuple[UseLimit, ...] = (),
    hold: Hold | None = None,
    now: int = NOW,
    revocations: tuple[Revocation, ...] = (),
    nonce: NonceClaim | None = None,
) -> StateAnswer:
    return state.check(StateQuery(revocations, nonce, spend, charges, hold), now)


def test_charges_add_up_to_the_total_and_no_further(state: State) -> None:
    assert ask(state, charge(PARENT, 10, 4)) == StateAnswer(spent=(4,))
    assert ask(state, charge(PARENT, 10, 6)) == StateAnswer(spent=(10,))
    assert ask(state, charge(PARENT, 10, 1)) == StateAnswer(over_budget=0, spent=(10,))
    assert ask(state, charge(PARENT, 10, 0)) == StateAnswer(spent=(10,))
    assert spent(state, PARENT) == 10


def test_every_budget_of_a_call_is_charged_or_none_is(state: State) -> None:
    ask(state, charge(PARENT, 20, 15), charge(OTHER, 100, 15))
    answer = ask(state, charge(PARENT, 20, 4), charge(CHILD, 3, 4))
    assert answer == StateAnswer(over_budget=1, spent=(15, 0))
    assert (spent(state, PARENT), spent(state, CHILD)) == (15, 0)
    answer = ask(state, charge(PARENT, 20, 6), charge(CHILD, 12, 6))
    assert answer == StateAnswer(over_budget=0, spent=(15, 0))
    assert ask(state, charge(PARENT, 20, 5), charge(CHILD, 12, 5)).spent == (20, 5)


def test_a_spent_use_stops_the_charges_and_a_spent_budget_stops_the_use(state: State) -> None:
    use = UseLimit(b"U" * 32, 1, KEEP)
    ask(state, charge(PARENT, 10, 10))
    answer = ask(state, charge(PARENT, 10, 1), spend=(use,))
    assert answer.over_budget == 0
    assert answer.exhausted is None
    assert state.count(use.key) == 0  # type: ignore[attr-defined]
    ask(state, charge(OTHER, 10, 1), spend=(use,))
    answer = ask(state, charge(OTHER, 10, 1), spend=(use,))
    assert (answer.exhausted, answer.over_budget, answer.spent) == (0, None, (1,))
    assert spent(state, OTHER) == 1


def test_a_revoked_or_replayed_check_charges_nothing(state: State) -> None:
    state.revoke(TASK, NOW)
    answer = ask(state, charge(PARENT, 10, 3), revocations=(TASK,))
    assert (answer.revoked, answer.spent) == (TASK, ())
    nonce = NonceClaim(b"n" * 32, NOW + 90)
    ask(state, nonce=nonce)
    answer = ask(state, charge(PARENT, 10, 3), nonce=nonce)
    assert (answer.replayed, answer.spent) == (True, ())
    assert spent(state, PARENT) == 0


def test_a_balance_is_kept_until_keep_until_which_only_grows(state: State) -> None:
    ask(state, charge(PARENT, 10, 7, keep=NOW + 100))
    ask(state, charge(PARENT, 10, 1, keep=NOW + 50))
    assert spent(state, PARENT, NOW + 99) == 8
    assert spent(state, PARENT, NOW + 100) == 0
    assert ask(state, charge(PARENT, 10, 10, keep=NOW + 500), now=NOW + 100).spent == (10,)


def test_a_reservation_settles_down_and_refunds_the_difference(state: State) -> None:
    hold = Hold(RES, NOW + 900)
    answer = ask(state, charge(PARENT, 100, 40), charge(CHILD, 50, 40), hold=hold)
    assert answer.spent == (40, 40)
    settled = state.settle(RES, {"usd": 12}, NOW + 10)
    assert [(c.unit, c.total, c.held, c.charged, c.spent) for c in settled] == [
        ("usd", 100, 40, 12, 12),
        ("usd", 50, 40, 12, 12),
    ]
    assert (spent(state, PARENT), spent(state, CHILD)) == (12, 12)
    with pytest.raises(SettleRefused) as again:
        state.settle(RES, {"usd": 1}, NOW + 11)
    assert again.value.reason is SettleReason.UNKNOWN_RESERVATION


def test_units_not_named_stand_as_reserved(state: State) -> None:
    ask(state, charge(PARENT, 100, 40), charge(OTHER, 9, 2, unit="calls"), hold=Hold(RES, NOW + 9))
    settled = state.settle(RES, {"usd": 0}, NOW)
    assert [(c.unit, c.charged) for c in settled] == [("usd", 0), ("calls", 2)]
    assert (spent(state, PARENT), spent(state, OTHER)) == (0, 2)


def test_release_gives_every_charge_back(state: State) -> None:
    ask(state, charge(PARENT, 100, 40), charge(OTHER, 9, 2, unit="calls"), hold=Hold(RES, NOW + 9))
    assert [c.charged for c in state.settle(RES, None, NOW)] == [0, 0]
    assert (spent(state, PARENT), spent(state, OTHER)) == (0, 0)


def test_an_empty_settle_makes_the_reservation_final(state: State) -> None:
    ask(state, charge(PARENT, 100, 40), hold=Hold(RES, NOW + 9))
    assert [c.charged for c in state.settle(RES, {}, NOW)] == [40]
    assert spent(state, PARENT) == 40


@pytest.mark.parametrize(
    ("costs", "reason"),
    [
        ({"usd": 41}, SettleReason.OVER_RESERVATION),
        ({"usd": -1}, SettleReason.INVALID_COST),
        ({"usd": 2**53}, SettleReason.INVALID_COST),
        ({"usd": True}, SettleReason.INVALID_COST),
        ({"usd": 1.0}, SettleReason.INVALID_COST),
        ({"usd": "1"}, SettleReason.INVALID_COST),
        ({"USD": 1}, SettleReason.UNKNOWN_UNIT),
        ({"usd": 1, "eur": 1}, SettleReason.UNKNOWN_UNIT),
        ({1: 1}, SettleReason.UNKNOWN_UNIT),
        ([("usd", 1)], SettleReason.INVALID_COST),
        (12, SettleReason.INVALID_COST),
    ],
)
def test_a_refused_settle_changes_nothing(state: State, costs: object, reason: str) -> None:
    ask(state, charge(PARENT, 100, 40), hold=Hold(RES, NOW + 900))
    with pytest.raises(SettleRefused) as refused:
        state.settle(RES, costs, NOW)  # type: ignore[arg-type]
    assert refused.value.reason == reason
    assert spent(state, PARENT) == 40
    assert [c.charged for c in state.settle(RES, {"usd": 40}, NOW)] == [40]


def test_an_expired_reservation_stands_in_full(state: State) -> None:
    ask(state, charge(PARENT, 100, 40), hold=Hold(RES, NOW + 900))
    with pytest.raises(SettleRefused) as late:
        state.settle(RES, {"usd": 0}, NOW + 900)
    assert late.value.reason is SettleReason.RESERVATION_EXPIRED
    assert spent(state, PARENT, NOW + 900) == 40
    state.settle(RES, {"usd": 1}, NOW + 899)  # the expiry is exclusive
    assert spent(state, PARENT) == 1


@pytest.mark.parametrize("reservation", [b"", b"r" * 15, b"r" * 17, "r" * 16, None, 7])
def test_a_reservation_id_is_sixteen_bytes(state: State, reservation: object) -> None:
    with pytest.raises(SettleRefused) as refused:
        state.settle(reservation, {}, NOW)  # type: ignore[arg-type]
    assert refused.value.reason is SettleReason.UNKNOWN_RESERVATION


def test_a_denied_call_holds_nothing(state: State) -> None:
    ask(state, charge(PARENT, 10, 10))
    assert ask(state, charge(PARENT, 10, 1), hold=Hold(RES, NOW + 9)).over_budget == 0
    with pytest.raises(SettleRefused) as refused:
        state.settle(RES, None, NOW)
    assert refused.value.reason is SettleReason.UNKNOWN_RESERVATION


def test_a_reservation_id_given_twice_is_refused_and_changes_nothing(state: State) -> None:
    ask(state, charge(PARENT, 100, 1), hold=Hold(RES, NOW + 9))
    with pytest.raises(StoreUnavailable) as twice:
        ask(state, charge(PARENT, 100, 5), hold=Hold(RES, NOW + 9))
    assert twice.value.reason is UnavailableReason.ERROR
    assert spent(state, PARENT) == 1


def test_a_settle_after_the_balance_is_forgotten_refunds_nothing(state: State) -> None:
    ask(state, charge(PARENT, 100, 40, keep=NOW + 10), hold=Hold(RES, NOW + 900))
    (settled,) = state.settle(RES, {"usd": 5}, NOW + 10)
    assert (settled.charged, settled.spent) == (5, None)


def test_a_closed_state_cannot_settle(state: State) -> None:
    state.close()
    with pytest.raises(StoreUnavailable) as closed:
        state.settle(RES, None, NOW)
    assert closed.value.reason is UnavailableReason.UNREACHABLE


def test_a_full_memory_budget_table_refuses_rather_than_forgets() -> None:
    state = MemoryState(max_entries=2)
    ask(state, charge(PARENT, 10, 1), charge(CHILD, 10, 1))
    with pytest.raises(StoreUnavailable) as full:
        ask(state, charge(OTHER, 10, 1))
    assert full.value.reason is UnavailableReason.FULL
    assert spent(state, OTHER) == 0
    assert ask(state, charge(OTHER, 10, 1, keep=NOW + 5), now=NOW + 3600).spent == (1,)


# --- SQLite: the version-1 file, and rows it did not write ------------------------------------


def _version_1_file(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA:
        db.execute(statement)
    db.execute("PRAGMA application_id = 1145849683")
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO uses (key, used, keep_until) VALUES (?, 3, ?)", (b"U" * 32, KEEP))
    db.close()


def test_a_version_1_state_file_is_upgraded_in_place_and_keeps_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_1_file(path)
    with SQLiteState(path) as state:
        assert state.count(b"U" * 32) == 3
        assert ask(state, charge(PARENT, 10, 4)).spent == (4,)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    assert tuple(sorted(tuple(str(x) for x in r) for r in rows)) == _expected_objects()
    db.close()
    with SQLiteState(path) as again:
        assert again.spent(PARENT) == 4


def test_a_version_1_file_with_other_tables_is_corrupt_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_1_file(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE extra (x INTEGER)")
    db.close()
    with pytest.raises(StoreUnavailable) as refused:
        SQLiteState(path)
    assert refused.value.reason is UnavailableReason.CORRUPT
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO budgets VALUES (x'50', 'many', 9999999999)",
        "INSERT INTO budgets VALUES (x'50', -5, 9999999999)",
        "INSERT INTO budgets VALUES (x'50', 1.5, 9999999999)",
    ],
)
def test_a_budget_row_it_did_not_write_is_corrupt(tmp_path: Path, sql: str) -> None:
    path = tmp_path / "s.db"
    SQLiteState.create(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA ignore_check_constraints = ON")
    db.execute(sql)
    db.close()
    with SQLiteState(path) as state:
        with pytest.raises(StoreUnavailable) as corrupt:
            ask(state, charge(b"P", 10, 1))
        assert corrupt.value.reason is UnavailableReason.CORRUPT
