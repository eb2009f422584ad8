"""SQLite state shared by verifier processes on one host: nonces, revocations, use counts.

One file holds all three tables. Every write runs in a ``BEGIN IMMEDIATE`` transaction, so
concurrent processes serialise on SQLite's write lock and counts stay exact. Any SQLite error,
including a lock held past ``timeout`` seconds, becomes StoreUnavailable: the verifier denies.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from delegation.stores.base import Revocation, RevocationKind, StoreUnavailable, UseLimit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (key BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS revocations (
    kind TEXT NOT NULL, value TEXT NOT NULL, revoked_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE IF NOT EXISTS uses (
    key BLOB PRIMARY KEY, used INTEGER NOT NULL, keep_until INTEGER NOT NULL
);
"""
_SWEEP_EVERY = 256
_STORE_ERRORS = (sqlite3.Error, ValueError, OverflowError)
"""What binding or running a statement can raise: SQLite errors, and values it cannot bind
(text with lone surrogates is a UnicodeEncodeError, a ValueError; ints past 2**63 overflow)."""


class SQLiteState:
    """Nonce store, revocation store and use counter in one SQLite file (or ``:memory:``).

    ``durable`` (the default) syncs every commit to disk (``synchronous=FULL``): a revocation,
    a spent approval or a use count survives a power cut, at the cost of one fsync per write.
    ``durable=False`` (``synchronous=NORMAL``) survives a process crash only; the last writes
    before an operating-system crash can be lost, and a lost revocation brings a token back.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, durable: bool = True
    ) -> None:
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._writes = 0
        try:
            self._db = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
        except _STORE_ERRORS as exc:
            raise StoreUnavailable(f"cannot open state file: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # never leave a failed transaction open
                        self._db.execute("ROLLBACK")
                    raise
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(f"state store error: {exc}") from exc

    def _sweep(self, db: sqlite3.Connection, now: int) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            db.execute("DELETE FROM nonces WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM uses WHERE keep_until <= ?", (now,))

    def claim(self, key: bytes, expires_at: int, now: int) -> bool:
        with self._transaction() as db:
            self._sweep(db, now)
            db.execute("DELETE FROM nonces WHERE key = ? AND expires_at <= ?", (key, now))
            cur = db.execute(
                "INSERT OR IGNORE INTO nonces (key, expires_at) VALUES (?, ?)", (key, expires_at)
            )
            return cur.rowcount == 1

    def revoke(self, revocation: Revocation, now: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO revocations (kind, value, revoked_at) VALUES (?, ?, ?)",
                (str(revocation.kind), revocation.value, now),
            )

    def first_revoked(self, candidates: Sequence[Revocation]) -> Revocation | None:
        if not candidates:
            return None
        with self._lock:
            try:
                where = " OR ".join(["(kind = ? AND value = ?)"] * len(candidates))
                rows = self._db.execute(
                    f"SELECT kind, value FROM revocations WHERE {where}",  # noqa: S608 (only ?s)
                    [x for c in candidates for x in (str(c.kind), c.value)],
                ).fetchall()
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(f"state store error: {exc}") from exc
        found = {Revocation(RevocationKind(kind), value) for kind, value in rows}
        return next((c for c in candidates if c in found), None)

    def revocations(self) -> list[tuple[Revocation, int]]:
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT kind, value, revoked_at FROM revocations ORDER BY revoked_at"
                ).fetchall()
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(f"state store error: {exc}") from exc
        return [(Revocation(RevocationKind(k), v), at) for k, v, at in rows]

    def consume(self, limits: Sequence[UseLimit], now: int) -> int | None:
        with self._transaction() as db:
            self._sweep(db, now)
            used = []
            for index, limit in enumerate(limits):
                row = db.execute(
                    "SELECT used, keep_until FROM uses WHERE key = ?", (limit.key,)
                ).fetchone()
                count = 0 if row is None or row[1] <= now else int(row[0])
                if count >= limit.limit:
                    return index
                used.append(count)
            for limit, count in zip(limits, used, strict=True):
                db.execute(
                    "INSERT INTO uses (key, used, keep_until) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET used = excluded.used, "
                    "keep_until = MAX(uses.keep_until, excluded.keep_until)",
                    (limit.key, count + 1, limit.keep_until),
                )
            return None

    def count(self, key: bytes) -> int:
        with self._lock:
            try:
                row = self._db.execute("SELECT used FROM uses WHERE key = ?", (key,)).fetchone()
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(f"state store error: {exc}") from exc
        return 0 if row is None else int(row[0])
