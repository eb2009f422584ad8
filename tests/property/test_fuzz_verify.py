"""Law: hostile input only ever yields a typed denial, never another exception.

``Verifier.verify`` on arbitrary token and proof text returns a denying Decision whose codes
are all from :class:`delegation.Code`; ``Request.from_json`` returns a Request or raises
MalformedRequest; a caveat body decodes to a Caveat or raises MalformedToken. And none of it
reaches the library's catch-all ``except Exception`` (which would fail closed, but hides a bug).
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from delegation import (
    ArgConstraint,
    Caveat,
    Code,
    Decision,
    MalformedRequest,
    MalformedToken,
    Request,
    Scope,
    UnverifiedToken,
    _cbor,
    _wire,
    attenuate,
    default_registry,
)
from delegation.caveats.args import OPS
from delegation.caveats.registry import MAX_TYPE_ID
from delegation.limits import MAX_INT
from delegation.testing.hostile import B64URL, append_raw_caveats
from delegation.testing.strategies import cbor_values, cbor_values_nested
from delegation.testing.world import (
    HOP1,
    STORY,
    STORY_REQUEST,
    codes,
    holder_key,
    new_verifier,
    no_internal_errors,
    proof_for,
    verify_as_holder,
)
from tests.conftest import NOW

REGISTRY = default_registry()
KNOWN_TYPE_IDS = frozenset(f.type_id for f in REGISTRY.families())
ARGS_TOKEN = attenuate(
    HOP1,
    Scope(
        args=[
            ArgConstraint.at_least("n", 0),
            ArgConstraint.at_most("n", 3),
            ArgConstraint.one_of("s", ("x", 1, True)),
            ArgConstraint.resource("r", "crm://accounts/42/**"),
        ]
    ),
    now=NOW,
)
"""A genuine token with every kind of argument constraint, for requests with odd arguments."""


def _assert_typed_denial(decision: Decision) -> None:
    assert isinstance(decision, Decision)
    assert not decision.allowed
    assert decision.reasons
    assert all(isinstance(r.code, Code) for r in decision.reasons)
    assert all(r.detail != "internal error while verifying" for r in decision.reasons)


def _mutate(text: str, draw: st.DrawFn) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(chars)))
        edit = draw(st.sampled_from(("set", "drop", "insert")))
        if edit == "set" and pos < len(chars):
            chars[pos] = draw(st.sampled_from(B64URL + "=+/.é\x00"))
        elif edit == "drop" and pos < len(chars):
            del chars[pos]
        else:
            chars.insert(pos, draw(st.sampled_from(B64URL)))
    return "".join(chars)


@st.composite
def hostile_texts(draw: st.DrawFn, genuine: tuple[str, ...]) -> str:
    """Arbitrary text, base64url of arbitrary bytes, or a genuine text with a few edits."""
    kind = draw(st.sampled_from(("text", "b64 text", "b64 bytes", "mutated")))
    event(kind)
    if kind == "text":
        return draw(st.text(max_size=64))
    if kind == "b64 text":
        return draw(st.text(st.sampled_from(B64URL), max_size=200))
    if kind == "b64 bytes":
        return _wire.b64encode(draw(st.binary(max_size=200)))
    return _mutate(draw(st.sampled_from(genuine)), draw)


GENUINE_TOKENS = tuple(t.encode() for t in STORY)
GENUINE_PROOFS = tuple(proof_for(t, STORY_REQUEST) for t in STORY)


@settings(max_examples=250, deadline=None)
@given(
    token=hostile_texts(GENUINE_TOKENS),
    proof=st.none() | st.sampled_from(GENUINE_PROOFS) | hostile_texts(GENUINE_PROOFS),
)
def test_verifying_arbitrary_text_only_ever_denies(token: str, proof: str | None) -> None:
    assume(token not in GENUINE_TOKENS)
    with no_internal_errors():
        decision = new_verifier().verify(token, STORY_REQUEST, proof)
    event(str(decision.code))
    _assert_typed_denial(decision)


@settings(max_examples=100, deadline=None)
@given(
    token=st.sampled_from(STORY),
    proof=st.text(max_size=100)
    | hostile_texts(GENUINE_PROOFS)
    | st.sampled_from(GENUINE_PROOFS),  # another story token's genuine proof
)
def test_a_genuine_token_with_any_other_proof_is_pop_invalid(
    token: UnverifiedToken, proof: str
) -> None:
    assume(proof != GENUINE_PROOFS[STORY.index(token)])
    with no_internal_errors():
        decision = new_verifier().verify(token.encode(), STORY_REQUEST, proof)
    assert codes(decision) == (Code.POP_INVALID,)


# --- requests -------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(("crm", "t.read", "read", "sum", "crm://accounts/42/notes/n1", "x")),
)
json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
_REQUEST_KEYS = ("audience", "tool", "action", "resource", "intent", "args")


_NAMES = st.sampled_from(("crm", "t.read", "read", "sum", "crm://accounts/42/notes/n1", "x"))
_NEAR_VALUES = {
    "audience": _NAMES | json_values,
    "tool": _NAMES | json_values,
    "action": _NAMES | json_values,
    "resource": st.none() | _NAMES | json_values,
    "intent": st.none() | _NAMES | json_values,
    "args": st.dictionaries(
        st.sampled_from(("n", "s", "r")),
        st.sampled_from((0, 1, 3, 4, -1, 1.5, "x", True, "crm://accounts/42/a")) | json_values,
        max_size=3,
    )
    | json_values,
}
"""For each field of a request file, values it accepts and values it may not."""


@st.composite
def request_docs(draw: st.DrawFn) -> object:
    """Any JSON value; an object shaped like a request file with arbitrary values; or a genuine
    request file with a field or two changed or dropped (without these, hardly any document is
    a request, and the law's request half would never run)."""
    kind = ("near", "near", "shaped", "any")[draw(st.integers(0, 3))]
    event(f"doc: {kind}")
    if kind == "any":
        return draw(json_values)
    if kind == "near":
        near: dict[str, object] = {**STORY_REQUEST.to_json(), "args": {"n": 1, "s": "x"}}
        for key in draw(st.lists(st.sampled_from(_REQUEST_KEYS), max_size=2, unique=True)):
            if draw(st.integers(0, 3)):
                near[key] = draw(_NEAR_VALUES[key])
            else:
                del near[key]
        return near
    doc = {k: draw(json_values) for k in _REQUEST_KEYS if draw(st.integers(0, 3))}
    if "args" in doc and draw(st.booleans()):
        doc["args"] = draw(st.dictionaries(st.sampled_from(("n", "s", "r", "")), json_values))
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.text(max_size=5))] = draw(json_values)
    return doc


def _as_json(doc: object) -> object:
    """The document as a JSON parser would hand it over (NaN and Infinity included)."""
    return json.loads(json.dumps(doc))


@settings(max_examples=150, deadline=None)
@given(doc=request_docs())
def test_request_from_json_is_a_request_or_malformed_request(doc: object) -> None:
    doc = _as_json(doc)
    try:
        request = Request.from_json(doc)
    except MalformedRequest:
        event("malformed")
        return
    event("request")
    assert isinstance(request, Request)
    assert len(request.digest()) == 32
    assert Request.from_json(_as_json(request.to_json())) == request
    # Any request the type accepts can be checked against a genuine token without surprises.
    with no_internal_errors():
        decision = verify_as_holder(ARGS_TOKEN, request)
    assert all(isinstance(r.code, Code) for r in decision.reasons)


@settings(max_examples=50, deadline=None)
@given(
    doc=st.dictionaries(
        st.integers() | st.booleans() | st.none() | st.sampled_from(_REQUEST_KEYS),
        json_values,
        min_size=1,
        max_size=3,
    )
)
def test_request_from_a_mapping_with_non_text_keys_is_malformed(doc: dict[Any, Any]) -> None:
    """JSON parsers never produce such keys, but YAML, msgpack or a caller's own dict can."""
    try:
        Request.from_json(doc)
    except MalformedRequest:
        return
    assert all(isinstance(k, str) for k in doc)


@settings(max_examples=120, deadline=None)
@given(args=st.dictionaries(st.sampled_from(("n", "s", "r")), json_values, max_size=3))
def test_odd_arguments_are_checked_without_surprises(args: dict[str, Any]) -> None:
    try:
        request = Request(**{**STORY_REQUEST.to_json(), "args": _as_json(args)})
    except MalformedRequest:
        event("malformed")
        return
    with no_internal_errors():
        decision = verify_as_holder(ARGS_TOKEN, request)
    event(str(decision.code))
    assert set(codes(decision)) <= {Code.ARGS_NOT_ALLOWED}
    n, s, r = (request.args.get(k, math.nan) for k in "nsr")
    expected = (
        type(n) in (int, float)
        and 0 <= n <= 3  # type: ignore[operator]
        and any(type(s) is type(v) and s == v for v in ("x", 1, True))
        and isinstance(r, str)
        and (r == "crm://accounts/42" or r.startswith("crm://accounts/42/"))
    )
    if not expected:
        assert not decision.allowed


# --- caveat bodies --------------------------------------------------------------------------

_small = st.one_of(
    st.integers(-2, 40),
    st.booleans(),
    st.sampled_from(("", "a", "t.read", "crm://a/*", "agent-2", "agent-*", "*", "eq", "\x00")),
    st.binary(min_size=0, max_size=2),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=64, max_size=64),
)
_shaped = st.recursive(
    _small,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Bodies close to what the families expect, to get past their first checks."""


_ops = st.sampled_from(tuple(OPS.values()))
_flat = st.lists(_small, max_size=2) | st.dictionaries(st.integers(0, 3), _small, max_size=2)
_FAMILY_SHAPED: dict[int, st.SearchStrategy[Any]] = {
    7: st.lists(st.tuples(_small, _ops | _small | _flat, _small | _flat).map(list), max_size=3),
    10: st.tuples(_small, _small, _small).map(list),
}
"""Bodies with the outer shape of a family (args, hop) and anything inside."""


@st.composite
def caveat_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("known", "shaped", "any type", "bytes")))
    event(kind)
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "any type":
        type_id: object = draw(cbor_values_nested(0))
    else:
        type_id = draw(st.integers(1, max(KNOWN_TYPE_IDS) + 1))
    body = draw(_shaped if kind in ("known", "shaped") else cbor_values_nested(2))
    if kind == "known" and type_id in _FAMILY_SHAPED:
        body = draw(_FAMILY_SHAPED[type_id])
    try:
        return _cbor.dumps([type_id, body])
    except MalformedToken:
        return _wire.b64encode(repr(body).encode()).encode()


@settings(max_examples=300, deadline=None)
@given(cid=caveat_bodies())
def test_a_caveat_body_decodes_to_a_caveat_or_malformed(cid: bytes) -> None:
    try:
        caveat = REGISTRY.decode(cid)
    except MalformedToken:
        event("malformed")
        return
    event(type(caveat).__name__)
    assert isinstance(caveat, Caveat)
    assert caveat.encode() == cid


@settings(max_examples=120, deadline=None)
@given(token=st.sampled_from(STORY), cid=caveat_bodies())
def test_a_holder_appending_any_caveat_body_gets_a_typed_answer(
    token: UnverifiedToken, cid: bytes
) -> None:
    appended = append_raw_caveats(token, [cid])
    # Signed directly by the holder's key: prove() would parse the new caveat first.
    proof = proof_for(appended, STORY_REQUEST, key=holder_key(token))
    with no_internal_errors():
        decision = new_verifier().verify(appended.encode(), STORY_REQUEST, proof)
    event(str(decision.code))
    assert all(isinstance(r.code, Code) for r in decision.reasons)


@settings(max_examples=100, deadline=None)
@given(
    value=cbor_values,
    type_id=st.integers(MAX_TYPE_ID + 1, MAX_INT - 1) | st.integers(-MAX_INT + 1, 0),
)
def test_caveat_type_ids_out_of_range_are_malformed(value: Any, type_id: int) -> None:
    try:
        cid = _cbor.dumps([type_id, value])
    except MalformedToken:
        return
    try:
        REGISTRY.decode(cid)
    except MalformedToken:
        return
    raise AssertionError(f"type id {type_id} was accepted")
