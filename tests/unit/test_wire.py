"""Macaroon V2 framing and base64url (``delegation._wire``): every strict-decoding branch.

specs/threats.md: "Macaroon framing: duplicate fields, lengths past the end, fields out
of order: clean reject"; "Size caps on token, caveat count ... checked before work that grows
with input"; "One token, one spelling: non-canonical base64 ... must not yield a second ...
key"; "Compute MACs over the received bytes" (decode(encode(x)) is the identity on bytes).
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Code, MalformedToken, TokenError, TokenTooLarge, _wire
from delegation.limits import (
    MAX_CAVEAT_BYTES,
    MAX_CAVEATS,
    MAX_IDENTIFIER_BYTES,
    MAX_LOCATION_BYTES,
    MAX_TOKEN_BYTES,
)

SIG = bytes(range(32))


def field(field_type: int, data: bytes) -> bytes:
    """One field with one-byte varints (enough for short test data)."""
    assert len(data) < 0x80
    return bytes([field_type, len(data)]) + data


def token(*sections: bytes, tail: bytes | None = None) -> bytes:
    """Version byte, the sections given (each must end with EOS), EOS, signature field."""
    end = field(_wire.SIGNATURE, SIG) if tail is None else tail
    return bytes([2]) + b"".join(sections) + b"\x00" + end


HEADER = field(_wire.IDENTIFIER, b"id") + b"\x00"
CAVEAT = field(_wire.IDENTIFIER, b"cav") + b"\x00"


def code_of(data: bytes) -> Code:
    with pytest.raises(TokenError) as info:
        _wire.decode(data)
    return info.value.code


# --- base64url -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64_round_trip_is_unpadded(data: bytes) -> None:
    text = _wire.b64encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert _wire.b64decode(text, 1000) == data


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty
        "AA==",  # padding
        "AAA=",
        "A",  # length 1 mod 4 is never valid
        "AAAAA",
        "+/8",  # standard alphabet, not url-safe
        "AA AA",  # whitespace
        "AA\nA",
        "AA.A",
        "\u0410\u0410",  # Cyrillic A lookalikes
        "\uff21\uff21",  # fullwidth A
        "AB",  # nonzero padding bits: a second spelling of b"\x00"
        "AAB",  # nonzero padding bits: a second spelling of b"\x00\x00"
        "_x",  # 0xff with nonzero bits left over (canonical: "_w")
    ],
)
def test_b64_non_canonical_is_malformed(text: str) -> None:
    with pytest.raises(MalformedToken) as info:
        _wire.b64decode(text, 1000)
    assert info.value.code is Code.MALFORMED


def test_b64_canonical_neighbours_decode() -> None:
    assert _wire.b64decode("AA", 10) == b"\x00"
    assert _wire.b64decode("AAA", 10) == b"\x00\x00"
    assert _wire.b64decode("_-8", 10) == b"\xff\xef"


def test_b64_length_is_checked_before_the_alphabet() -> None:
    with pytest.raises(TokenTooLarge) as info:
        _wire.b64decode("!" * 11, 10)
    assert info.value.code is Code.TOO_LARGE
    assert _wire.b64decode("A" * 8, 8) == b"\x00" * 6


# --- framing: valid shapes round-trip byte for byte ------------------------------------------


@pytest.mark.parametrize(
    "mac",
    [
        _wire.RawMacaroon(b"id", (), SIG),
        _wire.RawMacaroon(b"id", (), SIG, "https://example.com/"),
        _wire.RawMacaroon(b"id", (_wire.RawCaveat(b"a"), _wire.RawCaveat(b"b")), SIG),
        _wire.RawMacaroon(b"i" * 300, (_wire.RawCaveat(b"c" * 200),), SIG),
        _wire.RawMacaroon(b"id", (_wire.RawCaveat(b"tp", b"vid", "https://tp.example"),), SIG),
        _wire.RawMacaroon(b"id", (_wire.RawCaveat(b"tp", b"vid"),), SIG),
    ],
)
def test_encode_decode_round_trip(mac: _wire.RawMacaroon) -> None:
    data = _wire.encode(mac)
    assert _wire.decode(data) == mac
    assert _wire.encode(_wire.decode(data)) == data


def test_hand_framed_token_decodes() -> None:
    mac = _wire.decode(token(HEADER, CAVEAT))
    assert mac.identifier == b"id"
    assert mac.caveats == (_wire.RawCaveat(b"cav"),)
    assert mac.signature == SIG
    assert mac.location is None


# --- framing: every rejection ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x01" + token(HEADER)[1:], id="version-1"),
        pytest.param(b"\x03" + token(HEADER)[1:], id="version-3"),
        pytest.param(b"\x02", id="only-version"),
        pytest.param(token(b"\x00"), id="header-without-identifier"),
        pytest.param(token(field(1, b"loc") + b"\x00"), id="header-location-only"),
        pytest.param(token(field(2, b"id") + field(4, b"vid") + b"\x00"), id="header-with-vid"),
        pytest.param(token(field(2, b"a") + field(2, b"b") + b"\x00"), id="duplicate-identifier"),
        pytest.param(token(field(2, b"id") + field(1, b"l") + b"\x00"), id="out-of-order"),
        pytest.param(
            token(field(1, b"a") + field(1, b"b") + field(2, b"i") + b"\x00"), id="dup-loc"
        ),
        pytest.param(token(field(3, b"x") + field(2, b"id") + b"\x00"), id="unknown-field-3"),
        pytest.param(token(field(2, b"id") + field(5, b"x") + b"\x00"), id="unknown-field-5"),
        pytest.param(token(field(2, b"id") + field(6, SIG) + b"\x00"), id="signature-in-header"),
        pytest.param(token(HEADER, field(4, b"vid") + b"\x00"), id="caveat-without-identifier"),
        pytest.param(token(HEADER, field(1, b"l") + field(2, b"c") + b"\x00"), id="1p-caveat-loc"),
        pytest.param(token(HEADER, field(2, b"c") + field(2, b"d") + b"\x00"), id="dup-cav-id"),
        pytest.param(
            token(HEADER, field(2, b"c") + field(4, b"v") + field(4, b"w") + b"\x00"), id="dup-vid"
        ),
        pytest.param(token(HEADER, field(4, b"v") + field(2, b"c") + b"\x00"), id="vid-before-cid"),
        pytest.param(token(HEADER, tail=b""), id="no-signature"),
        pytest.param(token(HEADER, tail=field(6, SIG[:31])), id="signature-31"),
        pytest.param(token(HEADER, tail=field(6, SIG + b"\x00")), id="signature-33"),
        pytest.param(token(HEADER, tail=field(2, SIG)), id="signature-wrong-type"),
        pytest.param(token(HEADER, tail=b"\x00"), id="eos-instead-of-signature"),
        pytest.param(token(HEADER) + b"\x00", id="trailing-zero"),
        pytest.param(token(HEADER) + b"junk", id="trailing-bytes"),
        pytest.param(token(HEADER)[:-1], id="truncated-signature"),
        pytest.param(token(HEADER)[:5], id="truncated-header"),
        pytest.param(bytes([2, 2, 0x7F]) + b"short", id="length-past-end"),
        pytest.param(bytes([2, 0x82, 0x00, 2]) + b"id\x00\x00" + field(6, SIG), id="varint-type"),
        pytest.param(bytes([2, 2, 0x82, 0x00]) + b"id\x00\x00" + field(6, SIG), id="varint-len"),
        pytest.param(bytes([2, 2, 0xFF, 0xFF, 0xFF, 0x01]), id="varint-too-long"),
        pytest.param(bytes([2, 2, 0x80]), id="varint-truncated"),
        pytest.param(token(field(1, b"\xff\xfe") + field(2, b"i") + b"\x00"), id="loc-not-utf8"),
        pytest.param(token(field(1, b"a\nb") + field(2, b"i") + b"\x00"), id="loc-control-char"),
        pytest.param(token(field(1, b"a\x00") + field(2, b"i") + b"\x00"), id="loc-nul"),
        pytest.param(token(HEADER, field(2, b"c")), id="caveat-not-terminated"),
    ],
)
def test_framing_errors_are_malformed(data: bytes) -> None:
    assert code_of(data) is Code.MALFORMED


def test_non_minimal_varint_for_a_long_field_is_malformed() -> None:
    # 0x81 0x80 0x00 spells 1 in three bytes; 0x81 0x00 in two.
    for spelling in (b"\x81\x00", b"\x81\x80\x00"):
        assert code_of(bytes([2, 2]) + spelling + b"i\x00\x00" + field(6, SIG)) is Code.MALFORMED


def test_two_byte_varints_decode() -> None:
    ident = b"i" * 200
    data = bytes([2, 2, 0xC8, 0x01]) + ident + b"\x00\x00" + field(6, SIG)
    assert _wire.decode(data).identifier == ident


# --- limits ------------------------------------------------------------------------------------


def test_oversized_input_is_too_large_before_parsing() -> None:
    # Garbage that would be malformed is reported too_large: the size check comes first.
    assert code_of(b"\xff" * (MAX_TOKEN_BYTES + 1)) is Code.TOO_LARGE


def _big(
    ident: int = 2, cav: int = 0, vid: int = 0, loc: int = 0, count: int = 1
) -> _wire.RawMacaroon:
    caveats = tuple(
        _wire.RawCaveat(b"c" * cav, b"v" * vid if vid else None, "l" * loc if loc else None)
        for _ in range(count if cav else 0)
    )
    return _wire.RawMacaroon(b"i" * ident, caveats, SIG)


@pytest.mark.parametrize(
    ("mac", "code"),
    [
        (_big(ident=MAX_IDENTIFIER_BYTES), None),
        (_big(ident=MAX_IDENTIFIER_BYTES + 1), Code.TOO_LARGE),
        (_big(cav=MAX_CAVEAT_BYTES), None),
        (_big(cav=MAX_CAVEAT_BYTES + 1), Code.TOO_LARGE),
        (_big(cav=1, vid=MAX_CAVEAT_BYTES), None),
        (_big(cav=1, vid=MAX_CAVEAT_BYTES + 1), Code.TOO_LARGE),
        (_big(cav=1, vid=1, loc=MAX_LOCATION_BYTES), None),
        (_big(cav=1, vid=1, loc=MAX_LOCATION_BYTES + 1), Code.TOO_LARGE),
        (_big(cav=1, count=MAX_CAVEATS), None),
        (_big(cav=1, count=MAX_CAVEATS + 1), Code.TOO_LARGE),
    ],
)
def test_field_and_count_limits(mac: _wire.RawMacaroon, code: Code | None) -> None:
    data = _wire.encode(mac)
    if code is None:
        assert _wire.decode(data) == mac
    else:
        assert code_of(data) is code


def test_the_caveat_count_limit_stops_a_token_of_tiny_sections_early() -> None:
    # 5000 three-byte caveat sections fit under MAX_TOKEN_BYTES; the 97th is refused.
    data = token(HEADER, (field(_wire.IDENTIFIER, b"") + b"\x00") * 5000)
    assert len(data) <= MAX_TOKEN_BYTES
    with pytest.raises(TokenTooLarge, match=f"more than {MAX_CAVEATS} caveats"):
        _wire.decode(data)


@pytest.mark.parametrize("varint", [b"\xff\x7f", b"\xff\xff\x7f"], ids=["2**14 - 1", "2**21 - 1"])
def test_the_largest_declared_field_lengths_fail_at_once(varint: bytes) -> None:
    data = bytes([2, _wire.IDENTIFIER]) + varint + b"id\x00\x00" + field(6, SIG)
    with pytest.raises(MalformedToken, match="runs past the end"):
        _wire.decode(data)


def test_header_location_limit() -> None:
    ok = _wire.RawMacaroon(b"id", (), SIG, "l" * MAX_LOCATION_BYTES)
    assert _wire.decode(_wire.encode(ok)) == ok
    too_long = _wire.RawMacaroon(b"id", (), SIG, "l" * (MAX_LOCATION_BYTES + 1))
    assert code_of(_wire.encode(too_long)) is Code.TOO_LARGE


def test_location_limit_counts_bytes_not_characters() -> None:
    # 129 two-byte characters are 258 bytes: over the limit although only 129 characters.
    mac = _wire.RawMacaroon(b"id", (), SIG, "\u00e9" * 129)
    assert code_of(_wire.encode(mac)) is Code.TOO_LARGE


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("l" * MAX_LOCATION_BYTES, None),
        ("l" * (MAX_LOCATION_BYTES + 1), TokenTooLarge),
        ("l" * 10_000_000, TokenTooLarge),  # refused by its length, before it is encoded
        ("\u00e9" * 129, TokenTooLarge),  # 129 characters, 258 bytes
        ("https://a.example/\udc80", MalformedToken),  # a lone surrogate has no UTF-8 bytes
        ("a\nb", MalformedToken),
    ],
)
def test_check_location_refuses_what_the_decoder_would(
    location: str, error: type[TokenError] | None
) -> None:
    if error is None:
        _wire.check_location(location)
    else:
        with pytest.raises(error):
            _wire.check_location(location)


def test_errors_are_token_errors_with_codes() -> None:
    assert issubclass(MalformedToken, TokenError)
    assert issubclass(TokenTooLarge, TokenError)
    with pytest.raises(MalformedToken, match="version 2"):
        _wire.decode(b"\x01\x00")


@settings(max_examples=500)
@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.é ",
        max_size=12,
    )
)
def test_b64_accepts_exactly_the_canonical_unpadded_base64url_texts(text: str) -> None:
    canonical = (
        bool(text)
        and len(text) % 4 != 1
        and re.fullmatch(r"[A-Za-z0-9_-]*", text) is not None
        and base64.urlsafe_b64encode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        .rstrip(b"=")
        .decode()
        == text
    )
    try:
        _wire.b64decode(text, 100)
    except MalformedToken:
        assert not canonical
    else:
        assert canonical
