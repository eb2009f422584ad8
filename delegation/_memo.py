"""A bounded memo of a pure function of bytes or text. Private.

Parsing an identifier, a caveat or a request text is a pure function of its input, so the
result can be kept and handed out again. Inputs come from presenters, so a memo is bounded in
entries and in the input size it keeps (the charge, about what an entry holds), and it is
emptied when either would be passed: a presenter can make it forget, never make it grow.

Only exact ``bytes`` and ``str`` keys take part: a subclass may define an equality under which
it equals another key, and must never be answered with that key's result.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

K = TypeVar("K", bytes, str)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most ``entries`` results whose inputs come to at most ``charge_limit`` units
    (``len`` of each key: bytes or characters). A key longer than the limit is not kept."""

    __slots__ = ("_charge_limit", "_charged", "_data", "_entries", "_lock")

    def __init__(self, entries: int, charge_limit: int) -> None:
        self._data: dict[K, V] = {}
        self._entries = entries
        self._charge_limit = charge_limit
        self._charged = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        if type(key) is not bytes and type(key) is not str:
            return None
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        if type(key) is not bytes and type(key) is not str:
            return
        cost = len(key)
        if cost > self._charge_limit or self._entries <= 0:
            return
        with self._lock:
            if key in self._data:
                return
            if len(self._data) >= self._entries or self._charged + cost > self._charge_limit:
                self._data.clear()
                self._charged = 0
            self._data[key] = value
            self._charged += cost

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._charged = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @property
    def charged(self) -> int:
        """The input size kept now: bytes or characters of every key."""
        return self._charged
