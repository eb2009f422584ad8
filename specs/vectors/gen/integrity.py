"""``integrity.json``: keys and the HMAC chain. Unknown and hostile key ids, a wrong root secret,
changed, dropped, reordered and spliced bytes and caveats (``bad_signature``), and the
unauthenticated location."""

from __future__ import annotations

from delegation import Code, Keyring, Scope, _wire
from delegation._keys import RootKey
from delegation.caveats import Tool
from delegation.testing.fixtures import NOW, labelled, root_secret

from gen.fixtures import (
    READ,
    ROOT_KEY_ID,
    K,
    bstr,
    cids,
    flip,
    hop,
    identifier_cbor,
    pop,
    replaced,
    resigned,
    root,
    tstr,
    uint,
)
from gen.render import VectorFile, expected, keyring_json


def build() -> VectorFile:
    f = VectorFile(
        "integrity.json",
        "Keys and the HMAC chain: any changed, dropped, reordered or spliced byte or caveat.",
    )
    r = root("root")
    rb = r.raw
    pr = pop(r, "orchestrator", READ, "integrity")

    other_secret = root_secret("vec-k9")
    stranger = root("unknown-key", keyring=Keyring([RootKey("vec-k9", other_secret)]))
    f.add(
        "unknown_key_id",
        "The token names root key 'vec-k9', which this verifier does not have.",
        stranger,
        READ,
        pop(stranger, "orchestrator", READ, "unknown_key_id"),
        codes=[Code.UNKNOWN_KEY],
    )
    long_id = "k" * 64
    long_tok = root("long-key-id", keyring=Keyring([RootKey(long_id, other_secret)]))
    f.add(
        "unknown_key_id_longest_allowed",
        "A 64-character key id (the longest the grammar allows) that is not in the keyring.",
        long_tok,
        READ,
        pop(long_tok, "orchestrator", READ, "unknown_key_id_longest_allowed"),
        codes=[Code.UNKNOWN_KEY],
    )
    # The key id is attacker input read before the MAC: any printable text is only a lookup key.
    for name, key_id, why in (
        ("key_id_path_characters", "../vec-k1", "path characters"),
        ("key_id_sql_characters", "vec-k1'; DROP TABLE keys;--", "SQL characters"),
        ("key_id_65_characters", "k" * 65, "65 characters (longer than keyrings mint)"),
        ("key_id_huge", "k" * 3000, "3000 characters"),
        ("key_id_unicode", "ключ-k1", "non-ASCII letters"),
    ):
        tok = resigned(identifier_cbor(key_id=tstr(key_id)), cids(r))
        f.add(
            name,
            f"A hostile key id with {why}, properly MACed under the test key: only a lookup key.",
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.UNKNOWN_KEY],
        )
    for name, key_id_cbor, why in (
        ("key_id_empty", tstr(""), "the empty string"),
        ("key_id_control_character", tstr("vec-k1\n"), "text holding a newline"),
        ("key_id_bidi_override", tstr("vec-k1\u202e"), "text holding U+202E (not printable)"),
        ("key_id_as_bytes", bstr(ROOT_KEY_ID.encode()), "a CBOR byte string instead of text"),
        ("key_id_not_utf8", b"\x66vec-k\xff", "text that is not UTF-8"),
        ("key_id_integer", uint(1), "an integer"),
    ):
        tok = resigned(identifier_cbor(key_id=key_id_cbor), cids(r))
        f.add(
            name,
            f"The key id is {why}: the identifier is malformed.",
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )
    f.add(
        "wrong_root_secret",
        "The verifier's key 'vec-k1' has a different secret than the one that minted the token.",
        r,
        READ,
        pr,
        keyring=keyring_json((ROOT_KEY_ID, labelled("a different root key"))),
        codes=[Code.BAD_SIGNATURE],
    )

    def bad(
        name: str, description: str, raw: _wire.RawMacaroon, signer: str = "orchestrator"
    ) -> None:
        f.add(
            name,
            description,
            raw,
            READ,
            pop(raw, signer, READ, name),
            codes=[Code.BAD_SIGNATURE],
        )

    bad(
        "signature_bit_flipped",
        "One bit of the final signature flipped.",
        replaced(rb, signature=flip(rb.signature, 31)),
    )
    bad(
        "signature_all_zero",
        "The final signature replaced by 32 zero bytes.",
        replaced(rb, signature=bytes(32)),
    )
    other = root("other")
    bad(
        "signature_from_other_token",
        "The signature of another genuine token with the same scope but another nonce.",
        replaced(rb, signature=other.raw.signature),
    )
    tool_index = cids(r).index(Tool(("crm.read", "crm.update")).encode())
    widened = list(rb.caveats)
    widened[tool_index] = _wire.RawCaveat(Tool(("crm.delete", "crm.read", "crm.update")).encode())
    bad(
        "caveat_widened_in_place",
        "The tool caveat rewritten to list 'crm.delete' too; the signature is unchanged.",
        replaced(rb, caveats=tuple(widened)),
    )
    changed = list(rb.caveats)
    changed[tool_index] = _wire.RawCaveat(
        flip(changed[tool_index].cid, len(changed[tool_index].cid) - 1)
    )
    bad(
        "caveat_byte_changed",
        "One bit of one caveat changed.",
        replaced(rb, caveats=tuple(changed)),
    )
    bad(
        "caveat_dropped_middle",
        "The tool caveat dropped, the rest kept with the final signature.",
        replaced(rb, caveats=rb.caveats[:tool_index] + rb.caveats[tool_index + 1 :]),
    )
    bad(
        "caveat_dropped_last",
        "The token truncated: its last caveat dropped, the final signature kept.",
        replaced(rb, caveats=rb.caveats[:-1]),
    )
    bad(
        "caveats_reordered",
        "The first two caveats swapped.",
        replaced(rb, caveats=(rb.caveats[1], rb.caveats[0], *rb.caveats[2:])),
    )
    bad(
        "caveat_added_without_mac",
        "A caveat appended without extending the HMAC chain.",
        replaced(rb, caveats=(*rb.caveats, _wire.RawCaveat(Tool(("crm.read",)).encode()))),
    )
    bad(
        "identifier_task_changed",
        "The identifier's task id changed to 'task-43'; the signature is unchanged.",
        replaced(
            rb,
            identifier=rb.identifier.replace(tstr("task-42"), tstr("task-43")),
        ),
    )
    bad(
        "identifier_holder_swapped",
        "A thief swaps the holder key in the identifier for its own and signs the proof.",
        replaced(
            rb,
            identifier=rb.identifier.replace(
                bstr(K["orchestrator"].public_key), bstr(K["mallory"].public_key)
            ),
        ),
        signer="mallory",
    )
    one = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    bad(
        "hop_and_its_caveats_dropped",
        "A delegated token with its hop and narrowing caveats removed (to regain the parent).",
        replaced(one.raw, caveats=rb.caveats),
    )
    other_one = hop(other, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    spliced = list(one.raw.caveats)
    hop_index = len(rb.caveats)
    spliced[hop_index] = other_one.raw.caveats[hop_index]
    bad(
        "hop_replaced_by_hop_from_other_token",
        "The hop swapped for the researcher's hop from another token, signature kept.",
        replaced(one.raw, caveats=tuple(spliced)),
        signer="researcher",
    )
    bad(
        "caveats_of_other_token_with_its_signature",
        "This token's identifier with another token's caveats and final signature.",
        replaced(other_one.raw, identifier=rb.identifier),
        signer="researcher",
    )

    located = root("located", location="https://crm.example/")
    moved = replaced(located.raw, location="https://elsewhere.example/")
    f.add(
        "location_is_an_unauthenticated_hint",
        "The location is not MACed (libmacaroons): changing it leaves the token valid. It never"
        " selects a key or grants trust.",
        moved,
        READ,
        pop(moved, "orchestrator", READ, "location_is_an_unauthenticated_hint"),
        chain=["orchestrator"],
    )
    # No token at all (a null where the token goes): its own code, not an exception.
    f.vectors.append(
        {
            "name": "no_token",
            "description": "No token is presented: token_required, before anything else.",
            "token": None,
            "request": READ,
            "proof": None,
            "now": NOW,
            "expected": expected(None, [Code.TOKEN_REQUIRED], None),
        }
    )
    return f
