"""Strict deterministic CBOR (RFC 8949 section 4.2) for identifiers, caveats and proofs.

Encoding is cbor2's canonical mode. Decoding is our own single strict pass, never a generic
decoder: a generic one resolves value-sharing (tags 28/29) and string-reference (25/256) tags
while it builds the value, so a few hundred bytes can stand for millions of values before any
check runs. Here every head is checked as it is read, before anything is built from it:

- only unsigned and negative integers in (-MAX_INT, MAX_INT), byte strings, UTF-8 text, arrays,
  maps, true and false; a tag, float, null, undefined, other simple value, indefinite length,
  reserved additional-info value (28-30) or stray break is malformed at its head byte;
- integers, lengths and counts in their shortest form;
- a declared length or count is checked against the bytes that remain before anything is
  sliced, allocated or looped over (each item takes at least one byte, each map entry two);
- map keys all unsigned integers or all text, in strictly increasing bytewise order of their
  encodings (RFC 8949 4.2.1; for these key types it is also cbor2's length-first order), so
  duplicate and unsorted keys are malformed;
- nesting at most MAX_CBOR_DEPTH below the outermost item, and nothing after the one item.

The position only moves forward and each item is built once, so decoding work is linear in
the input whether it is accepted or not. What it accepts is exactly the set of byte strings that
canonical encoding of an allowed value produces, and re-encoding the result gives the input.
"""

from __future__ import annotations

from typing import Any

import cbor2

from delegation.errors import MalformedToken
from delegation.limits import MAX_CBOR_DEPTH, MAX_INT

CBORValue = int | bool | str | bytes | list[Any] | dict[Any, Any]

_visited = 0
"""Heads read since import: one per item decoded, map keys included. Private: tests read it
to hold decoding work to the input's size without timing anything. A statistic only (threads
may lose increments); nothing decides on it."""


def dumps(value: CBORValue) -> bytes:
    """Encode ``value`` canonically. Raises MalformedToken for a value the spec does not allow."""
    _check_types(value, 0)
    return cbor2.dumps(value, canonical=True)


def reencodes_to(value: object, data: bytes) -> bool:
    """Whether the canonical encoding of ``value`` is exactly ``data``, bytes that ``loads``
    accepted. No type check first: a value outside the profile encodes to bytes outside it,
    which differ from ``data``; one cbor2 cannot encode at all is False."""
    try:
        return cbor2.dumps(value, canonical=True) == data
    except (cbor2.CBOREncodeError, TypeError, ValueError):
        return False


def loads(data: bytes, what: str = "value") -> CBORValue:
    """Decode one canonical CBOR item that is all of ``data``. Raises MalformedToken."""
    try:
        value, pos = _item(data, 0, 0)
    except _Reject as exc:
        raise MalformedToken(f"{what} {exc}") from None
    if pos != len(data):
        raise MalformedToken(f"{what} has bytes after its one CBOR item")
    return value


class _Reject(Exception):
    """Why decoding stopped; ``loads`` turns it into MalformedToken naming what was decoded.
    Internal: it never escapes ``loads``."""


_NOT_CANONICAL = "is not in deterministic CBOR encoding"
_ENDS_EARLY = "is not valid CBOR: it ends early"


def _item(data: bytes, pos: int, depth: int) -> tuple[CBORValue, int]:
    """Decode the item whose head is at ``pos``. Returns (value, next position); raises _Reject."""
    global _visited
    n = len(data)
    if pos >= n:
        raise _Reject(_ENDS_EARLY)
    _visited += 1
    initial = data[pos]
    pos += 1
    major = initial >> 5
    if major == 7:
        if initial == 0xF5:
            return True, pos
        if initial == 0xF4:
            return False, pos
        # floats, null, undefined, other simple values, reserved values and a stray break
        raise _Reject("holds a CBOR type the spec does not allow")
    if major == 6:
        raise _Reject("holds a CBOR tag, which the spec does not allow")
    arg = initial & 0x1F
    if arg >= 24:
        arg, pos = _long_argument(data, pos, arg)
    if major == 0:
        if arg >= MAX_INT:
            raise _Reject("holds an integer out of range")
        return arg, pos
    if major == 1:
        if arg >= MAX_INT - 1:  # -1 - arg must be above -MAX_INT
            raise _Reject("holds an integer out of range")
        return -1 - arg, pos
    if major <= 3:
        end = pos + arg
        if end > n:
            raise _Reject("is not valid CBOR: a length runs past the end")
        if major == 2:
            return data[pos:end], end
        try:
            return data[pos:end].decode("utf-8"), end
        except UnicodeDecodeError:
            raise _Reject("holds text that is not UTF-8") from None
    if arg and depth >= MAX_CBOR_DEPTH:
        raise _Reject("is nested too deeply")
    if major == 4:
        if arg > n - pos:
            raise _Reject("is not valid CBOR: an array count runs past the end")
        items: list[CBORValue] = []
        for _ in range(arg):
            value, pos = _item(data, pos, depth + 1)
            items.append(value)
        return items, pos
    if 2 * arg > n - pos:
        raise _Reject("is not valid CBOR: a map count runs past the end")
    result: dict[Any, CBORValue] = {}
    key_major = data[pos] >> 5 if arg else 0
    if key_major != 0 and key_major != 3:
        raise _Reject("has map keys that are not all unsigned or all text")
    previous = b""  # every encoded key is longer than this and so sorts after it
    for _ in range(arg):
        start = pos
        if pos >= n:
            raise _Reject(_ENDS_EARLY)
        if data[pos] >> 5 != key_major:
            raise _Reject("has map keys that are not all unsigned or all text")
        key, pos = _item(data, pos, depth + 1)
        encoded = data[start:pos]
        if encoded <= previous:
            raise _Reject(_NOT_CANONICAL)  # a duplicate or out-of-order key
        previous = encoded
        result[key], pos = _item(data, pos, depth + 1)
    return result, pos


def _long_argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    """The argument after an initial byte whose additional info is 24 or more."""
    if info == 31:
        raise _Reject("has an indefinite length, which the spec does not allow")
    if info > 27:
        raise _Reject("is not valid CBOR: reserved additional information")
    size = 1 << (info - 24)
    end = pos + size
    if end > len(data):
        raise _Reject(_ENDS_EARLY)
    arg = int.from_bytes(data[pos:end], "big")
    # Shortest form: one extra byte only for 24 and up, two for 2**8 and up, and so on.
    if arg < (24 if size == 1 else 1 << (4 * size)):
        raise _Reject(_NOT_CANONICAL)
    return arg, end


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
