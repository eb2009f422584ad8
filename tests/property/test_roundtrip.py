"""Law: one token, one spelling. Every layer decodes what it encodes, and re-encodes what it
accepts to exactly the bytes (or text) it was given: binary framing, CBOR and base64url."""

from __future__ import annotations

import cbor2
from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import (
    MalformedToken,
    TokenTooLarge,
    UnverifiedToken,
    _cbor,
    _wire,
    decode,
    default_registry,
)
from delegation.limits import MAX_TOKEN_CHARS
from delegation.testing.hostile import B64URL
from delegation.testing.strategies import cbor_values, draw_chain
from delegation.testing.world import STORY

REGISTRY = default_registry()


def same(a: object, b: object) -> bool:
    """Equality that also tells True from 1 and a list from a tuple."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            same(k, next(j for j in b if j == k)) and same(a[k], b[k]) for k in a
        )
    return a == b


# --- tokens ---------------------------------------------------------------------------------


def _assert_token_round_trips(token: UnverifiedToken) -> None:
    text = token.encode()
    again = decode(text)
    assert again.raw == token.raw
    assert again.token_bytes == token.token_bytes
    assert again.encode() == text
    assert UnverifiedToken(token.raw).token_bytes == token.token_bytes
    assert _wire.encode(_wire.decode(token.token_bytes)) == token.token_bytes
    for raw, caveat in zip(token.raw.caveats, again.unsafe_caveats(), strict=True):
        assert caveat.encode() == raw.cid
        assert REGISTRY.decode(caveat.encode()) == caveat
        assert type(caveat).from_body(caveat.to_body()) == caveat


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_tokens_round_trip_through_text(data: st.DataObject) -> None:
    for token in draw_chain(data):
        _assert_token_round_trips(token)


def test_story_tokens_round_trip_through_text() -> None:
    for token in STORY:
        _assert_token_round_trips(token)


# --- binary framing -------------------------------------------------------------------------

_locations = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("é€😀"),
    max_size=20,
)
"""Printable UTF-8, up to 80 bytes (the limit is MAX_LOCATION_BYTES)."""


@st.composite
def raw_caveats(draw: st.DrawFn) -> _wire.RawCaveat:
    cid = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        return _wire.RawCaveat(cid)
    return _wire.RawCaveat(cid, draw(st.binary(max_size=40)), draw(st.none() | _locations))


raw_macaroons = st.builds(
    _wire.RawMacaroon,
    identifier=st.binary(max_size=200),
    caveats=st.lists(raw_caveats(), max_size=6).map(tuple),
    signature=st.binary(min_size=32, max_size=32),
    location=st.none() | _locations,
)


@settings(max_examples=200, deadline=None)
@given(mac=raw_macaroons)
def test_framing_decodes_what_it_encodes(mac: _wire.RawMacaroon) -> None:
    assert _wire.decode(_wire.encode(mac)) == mac


@st.composite
def framing_candidates(draw: st.DrawFn) -> bytes:
    """Bytes near a valid macaroon: an encoding or a story token, then a few byte edits."""
    base = draw(st.sampled_from([t.token_bytes for t in STORY]) | raw_macaroons.map(_wire.encode))
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(("set", "drop", "insert")))
        if edit == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif edit == "drop" and data:
            del data[pos]
        else:
            data.insert(pos, draw(st.integers(0, 255)))
    return bytes(data)


@settings(max_examples=200, deadline=None)
@given(data=framing_candidates() | st.binary(max_size=64))
def test_framing_has_one_spelling(data: bytes) -> None:
    """Whatever the decoder accepts re-encodes to the very same bytes; it raises nothing but
    MalformedToken or TokenTooLarge."""
    try:
        mac = _wire.decode(data)
    except (MalformedToken, TokenTooLarge) as exc:
        event(type(exc).__name__)
        return
    event("decoded")
    assert _wire.encode(mac) == data


# --- CBOR -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(value=cbor_values)
def test_cbor_decodes_what_it_encodes(value: _cbor.CBORValue) -> None:
    assert same(_cbor.loads(_cbor.dumps(value)), value)


@st.composite
def cbor_candidates(draw: st.DrawFn) -> bytes:
    """Canonical and non-canonical encodings of allowed values, and byte edits of them."""
    value = draw(cbor_values)
    data = bytearray(
        cbor2.dumps(value, canonical=draw(st.booleans()))
        if draw(st.booleans())
        else _cbor.dumps(value)
    )
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(data)))
        if draw(st.booleans()) and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        else:
            data.insert(pos, draw(st.integers(0, 255)))
    return bytes(data)


@settings(max_examples=250, deadline=None)
@given(data=cbor_candidates() | st.binary(max_size=24))
def test_cbor_has_one_spelling(data: bytes) -> None:
    """Whatever strict CBOR accepts is the canonical encoding of what it returns; everything
    else is MalformedToken, never another exception."""
    try:
        value = _cbor.loads(data)
    except MalformedToken:
        event("rejected")
        return
    event("accepted")
    assert _cbor.dumps(value) == data


# --- base64url ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_base64url_decodes_what_it_encodes(data: bytes) -> None:
    text = _wire.b64encode(data)
    assert set(text) <= set(B64URL)
    if data:
        assert _wire.b64decode(text, MAX_TOKEN_CHARS) == data


@settings(max_examples=400, deadline=None)
@given(text=st.text(st.sampled_from(B64URL + "=+/ .\n"), max_size=12))
def test_base64url_has_one_spelling(text: str) -> None:
    try:
        data = _wire.b64decode(text, MAX_TOKEN_CHARS)
    except MalformedToken:
        event("rejected")
        return
    event("accepted")
    assert _wire.b64encode(data) == text


@st.composite
def token_texts(draw: st.DrawFn) -> str:
    """A story token's text with a few characters changed (the last one most often)."""
    text = list(draw(st.sampled_from([t.encode() for t in STORY])))
    for _ in range(draw(st.integers(1, 2))):
        pos = draw(st.sampled_from((len(text) - 1, draw(st.integers(0, len(text) - 1)))))
        text[pos] = draw(st.sampled_from(B64URL))
    return "".join(text)


@settings(max_examples=200, deadline=None)
@given(text=token_texts())
def test_an_accepted_token_text_is_the_only_spelling_of_its_token(text: str) -> None:
    try:
        token = decode(text)
    except (MalformedToken, TokenTooLarge) as exc:
        event(type(exc).__name__)
        return
    event("decoded")
    assert token.encode() == text
