"""``encoding.json``, the decoders' own corners (the mutation run of MUTATION.md found them
open). CBOR: tags where a map head stands, map counts and depths that end exactly at the limit,
an empty map, a duplicate key next to its twin, and arguments one size longer than needed in the
identifier, which no re-encoding check stands behind. Framing: every size limit met exactly,
a 128-byte field (a two-byte length), a short caveat id with a VID, and a token that ends
after each kind of byte."""

from __future__ import annotations

from delegation import Code, _wire
from delegation.limits import (
    MAX_CAVEAT_BYTES,
    MAX_IDENTIFIER_BYTES,
    MAX_LOCATION_BYTES,
    MAX_TOKEN_BYTES,
    MAX_TOKEN_CHARS,
)
from delegation.testing.fixtures import labelled

from gen.encoding.cases import Cases, wire_field
from gen.fixtures import (
    READ,
    TASK,
    appended,
    arr,
    bstr,
    cav,
    cmap,
    identifier_cbor,
    pop,
    resigned,
    root_id,
    tp_caveat,
    tstr,
    uint,
)
from gen.render import At


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    f, r, cbor_case, ident_case = cases.f, cases.r, cases.cbor_case, cases.ident_case

    def ok(name: str, description: str, cid: bytes) -> None:
        """``r`` with the application caveat ``cid`` appended: it decodes, and is then an
        unknown caveat (the decoder's verdict is the only thing that differs)."""
        tok = appended(r, cid)
        proof = pop(tok, "orchestrator", READ, name)
        f.add(name, description, tok, READ, proof, codes=[At(Code.UNKNOWN_CAVEAT, -1)])

    ident = identifier_cbor()
    if ident[0] != 0xA5:
        raise AssertionError("the identifier is a map of five pairs")
    ident_case(
        "identifier_tag_head",
        "The identifier's map head a5 spelled as the tag head c5 (tag 5) over the same bytes: a"
        " tag, malformed (a decoder that reads major type 6 as a map would accept it).",
        b"\xc5" + ident[1:],
    )
    ident_case(
        "identifier_duplicate_adjacent_key",
        "The identifier map holds key 1 twice in a row, with the same value, and keys 2-5: a"
        " duplicate key, malformed (the map is six pairs, not a five-key map).",
        b"\xa6" + uint(1) + uint(1) + ident[1:],
    )
    nonce = labelled("identifier nonce")[:16]
    ident_case(
        "identifier_nonce_length_one_byte_argument",
        "The nonce's length 16 in a one-byte argument (58 10): 16 fits in the head (50),"
        " malformed.",
        identifier_cbor(nonce=b"\x58\x10" + nonce),
    )
    statement = TASK.statement.encode("utf-8")
    if not 24 <= len(statement) < 256:
        raise AssertionError("the statement's length needs a one-byte argument")
    task = (
        b"\x84"
        + tstr(TASK.task_id)
        + tstr(TASK.approved_by)
        + uint(TASK.approved_at)
        + b"\x79"
        + len(statement).to_bytes(2, "big")
        + statement
    )
    ident_case(
        "identifier_statement_length_two_byte_argument",
        f"The statement's length {len(statement)} in a two-byte argument (79 00 ..): it fits in"
        " one (78 ..), malformed.",
        identifier_cbor(task=task),
    )
    ok(
        "cbor_map_empty",
        "An application caveat [1024, {}]: an empty map decodes (unknown_caveat).",
        cav(1024, cmap()),
    )
    ok(
        "cbor_map_one_pair_at_the_end",
        "An application caveat [1024, {0: 0}]: a map whose pairs take exactly the bytes left"
        " (two per pair) decodes (unknown_caveat).",
        cav(1024, cmap((uint(0), uint(0)))),
    )
    cbor_case(
        "cbor_map_ends_before_its_second_key",
        "An application caveat [1024, a2 00 43 616263]: a map of two pairs whose first value"
        " takes the last bytes, so its second key is missing: malformed.",
        cav(1024, b"\xa2" + uint(0) + bstr(b"abc")),
    )
    cbor_case(
        "validity_body_not_a_map",
        "A validity caveat whose body is the array [expires] instead of a map: malformed.",
        cav(1, arr(uint(TASK.approved_at + 7200))),
    )
    cbor_case(
        "approved_for_body_of_three",
        "An approved_for caveat whose body is an array of three items, not four: malformed.",
        cav(14, arr(bstr(bytes(32)), uint(1), bstr(bytes(32)))),
    )
    ok(
        "cbor_depth_4_under_map",
        "An application caveat [1024, {1: [[1]]}]: the map value is at depth 2, so the last 1"
        " is at depth 4 (the limit): it decodes (unknown_caveat).",
        cav(1024, cmap((uint(1), arr(arr(uint(1)))))),
    )
    cbor_case(
        "cbor_depth_5_under_map",
        "An application caveat [1024, {1: [[[1]]]}]: a map value is one deeper than its map,"
        " so the last 1 is at depth 5: malformed.",
        cav(1024, cmap((uint(1), arr(arr(arr(uint(1))))))),
    )

    _framing(cases)


def tool_caveat(size: int) -> bytes:
    """A tool caveat of exactly ``size`` bytes that allows crm.read: crm.read, then filler names
    of at most 256 characters (``MAX_NAME_CHARS``), in order."""
    full = [f"t{i:02d}" + "x" * 253 for i in range(31)]

    def caveat(count: int, length: int) -> bytes:
        names = ["crm.read", *full[:count], f"t{count:02d}" + "x" * (length - 3)]
        return cav(3, arr(*(tstr(n) for n in names)))

    for count in range(31):
        if len(caveat(count, 3)) > size:
            break
        for length in range(3, 257):
            cid = caveat(count, length)
            if len(cid) == size:
                return cid
    raise AssertionError(f"no tool caveat of {size} bytes")


def _framing(cases: Cases) -> None:
    f, r, mal = cases.f, cases.r, cases.mal
    rb = r.raw
    orch = ["orchestrator"]

    def allowed(name: str, description: str, tok: _wire.RawMacaroon | bytes) -> None:
        f.add(name, description, tok, READ, pop(tok, "orchestrator", READ, name), chain=orch)

    # every limit met exactly: accepted
    filler = [tool_caveat(MAX_CAVEAT_BYTES)] * 7
    base = len(_wire.encode(appended(r, *filler)))
    at_limit = None
    guess = MAX_TOKEN_BYTES - base - 4  # a caveat section: type, two-byte length, bytes, end
    for size in range(guess - 4, guess + 5):
        tok = appended(r, *filler, tool_caveat(size))
        if len(_wire.encode(tok)) == MAX_TOKEN_BYTES:
            at_limit = tok
            break
    if at_limit is None or base >= MAX_TOKEN_BYTES:
        raise AssertionError("no token of exactly MAX_TOKEN_BYTES")
    if len(_wire.b64encode(_wire.encode(at_limit))) != MAX_TOKEN_CHARS:
        raise AssertionError("a token of MAX_TOKEN_BYTES is MAX_TOKEN_CHARS characters")
    allowed(
        "framing_token_at_byte_and_text_limits",
        f"A token of exactly {MAX_TOKEN_BYTES} bytes ({MAX_TOKEN_CHARS} characters): eight"
        " tool caveats that allow crm.read; neither limit is exceeded, the read allowed.",
        at_limit,
    )
    allowed(
        "framing_caveat_at_limit",
        f"A tool caveat of exactly {MAX_CAVEAT_BYTES} bytes: the read allowed.",
        appended(r, tool_caveat(MAX_CAVEAT_BYTES)),
    )
    statement = None
    for wide in range(2049):
        text = "\u00e9" * wide + "a" * (2048 - wide)
        ident = identifier_cbor(
            task=arr(tstr(TASK.task_id), tstr(TASK.approved_by), uint(TASK.approved_at), tstr(text))
        )
        if len(ident) == MAX_IDENTIFIER_BYTES:
            statement = ident
            break
    if statement is None:
        raise AssertionError("no identifier of exactly MAX_IDENTIFIER_BYTES")
    allowed(
        "framing_identifier_at_limit",
        f"An identifier of exactly {MAX_IDENTIFIER_BYTES} bytes (a statement of 2 048"
        " characters, some of two bytes), MACed with the root key: the read allowed.",
        resigned(statement, [c.cid for c in rb.caveats]),
    )
    section = tp_caveat(rb.signature, "notary", "vid at limit", root_id(r))
    long_vid = appended(r, _wire.RawCaveat(section.cid, bytes(MAX_CAVEAT_BYTES)))
    f.add(
        "framing_vid_at_limit",
        f"A third-party caveat whose VID is exactly {MAX_CAVEAT_BYTES} bytes: within the"
        " framing limit (not too_large), then a VID that is not 60 bytes (bad_discharge, step"
        " 5).",
        long_vid,
        READ,
        pop(long_vid, "orchestrator", READ, "framing_vid_at_limit"),
        codes=[At(Code.BAD_DISCHARGE, -1, vid=True)],
    )
    header = b"\x02" + wire_field(2, rb.identifier) + b"\x00"
    located = (
        b"\x02" + wire_field(1, b"l" * MAX_LOCATION_BYTES) + wire_field(2, rb.identifier) + b"\x00"
    )
    allowed(
        "framing_location_at_limit",
        f"A header location of exactly {MAX_LOCATION_BYTES} bytes: the location is a hint, the"
        " read allowed.",
        cases.framed(located),
    )
    name = "n" * 120
    long_args = cav(7, arr(arr(tstr(name), uint(1), uint(0))))
    if len(long_args) != 128 or long_args[-1] != 0:
        raise AssertionError("the args caveat is 128 bytes and ends in a zero byte")
    tok128 = appended(r, long_args)
    request = {**READ, "args": {name: 0}}
    f.add(
        "framing_caveat_of_128_bytes",
        "An args caveat of exactly 128 bytes (its length a two-byte varint, 80 01), whose last"
        " byte is 00 like an end of section: the call with that argument allowed.",
        tok128,
        request,
        pop(tok128, "orchestrator", request, "framing_caveat_of_128_bytes"),
        chain=orch,
    )
    short = resigned(rb.identifier, [*rb.caveats, _wire.RawCaveat(b"third-party", b"v" * 48)])
    mal(
        "framing_short_caveat_id_with_vid",
        "A caveat section of a short caveat id (11 bytes) and a verification id, no location,"
        " properly MACed: framed as a third-party caveat, whose id is not one (malformed, step"
        " 4, at that caveat).",
        short,
        at=-1,
    )

    # the token ends after each kind of byte: malformed, never a crash
    c0 = rb.caveats[0].cid
    for name, data, where in (
        ("framing_ends_after_a_caveat", header + cases.body, "the last caveat's end of section"),
        ("framing_ends_after_a_field_type", header + b"\x02", "a caveat's field type"),
        (
            "framing_ends_after_a_caveat_id",
            header + wire_field(2, c0),
            "a caveat's identifier bytes (no end of section)",
        ),
        (
            "framing_ends_inside_a_length",
            header + b"\x02\x80",
            "the first byte of a two-byte length",
        ),
    ):
        mal(name, f"A token that ends right after {where}.", data, r)
