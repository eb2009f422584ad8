"""Strict readers for caveat bodies. Each raises MalformedToken naming what was wrong."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from delegation._cbor import CBORValue
from delegation._printable import is_printable
from delegation.errors import MalformedToken, PatternError
from delegation.limits import MAX_INT, MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_TIME


def text(value: CBORValue, what: str, limit: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedToken(f"{what} must be non-empty text")
    if len(value) > limit:
        raise MalformedToken(f"{what} is longer than {limit} characters")
    if not is_printable(value):
        raise MalformedToken(f"{what} holds control characters")
    return value


def integer(value: CBORValue, what: str, low: int = -MAX_INT + 1, high: int = MAX_INT - 1) -> int:
    # type() rather than isinstance(): True is an int to Python and must not be one here.
    if type(value) is not int or not low <= value <= high:
        raise MalformedToken(f"{what} must be an integer in [{low}, {high}]")
    return value


def timestamp(value: CBORValue, what: str) -> int:
    return integer(value, what, 0, MAX_TIME - 1)


def sorted_set(
    value: CBORValue, what: str, item: Callable[[CBORValue, str], str] = text
) -> tuple[str, ...]:
    """A non-empty array of distinct items in ascending order: one meaning, one encoding."""
    if not isinstance(value, list) or not value:
        raise MalformedToken(f"{what} must be a non-empty array")
    if len(value) > MAX_LIST_ITEMS:
        raise MalformedToken(f"{what} holds more than {MAX_LIST_ITEMS} items")
    items = tuple(item(v, what) for v in value)
    if any(a >= b for a, b in itertools.pairwise(items)):
        raise MalformedToken(f"{what} must be sorted and without duplicates")
    return items


def canonical_set(values: object, what: str) -> list[CBORValue]:
    """A constructor's items, deduplicated and sorted, for ``sorted_set`` to check: items that
    cannot be (unhashable, or not all text) are MalformedToken, not a TypeError."""
    try:
        return sorted(set(values))  # type: ignore[call-overload]
    except TypeError:
        raise MalformedToken(f"{what} must be an array of texts") from None


def int_map(value: CBORValue, what: str, allowed: frozenset[int]) -> dict[int, CBORValue]:
    if not isinstance(value, dict) or not value:
        raise MalformedToken(f"{what} must be a non-empty map")
    if not set(value) <= allowed:
        raise MalformedToken(f"{what} has unknown fields")
    return value


def pattern_checked(check: Callable[[str], object]) -> Callable[[CBORValue, str], str]:
    """An item reader that also runs a pattern parser, turning its error into MalformedToken."""

    def read(value: CBORValue, what: str) -> str:
        s = text(value, what, 1024)
        try:
            check(s)
        except PatternError as exc:
            raise MalformedToken(f"{what}: {exc}") from exc
        return s

    return read
