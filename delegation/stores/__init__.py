"""State a verifier consults: revocations, proof nonces (replay), use counts, budgets, spent
approvals.

One protocol, :class:`State` (:mod:`delegation.stores.base`), asked one question per verify;
:class:`MemoryState` for one process, :class:`SQLiteState` for several processes on one host.
A store that cannot answer raises :class:`StoreUnavailable` and the verifier denies with
``store_unavailable``: never an allow.
"""

from delegation.stores.base import (
    Charge,
    Hold,
    InvalidRevocation,
    NonceClaim,
    Revocation,
    RevocationKind,
    RevocationRecord,
    SettledCharge,
    SettleReason,
    SettleRefused,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores.memory import MemoryState
from delegation.stores.sqlite import SQLiteState

__all__ = [
    "Charge",
    "Hold",
    "InvalidRevocation",
    "MemoryState",
    "NonceClaim",
    "Revocation",
    "RevocationKind",
    "RevocationRecord",
    "SQLiteState",
    "SettleReason",
    "SettleRefused",
    "SettledCharge",
    "State",
    "StateAnswer",
    "StateQuery",
    "StoreUnavailable",
    "UnavailableReason",
    "UseLimit",
]
