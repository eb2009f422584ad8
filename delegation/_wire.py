"""Macaroon V2 binary framing and the base64url text form. Private: see ``specs/token-format.md``.

Layout (libmacaroons V2)::

    0x02
    [LOCATION] IDENTIFIER EOS                      header
    ( [LOCATION] IDENTIFIER [VID] EOS )*           caveats; LOCATION only with a VID
    EOS
    SIGNATURE                                      32 bytes, then end of input

A field is ``type:varint length:varint data``; EOS is the single byte 0. Decoding is strict:
fields in order, no duplicates, minimal varints, lengths inside the input and the limits,
nothing after the signature. So one token has exactly one binary spelling, and with canonical
base64url exactly one text spelling.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import NamedTuple

from delegation._printable import is_printable
from delegation.errors import MalformedToken, TokenTooLarge
from delegation.limits import (
    MAX_CAVEAT_BYTES,
    MAX_CAVEATS,
    MAX_IDENTIFIER_BYTES,
    MAX_LOCATION_BYTES,
    MAX_TOKEN_BYTES,
)

VERSION = 2
EOS = 0
LOCATION = 1
IDENTIFIER = 2
VID = 4
SIGNATURE = 6
MAC_BYTES = 32
"""The macaroon signature field: an HMAC-SHA256 chain value (Ed25519 signatures are 64 bytes)."""

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class RawCaveat(NamedTuple):
    """One caveat as framed: ``vid`` is set only on third-party caveats."""

    cid: bytes
    vid: bytes | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class RawMacaroon:
    identifier: bytes
    caveats: tuple[RawCaveat, ...]
    signature: bytes
    location: str | None = None


# base64url through binascii directly, with the alphabet swap as one translate each way: the
# base64 module's wrappers cost more than the decoding itself on a proof (every verify).
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")  # by len % 4; 1 is never valid


def b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL).decode()


def b64decode(text: str, max_chars: int, what: str = "token") -> bytes:
    """Decode canonical unpadded base64url. Raises TokenTooLarge or MalformedToken."""
    if len(text) > max_chars:
        raise TokenTooLarge(f"{what} is longer than {max_chars} characters")
    if not text or len(text) % 4 == 1 or not text.isascii():
        raise MalformedToken(f"{what} is not unpadded base64url")
    ascii_text = text.encode("ascii")
    try:
        data = binascii.a2b_base64(ascii_text.translate(_FROM_URL) + _PADDING[len(text) % 4])
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken(f"{what} is not unpadded base64url") from exc
    # One spelling only: the decoder skips characters outside the alphabet (and would take
    # "+" and "/" after the swap) and ignores the unused low bits of the last character, so
    # the text must be exactly what encoding gives.
    if binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL) != ascii_text:
        if not _B64URL.fullmatch(text):
            raise MalformedToken(f"{what} is not unpadded base64url")
        raise MalformedToken(f"{what} is not in canonical base64url")
    return data


def encode(mac: RawMacaroon) -> bytes:
    out = bytearray([VERSION])
    if mac.location is not None:
        _put(out, LOCATION, mac.location.encode("utf-8"))
    _put(out, IDENTIFIER, mac.identifier)
    out.append(EOS)
    for cav in mac.caveats:
        if cav.location is not None:
            _put(out, LOCATION, cav.location.encode("utf-8"))
        _put(out, IDENTIFIER, cav.cid)
        if cav.vid is not None:
            _put(out, VID, cav.vid)
        out.append(EOS)
    out.append(EOS)
    _put(out, SIGNATURE, mac.signature)
    return bytes(out)


def decode(data: bytes) -> RawMacaroon:
    """Parse a binary V2 macaroon. Raises TokenTooLarge or MalformedToken.

    One pass with local indexing: this runs before every verification.
    """
    n = len(data)
    if n > MAX_TOKEN_BYTES:
        raise TokenTooLarge(f"token is larger than {MAX_TOKEN_BYTES} bytes")
    if n == 0 or data[0] != VERSION:
        raise MalformedToken("token is not a version 2 macaroon")
    location, identifier, vid, pos = _section(data, 1, n)
    if identifier is None or vid is not None:
        raise MalformedToken("token header must hold an identifier and nothing else")
    if len(identifier) > MAX_IDENTIFIER_BYTES:
        raise TokenTooLarge(f"identifier is larger than {MAX_IDENTIFIER_BYTES} bytes")
    caveats: list[RawCaveat] = []
    while True:
        if pos >= n:
            raise MalformedToken("token ends early")
        if data[pos] == EOS:
            pos += 1
            break
        if len(caveats) >= MAX_CAVEATS:
            raise TokenTooLarge(f"token has more than {MAX_CAVEATS} caveats")
        # Fast path for the common section, a first-party caveat under 128 bytes:
        # IDENTIFIER, one-byte length, the bytes, EOS. Anything else takes the general reader.
        if data[pos] == IDENTIFIER and pos + 1 < n and data[pos + 1] < 0x80:
            end = pos + 2 + data[pos + 1]
            if end < n and data[end] == EOS:
                caveats.append(RawCaveat(data[pos + 2 : end]))
                pos = end + 1
                continue
        cav_location, cid, cav_vid, pos = _section(data, pos, n)
        if cid is None:
            raise MalformedToken("caveat has no identifier")
        if cav_location is not None and cav_vid is None:
            raise MalformedToken("a first-party caveat has no location")
        if len(cid) > MAX_CAVEAT_BYTES or (cav_vid is not None and len(cav_vid) > MAX_CAVEAT_BYTES):
            raise TokenTooLarge(f"caveat is larger than {MAX_CAVEAT_BYTES} bytes")
        caveats.append(RawCaveat(cid, cav_vid, cav_location))
    # The signature field: type 6, length 32, then exactly 32 bytes and the end of the input.
    if n - pos != 2 + MAC_BYTES or data[pos] != SIGNATURE or data[pos + 1] != MAC_BYTES:
        raise MalformedToken("token does not end with a 32-byte signature")
    return RawMacaroon(identifier, tuple(caveats), data[pos + 2 :], location)


def _varint(data: bytes, pos: int, n: int) -> tuple[int, int]:
    """Read a minimal unsigned LEB128 varint below 2**21. Returns (value, next position)."""
    value = shift = 0
    while True:
        if pos >= n:
            raise MalformedToken("token ends early")
        b = data[pos]
        pos += 1
        if shift >= 21:  # nothing in a token needs a length of 2**21 or more
            raise MalformedToken("varint too long")
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b == 0 and shift > 7:
                raise MalformedToken("varint is not minimally encoded")
            return value, pos


def _section(data: bytes, pos: int, n: int) -> tuple[str | None, bytes | None, bytes | None, int]:
    """Read ``[LOCATION] [IDENTIFIER] [VID] EOS``, strictly in that order, each at most once."""
    location: str | None = None
    identifier = vid = None
    last = EOS
    while True:
        if pos >= n:
            raise MalformedToken("token ends early")
        field_type = data[pos]
        pos += 1
        if field_type == EOS:
            return location, identifier, vid, pos
        # Every known type is one varint byte; anything else is unknown or out of order.
        if field_type <= last or field_type not in (LOCATION, IDENTIFIER, VID):
            raise MalformedToken("fields are out of order, repeated or unknown")
        last = field_type
        if pos >= n:
            raise MalformedToken("token ends early")
        length = data[pos]
        if length < 0x80:
            pos += 1
        else:
            length, pos = _varint(data, pos, n)
        end = pos + length
        if end > n:
            raise MalformedToken("field length runs past the end of the token")
        chunk = data[pos:end]
        pos = end
        if field_type == IDENTIFIER:
            identifier = chunk
        elif field_type == VID:
            vid = chunk
        else:
            location = _location(chunk)


def _put(out: bytearray, field_type: int, data: bytes) -> None:
    _put_varint(out, field_type)
    _put_varint(out, len(data))
    out += data


def _put_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def check_location(text: str) -> None:
    """Raise MalformedToken or TokenTooLarge for a location the decoder would refuse."""
    if len(text) > MAX_LOCATION_BYTES:  # every character is at least one byte: refuse unencoded
        raise TokenTooLarge(f"location is longer than {MAX_LOCATION_BYTES} bytes")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no bytes could carry it
        raise MalformedToken("location is not UTF-8") from exc
    _location(data)


def _location(data: bytes) -> str:
    if len(data) > MAX_LOCATION_BYTES:
        raise TokenTooLarge(f"location is longer than {MAX_LOCATION_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedToken("location is not UTF-8") from exc
    if not is_printable(text):
        raise MalformedToken("location holds control characters")
    return text
