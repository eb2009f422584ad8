"""The service's own records: API keys, tasks, approvals, sealed key material and the audit
log, in one SQLite file (the embedded default) or one PostgreSQL schema (replicas).

The token state (revocations, nonces, use counts, budgets) lives apart, in the library's
:class:`~delegation.stores.SQLiteState` or :class:`~delegation.stores.postgres.PostgresState`:
this store holds only what the service adds. Every write is one transaction, committed (and,
on SQLite, synced to disk: ``synchronous=FULL``) before it returns, so what the service
answered 2xx for survives ``kill -9``. Both backends run the same statements; only the
connection, the schema's column types and the locking differ (:class:`_Backend`).

**The audit log** is hash-chained: record ``n`` carries ``prev`` (the hash of record ``n-1``,
32 zero bytes for the first) and ``hash = SHA-256(AUDIT_DOMAIN || prev || canonical(record))``
where ``record`` is ``{"seq", "at", "kind", "prev", ...fields}`` without ``hash``
(``specs/service.md``). Deleting, altering or reordering records breaks the chain; a signed
checkpoint of the head makes truncation detectable too. Replicas sharing one PostgreSQL schema
append to one chain: each append transaction first takes the log's lock (a transaction-scoped
advisory lock), so records get consecutive numbers in one order whatever process writes them.
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from delegation.stores._group import GroupCommitter, Job
from verifier_service.sealing import AUDIT_DOMAIN, canonical

GENESIS: Final = bytes(32)
ROLES: Final = ("admin", "approver", "verifier", "auditor")


def _schema(blob: str, integer: str) -> tuple[str, ...]:
    """The tables, with the backend's names for a byte string and a 64-bit integer."""
    return (
        "CREATE TABLE IF NOT EXISTS api_keys ("
        f" key_id TEXT PRIMARY KEY, secret_hash {blob} NOT NULL, role TEXT NOT NULL,"
        f" principal TEXT NOT NULL, audiences TEXT NOT NULL, created_at {integer} NOT NULL,"
        f" revoked_at {integer})",
        "CREATE TABLE IF NOT EXISTS tasks ("
        f" task_id TEXT PRIMARY KEY, approved_by TEXT NOT NULL, approved_at {integer} NOT NULL,"
        " statement TEXT NOT NULL, holder_id TEXT NOT NULL, holder_key TEXT NOT NULL,"
        f" token_id TEXT NOT NULL, root_id TEXT NOT NULL, expires_at {integer} NOT NULL,"
        f" closed_at {integer})",
        "CREATE TABLE IF NOT EXISTS audit ("
        f" seq {integer} PRIMARY KEY, at {integer} NOT NULL, kind TEXT NOT NULL,"
        f" task_id TEXT, record TEXT NOT NULL, hash {blob} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS audit_task ON audit (task_id, seq)",
        "CREATE INDEX IF NOT EXISTS audit_kind ON audit (kind, seq)",
        "CREATE TABLE IF NOT EXISTS approvals ("
        f" approval_id TEXT PRIMARY KEY, poll_hash {blob} NOT NULL UNIQUE, state TEXT NOT NULL,"
        f" created_at {integer} NOT NULL, expires_at {integer} NOT NULL, decided_at {integer},"
        " decided_by TEXT, task_id TEXT NOT NULL, token_id TEXT NOT NULL, token TEXT NOT NULL,"
        " request TEXT NOT NULL, proof TEXT NOT NULL, summary TEXT NOT NULL, discharges TEXT)",
        "CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state, created_at)",
        "CREATE TABLE IF NOT EXISTS reservations ("
        f" reservation TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at {integer} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS sealed ("
        f" name TEXT PRIMARY KEY, version {integer} NOT NULL, blob {blob} NOT NULL)",
    )


APPROVAL_STATES: Final = ("pending", "approved", "denied", "delivered")


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    role: str
    principal: str
    audiences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    hash: bytes
    record: dict[str, Any]

    def line(self) -> dict[str, Any]:
        """The record as exported (JSON Lines): its fields and its hash."""
        return {**self.record, "hash": self.hash.hex()}


def record_hash(prev: bytes, record: dict[str, Any]) -> bytes:
    return hashlib.sha256(AUDIT_DOMAIN + prev + canonical(record)).digest()


def _secret_hash(secret: str, domain: bytes = b"delegation-service/v1/api-key\0") -> bytes:
    # The secret is 32 random bytes: one SHA-256 is as good as a slow hash against guessing.
    return hashlib.sha256(domain + secret.encode()).digest()


_POLL_DOMAIN: Final = b"delegation-service/v1/poll\0"


@dataclass(frozen=True, slots=True)
class Approval:
    approval_id: str
    state: str
    created_at: int
    expires_at: int
    task_id: str
    token_id: str
    token: str
    request: dict[str, Any]
    proof: str
    summary: dict[str, Any]
    decided_by: str | None
    discharges: list[str] | None


_APPROVAL_COLUMNS: Final = (
    "approval_id, state, created_at, expires_at, task_id, token_id, token, request, proof,"
    " summary, decided_by, discharges"
)


def _approval(row: tuple[Any, ...]) -> Approval:
    (aid, state, created, expires, task_id, token_id, token, request, proof, summary, by,
     discharges) = row  # fmt: skip
    return Approval(
        aid, state, created, expires, task_id, token_id, token, json.loads(request), proof,
        json.loads(summary), by, None if discharges is None else json.loads(discharges),
    )  # fmt: skip


class StoreError(Exception):
    """The service's own records cannot be read or written."""


class _Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Db(Protocol):
    """One transaction's statements. ``?`` marks a parameter on both backends."""

    def execute(self, statement: Any, args: Sequence[Any] = ()) -> _Cursor: ...


class _Backend(Protocol):
    name: str
    locking: str
    """Appended to a SELECT whose rows the transaction goes on to change (``FOR UPDATE`` on
    PostgreSQL; nothing on SQLite, whose write transactions are serialized whole)."""

    def tx(self) -> Any:  # a context manager yielding a _Db
        ...

    def read(self) -> Any:  # a context manager yielding a _Db that only reads
        ...

    def lock_log(self, db: _Db) -> None:
        """Make this transaction the only one appending to the audit log until it ends."""

    def close(self) -> None: ...


class _SQLite:
    """One connection under a lock; every transaction ``BEGIN IMMEDIATE``, synced on commit."""

    name = "sqlite"
    locking = ""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for statement in _schema("BLOB", "INTEGER"):
                self._db.execute(statement)
            self._read_lock = threading.Lock()
            self._reader = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"the service database cannot be opened ({type(exc).__name__})"
            ) from exc

    @contextmanager
    def tx(self) -> Iterator[_Db]:
        db: Any = self._db
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"the service database failed ({type(exc).__name__})") from exc

    @contextmanager
    def read(self) -> Iterator[_Db]:
        """A read transaction on the reading connection: in WAL mode it sees what was
        committed and neither waits for the writer nor holds it up."""
        db: Any = self._reader
        with self._read_lock:
            try:
                self._reader.execute("BEGIN DEFERRED")
                try:
                    yield db
                finally:
                    if self._reader.in_transaction:
                        self._reader.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise StoreError(f"the service database failed ({type(exc).__name__})") from exc

    def lock_log(self, db: _Db) -> None:
        pass  # BEGIN IMMEDIATE holds the only write lock already

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._read_lock:
            self._reader.close()


_PG_CONNECTIONS: Final = 4


class _Postgres:
    """A few connections to one schema, each used by one transaction at a time. A broken
    connection is dropped and the next transaction connects again, so the service recovers by
    itself once the server is back. Errors never carry the server's message or the DSN."""

    name = "postgres"
    locking = " FOR UPDATE"

    def __init__(self, dsn: str, schema: str, timeout: float = 5.0) -> None:
        import psycopg  # the postgres extra; only imported when a database URL is given

        self._psycopg = psycopg
        self._dsn, self._schema, self._timeout = dsn, schema, timeout
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(_PG_CONNECTIONS)
        self._closed = False
        self._log_lock = int.from_bytes(
            hashlib.sha256(f"delegation-service:{schema}:audit".encode()).digest()[:8],
            "big",
            signed=True,
        )
        from psycopg import sql

        with self.tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (self._log_lock,))
            db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for statement in _schema("BYTEA", "BIGINT"):
                db.execute(statement)

    def _connect(self) -> Any:
        from psycopg import sql

        conn = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
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
    def tx(self) -> Iterator[_Db]:
        psycopg = self._psycopg
        if self._closed:
            raise StoreError("the service database is closed")
        if not self._slots.acquire(timeout=self._timeout * 4):
            raise StoreError("every connection to the service database stayed busy")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            with conn.transaction(), conn.cursor() as cur:
                yield _PgDb(cur)
        except psycopg.Error as exc:
            if conn is not None and (conn.broken or conn.closed):
                with suppress(psycopg.Error):
                    conn.close()
                conn = None
            state = getattr(exc, "sqlstate", None) or type(exc).__name__
            raise StoreError(f"the service database failed ({state})") from exc
        finally:
            if conn is not None:
                if conn.broken or conn.closed or self._closed:
                    with suppress(psycopg.Error):
                        conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def read(self) -> Any:
        return self.tx()  # connections are pooled: a read never waits behind a write

    def lock_log(self, db: _Db) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (self._log_lock,))

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            with suppress(self._psycopg.Error):
                conn.close()


class _PgDb:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, statement: Any, args: Sequence[Any] = ()) -> _Cursor:
        if isinstance(statement, str):
            statement = statement.replace("?", "%s")
        self._cur.execute(statement, tuple(args))
        cursor: _Cursor = self._cur
        return cursor


class ServiceStore:
    """API keys, tasks, approvals, sealed key material and the audit log, on a backend:
    :meth:`sqlite` (one file) or :meth:`postgres` (one schema that replicas share).
    Thread-safe. Audit records from concurrent threads are appended with group commit: one
    transaction (and one sync) for all that wait, each answered once its record is committed."""

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend
        self._group: GroupCommitter[AuditRecord] = GroupCommitter(
            self._append_batch,
            lambda: StoreError("the service database is closed"),
            name="delegation-audit",
        )

    @classmethod
    def sqlite(cls, path: Path) -> ServiceStore:
        return cls(_SQLite(path))

    @classmethod
    def postgres(cls, dsn: str, schema: str) -> ServiceStore:
        """The store in ``schema`` of the database ``dsn`` names, made if absent. Raises
        StoreError when the server cannot be reached or the schema cannot be made."""
        try:
            return cls(_Postgres(dsn, schema))
        except StoreError:
            raise
        except Exception as exc:  # psycopg's connection errors carry the DSN: not passed on
            raise StoreError(
                f"the service database cannot be opened ({type(exc).__name__})"
            ) from None

    @property
    def backend_name(self) -> str:
        """``sqlite`` or ``postgres``."""
        return self._backend.name

    def close(self) -> None:
        self._group.close()
        self._backend.close()

    def _tx(self) -> Any:
        return self._backend.tx()

    def _read(self) -> Any:
        """A transaction that only reads: on SQLite a connection of its own, so that reads
        (every request's API key) never wait behind a write being synced."""
        return self._backend.read()

    def ping(self) -> None:
        """Raise StoreError unless the file can be read and written now."""
        with self._tx() as db:
            db.execute("SELECT count(*) FROM audit").fetchone()

    # --- API keys ---------------------------------------------------------------------------

    def has_keys(self) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def create_key(
        self, role: str, principal: str, audiences: tuple[str, ...], now: int
    ) -> tuple[ApiKey, str]:
        """A new API key: its record and the one-time text ``dlg_<key_id>_<secret>``."""
        made = self._create_key(role, principal, audiences, now, first=False)
        assert made is not None
        return made

    def create_first_key(self, role: str, principal: str, now: int) -> tuple[ApiKey, str] | None:
        """A key made only if there is none yet, or None: of replicas starting at once on one
        database, exactly one makes the first admin key."""
        return self._create_key(role, principal, (), now, first=True)

    def _create_key(
        self, role: str, principal: str, audiences: tuple[str, ...], now: int, *, first: bool
    ) -> tuple[ApiKey, str] | None:
        if role not in ROLES:
            raise ValueError(f"role is one of {', '.join(ROLES)}")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self._tx() as db:
            if first:
                self._backend.lock_log(db)  # one first key, whoever asks at the same time
                if db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None:
                    return None
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key_id, _secret_hash(secret), role, principal, json.dumps(audiences), now),
            )
        return ApiKey(key_id, role, principal, audiences), f"dlg_{key_id}_{secret}"

    def revoke_key(self, key_id: str, record: dict[str, Any], now: int) -> bool:
        """Revoke an API key (once) with its audit record; False if there is no such live
        key. Its holder is refused from the next request on."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id),
            ).rowcount
            if changed:
                self._append(db, record, now)
        return bool(changed)

    def authenticate(self, text: str) -> ApiKey | None:
        """The live key ``text`` names, or None. Compares the secret's hash in constant time."""
        parts = text.split("_", 2)
        if len(parts) != 3 or parts[0] != "dlg" or len(parts[1]) != 16:
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT secret_hash, role, principal, audiences, revoked_at FROM api_keys "
                "WHERE key_id = ?",
                (parts[1],),
            ).fetchone()
        expected = row[0] if row is not None else bytes(32)
        matches = secrets.compare_digest(expected, _secret_hash(parts[2]))
        if row is None or not matches or row[4] is not None:
            return None
        return ApiKey(parts[1], row[1], row[2], tuple(json.loads(row[3])))

    # --- tasks ------------------------------------------------------------------------------

    def add_task(self, task: dict[str, Any], record: dict[str, Any], now: int) -> AuditRecord:
        """Record a minted task and its audit record in one transaction. Raises KeyError if
        the task id is taken."""
        with self._tx() as db:
            added = db.execute(
                "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT (task_id) DO NOTHING",
                (
                    task["task_id"], task["approved_by"], task["approved_at"], task["statement"],
                    task["holder_id"], task["holder_key"], task["token_id"], task["root_id"],
                    task["expires_at"],
                ),
            ).rowcount  # fmt: skip
            if not added:
                raise KeyError(task["task_id"])
            return self._append(db, record, now)

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute(
                "SELECT task_id, approved_by, approved_at, statement, holder_id, holder_key,"
                " token_id, root_id, expires_at, closed_at FROM tasks WHERE task_id = ?",
                (task_id,),
            ).fetchone()
        if row is None:
            return None
        names = ("task_id", "approved_by", "approved_at", "statement", "holder_id",
                 "holder_key", "token_id", "root_id", "expires_at", "closed_at")  # fmt: skip
        return dict(zip(names, row, strict=True))

    def close_task(self, task_id: str, record: dict[str, Any], now: int) -> AuditRecord | None:
        """Mark the task closed (once) and append ``record``; None if already closed."""
        with self._tx() as db:
            row = db.execute(
                "SELECT closed_at FROM tasks WHERE task_id = ?" + self._backend.locking,  # noqa: S608
                (task_id,),
            ).fetchone()
            if row is None:
                raise KeyError(task_id)
            if row[0] is not None:
                return None
            db.execute("UPDATE tasks SET closed_at = ? WHERE task_id = ?", (now, task_id))
            return self._append(db, record, now)

    # --- sealed key material -------------------------------------------------------------

    def sealed(self, name: str, make: Callable[[], bytes]) -> tuple[int, bytes]:
        """The sealed blob stored as ``name`` and its version; on the first start, the one
        ``make`` gives is stored (version 1). Replicas starting at once store one of theirs
        and all use it."""
        with self._read() as db:
            row = db.execute("SELECT version, blob FROM sealed WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0]), bytes(row[1])
        blob = make()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sealed VALUES (?, 1, ?) ON CONFLICT (name) DO NOTHING", (name, blob)
            )
            row = db.execute("SELECT version, blob FROM sealed WHERE name = ?", (name,)).fetchone()
        return int(row[0]), bytes(row[1])

    def replace_sealed(
        self,
        name: str,
        change: Callable[[bytes], bytes],
        record: dict[str, Any],
        now: int,
    ) -> tuple[int, bytes]:
        """Replace the blob ``name`` by ``change(blob)`` and append ``record``, in one
        transaction holding the row: two replicas changing it at once apply both changes, one
        after the other. Returns the new version and blob. ``change`` may raise to change
        nothing."""
        with self._tx() as db:
            row = db.execute(
                "SELECT version, blob FROM sealed WHERE name = ?" + self._backend.locking,  # noqa: S608
                (name,),
            ).fetchone()
            if row is None:
                raise KeyError(name)
            version, blob = int(row[0]) + 1, change(bytes(row[1]))
            db.execute(
                "UPDATE sealed SET version = ?, blob = ? WHERE name = ?", (version, blob, name)
            )
            self._append(db, record, now)
        return version, blob

    def sealed_version(self, name: str) -> int:
        with self._read() as db:
            row = db.execute("SELECT version FROM sealed WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    # --- reservations ----------------------------------------------------------------------

    def add_reservation(self, reservation: str, key_id: str, now: int) -> None:
        """Remember which verifier key a reservation was made for: only it may settle it."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO reservations VALUES (?, ?, ?) ON CONFLICT (reservation) DO NOTHING",
                (reservation, key_id, now),
            )

    def reservation_owner(self, reservation: str) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT key_id FROM reservations WHERE reservation = ?", (reservation,)
            ).fetchone()
        return None if row is None else str(row[0])

    # --- approvals -------------------------------------------------------------------------

    def add_approval(self, approval: Approval, record: dict[str, Any], now: int) -> str:
        """Record a pending approval and its audit record; the poll secret, shown once."""
        secret = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                f"INSERT INTO approvals ({_APPROVAL_COLUMNS}, poll_hash) "  # noqa: S608
                "VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                (
                    approval.approval_id, approval.created_at, approval.expires_at,
                    approval.task_id, approval.token_id, approval.token,
                    json.dumps(approval.request), approval.proof, json.dumps(approval.summary),
                    _secret_hash(secret, _POLL_DOMAIN),
                ),
            )  # fmt: skip
            self._append(db, record, now)
        return secret

    def approval(self, approval_id: str) -> Approval | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE approval_id = ?",  # noqa: S608
                (approval_id,),
            ).fetchone()
        return None if row is None else _approval(row)

    def approvals(self, state: str, limit: int, *, live_at: int | None = None) -> list[Approval]:
        """Approvals in ``state``, oldest first; with ``live_at``, only those whose request
        has not expired by then (a request past its time can no longer be decided)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE state = ? "  # noqa: S608
                "AND expires_at > ? ORDER BY created_at, approval_id LIMIT ?",
                (state, -1 if live_at is None else live_at, limit),
            ).fetchall()
        return [_approval(row) for row in rows]

    def decide(
        self,
        approval_id: str,
        state: str,
        by: str,
        discharges: list[str] | None,
        record: dict[str, Any],
        now: int,
    ) -> bool:
        """Move a pending approval to ``state`` (once) with its audit record; False if it was
        not pending."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE approvals SET state = ?, decided_at = ?, decided_by = ?, discharges = ? "
                "WHERE approval_id = ? AND state = 'pending'",
                (state, now, by, None if discharges is None else json.dumps(discharges),
                 approval_id),
            ).rowcount  # fmt: skip
            if changed:
                self._append(db, record, now)
            return bool(changed)

    def collect(self, secret: str) -> Approval | None:
        """The approval a poll secret names. A decided one is handed out once: it is marked
        delivered (and its discharges forgotten) in the same transaction."""
        digest = _secret_hash(secret, _POLL_DOMAIN)
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE poll_hash = ?"  # noqa: S608
                f"{self._backend.locking}",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            found = _approval(row)
            if found.state in ("approved", "denied"):
                db.execute(
                    "UPDATE approvals SET state = 'delivered', discharges = NULL, token = '', "
                    "proof = '' WHERE approval_id = ?",
                    (found.approval_id,),
                )
            return found

    # --- the audit log -----------------------------------------------------------------------

    def append(self, record: dict[str, Any], now: int) -> AuditRecord:
        """Append one record (``kind`` and its fields); committed and synced on return."""
        return self._group.submit((record, now))

    def _append_batch(self, jobs: list[Job[AuditRecord]]) -> None:
        try:
            with self._tx() as db:
                done = [(job, self._append(db, *job.payload)) for job in jobs]
        except StoreError as exc:  # nothing of the batch was written
            for job in jobs:
                job.error = exc
            return
        for job, appended in done:
            job.answer = appended

    def _append(self, db: _Db, fields: dict[str, Any], now: int) -> AuditRecord:
        self._backend.lock_log(db)
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (1, GENESIS) if last is None else (last[0] + 1, bytes(last[1]))
        record = {**fields, "seq": seq, "at": now, "prev": prev.hex()}
        digest = record_hash(prev, record)
        db.execute(
            "INSERT INTO audit (seq, at, kind, task_id, record, hash) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, now, record["kind"], record.get("task_id"), canonical(record).decode(), digest),
        )
        return AuditRecord(seq, bytes(digest), record)

    def records(
        self, *, after: int = 0, task_id: str | None = None, kind: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:  # fmt: skip
        where, args = ["seq > ?"], [after]
        if task_id is not None:
            where.append("task_id = ?")
            args.append(task_id)  # type: ignore[arg-type]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)  # type: ignore[arg-type]
        with self._read() as db:
            rows = db.execute(
                f"SELECT seq, hash, record FROM audit WHERE {' AND '.join(where)} "  # noqa: S608
                "ORDER BY seq LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [AuditRecord(seq, bytes(digest), json.loads(text)) for seq, digest, text in rows]

    def head(self) -> tuple[int, bytes]:
        with self._read() as db:
            row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (row[0], bytes(row[1]))
