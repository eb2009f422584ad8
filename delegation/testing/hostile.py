"""What a hostile holder or a thief can do to a token, as functions and Hypothesis strategies.

The functions play a holder who skips the library's authoring checks: they append caveats and
hops to the HMAC chain exactly as the library does (so the MAC is valid), but never ask whether
the caveat narrows, decodes or respects a depth cap. The verifier must deny what they make
whenever it would allow more than the parent. The strategies turn a genuine token into bytes
nobody holding the root key made: mutated, truncated, spliced, reordered and re-spelled.

Needs the ``testing`` extra (Hypothesis) for the strategies; the functions need only the
library.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from delegation import _crypto, _wire
from delegation._keys import AgentKey
from delegation._task import Agent
from delegation._token import UnverifiedToken
from delegation.caveats import Caveat, Hop
from delegation.limits import CLOCK_SKEW_SECONDS

__all__ = [
    "B64URL",
    "append_caveats",
    "append_raw_caveats",
    "boundary_times",
    "delegate_unchecked",
    "lookalike_names",
    "lookalike_resources",
    "rebuild",
    "respelled_texts",
    "tampered_tokens",
    "truncated",
]

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""The base64url alphabet, in which every token, proof and discharge is written."""


def append_raw_caveats(token: UnverifiedToken, cids: Sequence[bytes]) -> UnverifiedToken:
    """``token`` with each of ``cids`` appended as a first-party caveat under a valid MAC, as
    any holder can: no narrowing, decoding or limit check (the result may be over a limit the
    decoder enforces; the verifier must then say ``too_large`` or ``malformed``)."""
    raw = token.raw
    sig = raw.signature
    caveats = list(raw.caveats)
    for cid in cids:
        cav = _wire.RawCaveat(cid)
        sig = _crypto.chain_step(sig, cav)
        caveats.append(cav)
    return UnverifiedToken(_wire.RawMacaroon(raw.identifier, tuple(caveats), sig, raw.location))


def append_caveats(token: UnverifiedToken, caveats: Sequence[Caveat]) -> UnverifiedToken:
    """``append_raw_caveats`` with caveat objects (their encodings)."""
    return append_raw_caveats(token, [c.encode() for c in caveats])


def delegate_unchecked(token: UnverifiedToken, signer: AgentKey, to: Agent) -> UnverifiedToken:
    """A hop to ``to`` signed by ``signer`` over the chain so far, appended with a valid MAC,
    skipping every check ``delegate`` makes (signer is the holder, depth caps, delegatees, a key
    already in the chain). With the holder's key it is the hop an honest ``delegate`` would
    sign; with any other key it is a forged hop."""
    digest = _crypto.digest_start(token.raw.identifier)
    for raw in token.raw.caveats:
        digest = _crypto.digest_step(digest, raw)
    signature = signer.sign(_crypto.hop_message(digest, to.agent_id, to.public_key))
    return append_caveats(token, [Hop(to.agent_id, to.public_key, signature)])


def rebuild(
    token: UnverifiedToken,
    caveats: Sequence[_wire.RawCaveat],
    signature: bytes | None = None,
    *,
    location: str | bool | None = False,
) -> bytes:
    """The binary token with other caveats, signature or location, NOT re-signed: what a
    forger without the root key can send. ``location=False`` keeps the token's own."""
    raw = token.raw
    sig = raw.signature if signature is None else signature
    where = raw.location if location is False else location
    assert where is None or isinstance(where, str)
    return _wire.encode(_wire.RawMacaroon(raw.identifier, tuple(caveats), sig, where))


def truncated(data: bytes) -> st.SearchStrategy[bytes]:
    """Every proper prefix of ``data``."""
    return st.integers(0, max(len(data) - 1, 0)).map(lambda n: data[:n])


@st.composite
def _mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one byte flipped, dropped, inserted or replaced."""
    out = bytearray(data)
    where = draw(st.integers(0, max(len(out) - 1, 0)))
    kind = draw(st.sampled_from(("flip", "drop", "insert", "replace")))
    if kind == "flip" and out:
        out[where] ^= 1 << draw(st.integers(0, 7))
    elif kind == "drop" and out:
        del out[where]
    elif kind == "insert":
        out.insert(where, draw(st.integers(0, 255)))
    elif out:
        out[where] = (out[where] + draw(st.integers(1, 255))) % 256
    return bytes(out)


@st.composite
def _caveat_surgery(
    draw: st.DrawFn, token: UnverifiedToken, donors: Sequence[UnverifiedToken]
) -> bytes:
    """Caveats dropped, duplicated, reordered or spliced in from ``donors``, or the signature
    taken from another token: all without the root key, so none can carry a valid MAC."""
    caveats = list(token.raw.caveats)
    others = [c for d in donors for c in d.raw.caveats if c not in caveats]
    kinds = ["signature"] if donors else []
    if caveats:
        kinds += ["drop", "duplicate"]
    if len(caveats) > 1:
        kinds.append("reorder")
    if others:
        kinds.append("splice")
    if not kinds:
        return token.token_bytes + b"\x00"
    kind = draw(st.sampled_from(kinds))
    if kind == "signature":
        donor = draw(st.sampled_from(list(donors)))
        return rebuild(token, caveats, donor.raw.signature)  # the same one is filtered out
    i = draw(st.integers(0, len(caveats) - 1)) if caveats else 0
    if kind == "drop":
        del caveats[i]
    elif kind == "duplicate":
        caveats.insert(i, caveats[i])
    elif kind == "reorder":
        j = draw(st.integers(0, len(caveats) - 1).filter(lambda j: caveats[j] != caveats[i]))
        caveats[i], caveats[j] = caveats[j], caveats[i]
    else:
        caveats.insert(draw(st.integers(0, len(caveats))), draw(st.sampled_from(others)))
    return rebuild(token, caveats)


def tampered_tokens(
    token: UnverifiedToken, donors: Sequence[UnverifiedToken] = ()
) -> st.SearchStrategy[bytes]:
    """Binary tokens made from ``token`` by someone without the root key: a byte mutated, the
    bytes truncated, or the caveats dropped, duplicated, reordered or spliced from ``donors``
    (other tokens, whose signatures may be swapped in too). None is ``token`` itself; the
    verifier must deny every one with an integrity code (``malformed``, ``too_large``,
    ``bad_signature``, ``unknown_key``). A changed location is not tampering (the location is
    a hint outside the MAC): see ``rebuild(location=...)``."""
    data = token.token_bytes
    return st.one_of(_mutated(data), truncated(data), _caveat_surgery(token, list(donors))).filter(
        lambda out: out != data
    )


def respelled_texts(text: str) -> st.SearchStrategy[str]:
    """Other spellings of a base64url text: padding, the standard alphabet, whitespace,
    percent-encoding, case changes, look-alike characters, non-zero padding bits. An accepted
    text has exactly one spelling, so every one must be refused (or be another token)."""
    swaps = {"-": "+", "_": "/"}

    def std_alphabet(t: str) -> str:
        return "".join(swaps.get(c, c) for c in t)

    fixed = [
        text + "=" * (-len(text) % 4 or 4),
        std_alphabet(text),
        " " + text,
        text + "\n",
        text[: len(text) // 2] + " " + text[len(text) // 2 :],
        text.replace("-", "%2D").replace("_", "%5F"),
        text.swapcase(),
        text.replace("A", "\u0410"),  # Cyrillic A
        text + "A",
    ]
    if text and text[-1] in B64URL:
        last = B64URL.index(text[-1])
        fixed += [text[:-1] + B64URL[last ^ bit] for bit in (1, 2, 4)]
    return st.sampled_from([t for t in fixed if t != text])


def boundary_times(*times: int) -> st.SearchStrategy[int]:
    """Times at and around each of ``times`` (expiries, not-befores, proof dates): one second
    either side, and either side of the clock skew."""
    edges = sorted(
        {
            t + d
            for t in times
            for d in (-CLOCK_SKEW_SECONDS - 1, -CLOCK_SKEW_SECONDS, -1, 0, 1, CLOCK_SKEW_SECONDS)
            if t + d >= 0
        }
    )
    return st.sampled_from(edges)


def lookalike_names(name: str) -> st.SearchStrategy[str]:
    """Names a careless comparison might take for ``name``: a prefix, an extension, another
    case, a look-alike character, padding, a suffix after a separator. None equals ``name``."""
    candidates = [
        name + "2",
        name + ".all",
        name + "*",
        name.upper(),
        name.capitalize(),
        " " + name,
        name + " ",
        name.replace("a", "\u0430"),  # Cyrillic a
        name.replace("o", "0"),
        name.replace("l", "1"),
        name[:-1],
        name + "\u200b",  # zero-width space
    ]
    return st.sampled_from([c for c in candidates if c and c != name])


def lookalike_resources(resource: str) -> st.SearchStrategy[str]:
    """Resources that must not match where ``resource`` matches by accident of spelling: a
    longer last segment, ``..`` and ``.`` segments, percent-encoded separators, a trailing
    slash, an empty segment, a query, a fragment, a backslash, full-width digits, another
    scheme, another case."""
    scheme, sep, path = resource.partition("://")
    last = path.rsplit("/", 1)[-1] if path else resource
    candidates = [
        resource + "-secret",
        resource + "0",
        resource + "/../x",
        resource + "/./x",
        resource.replace("/", "%2F"),
        resource + "/",
        resource + "//x",
        resource + "?x=1",
        resource + "#x",
        resource.replace("/", "\\"),
        resource.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}),
        (scheme.upper() + sep + path) if sep else resource.upper(),
        ("x" + scheme + sep + path) if sep else "x" + resource,
        resource[: -len(last)] + last.upper() if last else resource + "A",
    ]
    return st.sampled_from([c for c in candidates if c != resource])
