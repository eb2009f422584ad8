"""The in-memory state (``delegation.stores.memory``).

specs/threats.md: "a reused nonce is ``replay``" (store level); "The revocation store
down or slow means deny, never allow" (when full, MemoryState raises StoreUnavailable instead
of silently forgetting a nonce or a count); one explicit state object, never a silent default.
SQLite is in stores/test_sqlite.py, the verifier's use of state in stores/test_state.py.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from delegation import (
    MemoryState,
    Revocation,
    RevocationKind,
    State,
    StoreUnavailable,
    encode_public_key,
)
from delegation.stores import (
    InvalidRevocation,
    NonceClaim,
    RevocationRecord,
    StateAnswer,
    StateQuery,
    UnavailableReason,
    UseLimit,
)
from tests.conftest import NOW

TOKEN, TASK, AGENT, KEY = (
    RevocationKind.TOKEN,
    RevocationKind.TASK,
    RevocationKind.AGENT,
    RevocationKind.KEY,
)
HEX = "0123456789abcdef" * 2
PUBLIC = encode_public_key(bytes(range(32)))


def claim(state: State, key: bytes, expires_at: int, now: int) -> bool:
    """True if the nonce was fresh."""
    return not state.check(StateQuery((), NonceClaim(key, expires_at)), now).replayed


def spend(state: State, limits: Sequence[UseLimit], now: int) -> int | None:
    return state.check(StateQuery((), None, limits), now).exhausted


def limit(key: bytes, n: int, keep_until: int = NOW + 3600) -> UseLimit:
    return UseLimit(key, n, keep_until)


# --- MemoryState: nonces ----------------------------------------------------------------------


def test_memory_state_satisfies_the_protocol() -> None:
    state: State = MemoryState()
    assert state.check(StateQuery(()), NOW) == StateAnswer(None, False, None)


def test_a_nonce_is_new_once() -> None:
    state = MemoryState()
    assert claim(state, b"a", 100, 0) is True
    assert claim(state, b"a", 100, 0) is False
    assert claim(state, b"a", 200, 50) is False
    assert claim(state, b"b", 100, 0) is True


def test_a_nonce_is_forgotten_only_once_it_expires() -> None:
    state = MemoryState()
    assert claim(state, b"a", 100, 0)
    assert claim(state, b"a", 100, 99) is False
    assert claim(state, b"a", 200, 100) is True  # expired at 100, so new again
    assert claim(state, b"a", 200, 150) is False


def test_expired_nonces_are_dropped() -> None:
    state = MemoryState()
    for i in range(10):
        claim(state, bytes([i]), 10 + i, 0)
    assert len(state._nonces) == 10
    claim(state, b"new", 100, 15)
    assert len(state._nonces) == 5  # 10..15 expired; 16..19 and b"new" remain


def test_a_full_state_refuses_rather_than_forgets_a_nonce() -> None:
    state = MemoryState(max_entries=2)
    assert claim(state, b"a", 100, 0)
    assert claim(state, b"b", 100, 0)
    with pytest.raises(StoreUnavailable) as caught:
        claim(state, b"c", 100, 0)
    assert caught.value.reason is UnavailableReason.FULL
    # nothing was forgotten to make room
    assert claim(state, b"a", 100, 1) is False
    assert claim(state, b"b", 100, 1) is False
    with pytest.raises(StoreUnavailable):
        claim(state, b"c", 100, 99)
    # once entries expire there is room again
    assert claim(state, b"c", 200, 100) is True
    assert len(state._nonces) == 1


def test_concurrent_claims_of_one_key_have_one_winner() -> None:
    state = MemoryState()
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        fresh = claim(state, b"same", 100, 0)
        with lock:
            results.append(fresh)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


# --- MemoryState: revocations -----------------------------------------------------------------


def test_revoke_is_idempotent_and_the_first_revoked_candidate_is_reported() -> None:
    state = MemoryState()
    a, b, c = Revocation(TASK, "t"), Revocation(TOKEN, HEX), Revocation(KEY, "k1")
    assert state.check(StateQuery([a, b, c]), NOW).revoked is None
    state.revoke(b, NOW)
    state.revoke(b, NOW + 5)
    state.revoke(c, NOW + 1)
    assert state.check(StateQuery([a, b, c]), NOW).revoked == b
    assert state.check(StateQuery([c, b]), NOW).revoked == c
    assert state.check(StateQuery([a]), NOW).revoked is None
    assert state.revocations() == [RevocationRecord(b, NOW), RevocationRecord(c, NOW + 1)]


def test_revoke_takes_only_a_revocation() -> None:
    with pytest.raises(InvalidRevocation):
        MemoryState().revoke(("task", "t"), NOW)  # type: ignore[arg-type]


def test_revocations_are_listed_oldest_first_then_by_kind_and_value() -> None:
    state = MemoryState()
    later, first = Revocation(TASK, "b"), Revocation(TOKEN, HEX)
    same_time = [Revocation(TASK, "a"), Revocation(KEY, "k"), Revocation(AGENT, PUBLIC)]
    state.revoke(later, NOW + 10)
    for r in same_time:
        state.revoke(r, NOW)
    state.revoke(first, NOW - 1)
    listed = [record.revocation for record in state.revocations()]
    assert listed == [first, Revocation(AGENT, PUBLIC), Revocation(KEY, "k"), same_time[0], later]


# --- MemoryState: one atomic check ------------------------------------------------------------


def test_a_revoked_check_claims_its_nonce_and_counts_nothing() -> None:
    state = MemoryState()
    revoked = Revocation(TASK, "t")
    state.revoke(revoked, NOW)
    query = StateQuery([revoked], NonceClaim(b"n", NOW + 90), [limit(b"k", 1)])
    assert state.check(query, NOW) == StateAnswer(revoked, False, None)
    assert claim(state, b"n", NOW + 90, NOW) is False  # claimed even though revoked
    assert state.count(b"k") == 0


def test_a_replayed_check_counts_nothing() -> None:
    state = MemoryState()
    assert claim(state, b"n", NOW + 90, NOW)
    query = StateQuery([Revocation(TASK, "t")], NonceClaim(b"n", NOW + 90), [limit(b"k", 1)])
    assert state.check(query, NOW) == StateAnswer(None, True, None)
    assert state.count(b"k") == 0


def test_a_fresh_check_claims_and_counts_together() -> None:
    state = MemoryState()
    query = StateQuery([Revocation(TASK, "t")], NonceClaim(b"n", NOW + 90), [limit(b"k", 1)])
    assert state.check(query, NOW) == StateAnswer(None, False, None)
    assert state.count(b"k") == 1
    again = StateQuery([Revocation(TASK, "t")], NonceClaim(b"m", NOW + 90), [limit(b"k", 1)])
    assert state.check(again, NOW) == StateAnswer(None, False, 0)


def test_spending_is_all_or_nothing() -> None:
    state = MemoryState()
    assert spend(state, [limit(b"big", 5), limit(b"small", 1)], NOW) is None
    assert spend(state, [limit(b"big", 5), limit(b"small", 1)], NOW) == 1
    assert state.count(b"big") == 1
    assert spend(state, [limit(b"small", 1), limit(b"big", 5)], NOW) == 0
    assert state.count(b"big") == 1
    assert spend(state, [limit(b"big", 5)], NOW) is None
    assert state.count(b"big") == 2


def test_counts_are_kept_until_keep_until_which_only_grows() -> None:
    state = MemoryState()
    assert spend(state, [limit(b"k", 1, NOW + 100)], NOW) is None
    assert spend(state, [limit(b"k", 1, NOW + 100)], NOW + 99) == 0
    assert spend(state, [limit(b"k", 1, NOW + 200)], NOW + 100) is None
    assert spend(state, [limit(b"k", 1, NOW + 200)], NOW + 150) == 0
    assert spend(state, [limit(b"j", 2, NOW + 1000)], NOW) is None
    assert spend(state, [limit(b"j", 2, NOW + 10)], NOW) is None
    assert spend(state, [limit(b"j", 2, NOW + 10)], NOW + 500) == 0  # the longer keep holds


def test_a_full_use_table_fails_before_claiming_the_nonce() -> None:
    """A check that raises has changed nothing: not even the nonce it was asked to claim."""
    state = MemoryState(max_entries=1)
    assert spend(state, [limit(b"a", 5)], NOW) is None
    query = StateQuery((), NonceClaim(b"n", NOW + 90), [limit(b"b", 5)])
    with pytest.raises(StoreUnavailable) as caught:
        state.check(query, NOW)
    assert caught.value.reason is UnavailableReason.FULL
    assert claim(state, b"n", NOW + 90, NOW) is True


# Guards against: a memory use counter without a bound, unlike the memory nonce store. Any
# holder can append max_uses caveats (they only restrict), and each variant it presents in an
# allowed call adds up to ~80 counters kept until the root expiry: memory would grow without
# limit. Full of live records, the state raises StoreUnavailable instead.
def test_the_memory_use_counter_is_bounded_like_the_nonce_store() -> None:
    state = MemoryState(max_entries=2)

    def spend(key: bytes, keep_until: int, now: int) -> int | None:
        return state.check(StateQuery((), None, [UseLimit(key, 5, keep_until)]), now).exhausted

    assert spend(b"a" * 32, NOW + 100, NOW) is None
    assert spend(b"b" * 32, NOW + 100, NOW) is None
    with pytest.raises(StoreUnavailable):
        spend(b"c" * 32, NOW + 100, NOW)
    assert spend(b"d" * 32, NOW + 200, NOW + 100) is None  # expired room


def test_a_closed_memory_state_cannot_answer() -> None:
    state = MemoryState()
    state.close()
    for call in (
        lambda: state.check(StateQuery(()), NOW),
        lambda: state.revoke(Revocation(TASK, "t"), NOW),
        state.revocations,
    ):
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.reason is UnavailableReason.UNREACHABLE
