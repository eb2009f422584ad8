"""Law: the single-pass strict CBOR decoder accepts exactly what the old one did, same values.

``delegation._cbor.loads`` used to let cbor2 build the value and check it afterwards (a type
walk, then a canonical re-encoding compared with the input). That let value-sharing and
string-reference tags expand a few hundred bytes into millions of values before any check
(specs/threats.md, "Encoding"). The new decoder rejects out-of-profile input before building
anything. ``oracle_loads`` below is the old implementation, kept here as a test-only oracle:
on every input it can process, both must agree on accept or reject and on the value, with
bool told apart from int. The new decoder must raise nothing but MalformedToken.
"""

from __future__ import annotations

import math
from typing import Any

import cbor2
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import MalformedToken, _cbor
from delegation.limits import MAX_CBOR_DEPTH, MAX_INT
from delegation.testing.strategies import cbor_values, cbor_values_nested

# --- the oracle: delegation/_cbor.py loads as it was before the single-pass decoder ----------


def oracle_loads(data: bytes) -> Any:
    """cbor2 decodes, then a type walk and a canonical re-encoding. Raises MalformedToken."""
    try:
        value = cbor2.loads(
            data,
            max_depth=MAX_CBOR_DEPTH + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except Exception as exc:  # cbor2 raises several types; every one of them means malformed
        raise MalformedToken("value is not valid CBOR") from exc
    _oracle_check_types(value, 0)
    try:
        canonical = cbor2.dumps(value, canonical=True)
    except Exception as exc:
        raise MalformedToken("value cannot be re-encoded") from exc
    if canonical != data:
        raise MalformedToken("value is not in deterministic CBOR encoding")
    return value


def _oracle_check_types(value: object, depth: int) -> None:
    if depth > MAX_CBOR_DEPTH:
        raise MalformedToken("value is nested too deeply")
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -MAX_INT < value < MAX_INT:
            raise MalformedToken("value holds an integer out of range")
        return
    if isinstance(value, str | bytes):
        return
    if isinstance(value, list):
        for item in value:
            _oracle_check_types(item, depth + 1)
        return
    if isinstance(value, dict):
        int_keys = all(type(k) is int and 0 <= k < MAX_INT for k in value)
        text_keys = all(type(k) is str for k in value)
        if not (int_keys or text_keys):
            raise MalformedToken("value has map keys that are not all unsigned or all text")
        for item in value.values():
            _oracle_check_types(item, depth + 1)
        return
    raise MalformedToken("value holds a CBOR type the spec does not allow")


# --- comparing outcomes ---------------------------------------------------------------------


def same(a: object, b: object) -> bool:
    """Equality that tells True from 1; dict key order is not part of the value."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            same(k, next(j for j in b if j == k)) and same(a[k], b[k]) for k in a
        )
    return a == b


def agree(data: bytes) -> str:
    """Both decoders accept with the same value, or both reject (the new one cleanly).
    Returns which, for Hypothesis' statistics."""
    try:
        old: Any = oracle_loads(data)
    except MalformedToken:
        old = MalformedToken
    detail = "value "
    try:
        new: Any = _cbor.loads(data)
    except MalformedToken as exc:
        new, detail = MalformedToken, exc.detail
    assert detail.startswith("value "), detail
    if old is MalformedToken or new is MalformedToken:
        assert old is new, f"{data.hex()}: oracle {old!r}, new {new!r}"
        return "rejected"
    assert same(new, old), f"{data.hex()}: oracle {old!r}, new {new!r}"
    return "accepted"


# --- inputs ---------------------------------------------------------------------------------

# Bytes that start or break things, as hex heads and items.
_INTERESTING_HEX = (
    # tags, among them 25/256 string references and 28/29 value sharing
    "c0 c1 c2 c3 d6 d818 d819 d81c d81d d820 d90100 d90102 d9d9f7 da00000000 dc dd de df "
    # floats, null, undefined, simple values, reserved simple values, break
    "f4 f5 f6 f7 f0 f818 f820 f93c00 f97e00 fa3f800000 fb3ff0000000000000 fc fd fe ff "
    # reserved additional information (28) and indefinite lengths (31)
    "1c 3c 5c 7c 9c bc 1f 3f 5f 7f 9f bf "
    # heads whose argument bytes are missing
    "18 19 1a 1b 38 58 78 98 b8 5b 7b 9b bb "
    # just inside and just outside the integer range; 2**64 - 1; huge declared sizes
    "1b0020000000000000 1b001fffffffffffff 3b001ffffffffffffe 3b001fffffffffffff "
    "1bffffffffffffffff 9b1000000000000000 5b1000000000000000 bb1000000000000000 "
    # the largest arguments that are not in shortest form
    "1817 1900ff 1a0000ffff 1b00000000ffffffff 3900ff 5900ff 7900ff 9900ff b900ff d900ff "
    # text that is not UTF-8: a surrogate, an overlong form, above U+10FFFF, invalid bytes
    "63eda080 62c0af 64f4908080 62fffe "
    # ordinary small items
    "00 17 20 37 40 60 80 a0 81 a1 6161 4100"
)
_INTERESTING = [bytes.fromhex(h) for h in _INTERESTING_HEX.split()]


@st.composite
def edited(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding with a few bytes flipped, set, dropped or inserted, cut or extended."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "set", "drop", "insert", "splice", "cut", "extend"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "drop" and pos < len(data):
            del data[pos]
        elif kind == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif kind == "splice":
            data[pos:pos] = draw(st.sampled_from(_INTERESTING))
        elif kind == "cut":
            del data[pos:]
        else:
            data += draw(st.binary(min_size=1, max_size=4) | st.sampled_from(_INTERESTING))
    return bytes(data)


canonical = cbor_values.map(_cbor.dumps)
"""Valid canonical encodings of every kind of value the profile allows."""

_far_ints = st.one_of(
    st.integers(-(2**64), 2**64 - 1),
    st.sampled_from([MAX_INT - 1, MAX_INT, -(MAX_INT - 1), -MAX_INT, -MAX_INT - 1, 2**64 - 1]),
)
_far_leaves = st.one_of(
    st.booleans(),
    _far_ints,
    st.text(max_size=4),
    st.binary(max_size=4),
    st.none(),
    # cbor2 writes each float in the shortest of half, single and double precision that holds it
    st.floats() | st.sampled_from([0.0, -0.0, 1.0, 1.5, 65504.0, 1e300, math.inf, math.nan]),
    st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 2, 25, 28, 29, 256, 258, 55799]), _far_ints),
    st.just(cbor2.undefined),
)
_hashable_keys = st.one_of(_far_ints, st.text(max_size=3), st.binary(max_size=2), st.booleans())
out_of_profile = st.recursive(
    _far_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_hashable_keys, inner, max_size=3),
    max_leaves=12,
).flatmap(lambda v: st.sampled_from([True, False]).map(lambda c: cbor2.dumps(v, canonical=c)))
"""cbor2 encodings of values outside the profile: floats, null, tags, wide integers, mixed
or non-text keys, deeper nesting than allowed; canonical or not."""

too_deep = cbor_values_nested(MAX_CBOR_DEPTH + 2).map(lambda v: cbor2.dumps(v, canonical=True))


@st.composite
def head_soup(draw: st.DrawFn) -> bytes:
    """A run of random heads (any major type and additional information), each with a random
    argument and, for strings, a short payload: structured enough to reach every branch."""
    out = bytearray()
    for _ in range(draw(st.integers(1, 10))):
        major, info = draw(st.integers(0, 7)), draw(st.integers(0, 31))
        out.append(major << 5 | info)
        if 24 <= info <= 27:
            out += draw(st.binary(min_size=1 << (info - 24), max_size=1 << (info - 24)))
        if major in (2, 3) and info < 24:
            out += draw(st.binary(min_size=info, max_size=info))
    return bytes(out)


# --- the laws -------------------------------------------------------------------------------


@settings(max_examples=600)
@given(st.binary(max_size=48))
def test_agrees_with_the_old_decoder_on_arbitrary_bytes(data: bytes) -> None:
    event(agree(data))


@settings(max_examples=600)
@given(head_soup())
def test_agrees_with_the_old_decoder_on_random_heads(data: bytes) -> None:
    event(agree(data))


@settings(max_examples=200)
@given(canonical)
def test_agrees_with_the_old_decoder_on_valid_encodings(data: bytes) -> None:
    assert agree(data) == "accepted"
    assert _cbor.dumps(_cbor.loads(data)) == data


@settings(max_examples=600)
@given(edited(canonical))
def test_agrees_with_the_old_decoder_on_edited_valid_encodings(data: bytes) -> None:
    event(agree(data))


@settings(max_examples=300)
@given(out_of_profile | edited(out_of_profile) | too_deep | edited(too_deep))
def test_agrees_with_the_old_decoder_on_values_outside_the_profile(data: bytes) -> None:
    event(agree(data))


def test_agrees_with_the_old_decoder_on_every_input_of_two_bytes_or_fewer() -> None:
    for first in range(256):
        agree(bytes([first]))
        for second in range(256):
            agree(bytes([first, second]))


@pytest.mark.parametrize("first", range(256), ids=lambda b: f"{b:02x}")
def test_agrees_with_the_old_decoder_after_every_initial_byte(first: int) -> None:
    """Every initial byte, followed by each interesting head and by short canonical tails."""
    agree(b"")
    for tail in _INTERESTING:
        agree(tail)
    for tail in [*_INTERESTING, b"\x00" * 8, b"\x18\x18", b"\x61a\x01", b"\x82\x01\x02"]:
        agree(bytes([first]) + tail)
        agree(bytes([0x81, first]) + tail)
        agree(bytes([0xA1, 0x01, first]) + tail)
