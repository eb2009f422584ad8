"""``encoding.json``, out-of-profile CBOR that a generic decoder would expand before any check:
value-sharing and string-reference tags, huge declared lengths, reserved heads."""

from __future__ import annotations

from delegation import _wire

from gen.encoding.cases import Cases, wire_field
from gen.fixtures import (
    EXPIRES,
    ROOT_KEY_ID,
    TASK,
    appended,
    arr,
    cav,
    cmap,
    head,
    identifier_cbor,
    tstr,
    uint,
)


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    r, mal, big, framed = cases.r, cases.mal, cases.big, cases.framed
    cbor_case, ident_case = cases.cbor_case, cases.ident_case
    exp = uint(EXPIRES)

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
        at=-1,
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
        framed(b"\x02" + wire_field(2, shared_tree(450, 4)) + b"\x00"),
    )
