"""``encoding.json``: one token, one spelling. Non-canonical base64url, macaroon V2 framing
errors, strict CBOR (duplicates, non-shortest forms, indefinite lengths, tags, floats, NaN,
trailing bytes, type confusion, out-of-profile tags), body rules and size limits.

One module per theme, each adding its vectors in file order; ``cases`` holds what they share.
"""

from __future__ import annotations

from gen.encoding import (
    caveat_cbor,
    decoder,
    edges,
    expansion,
    framing,
    identifier,
    screening,
    text,
)
from gen.encoding.cases import Cases
from gen.fixtures import root
from gen.render import VectorFile


def build() -> VectorFile:
    f = VectorFile(
        "encoding.json",
        "One token, one spelling: base64url, macaroon V2 framing and deterministic CBOR are"
        " strict, and every deviation is malformed (or too_large), never an allow or a crash.",
    )
    cases = Cases(f, root("root"))
    text.add(cases)
    framing.add(cases)
    caveat_cbor.add(cases)
    identifier.add(cases)
    expansion.add(cases)
    screening.add(cases)
    edges.add(cases)
    decoder.add(cases)
    return f
