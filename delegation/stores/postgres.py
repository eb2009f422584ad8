"""State in PostgreSQL, shared by verifiers on many hosts (``specs/state.md``, "PostgreSQL
state").

:class:`PostgresState` implements the State protocol with the same answers as
:class:`~delegation.stores.SQLiteState`, in one schema of one database that any number of
verifier processes on any number of hosts share. Every :meth:`PostgresState.check` that may
write is one transaction that locks the rows it counts (``SELECT ... FOR UPDATE``, keys in one
order, so concurrent checks never deadlock each other), so counts and balances stay exact and a
nonce is fresh for exactly one check. A check that only reads is one ``SELECT``.

Only a schema made by :meth:`PostgresState.create` is used: it holds a ``delegation_meta`` table
with this library's schema version. Every failure (the server down, a lock held past the
timeout, a table this library did not make) is :class:`StoreUnavailable` with a reason, and the
verifier denies; after a connection failure the next call connects again, so a verifier
recovers by itself once the server is back. Details never hold the connection string.

Needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, Final

import psycopg
from psycopg import sql

from delegation.stores.base import (
    Charge,
    InvalidRevocation,
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
    UseLimit,
    check_reservation,
    settle_amounts,
)

SCHEMA_VERSION: Final = 2
"""The version in ``delegation_meta`` of the tables below. A schema with a higher one is
refused (``newer_schema``); one of version 1 (before ``leases``) is upgraded in place."""

_V2: Final = ("CREATE TABLE leases (holder text PRIMARY KEY, until bigint NOT NULL)",)
"""What version 2 added to version 1: the fast path's leases."""
_KINDS = ", ".join(f"'{kind.value}'" for kind in RevocationKind)
_TABLES: Final = (
    "CREATE TABLE delegation_meta (version integer NOT NULL)",
    "CREATE TABLE nonces (key bytea PRIMARY KEY, expires_at bigint NOT NULL)",
    "CREATE INDEX nonces_expiry ON nonces (expires_at)",
    "CREATE TABLE revocations ("
    f" kind text NOT NULL CHECK (kind IN ({_KINDS})),"
    " value text NOT NULL,"
    " revoked_at bigint NOT NULL,"
    " seq bigserial UNIQUE,"
    " PRIMARY KEY (kind, value))",
    "CREATE TABLE uses ("
    " key bytea PRIMARY KEY, used bigint NOT NULL CHECK (used >= 0),"
    " keep_until bigint NOT NULL)",
    "CREATE INDEX uses_expiry ON uses (keep_until)",
    "CREATE TABLE budgets ("
    " key bytea PRIMARY KEY, spent bigint NOT NULL CHECK (spent >= 0),"
    " keep_until bigint NOT NULL)",
    "CREATE INDEX budgets_expiry ON budgets (keep_until)",
    "CREATE TABLE holds ("
    " reservation bytea NOT NULL, seq integer NOT NULL, key bytea NOT NULL,"
    " unit text NOT NULL, total bigint NOT NULL, amount bigint NOT NULL CHECK (amount >= 0),"
    " expires_at bigint NOT NULL, PRIMARY KEY (reservation, seq))",
    "CREATE INDEX holds_expiry ON holds (expires_at)",
    *_V2,
)
_V1_TABLES: Final = frozenset(
    {"delegation_meta", "nonces", "revocations", "uses", "budgets", "holds"}
)
_OURS: Final = _V1_TABLES | {"leases"}
_SWEEP_EVERY = 256
_RETRIES = 3
_CONNECTIONS = 8
"""Connections one PostgresState opens at most (one per transaction in flight)."""
"""Times a transaction is run again after a deadlock or serialization failure (PostgreSQL
rolled it back whole, so running it again is safe)."""

_R = UnavailableReason
_BY_STATE: Final = {
    "55P03": (_R.LOCKED, "a row stayed locked by another verifier past the timeout"),
    "57014": (_R.LOCKED, "the statement ran past the timeout"),
    "40P01": (_R.LOCKED, "deadlocked with another verifier, again and again"),
    "40001": (_R.LOCKED, "kept conflicting with another verifier's transaction"),
    "42501": (_R.UNREADABLE, "the database user may not use the state tables"),
    "25006": (_R.READ_ONLY, "the database is read-only: nonces and uses cannot be recorded"),
    "53100": (_R.FULL, "the database server's disk is full"),
    "53200": (_R.FULL, "the database server is out of memory"),
    "42P01": (_R.CORRUPT, "a state table is missing"),
    "42703": (_R.CORRUPT, "a state table has other columns than this library made"),
    "3F000": (_R.CORRUPT, "the state schema is missing"),
}
"""SQLSTATE codes and what they mean here; class 08 and 57P0x are ``unreachable``."""


def _unavailable(exc: BaseException) -> StoreUnavailable:
    """The StoreUnavailable for an exception of psycopg. The detail holds our sentence and the
    SQLSTATE, never the server's message (which may name hosts, users or values)."""
    state = getattr(exc, "sqlstate", None)
    if state in _BY_STATE:
        reason, what = _BY_STATE[state]
    elif state is None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        reason, what = _R.UNREACHABLE, "the database server cannot be reached"
    elif state is not None and (state.startswith("08") or state.startswith("57P")):
        reason, what = _R.UNREACHABLE, "the connection to the database server was lost"
    elif isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        reason, what = _R.ERROR, "a value the state tables cannot hold"
    else:
        reason, what = _R.ERROR, "a database error on the state tables"
    return StoreUnavailable(reason, f"{what} ({state or type(exc).__name__})")


def _corrupt(what: str) -> StoreUnavailable:
    return StoreUnavailable(_R.CORRUPT, f"state tables corrupt: {what}")


class PostgresState:
    """Revocations, nonces, use counts, budgets and reservations in PostgreSQL. Implements
    State.

    ``PostgresState(dsn, schema=...)`` uses a schema made by :meth:`create` and nothing else.
    ``timeout`` bounds connecting, waiting for another verifier's row lock
    (``lock_timeout``), each statement (``statement_timeout``, 4x) and waiting for a free
    connection (4x), in seconds. Up to ``connections`` connections, each used by one
    transaction at a time, so the threads of one process check side by side; a connection
    that failed is closed and the next call connects again.

    Raises StoreUnavailable: ``unreachable`` (the server cannot be reached; the object is still
    made, and every call tries again), ``not_a_state_file`` (no such schema, or one this
    library did not make), ``newer_schema``, ``corrupt``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "delegation",
        timeout: float = 5.0,
        connections: int = _CONNECTIONS,
    ) -> None:
        self._setup(dsn, schema, timeout, connections)
        try:
            with self._session() as cur:
                self._identify(cur, create=False)
        except BaseException:
            self.close()  # an object never handed out must not keep its connection
            raise

    @classmethod
    def create(
        cls,
        dsn: str,
        *,
        schema: str = "delegation",
        timeout: float = 5.0,
        connections: int = _CONNECTIONS,
    ) -> PostgresState:
        """Make the schema and its tables if they do not exist, and open it. An existing
        schema is used only if this library made it: one holding other tables is refused
        (``not_a_state_file``) and left as it was. Several processes creating one schema at
        once make it once (an advisory lock on its name)."""
        self = cls.__new__(cls)
        self._setup(dsn, schema, timeout, connections)
        try:
            with self._session() as cur:
                lock = f"delegation:{schema}"
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
                name = sql.Identifier(schema)
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                self._identify(cur, create=True)
        except BaseException:
            self.close()
            raise
        return self

    def _setup(self, dsn: str, schema: str, timeout: float, connections: int) -> None:
        if not isinstance(dsn, str) or not isinstance(schema, str) or not schema:
            raise TypeError("PostgresState takes a connection string and a schema name")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ValueError("timeout is a positive number of seconds")
        if type(connections) is not int or not 1 <= connections <= 256:
            raise ValueError("connections is a whole number from 1 to 256")
        self._dsn = dsn
        self._schema = schema
        self._timeout = float(timeout)
        self._lock = threading.Lock()  # guards _idle and _closed
        self._idle: list[psycopg.Connection[Any]] = []
        self._slots = threading.BoundedSemaphore(connections)
        self._closed = False
        self._writes = 0

    def __enter__(self) -> PostgresState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self._dsn, autocommit=True, connect_timeout=max(1, math.ceil(self._timeout))
        )
        try:
            millis = int(self._timeout * 1000)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(millis)))
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(4 * millis)))
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _session(self, *, transaction: bool = True) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor inside one transaction, on a connection no other transaction uses until
        it ends. Every failure becomes StoreUnavailable, the transaction is rolled back, and
        a broken connection is closed so that the next call connects again."""
        if self._closed:
            raise StoreUnavailable(_R.UNREACHABLE, "the state is closed")
        if not self._slots.acquire(timeout=4 * self._timeout):
            raise StoreUnavailable(_R.LOCKED, "every connection to the state stayed busy")
        conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed or conn.broken:
                conn = self._connect()
            with conn.transaction() if transaction else nullcontext(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            lost = isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None
            if conn is not None and (lost or conn.broken or conn.closed):
                _close(conn)
                conn = None
            raise _unavailable(exc) from exc
        finally:
            if conn is not None:
                with self._lock:
                    keep = not self._closed and not conn.closed and not conn.broken
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    _close(conn)
            self._slots.release()

    def _retrying(self, work: Any) -> Any:
        """Run ``work(cursor)`` in one transaction, again after a deadlock or serialization
        failure (rolled back whole by the server)."""
        for attempt in range(_RETRIES + 1):
            try:
                with self._session() as cur:
                    return work(cur)
            except StoreUnavailable as exc:
                cause = exc.__cause__
                retry = getattr(cause, "sqlstate", None) in ("40P01", "40001")
                if not retry or attempt == _RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _identify(self, cur: psycopg.Cursor[Any], *, create: bool) -> None:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (self._schema,),
        )
        tables = {str(row[0]) for row in cur.fetchall()}
        if create and not tables:
            for statement in _TABLES:
                cur.execute(statement)
            cur.execute("INSERT INTO delegation_meta (version) VALUES (%s)", (SCHEMA_VERSION,))
            tables = set(_OURS)
        if "delegation_meta" not in tables:
            what = (
                "it holds other tables; refusing to write into it"
                if tables
                else "an empty or missing schema; make it with PostgresState.create"
            )
            raise StoreUnavailable(_R.NOT_A_STATE_FILE, f"not a delegation state schema: {what}")
        cur.execute("SELECT version FROM delegation_meta")
        rows = cur.fetchall()
        if len(rows) != 1 or type(rows[0][0]) is not int:
            raise _corrupt("its version row is not the one this library wrote")
        version = rows[0][0]
        if version == 1 and tables == _V1_TABLES:  # made before leases: add them, keep the rest
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"delegation:{self._schema}",)
            )
            cur.execute("SELECT version FROM delegation_meta FOR UPDATE")
            if cur.fetchone() == (1,):
                for statement in _V2:
                    cur.execute(statement)
                cur.execute("UPDATE delegation_meta SET version = %s", (SCHEMA_VERSION,))
            version, tables = SCHEMA_VERSION, set(_OURS)
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                _R.NEWER_SCHEMA,
                f"state schema made by a newer version of delegation (schema {version}; "
                f"this one knows up to {SCHEMA_VERSION})",
            )
        if version != SCHEMA_VERSION or tables != _OURS:
            raise _corrupt("its tables are not the ones this library made")

    # --- the protocol ---------------------------------------------------------------------

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if not query.writes:  # one SELECT, in autocommit: one round trip
            with self._session(transaction=False) as cur:
                return StateAnswer(_first_revoked(cur, query.revocations))
        answer: StateAnswer = self._retrying(lambda cur: self._check(cur, query, now))
        return answer

    def _check(self, cur: psycopg.Cursor[Any], query: StateQuery, now: int) -> StateAnswer:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            _sweep(cur, now)
        revoked = _first_revoked(cur, query.revocations)
        replayed = False
        if query.nonce is not None:
            cur.execute(
                "INSERT INTO nonces (key, expires_at) VALUES (%s, %s) ON CONFLICT (key) DO "
                "UPDATE SET expires_at = EXCLUDED.expires_at WHERE nonces.expires_at <= %s "
                "RETURNING 1",
                (query.nonce.key, query.nonce.expires_at, now),
            )
            replayed = cur.fetchone() is None
        if (query.spend or query.charges) and revoked is None and not replayed:
            exhausted, over, spent = _consume(cur, query, now)
            return StateAnswer(revoked, replayed, exhausted, over, spent)
        return StateAnswer(revoked, replayed)

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        reservation = check_reservation(reservation)
        result: list[SettledCharge] = self._retrying(
            lambda cur: _settle(cur, reservation, costs, now)
        )
        return result

    def spent(self, key: bytes, now: int) -> int:
        with self._session() as cur:
            cur.execute("SELECT spent, keep_until FROM budgets WHERE key = %s", (key,))
            row = cur.fetchone()
        if row is None:
            return 0
        spent, keep = _ints(row, "budget")
        return spent if keep > now else 0

    def count(self, key: bytes, now: int | None = None) -> int:
        """The stored count of ``key`` (0 if none); with ``now``, 0 once it is no longer kept.
        For tests and inspection."""
        with self._session() as cur:
            cur.execute("SELECT used, keep_until FROM uses WHERE key = %s", (key,))
            row = cur.fetchone()
        if row is None:
            return 0
        used, keep = _ints(row, "use-count")
        return used if now is None or keep > now else 0

    def revoke(self, revocation: Revocation, now: int) -> None:
        if not isinstance(revocation, Revocation):
            raise InvalidRevocation("revoke takes a Revocation")
        revocation = revocation.checked()
        with self._session() as cur:
            cur.execute(
                "INSERT INTO revocations (kind, value, revoked_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, value) DO NOTHING",
                (revocation.kind.value, revocation.value, now),
            )

    def lease(self, holder: str, until: int) -> None:
        """Record that ``holder`` may claim nonces elsewhere (a fast path: Redis) until
        ``until``, by its own clock; a lease only ever grows. :meth:`lease_horizon` bounds
        every claim any holder made (``specs/state.md``, "Redis fast path")."""
        with self._session() as cur:
            cur.execute(
                "INSERT INTO leases (holder, until) VALUES (%s, %s) ON CONFLICT (holder) DO "
                "UPDATE SET until = GREATEST(leases.until, EXCLUDED.until)",
                (holder, until),
            )

    def lease_horizon(self) -> int:
        """The latest time any holder's lease runs to (0 when none ever was taken)."""
        with self._session() as cur:
            cur.execute("SELECT coalesce(max(until), 0) FROM leases")
            row = cur.fetchone()
        if row is None or type(row[0]) is not int:
            raise _corrupt("a lease row this library did not write")
        return row[0]

    def revocations(self) -> list[RevocationRecord]:
        with self._session() as cur:
            cur.execute(
                "SELECT kind, value, revoked_at FROM revocations ORDER BY revoked_at, kind, value"
            )
            rows = cur.fetchall()
        out = []
        for kind, value, at in rows:
            try:
                out.append(RevocationRecord(Revocation(kind, value), int(at)))
            except InvalidRevocation as exc:
                raise _corrupt("a revocation this library would not record") from exc
        return out


def _close(conn: psycopg.Connection[Any]) -> None:
    with suppress(psycopg.Error):
        conn.close()


def _ints(row: Sequence[object], what: str) -> tuple[int, int]:
    first, second = row[0], row[1]
    if type(first) is not int or type(second) is not int or first < 0:
        raise _corrupt(f"a {what} row this library did not write")
    return first, second


def _sweep(cur: psycopg.Cursor[Any], now: int) -> None:
    cur.execute("DELETE FROM nonces WHERE expires_at <= %s", (now,))
    cur.execute("DELETE FROM uses WHERE keep_until <= %s", (now,))
    cur.execute("DELETE FROM budgets WHERE keep_until <= %s", (now,))
    cur.execute("DELETE FROM holds WHERE expires_at <= %s", (now,))


def _first_revoked(cur: psycopg.Cursor[Any], candidates: Sequence[Revocation]) -> Revocation | None:
    if not candidates:
        return None
    cur.execute(
        "SELECT kind, value FROM revocations WHERE (kind, value) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([c.kind.value for c in candidates], [c.value for c in candidates]),
    )
    found = {(str(kind), str(value)) for kind, value in cur.fetchall()}
    return next((c for c in candidates if (c.kind.value, c.value) in found), None)


def _locked(
    cur: psycopg.Cursor[Any], table: str, column: str, keys: Sequence[bytes], now: int
) -> dict[bytes, tuple[int, int]]:
    """Each key's (live value, stored keep_until), its row made if absent and locked, in
    ascending key order: concurrent checks lock rows in one order and cannot deadlock."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    name = sql.Identifier(table)
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (key, {}, keep_until) SELECT k, 0, 0 FROM unnest(%s::bytea[]) AS k "
            "ORDER BY k ON CONFLICT (key) DO NOTHING"
        ).format(name, sql.Identifier(column)),
        (ordered,),
    )
    cur.execute(
        sql.SQL(
            "SELECT key, {}, keep_until FROM {} WHERE key = ANY(%s) ORDER BY key FOR UPDATE"
        ).format(sql.Identifier(column), name),
        (ordered,),
    )
    out = {}
    for key, value, keep in cur.fetchall():
        value, keep = _ints((value, keep), table)
        out[bytes(key)] = (value if keep > now else 0, keep)
    if set(out) != set(ordered):
        raise _corrupt(f"a {table} row vanished while it was locked")
    return out


def _consume(
    cur: psycopg.Cursor[Any], query: StateQuery, now: int
) -> tuple[int | None, int | None, tuple[int, ...]]:
    """Count every limit and charge every budget, or none (the rule of SQLite's _consume)."""
    limits: Sequence[UseLimit] = query.spend
    charges: Sequence[Charge] = query.charges
    counts = _locked(cur, "uses", "used", [limit.key for limit in limits], now)
    balances = _locked(cur, "budgets", "spent", [c.key for c in charges], now)
    spent = tuple(balances[c.key][0] for c in charges)
    exhausted = next(
        (i for i, limit in enumerate(limits) if counts[limit.key][0] >= limit.limit), None
    )
    if exhausted is not None:
        return exhausted, None, spent
    over = next((i for i, c in enumerate(charges) if spent[i] + c.amount > c.total), None)
    if over is not None:
        return None, over, spent
    for limit in limits:
        used, keep = counts[limit.key]
        cur.execute(
            "UPDATE uses SET used = %s, keep_until = %s WHERE key = %s",
            (used + 1, max(keep, limit.keep_until), limit.key),
        )
    after = tuple(s + c.amount for s, c in zip(spent, charges, strict=True))
    for c, total_spent in zip(charges, after, strict=True):
        cur.execute(
            "UPDATE budgets SET spent = %s, keep_until = %s WHERE key = %s",
            (total_spent, max(balances[c.key][1], c.keep_until), c.key),
        )
    if query.hold is not None and charges:
        cur.execute("SELECT 1 FROM holds WHERE reservation = %s LIMIT 1", (query.hold.reservation,))
        if cur.fetchone() is not None:
            raise StoreUnavailable(_R.ERROR, "a reservation id was given twice")
        cur.executemany(
            "INSERT INTO holds (reservation, seq, key, unit, total, amount, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (query.hold.reservation, seq, c.key, c.unit, c.total, c.amount,
                 query.hold.expires_at)
                for seq, c in enumerate(charges)
            ],
        )  # fmt: skip
    return None, None, after


def _settle(
    cur: psycopg.Cursor[Any], reservation: bytes, costs: Mapping[str, int] | None, now: int
) -> list[SettledCharge]:
    cur.execute(
        "SELECT key, unit, total, amount, expires_at FROM holds WHERE reservation = %s "
        "ORDER BY seq FOR UPDATE",
        (reservation,),
    )
    rows = cur.fetchall()
    if not rows:
        raise SettleRefused(
            SettleReason.UNKNOWN_RESERVATION,
            "no such reservation: never made, already settled or released, or expired",
        )
    held = [(bytes(key), str(unit), int(total), int(amount), int(exp)) for key, unit, total,
            amount, exp in rows]  # fmt: skip
    if held[0][4] <= now:
        raise SettleRefused(
            SettleReason.RESERVATION_EXPIRED,
            "the reservation expired: its charges stand, spent in full",
        )
    actual = settle_amounts([(unit, amount) for _, unit, _, amount, _ in held], costs)
    cur.execute(
        "SELECT key, spent, keep_until FROM budgets WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
        (sorted({key for key, *_ in held}),),
    )
    balances = {bytes(key): _ints((spent, keep), "budget") for key, spent, keep in cur.fetchall()}
    out = []
    for (key, unit, total, amount, _), cost in zip(held, actual, strict=True):
        balance: int | None = None
        if key in balances and balances[key][1] > now:
            balance = max(0, balances[key][0] - (amount - cost))
            balances[key] = (balance, balances[key][1])
            cur.execute("UPDATE budgets SET spent = %s WHERE key = %s", (balance, key))
        out.append(SettledCharge(unit, total, amount, cost, balance))
    cur.execute("DELETE FROM holds WHERE reservation = %s", (reservation,))
    return out
