"""State a verifier consults: proof nonces (replay), revocations, use counts.

Protocols in :mod:`delegation.stores.base`; in-memory stores for one process; a SQLite store
for several processes on one host. A store that cannot answer raises
:class:`StoreUnavailable` and the verifier denies with ``store_unavailable``: never an allow.
"""

from delegation.stores.base import (
    NonceStore,
    Revocation,
    RevocationKind,
    RevocationStore,
    StoreUnavailable,
    UseCounter,
    UseLimit,
)
from delegation.stores.memory import MemoryNonceStore, MemoryRevocationStore, MemoryUseCounter
from delegation.stores.sqlite import SQLiteState

__all__ = [
    "MemoryNonceStore",
    "MemoryRevocationStore",
    "MemoryUseCounter",
    "NonceStore",
    "Revocation",
    "RevocationKind",
    "RevocationStore",
    "SQLiteState",
    "StoreUnavailable",
    "UseCounter",
    "UseLimit",
]
