"""``encoding.json``: one token, one spelling. Non-canonical base64url, macaroon V2 framing
errors, strict CBOR (duplicates, non-shortest forms, indefinite lengths, tags, floats, NaN,
trailing bytes, type confusion, out-of-profile tags), body rules and size limits."""

from __future__ import annotations

from delegation import Code, _wire, decode
from delegation.caveats import Hop, Tool, Validity
from delegation.limits import MAX_CAVEATS, MAX_HOPS, MAX_TOKEN_CHARS

from gen.fixtures import (
    EXPIRES,
    NOW,
    READ,
    ROOT_KEY_ID,
    TASK,
    K,
    Tokenish,
    agent,
    appended,
    arr,
    bstr,
    canonical,
    cav,
    cids,
    cmap,
    f64,
    head,
    identifier_cbor,
    pop,
    resigned,
    root,
    text,
    tstr,
    uint,
)
from gen.render import VectorFile


def build() -> VectorFile:
    f = VectorFile(
        "encoding.json",
        "One token, one spelling: base64url, macaroon V2 framing and deterministic CBOR are"
        " strict, and every deviation is malformed (or too_large), never an allow or a crash.",
    )
    r = root("root")
    rb = r.raw
    # A token whose binary length is not a multiple of 3 has padding bits in its last character.
    padded_tok = next(
        t
        for t in (root("root", location="https://crm.example/" + "x" * i) for i in range(3))
        if len(t.token_bytes) % 3
    )
    s = padded_tok.encode()

    def mal(name: str, description: str, tok: Tokenish, proof_over: Tokenish | None = None) -> None:
        # The proof signs the bytes as presented (or, for a text that is not base64url, the
        # token it misspells), so the encoding is the only thing wrong.
        proof = pop(tok if proof_over is None else proof_over, "orchestrator", READ, name)
        f.add(name, description, tok, READ, proof, codes=[Code.MALFORMED])

    # --- base64url text form
    mal(
        "base64_padded",
        "The token with '=' padding appended: base64url travels unpadded.",
        s + "=" * (-len(s) % 4),
        padded_tok,
    )
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = alphabet[alphabet.index(s[-1]) | 1]
    mal(
        "base64_nonzero_padding_bits",
        "The last character changed so its unused padding bits are nonzero: same bytes, second"
        " spelling.",
        s[:-1] + bumped,
        padded_tok,
    )
    if "-" not in s or "_" not in s:
        raise AssertionError("pick a token whose text has '-' and '_'")
    mal(
        "base64_plus_instead_of_minus",
        "Standard-alphabet '+' for '-'.",
        s.replace("-", "+"),
        padded_tok,
    )
    mal(
        "base64_slash_instead_of_underscore",
        "Standard-alphabet '/' for '_'.",
        s.replace("_", "/"),
        padded_tok,
    )
    mal("base64_leading_space", "A space before the token.", " " + s, padded_tok)
    mal("base64_trailing_newline", "A newline after the token.", s + "\n", padded_tok)
    mal("base64_inner_space", "A space inside the token.", s[:40] + " " + s[40:], padded_tok)
    mal("base64_inner_tab", "A tab inside the token.", s[:40] + "\t" + s[40:], padded_tok)
    mal(
        "base64_percent_encoded",
        "One character percent-encoded.",
        s[:40] + "%41" + s[41:],
        padded_tok,
    )
    mal(
        "base64_non_ascii",
        "A fullwidth 'A' (U+FF21) inside the token.",
        s[:40] + "\uff21" + s[41:],
        padded_tok,
    )
    mal(
        "base64_length_1_mod_4",
        "A length that no base64 encoding has (1 mod 4).",
        s[: len(s) - (len(s) % 4) - 3],
        padded_tok,
    )
    mal("empty_token", "The empty string.", "", padded_tok)
    f.add(
        "token_text_over_limit",
        f"{MAX_TOKEN_CHARS + 1} characters: over the text limit, rejected before decoding.",
        "A" * (MAX_TOKEN_CHARS + 1),
        READ,
        None,
        codes=[Code.TOO_LARGE],
    )

    # --- macaroon V2 framing
    ident = rb.identifier
    body = b"".join(_field(2, c.cid) + b"\x00" for c in rb.caveats)
    sig = _field(6, rb.signature)

    def framed(header: bytes, caveats: bytes = body, tail: bytes = b"\x00" + sig) -> bytes:
        return header + caveats + tail

    good = framed(b"\x02" + _field(2, ident) + b"\x00")
    if good != r.token_bytes:
        raise AssertionError("the framing helper does not reproduce the token")
    mal("framing_version_1", "Version byte 0x01 (macaroon V1 is not accepted).", b"\x01" + good[1:])
    mal("framing_version_3", "Version byte 0x03.", b"\x03" + good[1:])
    mal("framing_version_0", "Version byte 0x00.", b"\x00" + good[1:])
    mal(
        "framing_duplicate_identifier_in_header",
        "The header holds the identifier field twice.",
        framed(b"\x02" + _field(2, ident) + _field(2, ident) + b"\x00"),
    )
    c0 = rb.caveats[0].cid
    rest = b"".join(_field(2, c.cid) + b"\x00" for c in rb.caveats[1:])
    mal(
        "framing_duplicate_identifier_in_caveat",
        "A caveat section holds its identifier field twice.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00", _field(2, c0) + _field(2, c0) + b"\x00" + rest
        ),
    )
    mal(
        "framing_location_after_identifier",
        "Header fields out of order: identifier, then location.",
        framed(b"\x02" + _field(2, ident) + _field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_vid_before_identifier_in_caveat",
        "Caveat fields out of order: verification id, then identifier.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00",
            _field(4, b"v" * 16) + _field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_vid_in_header",
        "A verification id in the header.",
        framed(b"\x02" + _field(2, ident) + _field(4, b"v" * 16) + b"\x00"),
    )
    mal(
        "framing_unknown_field_type",
        "A field of unknown type 3 in a caveat section.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00", _field(2, c0) + _field(3, b"x") + b"\x00" + rest
        ),
    )
    mal(
        "framing_first_party_caveat_with_location",
        "A first-party caveat (no verification id) that carries a location.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00",
            _field(1, b"here") + _field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_caveat_without_identifier",
        "A caveat section with a verification id but no identifier.",
        framed(b"\x02" + _field(2, ident) + b"\x00", _field(4, b"v" * 16) + b"\x00" + rest),
    )
    mal(
        "framing_header_without_identifier",
        "A header holding only a location.",
        framed(b"\x02" + _field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_length_past_end",
        "The identifier's length runs past the end of the token.",
        b"\x02\x02" + _varint(len(good) + 10) + good[2 + len(_varint(len(ident))) :],
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
        good + _field(2, b"x"),
    )
    mal(
        "framing_short_signature", "A 31-byte signature.", good[:-34] + _field(6, rb.signature[:31])
    )
    mal(
        "framing_long_signature",
        "A 33-byte signature.",
        good[:-34] + _field(6, rb.signature + b"\x00"),
    )
    mal("framing_missing_signature", "The token ends after the end-of-caveats marker.", good[:-34])
    mal(
        "framing_missing_end_of_caveats",
        "The end-of-caveats marker is missing before the signature.",
        framed(b"\x02" + _field(2, ident) + b"\x00", body, sig),
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
    ident_len = _varint(len(ident))
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
        framed(b"\x02" + _field(1, b"https://crm.example/\n") + _field(2, ident) + b"\x00"),
    )
    mal(
        "framing_location_not_utf8",
        "A header location that is not UTF-8.",
        framed(b"\x02" + _field(1, b"https://crm.example/\xff") + _field(2, ident) + b"\x00"),
    )

    def big(name: str, description: str, data: Tokenish) -> None:
        f.add(
            name,
            description,
            data,
            READ,
            pop(data, "orchestrator", READ, name),
            codes=[Code.TOO_LARGE],
        )

    big(
        "framing_location_too_long",
        "A 257-byte location (limit 256).",
        framed(b"\x02" + _field(1, b"l" * 257) + _field(2, ident) + b"\x00"),
    )
    big(
        "framing_identifier_too_large",
        "A 4097-byte identifier (limit 4096).",
        framed(b"\x02" + _field(2, b"\xa0" * 4097) + b"\x00"),
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
    )

    # --- deterministic CBOR in caveats, appended by the holder (the HMAC chain extends)
    exp = uint(EXPIRES)
    if cav(1, cmap((uint(2), exp))) != Validity(None, EXPIRES).encode():
        raise AssertionError("hand CBOR does not match the library's")

    def cbor_case(name: str, description: str, cid: bytes) -> None:
        tok = appended(r, cid)
        f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )

    cbor_case(
        "cbor_duplicate_map_key",
        "A validity map with key 2 (expires) twice.",
        cav(1, cmap((uint(2), exp), (uint(2), uint(EXPIRES + 99_999)))),
    )
    cbor_case(
        "cbor_unsorted_map_keys",
        "A validity map with expires (2) before not_before (1).",
        cav(1, cmap((uint(2), exp), (uint(1), uint(NOW - 10)))),
    )
    cbor_case(
        "cbor_non_shortest_integer",
        "The expiry encoded in 8 bytes where 4 suffice.",
        cav(1, cmap((uint(2), b"\x1b" + EXPIRES.to_bytes(8, "big")))),
    )
    cbor_case(
        "cbor_non_shortest_small_integer",
        "The caveat type id 3 encoded as 0x18 0x03.",
        arr(b"\x18\x03", canonical(["crm.read"])),
    )
    cbor_case(
        "cbor_non_shortest_length",
        "A tool name's text length in a one-byte argument where it fits in the head.",
        cav(3, arr(b"\x78\x08" + b"crm.read")),
    )
    cbor_case(
        "cbor_non_shortest_array_length",
        "The caveat array's length 2 encoded as 0x98 0x02.",
        b"\x98\x02" + uint(3) + canonical(["crm.read"]),
    )
    cbor_case(
        "cbor_indefinite_array",
        "An indefinite-length tool array.",
        cav(3, b"\x9f" + tstr("crm.read") + b"\xff"),
    )
    cbor_case(
        "cbor_indefinite_text",
        "An indefinite-length (chunked) tool name.",
        cav(3, arr(b"\x7f" + tstr("crm.") + tstr("read") + b"\xff")),
    )
    cbor_case(
        "cbor_indefinite_map",
        "An indefinite-length validity map.",
        cav(1, b"\xbf" + uint(2) + exp + b"\xff"),
    )
    cbor_case(
        "cbor_tag_epoch_time",
        "The expiry wrapped in tag 1 (epoch time).",
        cav(1, cmap((uint(2), b"\xc1" + exp))),
    )
    cbor_case(
        "cbor_tag_bignum_small",
        "The expiry as a tag-2 bignum that would fit an ordinary integer.",
        cav(1, cmap((uint(2), b"\xc2" + bstr(EXPIRES.to_bytes(4, "big"))))),
    )
    cbor_case(
        "cbor_tag_bignum_huge",
        "max_depth as a 9-byte tag-2 bignum.",
        cav(8, b"\xc2" + bstr(b"\x01" + bytes(8))),
    )
    cbor_case(
        "cbor_tag_on_caveat",
        "The whole caveat wrapped in tag 55799 (self-described CBOR).",
        b"\xd9\xd9\xf7" + Tool(("crm.read",)).encode(),
    )
    cbor_case(
        "cbor_float_expiry",
        "The expiry as a float64 of the same value.",
        cav(1, cmap((uint(2), f64(EXPIRES)))),
    )
    cbor_case(
        "cbor_nan_expiry",
        "The expiry as a half-precision NaN: a NaN expiry would never expire.",
        cav(1, cmap((uint(2), b"\xf9\x7e\x00"))),
    )
    cbor_case(
        "cbor_infinite_expiry",
        "The expiry as half-precision +Infinity.",
        cav(1, cmap((uint(2), b"\xf9\x7c\x00"))),
    )
    cbor_case(
        "cbor_half_float_max_depth",
        "max_depth 3 as a half-precision float (3.0).",
        cav(8, b"\xf9\x42\x00"),
    )
    cbor_case("cbor_null_expiry", "The expiry as null.", cav(1, cmap((uint(2), b"\xf6"))))
    cbor_case("cbor_undefined", "max_depth as the simple value undefined.", cav(8, b"\xf7"))
    cbor_case("cbor_simple_value", "max_depth as simple value 16.", cav(8, b"\xf0"))
    cbor_case(
        "cbor_trailing_byte",
        "A tool caveat followed by one zero byte.",
        Tool(("crm.read",)).encode() + b"\x00",
    )
    cbor_case(
        "cbor_two_items",
        "Two complete caveats in one caveat field.",
        Tool(("crm.read",)).encode() + Validity(None, EXPIRES).encode(),
    )
    cbor_case(
        "cbor_truncated", "A tool caveat cut one byte short.", Tool(("crm.read",)).encode()[:-1]
    )
    cbor_case(
        "cbor_invalid_utf8_text", "A tool name that is not UTF-8.", cav(3, arr(b"\x68crm.rea\xff"))
    )
    nested = uint(1)
    for _ in range(8):
        nested = arr(nested)
    cbor_case(
        "cbor_nested_too_deep",
        "An application caveat (type 1024) whose body nests arrays 8 deep: over the depth"
        " limit, so malformed rather than unknown_caveat.",
        cav(1024, nested),
    )
    cbor_case("cbor_empty_caveat", "A caveat field of zero bytes.", b"")
    cbor_case(
        "type_confusion_expiry_text",
        'The expiry as the text "1800003600".',
        cav(1, cmap((uint(2), tstr(str(EXPIRES))))),
    )
    cbor_case("type_confusion_expiry_true", "The expiry as true.", cav(1, cmap((uint(2), b"\xf5"))))
    cbor_case("type_confusion_max_depth_text", 'max_depth as the text "3".', cav(8, tstr("3")))
    cbor_case("type_confusion_max_depth_true", "max_depth as true.", cav(8, b"\xf5"))
    cbor_case("type_confusion_max_depth_float", "max_depth as the float64 3.0.", cav(8, f64(3.0)))
    cbor_case(
        "type_confusion_type_id_text",
        'The caveat type id as the text "3".',
        arr(tstr("3"), canonical(["crm.read"])),
    )
    cbor_case(
        "type_confusion_type_id_true",
        "The caveat type id as true.",
        arr(b"\xf5", canonical(["crm.read"])),
    )
    cbor_case(
        "type_confusion_arg_eq_float",
        "An argument constraint whose value is the float 42.0.",
        cav(7, arr(arr(tstr("account"), uint(1), f64(42)))),
    )
    cbor_case("integer_negative_expiry", "An expiry of -1.", cav(1, cmap((uint(2), b"\x20"))))
    cbor_case(
        "integer_expiry_beyond_max_time",
        "An expiry of 2**34 (times lie in [0, 2**34)).",
        cav(1, cmap((uint(2), uint(2**34)))),
    )
    cbor_case(
        "integer_beyond_max_int",
        "max_depth of 2**53, outside the integer range.",
        cav(8, uint(2**53)),
    )
    cbor_case(
        "integer_max_depth_over_max_hops",
        f"max_depth {MAX_HOPS + 1}, over the hop limit.",
        cav(8, uint(MAX_HOPS + 1)),
    )
    cbor_case(
        "caveat_not_an_array", "A caveat that is a map.", cmap((uint(3), canonical(["crm.read"])))
    )
    cbor_case(
        "caveat_array_of_three",
        "A caveat array with three items.",
        arr(uint(3), canonical(["crm.read"]), uint(0)),
    )
    cbor_case("caveat_type_id_zero", "Caveat type id 0.", cav(0, canonical(["crm.read"])))
    cbor_case(
        "caveat_type_id_too_big", "Caveat type id 2**32.", cav(2**32, canonical(["crm.read"]))
    )
    cbor_case(
        "caveat_type_id_negative", "Caveat type id -1.", arr(b"\x20", canonical(["crm.read"]))
    )
    cbor_case(
        "tool_list_empty",
        "An empty tool list: empty is malformed, never a wildcard.",
        cav(3, arr()),
    )
    cbor_case(
        "tool_list_unsorted",
        "A tool list out of order.",
        cav(3, arr(tstr("crm.read"), tstr("crm.audit"))),
    )
    cbor_case(
        "tool_list_duplicate",
        "A tool listed twice.",
        cav(3, arr(tstr("crm.read"), tstr("crm.read"))),
    )
    cbor_case("tool_name_empty", "An empty tool name.", cav(3, arr(tstr(""))))
    cbor_case(
        "tool_name_control_character",
        "A tool name holding a newline.",
        cav(3, arr(tstr("crm.read\n"))),
    )
    cbor_case(
        "tool_list_not_array",
        "A tool caveat body that is one text, not an array.",
        cav(3, tstr("crm.read")),
    )
    cbor_case("audience_list_empty", "An empty audience list.", cav(2, arr()))
    cbor_case("validity_empty_map", "A validity caveat with neither field.", cav(1, cmap()))
    cbor_case(
        "validity_not_before_after_expiry",
        "not_before later than expires.",
        cav(1, cmap((uint(1), uint(EXPIRES + 1)), (uint(2), exp))),
    )
    cbor_case(
        "validity_unknown_field",
        "A validity map with an unknown field 3.",
        cav(1, cmap((uint(2), exp), (uint(3), uint(1)))),
    )
    cbor_case(
        "validity_text_keys",
        'A validity map keyed by the text "expires".',
        cav(1, cmap((tstr("expires"), exp))),
    )
    # Fixed bug: delegation/caveats/args.py Args.from_body tests `item[1] not in _OP_NAMES` on
    # an unhashable array/map operator: TypeError, caught by Verifier.verify's catch-all and
    # logged as an internal error. Expected: a clean malformed, with nothing logged.
    cbor_case(
        "args_operator_is_an_array",
        "An argument constraint whose operator is an array instead of an integer.",
        cav(7, arr(arr(tstr("limit"), arr(uint(4)), uint(50)))),
    )
    cbor_case(
        "args_operator_is_a_map",
        "An argument constraint whose operator is a map instead of an integer.",
        cav(7, arr(arr(tstr("limit"), cmap((uint(1), uint(4))), uint(50)))),
    )
    cbor_case(
        "args_unknown_operator",
        "An argument constraint with operator 9.",
        cav(7, arr(arr(tstr("limit"), uint(9), uint(50)))),
    )
    cbor_case("args_empty", "An args caveat with no constraints.", cav(7, arr()))
    cbor_case(
        "args_min_as_text",
        'An argument minimum given as the text "1".',
        cav(7, arr(arr(tstr("limit"), uint(3), tstr("1")))),
    )
    cbor_case(
        "args_in_empty",
        "An argument membership constraint with an empty set.",
        cav(7, arr(arr(tstr("format"), uint(2), arr()))),
    )
    cbor_case(
        "resource_pattern_dot_segment",
        "A resource pattern ending in '..'.",
        cav(5, arr(tstr("crm://accounts/42/.."))),
    )
    cbor_case(
        "resource_pattern_percent",
        "A resource pattern holding '%2F'.",
        cav(5, arr(tstr("crm://accounts/42%2F43"))),
    )
    cbor_case(
        "resource_pattern_empty_segment",
        "A resource pattern with an empty segment.",
        cav(5, arr(tstr("crm://accounts//42"))),
    )
    cbor_case(
        "resource_pattern_double_star_not_last",
        "A resource pattern with '**' before the last segment.",
        cav(5, arr(tstr("crm://accounts/**/notes"))),
    )
    cbor_case(
        "resource_pattern_no_scheme",
        "A resource pattern with neither scheme nor leading '/'.",
        cav(5, arr(tstr("accounts/42"))),
    )
    cbor_case("delegatee_pattern_empty", "An empty delegatee pattern.", cav(9, arr(tstr(""))))
    cbor_case("delegatee_pattern_double_star", "A delegatee pattern '**'.", cav(9, arr(tstr("**"))))
    hop_ok = Hop("researcher", K["researcher"].public_key, bytes(64))
    cbor_case(
        "hop_public_key_31_bytes",
        "A hop whose public key is 31 bytes.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key[:31]), bstr(bytes(64)))),
    )
    cbor_case(
        "hop_signature_63_bytes",
        "A hop whose signature is 63 bytes.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key), bstr(bytes(63)))),
    )
    cbor_case(
        "hop_agent_id_with_space",
        "A hop whose agent id holds a space.",
        cav(10, arr(tstr("re searcher"), bstr(hop_ok.public_key), bstr(bytes(64)))),
    )
    cbor_case(
        "hop_missing_signature",
        "A hop of two items.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key))),
    )

    # --- deterministic CBOR in the identifier, re-MACed with the test root key
    def ident_case(name: str, description: str, identifier: bytes) -> None:
        tok = resigned(identifier, cids(r))
        f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )

    if resigned(identifier_cbor(), cids(r)).identifier != identifier_cbor():
        raise AssertionError("unreachable")
    try:  # the hand-built identifier must itself be valid, or the cases below prove nothing
        decode(text(resigned(identifier_cbor(), cids(r))))
    except Exception as exc:
        raise AssertionError("hand-built identifier does not decode") from exc
    ident_case(
        "identifier_duplicate_key",
        "The identifier map holds key 2 (key id) twice.",
        b"\xa6" + identifier_cbor()[1:] + uint(2) + tstr(ROOT_KEY_ID),
    )
    ident_case("identifier_version_2", "Format version 2.", identifier_cbor(version=uint(2)))
    ident_case("identifier_version_true", "Format version true.", identifier_cbor(version=b"\xf5"))
    ident_case("identifier_version_text", 'Format version "1".', identifier_cbor(version=tstr("1")))
    ident_case(
        "identifier_extra_field",
        "An extra identifier field 6.",
        identifier_cbor(extra=[(uint(6), uint(0))]),
    )
    ident_case(
        "identifier_missing_holder",
        "No holder (field 5).",
        cmap(
            (uint(1), uint(1)),
            (uint(2), tstr(ROOT_KEY_ID)),
            (uint(3), bstr(bytes(16))),
            (uint(4), canonical(TASK.to_cbor())),
        ),
    )
    ident_case(
        "identifier_nonce_15_bytes", "A 15-byte nonce.", identifier_cbor(nonce=bstr(bytes(15)))
    )
    task_cbor = TASK.to_cbor()
    ident_case(
        "identifier_approved_at_float",
        "The task's approval time as a float64.",
        identifier_cbor(
            task=arr(
                tstr(str(task_cbor[0])),
                tstr(str(task_cbor[1])),
                f64(NOW - 60),
                tstr(str(task_cbor[3])),
            )
        ),
    )
    ident_case(
        "identifier_approved_at_text",
        "The task's approval time as text.",
        identifier_cbor(
            task=arr(
                tstr(str(task_cbor[0])),
                tstr(str(task_cbor[1])),
                tstr(str(NOW - 60)),
                tstr(str(task_cbor[3])),
            )
        ),
    )
    ident_case(
        "identifier_holder_key_31_bytes",
        "A 31-byte holder public key.",
        identifier_cbor(holder=arr(tstr("orchestrator"), bstr(K["orchestrator"].public_key[:31]))),
    )
    ident_case(
        "identifier_trailing_byte",
        "One zero byte after the identifier map.",
        identifier_cbor() + b"\x00",
    )
    ident_case(
        "identifier_not_a_map", "The identifier as an array.", arr(uint(1), tstr(ROOT_KEY_ID))
    )
    ident_case(
        "identifier_unsorted_keys",
        "Identifier fields out of canonical order.",
        identifier_cbor(
            pairs=[
                (uint(2), tstr(ROOT_KEY_ID)),
                (uint(1), uint(1)),
                (uint(3), bstr(bytes(16))),
                (uint(4), canonical(TASK.to_cbor())),
                (uint(5), canonical(agent("orchestrator").to_cbor())),
            ]
        ),
    )

    # --- out-of-profile CBOR that a generic decoder would expand before any check
    # Fixed bug: delegation/_cbor.py let cbor2 build the whole value before the profile check,
    # resolving value-sharing (28/29) and string-reference (25/256) tags: a 575-byte identifier
    # took 1.25 s to reject, growing with the fourth power of its length, before the MAC check.
    # Each of these must be refused at its first out-of-profile head, in work linear in its size.
    def tag(number: int, item: bytes) -> bytes:
        return head(6, number) + item

    def shared_tree(width: int, levels: int) -> bytes:
        """A full width-ary tree of arrays over zeros: one shareable (tag 28) copy of each
        level and width - 1 references (tag 29) to it, so about 3 * width * levels bytes."""
        inner = arr(*[uint(0)] * width)
        for k in range(levels - 1):
            ref = tag(29, uint(levels - 2 - k))  # share indices count tag 28s from the outside
            inner = head(4, width) + tag(28, inner) + ref * (width - 1)
        return inner

    tree = shared_tree(100, 4)
    cbor_case(
        "cbor_value_sharing_caveat",
        f"A {len(tree)}-byte caveat of value-sharing tags (28/29) standing for an array tree of"
        f" {100**4:,} zeros, properly MACed: refused at its first tag, never expanded.",
        tree,
    )
    cbor_case(
        "cbor_value_sharing_application_caveat",
        "An application caveat (type 1024) whose body is a value-sharing tree of 10**6 zeros:"
        " malformed, not unknown_caveat.",
        cav(1024, shared_tree(100, 3)),
    )
    cbor_case(
        "cbor_tag_shareable_expiry",
        "The expiry wrapped in tag 28 (shareable), which a generic decoder unwraps to the very"
        " same integer.",
        cav(1, cmap((uint(2), tag(28, exp)))),
    )
    cbor_case(
        "cbor_tag_shared_reference_alone",
        "max_depth as tag 29 (shared reference) to a value that was never marked shareable.",
        cav(8, tag(29, uint(0))),
    )
    refs = tag(256, arr(tstr("x" * 40), *[tag(25, uint(0))] * 300))
    cbor_case(
        "cbor_string_references",
        f"An application caveat whose body is a {len(refs)}-byte string-reference namespace"
        " (tag 256) holding one 40-character text and 300 references to it (tag 25).",
        cav(1024, refs),
    )
    cbor_case(
        "cbor_tag_string_reference_in_tool_list",
        "A tool list whose second name is a string reference (tag 25) to the first.",
        cav(3, tag(256, arr(tstr("crm.audit"), tag(25, uint(0))))),
    )
    cbor_case(
        "cbor_huge_declared_byte_string",
        "An application caveat body declaring a byte string of 2**60 bytes.",
        cav(1024, head(2, 2**60)),
    )
    cbor_case(
        "cbor_huge_declared_text",
        "A tool name declaring a text of 2**32 bytes.",
        cav(3, arr(head(3, 2**32))),
    )
    cbor_case(
        "cbor_huge_declared_array",
        "A tool list declaring 2**64 - 1 items.",
        cav(3, head(4, 2**64 - 1)),
    )
    cbor_case(
        "cbor_huge_declared_map",
        "A validity map declaring 2**60 entries.",
        cav(1, head(5, 2**60)),
    )
    cbor_case(
        "cbor_reserved_additional_information",
        "max_depth as an unsigned integer with the reserved additional information 28.",
        cav(8, b"\x1c"),
    )
    mal(
        "cbor_value_sharing_third_party_caveat_id",
        "A third-party caveat section (it has a verification id) whose caveat id is the"
        " value-sharing tree, properly MACed.",
        appended(r, _wire.RawCaveat(tree, b"v" * 60)),
    )
    big(
        "cbor_value_sharing_caveat_over_limit",
        "A value-sharing caveat over the 2048-byte caveat limit: the framing limit is the first"
        " rule it breaks, so too_large.",
        appended(r, shared_tree(250, 4)),
    )
    ident_case(
        "identifier_value_sharing",
        f"A {len(tree)}-byte identifier of value-sharing tags standing for {100**4:,} zeros,"
        " MACed with the root key: refused before any key lookup.",
        tree,
    )
    ident_case(
        "identifier_string_references",
        "An identifier in a string-reference namespace (tag 256) whose task approver is a"
        " reference (tag 25) to the key id: a generic decoder makes a well-formed identifier"
        " of it.",
        tag(
            256,
            identifier_cbor(
                task=arr(
                    tstr(TASK.task_id),
                    tag(25, uint(0)),
                    uint(TASK.approved_at),
                    tstr(TASK.statement),
                )
            ),
        ),
    )
    ident_case(
        "identifier_null_nonce", "The identifier nonce as null.", identifier_cbor(nonce=b"\xf6")
    )
    ident_case(
        "identifier_indefinite_key_id",
        "The key id as an indefinite-length (chunked) text.",
        identifier_cbor(key_id=b"\x7f" + tstr(ROOT_KEY_ID[:3]) + tstr(ROOT_KEY_ID[3:]) + b"\xff"),
    )
    ident_case(
        "identifier_huge_declared_map",
        "An identifier that is a map head declaring 2**64 - 1 entries and nothing else.",
        head(5, 2**64 - 1),
    )
    big(
        "identifier_value_sharing_over_limit",
        "A value-sharing identifier over the 4096-byte identifier limit: too_large, the first"
        " rule it breaks.",
        framed(b"\x02" + _field(2, shared_tree(450, 4)) + b"\x00"),
    )
    return f


def _varint(n: int) -> bytes:
    out = bytearray()
    _wire._put_varint(out, n)
    return bytes(out)


def _field(field_type: int, data: bytes) -> bytes:
    return _varint(field_type) + _varint(len(data)) + data
