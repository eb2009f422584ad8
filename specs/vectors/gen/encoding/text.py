"""``encoding.json``, the base64url text form: one spelling of the token bytes, no padding,
no other alphabet, no whitespace, no text limit exceeded."""

from __future__ import annotations

from delegation import Code
from delegation.limits import MAX_TOKEN_CHARS

from gen.encoding.cases import Cases
from gen.fixtures import READ, root


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    f, mal = cases.f, cases.mal
    # A token whose binary length is not a multiple of 3 has padding bits in its last character.
    padded_tok = next(
        t
        for t in (root("root", location="https://crm.example/" + "x" * i) for i in range(3))
        if len(t.token_bytes) % 3
    )
    s = padded_tok.encode()

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
