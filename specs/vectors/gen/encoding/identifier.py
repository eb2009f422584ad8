"""``encoding.json``, deterministic CBOR in the identifier, re-MACed with the test root key."""

from __future__ import annotations

from delegation import decode

from gen.encoding.cases import Cases
from gen.fixtures import (
    NOW,
    ROOT_KEY_ID,
    TASK,
    K,
    agent,
    arr,
    bstr,
    canonical,
    cids,
    cmap,
    f64,
    identifier_cbor,
    resigned,
    text,
    tstr,
    uint,
)


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    r, ident_case = cases.r, cases.ident_case
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
