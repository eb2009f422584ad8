"""In-memory stores for one process: tests, the CLI, single-replica tool servers."""

from __future__ import annotations

import heapq
import threading

from delegation.stores.base import StoreUnavailable


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
