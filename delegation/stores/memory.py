"""State in this process's memory: tests, one-off runs, a tool server with a single replica.

Nothing here is shared with another process. Two replicas with a MemoryState each replay each
other's proofs, each allow a single-use token once, and each accept an approval once: share a
:class:`delegation.stores.SQLiteState` (one host) or a networked store instead.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Mapping, Sequence

from delegation.stores.base import (
    Charge,
    InvalidRevocation,
    NonceClaim,
    Revocation,
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

_SWEEP_EVERY = 1024
_NOTHING_FOUND = StateAnswer()
"""The answer to a check that found nothing and spent nothing (it may have claimed a nonce):
immutable, so one object serves every such check."""


class MemoryState:
    """Revocations, nonces, use counts, budgets and reservations in memory, behind one lock.
    Implements State.

    Nonces, use counts, budget balances and reservations are each bounded by ``max_entries``
    live records. When full it raises
    StoreUnavailable (``full``) rather than forget a live record early: a forgotten nonce lets
    its proof be replayed, a forgotten count hands spent uses back. Expired nonces are dropped
    on every check that claims one; expired counts on every 1 024th check, or when room is
    needed.
    """

    def __init__(self, *, max_entries: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._max = max_entries
        self._revoked: dict[Revocation, int] = {}
        self._nonces: dict[bytes, int] = {}
        self._expiry: list[tuple[int, bytes]] = []
        self._counts: dict[bytes, tuple[int, int]] = {}
        self._spent: dict[bytes, tuple[int, int]] = {}
        """Budget balances: key -> (spent, keep_until)."""
        self._holds: dict[bytes, tuple[int, tuple[Charge, ...]]] = {}
        """Reservations: id -> (expires_at, the charges it holds)."""
        self._checks = 0
        self._closed = False

    def __enter__(self) -> MemoryState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _open(self) -> None:
        if self._closed:
            raise StoreUnavailable(UnavailableReason.UNREACHABLE, "the memory state is closed")

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        with self._lock:
            self._open()
            self._checks += 1
            if self._checks % _SWEEP_EVERY == 0:
                self._sweep_counts(now)
            revoked = (
                next((c for c in query.revocations if c in self._revoked), None)
                if self._revoked
                else None
            )
            nonce = query.nonce
            replayed = False
            if nonce is not None:
                if self._expiry and self._expiry[0][0] <= now:
                    self._drop_expired_nonces(now)
                replayed = nonce.key in self._nonces
                if not replayed and len(self._nonces) >= self._max:
                    raise StoreUnavailable(UnavailableReason.FULL, "the nonce table is full")
            exhausted = over = None
            counted: list[int] | None = None
            balances: list[int] = []
            attempted = (query.spend or query.charges) and revoked is None and not replayed
            if attempted:
                exhausted, counted = self._room(query.spend, now)
                balances = [self._live(self._spent, c.key, now) for c in query.charges]
                if exhausted is None:
                    over = next(
                        (
                            i
                            for i, (c, b) in enumerate(zip(query.charges, balances, strict=True))
                            if b + c.amount > c.total
                        ),
                        None,
                    )
                    self._make_room(query, now)
            # Every check that can fail has run: from here on, nothing raises.
            if nonce is not None and not replayed:
                self._claim(nonce)
            if attempted and exhausted is None and over is None:
                assert counted is not None
                self._count(query.spend, counted)
                balances = self._charge(query, balances)
            if revoked is None and not replayed and not attempted:
                return _NOTHING_FOUND
            return StateAnswer(revoked, replayed, exhausted, over, tuple(balances))

    def _make_room(self, query: StateQuery, now: int) -> None:
        """Raise StoreUnavailable (``full``) when the new balances or the hold would not fit."""
        new = len({c.key for c in query.charges if c.key not in self._spent})
        if new and len(self._spent) + new > self._max:
            self._sweep_counts(now)
            if len(self._spent) + new > self._max:
                raise StoreUnavailable(UnavailableReason.FULL, "the budget table is full")
        if query.hold is not None and query.hold.reservation in self._holds:
            raise StoreUnavailable(UnavailableReason.ERROR, "a reservation id was given twice")
        if query.hold is not None and query.charges and len(self._holds) >= self._max:
            self._sweep_counts(now)
            if len(self._holds) >= self._max:
                raise StoreUnavailable(UnavailableReason.FULL, "the reservation table is full")

    def _charge(self, query: StateQuery, balances: list[int]) -> list[int]:
        after = []
        for charge, spent in zip(query.charges, balances, strict=True):
            keep = max(charge.keep_until, self._spent.get(charge.key, (0, 0))[1])
            self._spent[charge.key] = (spent + charge.amount, keep)
            after.append(spent + charge.amount)
        if query.hold is not None and query.charges:
            self._holds[query.hold.reservation] = (query.hold.expires_at, tuple(query.charges))
        return after

    @staticmethod
    def _live(table: dict[bytes, tuple[int, int]], key: bytes, now: int) -> int:
        value, keep = table.get(key, (0, 0))
        return value if keep > now else 0

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        reservation = check_reservation(reservation)
        with self._lock:
            self._open()
            held = self._holds.get(reservation)
            if held is None:
                raise SettleRefused(
                    SettleReason.UNKNOWN_RESERVATION,
                    "no such reservation: never made, already settled or released, or expired",
                )
            expires_at, charges = held
            if expires_at <= now:
                raise SettleRefused(
                    SettleReason.RESERVATION_EXPIRED,
                    "the reservation expired: its charges stand, spent in full",
                )
            actual = settle_amounts([(c.unit, c.amount) for c in charges], costs)
            del self._holds[reservation]
            out = []
            for charge, cost in zip(charges, actual, strict=True):
                spent, keep = self._spent.get(charge.key, (0, 0))
                balance: int | None = None
                if keep > now:
                    balance = max(0, spent - (charge.amount - cost))
                    self._spent[charge.key] = (balance, keep)
                out.append(SettledCharge(charge.unit, charge.total, charge.amount, cost, balance))
            return out

    def _drop_expired_nonces(self, now: int) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, old = heapq.heappop(self._expiry)
            if self._nonces.get(old, now + 1) <= now:
                del self._nonces[old]

    def _claim(self, nonce: NonceClaim) -> None:
        self._nonces[nonce.key] = nonce.expires_at
        heapq.heappush(self._expiry, (nonce.expires_at, nonce.key))

    def _live_count(self, key: bytes, now: int) -> int:
        used, keep = self._counts.get(key, (0, 0))
        return used if keep > now else 0

    def _room(self, limits: Sequence[UseLimit], now: int) -> tuple[int | None, list[int]]:
        """(index of the first exhausted limit or None, each limit's current count).
        Raises StoreUnavailable when the new counters would not fit."""
        current: list[int] = []
        for index, limit in enumerate(limits):
            used = self._live_count(limit.key, now)
            if used >= limit.limit:
                return index, current
            current.append(used)
        new = len({limit.key for limit in limits if limit.key not in self._counts})
        if new and len(self._counts) + new > self._max:
            self._sweep_counts(now)
            if len(self._counts) + new > self._max:
                raise StoreUnavailable(UnavailableReason.FULL, "the use-count table is full")
        return None, current

    def _count(self, limits: Sequence[UseLimit], current: list[int]) -> None:
        for limit, used in zip(limits, current, strict=True):
            keep = max(limit.keep_until, self._counts.get(limit.key, (0, 0))[1])
            self._counts[limit.key] = (used + 1, keep)

    def _sweep_counts(self, now: int) -> None:
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        self._spent = {k: v for k, v in self._spent.items() if v[1] > now}
        self._holds = {k: v for k, v in self._holds.items() if v[0] > now}

    def revoke(self, revocation: Revocation, now: int) -> None:
        if not isinstance(revocation, Revocation):
            raise InvalidRevocation("revoke takes a Revocation")
        revocation = revocation.checked()
        with self._lock:
            self._open()
            self._revoked.setdefault(revocation, now)

    def revocations(self) -> list[RevocationRecord]:
        with self._lock:
            self._open()
            records = [RevocationRecord(r, at) for r, at in self._revoked.items()]
        return sorted(records, key=lambda r: (r.revoked_at, r.revocation.kind, r.revocation.value))

    def spent(self, key: bytes, now: int | None = None) -> int:
        """The stored balance spent of budget ``key`` (0 if none); with ``now``, 0 once it is no
        longer kept. For tests and inspection."""
        with self._lock:
            self._open()
            if now is not None:
                return self._live(self._spent, key, now)
            return self._spent.get(key, (0, 0))[0]

    def count(self, key: bytes, now: int | None = None) -> int:
        """The stored count of ``key`` (0 if none); with ``now``, 0 once it is no longer kept.
        For tests and inspection."""
        with self._lock:
            self._open()
            if now is not None:
                return self._live_count(key, now)
            return self._counts.get(key, (0, 0))[0]
