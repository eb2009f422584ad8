"""Strict deterministic CBOR (``delegation._cbor``).

specs/threats.md: "Strict CBOR: no duplicate keys ..., no non-canonical forms, no
indefinite lengths, no tags, no trailing bytes (``cbor2.loads(b"\\x01\\xff")`` returns 1),
bounded depth and lengths, only the types the spec allows"; "Type confusion: ... NaN, Inf";
"One token, one spelling: non-canonical ... CBOR must not yield a second ... key".
"""

from __future__ import annotations

import pytest

from delegation import Code, MalformedToken, _cbor
from delegation._cbor import CBORValue
from delegation.limits import MAX_CBOR_DEPTH, MAX_INT


def malformed(hex_data: str) -> MalformedToken:
    with pytest.raises(MalformedToken) as info:
        _cbor.loads(bytes.fromhex(hex_data))
    assert info.value.code is Code.MALFORMED
    return info.value


@pytest.mark.parametrize(
    "value",
    [
        0,
        1,
        23,
        24,
        255,
        256,
        65536,
        2**32,
        MAX_INT - 1,
        -1,
        -24,
        -25,
        -(MAX_INT - 1),
        True,
        False,
        "",
        "text",
        "\u00e9\u4e2d",
        b"",
        b"\x00\xff",
        [],
        [1, "a", b"b", True],
        {},
        {1: 1, 2: [3]},
        {"a": 1, "bb": 2},
        {0: {1: [b"x"]}},
    ],
)
def test_allowed_values_round_trip(value: CBORValue) -> None:
    data = _cbor.dumps(value)
    assert _cbor.loads(data) == value
    assert type(_cbor.loads(data)) is type(value)


@pytest.mark.parametrize(
    ("hex_data", "why"),
    [
        # duplicate map keys (cbor2 would keep the last one by default)
        ("a201010102", "duplicate int key"),
        ("a2616101616102", "duplicate text key"),
        # non-shortest integers and lengths
        ("1801", "1 in one extra byte"),
        ("190001", "1 in two extra bytes"),
        ("1a00000001", "1 in four extra bytes"),
        ("1b0000000000000001", "1 in eight extra bytes"),
        ("3800", "-1 in one extra byte"),
        ("780161", "text length in one extra byte"),
        ("580161", "bytes length in one extra byte"),
        ("980101", "array length in one extra byte"),
        ("b8010101", "map length in one extra byte"),
        ("1817", "23 in one extra byte"),
        ("1900ff", "255 in two extra bytes"),
        ("1a0000ffff", "65535 in four extra bytes"),
        ("1b00000000ffffffff", "2**32 - 1 in eight extra bytes"),
        ("3900ff", "-256 in two extra bytes"),
        ("5900ff" + "00" * 255, "bytes length 255 in two extra bytes"),
        ("9a000000ff" + "00" * 255, "array count 255 in four extra bytes"),
        # unsorted map keys
        ("a2020001 00".replace(" ", ""), "int keys out of order"),
        ("a2626262016161 02".replace(" ", ""), "longer text key first"),
        ("a2616201616102", "text keys out of order"),
        # indefinite lengths
        ("9f01ff", "indefinite array"),
        ("bf6161 01ff".replace(" ", ""), "indefinite map"),
        ("5f4101ff", "indefinite bytes"),
        ("7f6161ff", "indefinite text"),
        ("9fff", "empty indefinite array"),
        # tags
        ("c11a00000001", "epoch time tag"),
        ("c074323032372d30312d30315430303a30303a30305a", "date string tag"),
        ("c24101", "bignum tag holding 1"),
        ("c249010000000000000000", "bignum 2**64"),
        ("c34100", "negative bignum"),
        ("d9d9f701", "self-describe tag"),
        ("d82061 61".replace(" ", ""), "URI tag"),
        ("d9010281 01".replace(" ", ""), "set tag 258"),
        ("c6 01".replace(" ", ""), "unassigned tag 6"),
        ("d81c01", "shareable (tag 28) around 1: a generic decoder returns plain 1"),
        ("82d81c8100d81d00", "value sharing: [28([0]), 29(0)]"),
        ("d8196161", "string reference tag 25"),
        ("d90100 82 63616161 d81900".replace(" ", ""), "string reference namespace 256"),
        ("dc01", "tag with reserved additional information 28"),
        ("df01", "tag with indefinite additional information 31"),
        ("db000000000000001c01", "tag number in eight bytes"),
        # floats, including the ones that make comparisons lie
        ("f93c00", "half float 1.0"),
        ("fa3f800000", "single float 1.0"),
        ("fb3ff0000000000000", "double float 1.0"),
        ("f97e00", "NaN"),
        ("f97c00", "+Infinity"),
        ("f9fc00", "-Infinity"),
        ("f98000", "-0.0"),
        # null, undefined, simple values
        ("f6", "null"),
        ("f7", "undefined"),
        ("e0", "simple value 0"),
        ("f820", "simple value 32"),
        # trailing and missing bytes
        ("01ff", "trailing break byte"),
        ("0101", "two items"),
        ("8201", "truncated array"),
        ("62 61".replace(" ", ""), "truncated text"),
        ("", "no bytes at all"),
        ("ff", "lone break"),
        ("8201ff", "break inside a definite array"),
        ("a101ff", "break as a map value"),
        ("f818", "simple value 24 in two bytes"),
        ("fc", "reserved simple 28"),
        # reserved additional information 28-30, in every major type
        ("1c", "unsigned, info 28"),
        ("3d", "negative, info 29"),
        ("5e", "bytes, info 30"),
        ("7c", "text, info 28"),
        ("9d", "array, info 29"),
        ("be", "map, info 30"),
        ("1f", "unsigned, info 31"),
        ("3f", "negative, info 31"),
        # declared lengths and counts far past the end of the input
        ("5b1000000000000000", "bytes of 2**60"),
        ("7bffffffffffffffff", "text of 2**64 - 1"),
        ("9b1000000000000000", "array of 2**60 items"),
        ("bb1000000000000000", "map of 2**60 pairs"),
        ("5a00010000" + "00" * 100, "bytes of 65536, 100 present"),
        ("8300 00".replace(" ", ""), "array of 3, 2 present"),
        ("a201 01".replace(" ", ""), "map of 2 pairs, 1 byte left"),
        ("1a0000", "4-byte argument cut short"),
        ("1b00000000000000", "8-byte argument cut short"),
        # integers out of range
        ("1b0020000000000000", "2**53"),
        ("3b0020000000000000", "-(2**53) - 1"),
        ("3b001fffffffffffff", "-(2**53)"),
        ("1bffffffffffffffff", "2**64 - 1"),
        # map keys: all unsigned ints or all text, nothing else
        ("a20101616101", "mixed int and text keys"),
        ("a12001", "negative int key"),
        ("a1410101", "bytes key"),
        ("a1f501", "bool key"),
        ("a1800 1".replace(" ", ""), "array key"),
        ("a1a001", "map key"),
        ("a1c10101", "tagged key"),
        ("a1f601", "null key"),
        ("a11b002000000000000001", "int key 2**53"),
        ("a2 1818 00 17 00".replace(" ", ""), "key 24 before key 23"),
        ("a2 6161 00 6161 00".replace(" ", ""), "same text key twice"),
        # text that is not UTF-8
        ("62fffe", "invalid UTF-8"),
        ("63eda080", "UTF-8 encoded surrogate"),
        ("62c0af", "overlong UTF-8"),
    ],
)
def test_rejected_encodings(hex_data: str, why: str) -> None:
    malformed(hex_data)


@pytest.mark.parametrize(
    ("hex_data", "value"),
    [
        ("a2 17 00 1818 00".replace(" ", ""), {23: 0, 24: 0}),
        ("a2616200626161 00".replace(" ", ""), {"b": 0, "aa": 0}),  # shorter key first
        ("a2616100616200", {"a": 0, "b": 0}),
        ("a2 6161 00 62c3a9 00".replace(" ", ""), {"a": 0, "\u00e9": 0}),
        ("3b001ffffffffffffe", -(MAX_INT - 1)),
        ("1b001fffffffffffff", MAX_INT - 1),
        ("40", b""),
        ("8180", [[]]),
    ],
)
def test_boundary_encodings(hex_data: str, value: CBORValue) -> None:
    data = bytes.fromhex(hex_data)
    assert _cbor.loads(data) == value
    assert _cbor.dumps(value) == data


def test_trailing_bytes_after_a_valid_item() -> None:
    good = _cbor.dumps([1, "a"])
    assert _cbor.loads(good) == [1, "a"]
    for tail in (b"\x00", b"\xff", good):
        with pytest.raises(MalformedToken):
            _cbor.loads(good + tail)


def nested(levels: int, inner: str = "01") -> str:
    return "81" * levels + inner


def test_depth_limit() -> None:
    assert _cbor.loads(bytes.fromhex(nested(MAX_CBOR_DEPTH))) == [[[[1]]]]
    malformed(nested(MAX_CBOR_DEPTH + 1))
    malformed(nested(MAX_CBOR_DEPTH + 2))
    # maps count as nesting too
    deep_map = "a101" * (MAX_CBOR_DEPTH + 1) + "01"
    malformed(deep_map)


def test_depth_counts_arrays_and_maps_alike_and_empty_containers_too() -> None:
    # map (0) -> array (1) -> map (2) -> array (3) -> 1 (4): at the limit
    data = bytes.fromhex("a101 81 a102 81 01".replace(" ", ""))
    assert _cbor.loads(data) == {1: [{2: [1]}]}
    malformed("a101 81 a102 81 81 01".replace(" ", ""))
    # an empty container is an item too: allowed at depth 4, not at depth 5
    assert _cbor.loads(bytes.fromhex(nested(MAX_CBOR_DEPTH, "80"))) == [[[[[]]]]]
    assert _cbor.loads(bytes.fromhex(nested(MAX_CBOR_DEPTH, "a0"))) == [[[[{}]]]]
    malformed(nested(MAX_CBOR_DEPTH + 1, "80"))
    malformed(nested(MAX_CBOR_DEPTH + 1, "a0"))
    # map keys are not nesting: a map at depth 3 with a text key and a leaf value is fine
    assert _cbor.loads(bytes.fromhex(nested(3, "a1616101"))) == [[[{"a": 1}]]]


def test_very_deep_nesting_is_malformed_not_recursion_error() -> None:
    malformed(nested(100_000))
    malformed("9f" * 100_000)


def test_integer_bounds() -> None:
    assert _cbor.loads(_cbor.dumps(MAX_INT - 1)) == MAX_INT - 1
    assert _cbor.loads(_cbor.dumps(-(MAX_INT - 1))) == -(MAX_INT - 1)


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        float("nan"),
        float("inf"),
        None,
        MAX_INT,
        -MAX_INT,
        2**64,
        {1: 1, "a": 1},
        {-1: 1},
        {True: 1},
        {b"k": 1},
        [[[[[[1]]]]]],
        (1, 2),
        {1, 2},
        bytearray(b"x"),
    ],
)
def test_dumps_refuses_what_the_spec_does_not_allow(value: object) -> None:
    with pytest.raises(MalformedToken):
        _cbor.dumps(value)  # type: ignore[arg-type]


def test_dumps_is_canonical_whatever_the_insertion_order() -> None:
    assert _cbor.dumps({2: 0, 1: 0}) == _cbor.dumps({1: 0, 2: 0}) == bytes.fromhex("a201000200")
    assert _cbor.dumps({"bb": 0, "a": 0, "c": 0}) == bytes.fromhex(
        "a3616100616300626262 00".replace(" ", "")
    )


def test_error_names_what_was_decoded() -> None:
    with pytest.raises(MalformedToken, match=r"^caveat "):
        _cbor.loads(b"\xf6", "caveat")
    with pytest.raises(MalformedToken, match=r"^proof "):
        _cbor.loads(b"\x01\x01", "proof")


@pytest.mark.parametrize(
    ("hex_data", "detail"),
    [
        ("d81c01", "caveat holds a CBOR tag, which the spec does not allow"),
        ("f6", "caveat holds a CBOR type the spec does not allow"),
        ("9f01ff", "caveat has an indefinite length, which the spec does not allow"),
        ("1c", "caveat is not valid CBOR: reserved additional information"),
        ("9b1000000000000000", "caveat is not valid CBOR: an array count runs past the end"),
        ("bb1000000000000000", "caveat is not valid CBOR: a map count runs past the end"),
        ("5b1000000000000000", "caveat is not valid CBOR: a length runs past the end"),
        ("1a0000", "caveat is not valid CBOR: it ends early"),
        ("1801", "caveat is not in deterministic CBOR encoding"),
        ("a2020001 00".replace(" ", ""), "caveat is not in deterministic CBOR encoding"),
        ("0101", "caveat has bytes after its one CBOR item"),
        (nested(MAX_CBOR_DEPTH + 1), "caveat is nested too deeply"),
        ("1b0020000000000000", "caveat holds an integer out of range"),
        ("62fffe", "caveat holds text that is not UTF-8"),
        ("a20101616101", "caveat has map keys that are not all unsigned or all text"),
    ],
)
def test_error_details(hex_data: str, detail: str) -> None:
    with pytest.raises(MalformedToken) as info:
        _cbor.loads(bytes.fromhex(hex_data), "caveat")
    assert info.value.detail == detail
    assert info.value.__cause__ is None  # nothing internal chained onto a presenter's error
