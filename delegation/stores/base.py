"""Store protocols."""

from __future__ import annotations

from typing import Protocol

from delegation.errors import DelegationError


class StoreUnavailable(DelegationError):
    """The store could not answer (down, slow, corrupt). Verifiers deny on it."""


class NonceStore(Protocol):
    def claim(self, key: bytes, expires_at: int, now: int) -> bool:
        """Record ``key`` until ``expires_at``. True if it was new, False if already recorded.

        Must be atomic: of concurrent claims of one key, exactly one returns True.
        Raises StoreUnavailable when it cannot answer.
        """
        ...
