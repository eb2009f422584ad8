"""State a verifier consults: proof nonces seen (replay). Protocols and in-memory stores.

A store that cannot answer raises :class:`StoreUnavailable`; the verifier then denies with
``store_unavailable``. It never allows on an error.
"""

from delegation.stores.base import NonceStore, StoreUnavailable
from delegation.stores.memory import MemoryNonceStore

__all__ = ["MemoryNonceStore", "NonceStore", "StoreUnavailable"]
