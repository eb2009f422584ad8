"""In-memory stores for one process: tests, the CLI, single-replica tool servers."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence

from delegation.stores.base import Revocation, StoreUnavailable, UseLimit


class MemoryNonceStore:
    """Nonces seen, forgotten after they expire. Thread-safe; bounded by ``max_entries``.

    When full of unexpired nonces it raises StoreUnavailable rather than forget one early,
    because forgetting would let that proof be replayed.
    """

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[bytes, int] = {}
        self._expiry: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._seen)

    def claim(self, key: bytes, expires_at: int, now: int) -> bool:
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                _, old = heapq.heappop(self._expiry)
                if self._seen.get(old, now + 1) <= now:
                    del self._seen[old]
            if key in self._seen:
                return False
            if len(self._seen) >= self._max:
                raise StoreUnavailable("nonce store is full")
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, key))
            return True


class MemoryRevocationStore:
    """Revocations held in a set. Thread-safe."""

    def __init__(self) -> None:
        self._revoked: set[Revocation] = set()
        self._lock = threading.Lock()

    def revoke(self, revocation: Revocation, now: int) -> None:
        with self._lock:
            self._revoked.add(revocation)

    def first_revoked(self, candidates: Sequence[Revocation]) -> Revocation | None:
        with self._lock:
            return next((c for c in candidates if c in self._revoked), None)


class MemoryUseCounter:
    """Use counts by key, all-or-nothing under one lock. Forgets a count after ``keep_until``.

    Bounded by ``max_entries`` like the nonce store: when full of live counts it raises
    StoreUnavailable rather than forget one early, which would hand back spent uses.
    """

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._counts: dict[bytes, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._calls = 0
        self._max = max_entries

    def count(self, key: bytes) -> int:
        with self._lock:
            return self._counts.get(key, (0, 0))[0]

    def consume(self, limits: Sequence[UseLimit], now: int) -> int | None:
        with self._lock:
            self._calls += 1
            if self._calls % 1024 == 0:  # forget counts whose tokens have all expired
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            current = []
            for index, limit in enumerate(limits):
                used, keep = self._counts.get(limit.key, (0, 0))
                if keep and keep <= now:
                    used = 0
                if used >= limit.limit:
                    return index
                current.append(used)
            new = sum(1 for limit in limits if limit.key not in self._counts)
            if new and len(self._counts) + new > self._max:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
                if len(self._counts) + new > self._max:
                    raise StoreUnavailable("use counter is full")
            for limit, used in zip(limits, current, strict=True):
                keep = max(limit.keep_until, self._counts.get(limit.key, (0, 0))[1])
                self._counts[limit.key] = (used + 1, keep)
            return None
