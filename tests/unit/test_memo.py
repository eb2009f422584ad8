"""The bounded memo (``delegation/_memo.py``): never more than its entries or its charge, and
never an answer for a key other than the one it was given."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import _patterns, _request, _token
from delegation._memo import Memo
from delegation.caveats import default_registry


def _consistent(memo: Memo[bytes, bytes]) -> bool:
    data = memo._data
    return memo.charged == sum(len(k) for k in data) and all(v == k[::-1] for k, v in data.items())


@settings(max_examples=300)
@given(
    st.integers(0, 8),
    st.integers(0, 64),
    st.lists(st.binary(max_size=24), max_size=60),
)
def test_a_memo_stays_within_its_entries_and_charge_and_answers_only_its_own_keys(
    entries: int, charge_limit: int, keys: list[bytes]
) -> None:
    memo: Memo[bytes, bytes] = Memo(entries, charge_limit)
    for key in keys:
        memo.put(key, key[::-1])
        assert len(memo) <= entries
        assert memo.charged <= charge_limit
        assert _consistent(memo)
        found = memo.get(key)
        assert found is None or found == key[::-1]
        if len(key) <= charge_limit and entries > 0:
            assert found == key[::-1]  # the latest put is always kept


def test_a_key_longer_than_the_whole_charge_is_not_kept_and_evicts_nothing() -> None:
    memo: Memo[bytes, bytes] = Memo(4, 10)
    memo.put(b"abc", b"cba")
    memo.put(b"x" * 11, b"y")
    assert b"x" * 11 not in memo
    assert memo.get(b"abc") == b"cba"
    assert memo.charged == 3


def test_a_subclass_key_is_never_answered_nor_kept() -> None:
    # A subclass may define an equality under which it equals another key.
    class SlyBytes(bytes):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash(b"real")

    class SlyText(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("real")

    by_bytes: Memo[bytes, str] = Memo(4, 100)
    by_bytes.put(b"real", "the real key's result")
    assert by_bytes.get(SlyBytes(b"other")) is None
    by_bytes.put(SlyBytes(b"other"), "sly")
    assert len(by_bytes) == 1
    assert by_bytes.get(b"real") == "the real key's result"
    by_text: Memo[str, str] = Memo(4, 100)
    by_text.put("real", "the real key's result")
    assert by_text.get(SlyText("other")) is None
    by_text.put(SlyText("other"), "sly")
    assert by_text.get("real") == "the real key's result"
    assert len(by_text) == 1


def test_clear_forgets_everything_and_its_charge() -> None:
    memo: Memo[str, int] = Memo(4, 100)
    memo.put("a", 1)
    memo.put("bb", 2)
    memo.clear()
    assert len(memo) == 0
    assert memo.charged == 0
    assert memo.get("a") is None


def test_concurrent_puts_keep_the_bounds_and_the_charge_exact() -> None:
    memo: Memo[bytes, bytes] = Memo(50, 400)
    barrier = threading.Barrier(4)

    def fill(seed: int) -> None:
        barrier.wait()
        for i in range(3000):
            key = f"{seed}-{i % 97}".encode() * (1 + i % 3)
            memo.put(key, key[::-1])

    threads = [threading.Thread(target=fill, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(memo) <= 50
    assert memo.charged <= 400
    assert _consistent(memo)


def test_the_library_memos_are_bounded_in_entries_and_in_input_size() -> None:
    # The memos that presenters fill: parsed identifiers (before any MAC check), parsed
    # caveats (per registry), encoded request texts, parsed resources and patterns.
    registry = default_registry()
    memos = (_token._IDENTIFIERS, registry._cache, _request._TEXTS)
    for memo in (*memos, _patterns._RESOURCES, _patterns._PATTERNS):
        assert isinstance(memo, Memo)
        assert 0 < memo._entries <= 4096
        assert 0 < memo._charge_limit <= 1 << 20
