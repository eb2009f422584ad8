"""``encoding.json``, macaroon V2 framing: version, field order and types, varints, lengths, the
signature, locations, and the size limits of the framing."""

from __future__ import annotations

from delegation import _wire
from delegation.caveats import Tool
from delegation.limits import MAX_CAVEATS

from gen.encoding.cases import Cases, varint, wire_field
from gen.fixtures import appended, bstr, cav, resigned


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    r, mal, big, framed = cases.r, cases.mal, cases.big, cases.framed
    rb = r.raw
    ident = rb.identifier
    body, sig = cases.body, cases.sig

    good = framed(b"\x02" + wire_field(2, ident) + b"\x00")
    if good != r.token_bytes:
        raise AssertionError("the framing helper does not reproduce the token")
    mal("framing_version_1", "Version byte 0x01 (macaroon V1 is not accepted).", b"\x01" + good[1:])
    mal("framing_version_3", "Version byte 0x03.", b"\x03" + good[1:])
    mal("framing_version_0", "Version byte 0x00.", b"\x00" + good[1:])
    mal(
        "framing_duplicate_identifier_in_header",
        "The header holds the identifier field twice.",
        framed(b"\x02" + wire_field(2, ident) + wire_field(2, ident) + b"\x00"),
    )
    c0 = rb.caveats[0].cid
    rest = b"".join(wire_field(2, c.cid) + b"\x00" for c in rb.caveats[1:])
    mal(
        "framing_duplicate_identifier_in_caveat",
        "A caveat section holds its identifier field twice.",
        framed(
            b"\x02" + wire_field(2, ident) + b"\x00",
            wire_field(2, c0) + wire_field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_location_after_identifier",
        "Header fields out of order: identifier, then location.",
        framed(b"\x02" + wire_field(2, ident) + wire_field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_vid_before_identifier_in_caveat",
        "Caveat fields out of order: verification id, then identifier.",
        framed(
            b"\x02" + wire_field(2, ident) + b"\x00",
            wire_field(4, b"v" * 16) + wire_field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_vid_in_header",
        "A verification id in the header.",
        framed(b"\x02" + wire_field(2, ident) + wire_field(4, b"v" * 16) + b"\x00"),
    )
    mal(
        "framing_unknown_field_type",
        "A field of unknown type 3 in a caveat section.",
        framed(
            b"\x02" + wire_field(2, ident) + b"\x00",
            wire_field(2, c0) + wire_field(3, b"x") + b"\x00" + rest,
        ),
    )
    mal(
        "framing_first_party_caveat_with_location",
        "A first-party caveat (no verification id) that carries a location.",
        framed(
            b"\x02" + wire_field(2, ident) + b"\x00",
            wire_field(1, b"here") + wire_field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_caveat_without_identifier",
        "A caveat section with a verification id but no identifier.",
        framed(b"\x02" + wire_field(2, ident) + b"\x00", wire_field(4, b"v" * 16) + b"\x00" + rest),
    )
    mal(
        "framing_header_without_identifier",
        "A header holding only a location.",
        framed(b"\x02" + wire_field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_length_past_end",
        "The identifier's length runs past the end of the token.",
        b"\x02\x02" + varint(len(good) + 10) + good[2 + len(varint(len(ident))) :],
    )
    mal(
        "framing_signature_length_past_end",
        "The signature field claims 33 bytes and 32 follow.",
        good[:-34] + b"\x06\x21" + rb.signature,
    )
    mal("framing_bytes_after_signature", "One zero byte after the signature.", good + b"\x00")
    mal(
        "framing_field_after_signature",
        "A whole field after the signature.",
        good + wire_field(2, b"x"),
    )
    mal(
        "framing_short_signature",
        "A 31-byte signature.",
        good[:-34] + wire_field(6, rb.signature[:31]),
    )
    mal(
        "framing_long_signature",
        "A 33-byte signature.",
        good[:-34] + wire_field(6, rb.signature + b"\x00"),
    )
    mal("framing_missing_signature", "The token ends after the end-of-caveats marker.", good[:-34])
    mal(
        "framing_missing_end_of_caveats",
        "The end-of-caveats marker is missing before the signature.",
        framed(b"\x02" + wire_field(2, ident) + b"\x00", body, sig),
    )
    mal(
        "framing_truncated_mid_caveat",
        "The token cut in the middle of a caveat.",
        good[: len(good) // 2],
    )
    mal("framing_only_version_byte", "Just the version byte.", b"\x02")
    mal(
        "framing_non_minimal_varint_type",
        "The identifier's field type 2 encoded in two bytes (0x82 0x00).",
        b"\x02\x82\x00" + good[2:],
    )
    ident_len = varint(len(ident))
    long_len = ident_len[:-1] + bytes([ident_len[-1] | 0x80, 0x00])
    mal(
        "framing_non_minimal_varint_length",
        "The identifier's length varint has a redundant trailing zero group.",
        b"\x02\x02" + long_len + good[2 + len(ident_len) :],
    )
    mal(
        "framing_varint_too_long",
        "A length varint of four bytes (2**21 or more): no field can be that long.",
        b"\x02\x02\xff\xff\xff\x7f" + good[2 + len(ident_len) :],
    )
    mal(
        "framing_location_control_character",
        "A header location holding a newline.",
        framed(b"\x02" + wire_field(1, b"https://crm.example/\n") + wire_field(2, ident) + b"\x00"),
    )
    mal(
        "framing_location_not_utf8",
        "A header location that is not UTF-8.",
        framed(
            b"\x02" + wire_field(1, b"https://crm.example/\xff") + wire_field(2, ident) + b"\x00"
        ),
    )

    big(
        "framing_location_too_long",
        "A 257-byte location (limit 256).",
        framed(b"\x02" + wire_field(1, b"l" * 257) + wire_field(2, ident) + b"\x00"),
    )
    big(
        "framing_identifier_too_large",
        "A 4097-byte identifier (limit 4096).",
        framed(b"\x02" + wire_field(2, b"\xa0" * 4097) + b"\x00"),
    )
    big(
        "framing_caveat_too_large",
        "A 2049-byte caveat (limit 2048), properly MACed.",
        appended(r, cav(1024, bstr(b"x" * (2049 - 6)))),
    )
    filler = Tool(("crm.read",)).encode()
    big(
        "framing_too_many_caveats",
        f"{MAX_CAVEATS + 1} caveats (limit {MAX_CAVEATS}), properly MACed.",
        appended(r, *[filler] * (MAX_CAVEATS + 1 - len(rb.caveats))),
    )
    third = resigned(
        rb.identifier,
        [*rb.caveats, _wire.RawCaveat(b"third-party", b"v" * 48, "https://approvals.example/")],
    )
    mal(
        "third_party_caveat",
        "A caveat section with a verification id, properly MACed, whose caveat id is not a"
        " third-party caveat.",
        third,
        at=-1,
    )
