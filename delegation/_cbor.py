"""Strict deterministic CBOR (RFC 8949 section 4.2) for identifiers, caveats and proofs.

Encoding is cbor2's canonical mode. Decoding accepts exactly the bytes that canonical encoding
of the decoded value would produce: that single rule rejects non-shortest integers and lengths,
unsorted or duplicate map keys, indefinite lengths and trailing bytes. On top of it, only the
types the spec allows (unsigned and negative integers, byte and text strings, arrays, maps,
true, false) in a bounded range and depth are accepted, and a map's keys are either all
unsigned integers or all text; tags, floats, null and other simple
values are malformed.
"""

from __future__ import annotations

from typing import Any

import cbor2

from delegation.errors import MalformedToken
from delegation.limits import MAX_CBOR_DEPTH, MAX_INT

CBORValue = int | bool | str | bytes | list[Any] | dict[Any, Any]


def dumps(value: CBORValue) -> bytes:
    """Encode ``value`` canonically. Raises MalformedToken for a value the spec does not allow."""
    _check_types(value, 0)
    return cbor2.dumps(value, canonical=True)


def loads(data: bytes, what: str = "value") -> CBORValue:
    """Decode one canonical CBOR item that is all of ``data``. Raises MalformedToken."""
    try:
        value = cbor2.loads(
            data,
            max_depth=MAX_CBOR_DEPTH + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except Exception as exc:  # cbor2 raises several types; every one of them means malformed
        raise MalformedToken(f"{what} is not valid CBOR") from exc
    _check_types(value, 0, what)
    try:
        canonical = cbor2.dumps(value, canonical=True)
    except Exception as exc:
        raise MalformedToken(f"{what} cannot be re-encoded") from exc
    if canonical != data:
        raise MalformedToken(f"{what} is not in deterministic CBOR encoding")
    return value  # type: ignore[no-any-return]


def _check_types(value: object, depth: int, what: str = "value") -> None:
    if depth > MAX_CBOR_DEPTH:
        raise MalformedToken(f"{what} is nested too deeply")
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_INT < value < MAX_INT:
            raise MalformedToken(f"{what} holds an integer out of range")
        return
    if isinstance(value, str | bytes):
        return
    if isinstance(value, list):
        for item in value:
            _check_types(item, depth + 1, what)
        return
    if isinstance(value, dict):
        # Keys are all unsigned integers or all text: then RFC 8949 bytewise key order and
        # cbor2's length-first canonical order coincide, so there is one encoding either way.
        int_keys = all(type(k) is int and 0 <= k < MAX_INT for k in value)
        text_keys = all(type(k) is str for k in value)
        if not (int_keys or text_keys):
            raise MalformedToken(f"{what} has map keys that are not all unsigned or all text")
        for item in value.values():
            _check_types(item, depth + 1, what)
        return
    raise MalformedToken(f"{what} holds a CBOR type the spec does not allow")
