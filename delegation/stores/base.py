"""Store protocols: proof nonces (replay), revocations, use counts.

Every method either answers or raises :class:`StoreUnavailable`; a verifier denies with
``store_unavailable`` on that (or on any other exception). A store never guesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from delegation.errors import DelegationError


class StoreUnavailable(DelegationError):
    """The store could not answer (down, slow, corrupt, full). Verifiers deny on it."""


class RevocationKind(StrEnum):
    """What a revocation names. ``chain`` is a token id or hop id: a prefix of a chain."""

    CHAIN = "chain"
    TASK = "task"
    AGENT = "agent"
    KEY = "key"


class Revocation(NamedTuple):
    kind: RevocationKind
    value: str


@dataclass(frozen=True, slots=True)
class UseLimit:
    """One ``max_uses`` caveat: its counter key, its limit, and until when to keep the count."""

    key: bytes
    limit: int
    keep_until: int


class NonceStore(Protocol):
    def claim(self, key: bytes, expires_at: int, now: int) -> bool:
        """Record ``key`` until ``expires_at``. True if it was new, False if already recorded.

        Atomic: of concurrent claims of one key, exactly one returns True.
        Raises StoreUnavailable when it cannot answer.
        """
        ...


class RevocationStore(Protocol):
    def revoke(self, revocation: Revocation, now: int) -> None:
        """Record a revocation. Idempotent. Raises StoreUnavailable."""
        ...

    def first_revoked(self, candidates: Sequence[Revocation]) -> Revocation | None:
        """The first of ``candidates`` that is revoked, or None. Raises StoreUnavailable."""
        ...


class UseCounter(Protocol):
    def consume(self, limits: Sequence[UseLimit], now: int) -> int | None:
        """Count one use against every limit, all or nothing.

        Returns None when every counter had room (and each was incremented), or the index of
        the first exhausted limit (and nothing was incremented). Atomic across concurrent
        callers sharing the store: no counter ever exceeds its limit. Raises StoreUnavailable.
        """
        ...
