"""The in-memory nonce store (``delegation.stores.memory.MemoryNonceStore``).

THREATS.md lines covered: "a reused nonce is ``replay``" (store level); "The revocation store
down or slow means deny, never allow" (the same rule for the nonce store: when full it raises
StoreUnavailable instead of silently forgetting a nonce that could then be replayed).
Revocation and use-count stores are later issues.
"""

from __future__ import annotations

import threading

import pytest

from delegation import DelegationError, MemoryNonceStore, NonceStore, StoreUnavailable


def test_a_nonce_is_new_once() -> None:
    store = MemoryNonceStore()
    assert store.claim(b"a", 100, 0) is True
    assert store.claim(b"a", 100, 0) is False
    assert store.claim(b"a", 200, 50) is False
    assert store.claim(b"b", 100, 0) is True
    assert len(store) == 2


def test_a_nonce_is_forgotten_only_once_it_expires() -> None:
    store = MemoryNonceStore()
    assert store.claim(b"a", 100, 0)
    assert store.claim(b"a", 100, 99) is False
    assert store.claim(b"a", 200, 100) is True  # expired at 100, so new again
    assert store.claim(b"a", 200, 150) is False


def test_expired_entries_are_dropped() -> None:
    store = MemoryNonceStore()
    for i in range(10):
        store.claim(bytes([i]), 10 + i, 0)
    assert len(store) == 10
    store.claim(b"new", 100, 15)
    assert len(store) == 5  # 10..15 expired; 16..19 and b"new" remain


def test_a_full_store_refuses_rather_than_forgets() -> None:
    store = MemoryNonceStore(max_entries=2)
    assert store.claim(b"a", 100, 0)
    assert store.claim(b"b", 100, 0)
    with pytest.raises(StoreUnavailable, match="full"):
        store.claim(b"c", 100, 0)
    # nothing was forgotten to make room
    assert store.claim(b"a", 100, 1) is False
    assert store.claim(b"b", 100, 1) is False
    with pytest.raises(StoreUnavailable):
        store.claim(b"c", 100, 99)
    # once entries expire there is room again
    assert store.claim(b"c", 200, 100) is True
    assert len(store) == 1


def test_store_unavailable_is_a_delegation_error() -> None:
    assert issubclass(StoreUnavailable, DelegationError)


def test_memory_store_satisfies_the_protocol() -> None:
    store: NonceStore = MemoryNonceStore()
    assert store.claim(b"k", 1, 0)


def test_concurrent_claims_of_one_key_have_one_winner() -> None:
    store = MemoryNonceStore()
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        fresh = store.claim(b"same", 100, 0)
        with lock:
            results.append(fresh)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
