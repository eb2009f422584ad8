"""State in one SQLite file, shared by verifier processes on one host (``specs/state.md``).

Only a file made by :meth:`SQLiteState.create` (``delegation state init``) is opened: it carries
this library's mark in its header (``PRAGMA application_id``) and a schema version
(``PRAGMA user_version``), and exactly the tables this library made. Anything else (an empty
file, another program's database, a newer schema, a damaged file) is refused with
:class:`StoreUnavailable` and never written to.

Every :meth:`SQLiteState.check` that may write runs in one ``BEGIN IMMEDIATE`` transaction, so
concurrent processes serialise on SQLite's write lock and counts stay exact; one that only
reads is a single ``SELECT``. Every failure, a row this library did not write included, is
StoreUnavailable with a reason: the verifier denies.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from delegation.stores._group import GroupCommitter, Job
from delegation.stores.base import (
    Charge,
    InvalidRevocation,
    NonceClaim,
    Revocation,
    RevocationKind,
    RevocationRecord,
    SettledCharge,
    SettleReason,
    SettleRefused,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    check_reservation,
    settle_amounts,
)

APPLICATION_ID: Final = 0x444C4753
"""``PRAGMA application_id`` of a delegation state file: "DLGS" in the database header."""
SCHEMA_VERSION: Final = 2
"""``PRAGMA user_version`` of the schema below. A file with a higher one is refused; one made
at version 1 (no budgets) is brought to 2 when it is opened."""

_KINDS = ", ".join(f"'{kind.value}'" for kind in RevocationKind)
_SCHEMA: Final = (
    "CREATE TABLE nonces ("
    " key BLOB NOT NULL PRIMARY KEY CHECK (typeof(key) = 'blob'),"
    " expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer')"
    ") WITHOUT ROWID",
    "CREATE INDEX nonces_expiry ON nonces (expires_at)",
    "CREATE TABLE revocations ("
    f" kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),"
    " value TEXT NOT NULL CHECK (typeof(value) = 'text'),"
    " revoked_at INTEGER NOT NULL CHECK (typeof(revoked_at) = 'integer'),"
    " PRIMARY KEY (kind, value)"
    ") WITHOUT ROWID",
    "CREATE TABLE uses ("
    " key BLOB NOT NULL PRIMARY KEY CHECK (typeof(key) = 'blob'),"
    " used INTEGER NOT NULL CHECK (typeof(used) = 'integer' AND used > 0),"
    " keep_until INTEGER NOT NULL CHECK (typeof(keep_until) = 'integer')"
    ") WITHOUT ROWID",
    "CREATE INDEX uses_expiry ON uses (keep_until)",
)
_SCHEMA_2: Final = (
    "CREATE TABLE budgets ("
    " key BLOB NOT NULL PRIMARY KEY CHECK (typeof(key) = 'blob'),"
    " spent INTEGER NOT NULL CHECK (typeof(spent) = 'integer' AND spent >= 0),"
    " keep_until INTEGER NOT NULL CHECK (typeof(keep_until) = 'integer')"
    ") WITHOUT ROWID",
    "CREATE INDEX budgets_expiry ON budgets (keep_until)",
    "CREATE TABLE holds ("
    " reservation BLOB NOT NULL CHECK (typeof(reservation) = 'blob'),"
    " seq INTEGER NOT NULL CHECK (typeof(seq) = 'integer'),"
    " key BLOB NOT NULL CHECK (typeof(key) = 'blob'),"
    " unit TEXT NOT NULL CHECK (typeof(unit) = 'text'),"
    " total INTEGER NOT NULL CHECK (typeof(total) = 'integer'),"
    " amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount >= 0),"
    " expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),"
    " PRIMARY KEY (reservation, seq)"
    ") WITHOUT ROWID",
    "CREATE INDEX holds_expiry ON holds (expires_at)",
)
"""Version 2: budget balances and the charges of unsettled reservations."""
_SWEEP_EVERY = 256
_STORE_ERRORS = (sqlite3.Error, ValueError, OverflowError)
"""What binding or running a statement can raise: SQLite errors, and values it cannot bind
(text with lone surrogates is a UnicodeEncodeError, a ValueError; ints past 2**63 overflow)."""

_R = UnavailableReason
_BY_CODE: Final = {
    3: (_R.UNREADABLE, "the state file may not be read: permission denied"),  # SQLITE_PERM
    5: (_R.LOCKED, "the state file stayed locked by another process past the timeout"),  # BUSY
    6: (_R.LOCKED, "a table of the state file is locked"),  # SQLITE_LOCKED
    8: (_R.READ_ONLY, "the state file is read-only: nonces and uses cannot be recorded"),
    10: (_R.UNREACHABLE, "disk input/output error on the state file"),  # SQLITE_IOERR
    11: (_R.CORRUPT, "the state file is damaged"),  # SQLITE_CORRUPT
    13: (_R.FULL, "the disk or the state file is full"),  # SQLITE_FULL
    14: (_R.UNREACHABLE, "the state file cannot be opened"),  # SQLITE_CANTOPEN
    17: (_R.CORRUPT, "the state file's schema changed while open"),  # SQLITE_SCHEMA
    20: (_R.CORRUPT, "the state file holds a value of the wrong type"),  # SQLITE_MISMATCH
    23: (_R.UNREADABLE, "access to the state file denied"),  # SQLITE_AUTH
    26: (_R.NOT_A_STATE_FILE, "not a delegation state file: not an SQLite database"),  # NOTADB
}
"""Primary SQLite result codes (the low byte of an extended code) and what they mean here."""
_SQLITE_ERROR = 1
"""A generic SQL error. Our statements are fixed, so at run time it means the tables are not
the ones this library made ("no such table", "no such column"): corrupt."""


def _unavailable(exc: BaseException) -> StoreUnavailable:
    """The StoreUnavailable for an exception of sqlite3 or of binding a value. The detail holds
    SQLite's error name, never a value or a path."""
    if not isinstance(exc, sqlite3.Error):
        return StoreUnavailable(_R.ERROR, "a value the state file cannot hold")
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if code == _SQLITE_ERROR:
        reason, what = (
            _R.CORRUPT,
            "state file corrupt: its tables are not the ones this library made",
        )
    elif code is None:
        reason, what = _R.ERROR, "the SQLite interface refused the call"
    else:
        reason, what = _BY_CODE.get(code & 0xFF, (_R.ERROR, "an SQLite error on the state file"))
    return StoreUnavailable(reason, f"{what} ({name})")


@functools.cache
def _expected_objects(version: int = SCHEMA_VERSION) -> tuple[tuple[str, str, str, str], ...]:
    """sqlite_master as the schema of ``version`` makes it, as this SQLite library writes it."""
    db = sqlite3.connect(":memory:")
    try:
        for statement in _SCHEMA if version == 1 else _SCHEMA + _SCHEMA_2:
            db.execute(statement)
        return _objects(db)
    finally:
        db.close()


def _objects(db: sqlite3.Connection) -> tuple[tuple[str, str, str, str], ...]:
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return tuple(sorted(tuple(str(x) for x in row) for row in rows))  # type: ignore[misc]


def _corrupt(what: str) -> StoreUnavailable:
    return StoreUnavailable(_R.CORRUPT, f"state file corrupt: {what}")


class SQLiteState:
    """Revocations, nonces and use counts in one SQLite file. Implements State.

    ``SQLiteState(path)`` opens a file made by :meth:`create` and nothing else. ``timeout`` is
    how long to wait for another process's write lock before StoreUnavailable (``locked``).
    ``durable`` (the default) syncs every commit to disk (``synchronous=FULL``): a revocation,
    a spent approval or a use count survives a power cut, at the cost of one fsync per write.
    ``durable=False`` (``synchronous=NORMAL``) survives a process crash only; the last writes
    before an operating-system crash can be lost, and a lost revocation brings a token back.
    ``group_commit=True`` runs the writing checks of concurrent threads in one transaction and
    one sync (each still all or nothing, each answered only once its commit is on disk): what
    a service verifying many calls at once wants; a check alone is committed at once.

    Raises StoreUnavailable: ``unreachable`` (no such file), ``not_a_state_file`` (a directory,
    an empty file, any other file or database), ``newer_schema``, ``corrupt``, ``unreadable``,
    ``read_only``, ``locked``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        durable: bool = True,
        group_commit: bool = False,
    ) -> None:
        self._setup(os.fspath(path), timeout, durable, create=False)
        self._start_group(group_commit)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        durable: bool = True,
        group_commit: bool = False,
    ) -> SQLiteState:
        """Make a state file at ``path`` and open it; what ``delegation state init`` calls.

        A missing or empty (0-byte) file becomes a state file; an existing state file is simply
        opened. Anything else is refused with StoreUnavailable (``not_a_state_file``) and left
        as it was: its tables are never written into another program's database.
        """
        self = cls.__new__(cls)
        self._setup(os.fspath(path), timeout, durable, create=True)
        self._start_group(group_commit)
        return self

    def _start_group(self, group_commit: bool) -> None:
        self._group: GroupCommitter[StateAnswer] | None = None
        if group_commit:
            self._group = GroupCommitter(
                self._check_batch,
                lambda: StoreUnavailable(_R.UNREACHABLE, "the state file is closed"),
                name="delegation-sqlite-state",
            )

    def _setup(self, path: str, timeout: float, durable: bool, *, create: bool) -> None:
        self._lock = threading.Lock()
        self._writes = 0
        self._closed = True
        _screen_path(path, create=create)
        mode = "rwc" if create else "rw"  # opening never makes a file
        uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode={mode}"
        try:
            self._db = sqlite3.connect(
                uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except _STORE_ERRORS as exc:
            raise _unavailable(exc) from exc
        try:
            self._identify(create=create)
            self._wal(timeout)
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            # Fail now, not at the first verify, when the file cannot be written.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("ROLLBACK")
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, _STORE_ERRORS):
                raise _unavailable(exc) from exc
            raise
        self._closed = False

    def _wal(self, timeout: float) -> None:
        """Switch to WAL once. Changing the journal mode needs the file to itself, and SQLite
        answers SQLITE_BUSY at once, without waiting, while another process opens it too: retry
        within ``timeout`` rather than fail a verifier that starts beside another."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) in (
                    sqlite3.SQLITE_BUSY,
                    sqlite3.SQLITE_LOCKED,
                )
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _identify(self, *, create: bool) -> None:
        """Check the mark, the version and the tables; with ``create``, make them in an empty
        file. One transaction, so two processes creating one file at once make it once."""
        db = self._db
        db.execute("BEGIN IMMEDIATE" if create else "BEGIN")
        try:
            app = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            objects = _objects(db)
            empty = app == 0 and version == 0 and not objects
            if create and empty:
                for statement in _SCHEMA + _SCHEMA_2:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                app, version, objects = APPLICATION_ID, SCHEMA_VERSION, _objects(db)
            db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
        if app != APPLICATION_ID:
            if empty:
                what = "an empty file; make a state file with `delegation state init`"
            elif create:
                what = "it holds other data; refusing to write into it"
            else:
                what = "another file or database"
            raise StoreUnavailable(_R.NOT_A_STATE_FILE, f"not a delegation state file: {what}")
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                _R.NEWER_SCHEMA,
                f"state file made by a newer version of delegation (schema {version}; "
                f"this one knows up to {SCHEMA_VERSION})",
            )
        if version == 1 and objects == _expected_objects(1):
            self._upgrade()
            return
        if version != SCHEMA_VERSION:
            raise _corrupt(f"unknown schema version {version}")
        if objects != _expected_objects():
            raise _corrupt("its tables are not the ones this library made")

    def _upgrade(self) -> None:
        """Bring a version-1 file to version 2 (add the budget tables), once: the version is
        read again under the write lock, since another process may be doing the same."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 1 and _objects(db) == _expected_objects(1):
                for statement in _SCHEMA_2:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION or _objects(db) != _expected_objects():
                raise _corrupt("its tables changed while it was being upgraded")
            db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def __enter__(self) -> SQLiteState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        group = getattr(self, "_group", None)
        if group is not None:
            group.close()  # what was submitted is committed (or refused) first
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; with ``write``, inside BEGIN IMMEDIATE ... COMMIT.
        Every failure becomes StoreUnavailable, and a failed transaction is rolled back."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable(_R.UNREACHABLE, "the state file is closed")
            db = self._db
            try:
                if not write:
                    yield db
                    return
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # never leave a failed transaction open
                        db.execute("ROLLBACK")
                    raise
            except _STORE_ERRORS as exc:
                raise _unavailable(exc) from exc

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if not query.writes:
            with self._session(write=False) as db:
                return StateAnswer(_first_revoked(db, query.revocations))
        if self._group is not None:
            return self._group.submit((query, now))
        with self._session(write=True) as db:
            return self._check_in(db, query, now)

    def _check_in(self, db: sqlite3.Connection, query: StateQuery, now: int) -> StateAnswer:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            db.execute("DELETE FROM nonces WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM uses WHERE keep_until <= ?", (now,))
            db.execute("DELETE FROM budgets WHERE keep_until <= ?", (now,))
            db.execute("DELETE FROM holds WHERE expires_at <= ?", (now,))
        revoked = _first_revoked(db, query.revocations)
        replayed = query.nonce is not None and not _claim(db, query.nonce, now)
        if (query.spend or query.charges) and revoked is None and not replayed:
            exhausted, over, spent = _consume(db, query, now)
            return StateAnswer(revoked, replayed, exhausted, over, spent)
        return StateAnswer(revoked, replayed)

    def _check_batch(self, jobs: list[Job[StateAnswer]]) -> None:
        """Group commit: every waiting check in one transaction, each under its own savepoint
        (one that fails changes nothing and fails alone), one commit; answers only after it."""
        answers: list[tuple[Job[StateAnswer], StateAnswer]] = []
        try:
            with self._session(write=True) as db:
                for job in jobs:
                    query, now = job.payload
                    db.execute("SAVEPOINT check_one")
                    try:
                        answers.append((job, self._check_in(db, query, now)))
                    except (StoreUnavailable, *_STORE_ERRORS) as exc:
                        db.execute("ROLLBACK TO check_one")
                        job.error = exc if isinstance(exc, StoreUnavailable) else _unavailable(exc)
                    finally:
                        db.execute("RELEASE check_one")
        except StoreUnavailable as exc:  # the transaction failed: none of it was kept
            for job in jobs:
                if job.error is None:
                    job.error = exc
            return
        for job, answer in answers:
            job.answer = answer

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        reservation = check_reservation(reservation)
        with self._session(write=True) as db:
            rows = db.execute(
                "SELECT key, unit, total, amount, expires_at FROM holds WHERE reservation = ? "
                "ORDER BY seq",
                (reservation,),
            ).fetchall()
            if not rows:
                raise SettleRefused(
                    SettleReason.UNKNOWN_RESERVATION,
                    "no such reservation: never made, already settled or released, or expired",
                )
            held = [_held_row(row) for row in rows]
            if held[0][4] <= now:
                raise SettleRefused(
                    SettleReason.RESERVATION_EXPIRED,
                    "the reservation expired: its charges stand, spent in full",
                )
            actual = settle_amounts([(unit, amount) for _, unit, _, amount, _ in held], costs)
            out = []
            for (key, unit, total, amount, _), cost in zip(held, actual, strict=True):
                row = db.execute(
                    "SELECT spent, keep_until FROM budgets WHERE key = ?", (key,)
                ).fetchone()
                balance: int | None = None
                if row is not None:
                    spent, keep = _balance_row(row)
                    if keep > now:
                        balance = max(0, spent - (amount - cost))
                        db.execute("UPDATE budgets SET spent = ? WHERE key = ?", (balance, key))
                out.append(SettledCharge(unit, total, amount, cost, balance))
            db.execute("DELETE FROM holds WHERE reservation = ?", (reservation,))
            return out

    def revoke(self, revocation: Revocation, now: int) -> None:
        if not isinstance(revocation, Revocation):
            raise InvalidRevocation("revoke takes a Revocation")
        revocation = revocation.checked()
        with self._session(write=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO revocations (kind, value, revoked_at) VALUES (?, ?, ?)",
                (revocation.kind.value, revocation.value, now),
            )

    def revocations(self) -> list[RevocationRecord]:
        with self._session(write=False) as db:
            rows = db.execute(
                "SELECT kind, value, revoked_at FROM revocations ORDER BY revoked_at, kind, value"
            ).fetchall()
        out = []
        for kind, value, at in rows:
            if type(kind) is not str or type(at) is not int:
                raise _corrupt("a revocation row of the wrong type")
            try:
                out.append(RevocationRecord(Revocation(kind, value), at))  # type: ignore[arg-type]
            except InvalidRevocation as exc:
                raise _corrupt("a revocation this library would not record") from exc
        return out

    def spent(self, key: bytes, now: int | None = None) -> int:
        """The stored balance spent of budget ``key`` (0 if none); with ``now``, 0 once it is no
        longer kept. For tests and inspection."""
        with self._session(write=False) as db:
            row = db.execute(
                "SELECT spent, keep_until FROM budgets WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return 0
        spent, keep = _balance_row(row)
        return spent if now is None or keep > now else 0

    def count(self, key: bytes, now: int | None = None) -> int:
        """The stored count of ``key`` (0 if none); with ``now``, 0 once it is no longer kept.
        For tests and inspection."""
        with self._session(write=False) as db:
            row = db.execute("SELECT used, keep_until FROM uses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return 0
        used, keep = row
        if type(used) is not int or type(keep) is not int:
            raise _corrupt("a use count that is not an integer")
        return used if now is None or keep > now else 0


def _screen_path(path: str, *, create: bool) -> None:
    """Clear reasons for what SQLite would only call "unable to open"."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if create:
            return
        raise StoreUnavailable(
            _R.UNREACHABLE, "no state file there; make one with `delegation state init`"
        ) from None
    except PermissionError:
        raise StoreUnavailable(
            _R.UNREADABLE, "the state file cannot be reached: permission denied"
        ) from None
    except OSError as exc:
        raise StoreUnavailable(
            _R.UNREACHABLE, f"the state file cannot be reached ({exc.strerror})"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreUnavailable(_R.NOT_A_STATE_FILE, "not a delegation state file: not a file")
    if not os.access(path, os.R_OK):
        raise StoreUnavailable(_R.UNREADABLE, "the state file may not be read: permission denied")
    if not os.access(path, os.W_OK):
        raise StoreUnavailable(
            _R.READ_ONLY, "the state file is read-only: nonces and uses cannot be recorded"
        )


def _first_revoked(db: sqlite3.Connection, candidates: Sequence[Revocation]) -> Revocation | None:
    if not candidates:
        return None
    where = " OR ".join(["(kind = ? AND value = ?)"] * len(candidates))
    rows = db.execute(
        f"SELECT kind, value FROM revocations WHERE {where}",  # noqa: S608 (only ?s)
        [x for c in candidates for x in (c.kind.value, c.value)],
    ).fetchall()
    found = set()
    for kind, value in rows:
        if type(kind) is not str or type(value) is not str:
            raise _corrupt("a revocation row of the wrong type")
        found.add((kind, value))
    return next((c for c in candidates if (c.kind.value, c.value) in found), None)


def _claim(db: sqlite3.Connection, nonce: NonceClaim, now: int) -> bool:
    """Record the nonce; True if it had no live record."""
    row = db.execute("SELECT expires_at FROM nonces WHERE key = ?", (nonce.key,)).fetchone()
    if row is not None:
        if type(row[0]) is not int:
            raise _corrupt("a nonce row of the wrong type")
        if row[0] > now:
            return False
    db.execute(
        "INSERT OR REPLACE INTO nonces (key, expires_at) VALUES (?, ?)",
        (nonce.key, nonce.expires_at),
    )
    return True


def _consume(
    db: sqlite3.Connection, query: StateQuery, now: int
) -> tuple[int | None, int | None, tuple[int, ...]]:
    """Count every limit and charge every budget, or none: (the index of the first exhausted
    limit, else of the first budget that cannot take its amount, and each budget's spent)."""
    limits, charges = query.spend, query.charges
    counts = _live_rows(db, "uses", "used", [limit.key for limit in limits], now, low=1)
    balances = _live_rows(db, "budgets", "spent", [c.key for c in charges], now, low=0)
    spent = tuple(balances[c.key] for c in charges)
    exhausted = next(
        (i for i, limit in enumerate(limits) if counts[limit.key] >= limit.limit), None
    )
    if exhausted is not None:
        return exhausted, None, spent
    over = next((i for i, c in enumerate(charges) if spent[i] + c.amount > c.total), None)
    if over is not None:
        return None, over, spent
    if limits:
        db.executemany(
            "INSERT INTO uses (key, used, keep_until) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET used = excluded.used, "
            "keep_until = MAX(uses.keep_until, excluded.keep_until)",
            [(limit.key, counts[limit.key] + 1, limit.keep_until) for limit in limits],
        )
    after = tuple(s + c.amount for s, c in zip(spent, charges, strict=True))
    if charges:
        db.executemany(
            "INSERT INTO budgets (key, spent, keep_until) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET spent = excluded.spent, "
            "keep_until = MAX(budgets.keep_until, excluded.keep_until)",
            [(c.key, a, c.keep_until) for c, a in zip(charges, after, strict=True)],
        )
    if query.hold is not None and charges:
        _hold(db, query.hold.reservation, query.hold.expires_at, charges)
    return None, None, after


def _live_rows(
    db: sqlite3.Connection, table: str, column: str, keys: list[bytes], now: int, *, low: int
) -> dict[bytes, int]:
    """Each key's live value in ``table`` (0 when absent or no longer kept)."""
    out = dict.fromkeys(keys, 0)
    if not keys:
        return out
    marks = ", ".join("?" * len(out))
    for key, value, keep in db.execute(
        f"SELECT key, {column}, keep_until FROM {table} WHERE key IN ({marks})",  # noqa: S608 (fixed names, ?s)
        list(out),
    ):
        if type(key) is not bytes or type(value) is not int or type(keep) is not int or value < low:
            raise _corrupt(f"a {table} row this library did not write")
        out[key] = value if keep > now else 0
    return out


def _hold(
    db: sqlite3.Connection, reservation: bytes, expires_at: int, charges: Sequence[Charge]
) -> None:
    if db.execute("SELECT 1 FROM holds WHERE reservation = ?", (reservation,)).fetchone():
        raise StoreUnavailable(_R.ERROR, "a reservation id was given twice")
    db.executemany(
        "INSERT INTO holds (reservation, seq, key, unit, total, amount, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (reservation, seq, c.key, c.unit, c.total, c.amount, expires_at)
            for seq, c in enumerate(charges)
        ],
    )


def _held_row(row: tuple[object, ...]) -> tuple[bytes, str, int, int, int]:
    key, unit, total, amount, expires_at = row
    if (
        type(key) is not bytes
        or type(unit) is not str
        or type(total) is not int
        or type(amount) is not int
        or type(expires_at) is not int
        or amount < 0
    ):
        raise _corrupt("a reservation row this library did not write")
    return key, unit, total, amount, expires_at


def _balance_row(row: tuple[object, ...]) -> tuple[int, int]:
    spent, keep = row
    if type(spent) is not int or type(keep) is not int or spent < 0:
        raise _corrupt("a budget row this library did not write")
    return spent, keep
