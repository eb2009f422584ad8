"""The request a verifier checks a token against (``delegation._request``).

specs/threats.md: "Type confusion: ``"3"``, ``3.0``, ``true`` where an integer is meant;
NaN, Inf" (NaN and Inf are refused when the request is built, and the digest a proof signs tells
the types apart); "Context comes from the verifier ..., never from a client-supplied ``now``"
(a request has no time field, and a request file cannot smuggle one in).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Code, MalformedRequest, MalformedToken, Request
from delegation.limits import MAX_ARG_VALUE_CHARS, MAX_NAME_CHARS, MAX_REQUEST_ARGS


def test_request_fields_and_defaults() -> None:
    req = Request(audience="crm", tool="crm.read", action="read")
    assert req.resource is None
    assert req.intent is None
    assert req.args == {}
    assert MalformedRequest.code is Code.MALFORMED
    assert not issubclass(MalformedRequest, MalformedToken)


def test_args_are_copied() -> None:
    source: dict[str, Any] = {"n": 1}
    req = Request(audience="crm", tool="t", action="a", args=source)
    source["n"] = 2
    assert req.args == {"n": 1}


@pytest.mark.parametrize("field", ["audience", "tool", "action"])
@pytest.mark.parametrize(
    "bad", ["", "a\nb", "a\x00", "\u202e", "x" * (MAX_NAME_CHARS + 1), 3, None]
)
def test_required_names_are_checked(field: str, bad: object) -> None:
    fields: dict[str, Any] = {"audience": "crm", "tool": "t", "action": "a"}
    fields[field] = bad
    with pytest.raises(MalformedRequest):
        Request(**fields)


@pytest.mark.parametrize("field", ["resource", "intent"])
@pytest.mark.parametrize("bad", ["", "a\nb", 3, b"x"])
def test_optional_names_are_checked_when_present(field: str, bad: object) -> None:
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", **{field: bad})  # type: ignore[arg-type]


def test_length_limits() -> None:
    Request(audience="crm", tool="t", action="a", resource="/" + "r" * (MAX_ARG_VALUE_CHARS - 1))
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", resource="/" + "r" * MAX_ARG_VALUE_CHARS)
    Request(audience="crm", tool="t", action="a", intent="i" * MAX_NAME_CHARS)
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", intent="i" * (MAX_NAME_CHARS + 1))


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "",
        0,
        -5,
        2**63 - 1,
        -(2**63) + 1,
        1.5,
        -0.0,
        True,
        None,
        [1, "a", None],
        {"k": [1, {"j": 2}]},
        "x" * MAX_ARG_VALUE_CHARS,
        list(range(MAX_REQUEST_ARGS)),
    ],
)
def test_allowed_argument_values(value: Any) -> None:
    assert Request(audience="crm", tool="t", action="a", args={"v": value}).args["v"] == value


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, math.nan],
        {"k": math.inf},
        2**63,
        -(2**63),
        10**100,
        b"bytes",
        (1, 2),
        {1, 2},
        object(),
        {1: "non-text key"},
        "x" * (MAX_ARG_VALUE_CHARS + 1),
        list(range(MAX_REQUEST_ARGS + 1)),
        [[[[[[1]]]]]],
    ],
)
def test_refused_argument_values(value: Any) -> None:
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", args={"v": value})


@pytest.mark.parametrize("name", ["", "a\nb", "x" * (MAX_NAME_CHARS + 1)])
def test_argument_names_are_checked(name: str) -> None:
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", args={name: 1})


def test_argument_count_and_type_limits() -> None:
    Request(
        audience="crm", tool="t", action="a", args={f"a{i}": i for i in range(MAX_REQUEST_ARGS)}
    )
    with pytest.raises(MalformedRequest):
        Request(
            audience="crm",
            tool="t",
            action="a",
            args={f"a{i}": i for i in range(MAX_REQUEST_ARGS + 1)},
        )
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", args=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(MalformedRequest):
        Request(audience="crm", tool="t", action="a", args={3: 1})  # type: ignore[dict-item]


# --- JSON form --------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    req = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://a/1",
        intent="summarise",
        args={"n": 3, "s": "x"},
    )
    assert Request.from_json(req.to_json()) == req
    assert Request.from_json({"audience": "crm", "tool": "t", "action": "a"}) == Request(
        audience="crm", tool="t", action="a"
    )
    assert Request(audience="crm", tool="t", action="a").to_json() == {
        "audience": "crm",
        "tool": "t",
        "action": "a",
        "args": {},
    }


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "crm",
        {"tool": "t", "action": "a"},
        {"audience": "crm", "action": "a"},
        {"audience": "crm", "tool": "t"},
        {"audience": "crm", "tool": "t", "action": "a", "now": 0},  # no client-supplied time
        {"audience": "crm", "tool": "t", "action": "a", "time": "2027-01-01T00:00:00Z"},
        {"audience": "crm", "tool": "t", "action": "a", "args": []},
        {"audience": "crm", "tool": "t", "action": "a", "args": {"x": math.nan}},
        {"audience": 1, "tool": "t", "action": "a"},
    ],
)
def test_bad_request_documents(doc: object) -> None:
    with pytest.raises(MalformedRequest):
        Request.from_json(doc)


# --- digest --------------------------------------------------------------------------------------

BASE = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://a/1",
    intent="summarise",
    args={"n": 3},
)


@pytest.mark.parametrize(
    "other",
    [
        Request(
            audience="crm2",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.update",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="write",
            resource="crm://a/1",
            intent="summarise",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/2",
            intent="summarise",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource=None,
            intent="summarise",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="other",
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent=None,
            args={"n": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": "3"},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": 3.0},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": True},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": [3]},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"m": 3},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={},
        ),
        Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://a/1",
            intent="summarise",
            args={"n": 3, "m": None},
        ),
    ],
)
def test_digest_binds_every_field_and_type(other: Request) -> None:
    assert other.digest() != BASE.digest()


def test_digest_is_stable_and_independent_of_argument_order() -> None:
    a = Request(audience="crm", tool="t", action="a", args={"x": 1, "y": 2})
    b = Request(audience="crm", tool="t", action="a", args={"y": 2, "x": 1})
    assert a.digest() == b.digest()
    assert len(a.digest()) == 32
    assert Request.from_json(a.to_json()).digest() == a.digest()


def test_shared_argument_lists_are_bounded_by_total_values() -> None:
    # 64 references to one list of 64 lists of 64 ints: a handful of objects standing for
    # 64^3 values. The per-container limits allow it; the total refuses it, cheaply.
    leaf = list(range(64))
    middle = [leaf] * 64
    with pytest.raises(MalformedRequest, match="more than 1024 values"):
        Request(audience="crm", tool="t", action="a", args={"x": [middle] * 64})


def test_total_text_in_arguments_is_bounded() -> None:
    text = "a" * 4096
    Request(audience="crm", tool="t", action="a", args={f"k{i}": text for i in range(16)})
    with pytest.raises(MalformedRequest, match="characters of text"):
        Request(audience="crm", tool="t", action="a", args={f"k{i}": text for i in range(17)})


def test_a_thousand_values_are_fine() -> None:
    args = {f"k{i}": list(range(15)) for i in range(64)}  # 64 lists + 960 ints = 1024 values
    Request(audience="crm", tool="t", action="a", args=args)
    args["k0"] = list(range(16))
    with pytest.raises(MalformedRequest, match="values"):
        Request(audience="crm", tool="t", action="a", args=args)


def test_unknown_member_names_are_shown_bounded() -> None:
    doc = {
        "audience": "crm",
        "tool": "t",
        "action": "a",
        **{"x" * 1000 + str(i): 1 for i in range(50)},
    }
    with pytest.raises(MalformedRequest) as refused:
        Request.from_json(doc)
    assert len(str(refused.value)) < 400


_names = st.text(st.characters(codec="utf-8", exclude_categories=("C", "Z")), min_size=1)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300)
@given(
    _names.filter(lambda t: len(t) <= 256),
    _names.filter(lambda t: len(t) <= 256),
    _names.filter(lambda t: len(t) <= 256),
    st.none() | st.sampled_from(["crm://accounts/42/notes", "/x", "é" * 300]),
    st.none() | _names.filter(lambda t: len(t) <= 256),
    st.dictionaries(_names.filter(lambda t: len(t) <= 256), _values, max_size=4),
)
def test_the_digest_is_sha256_of_the_canonical_cbor_of_the_fields(
    audience: str, tool: str, action: str, resource: str | None, intent: str | None, args: Any
) -> None:
    # The digest assembles the CBOR itself; the spec's definition is cbor2's canonical form.
    try:
        request = Request(
            audience=audience,
            tool=tool,
            action=action,
            resource=resource,
            intent=intent,
            args=args,
        )
    except MalformedRequest:
        return
    fields = [audience, tool, action, resource, intent, request.args]
    expected = hashlib.sha256(
        b"delegation/v1/request\x00" + cbor2.dumps(fields, canonical=True)
    ).digest()
    assert request.digest() == expected


def test_the_memo_of_encoded_texts_is_bounded_and_changes_no_digest() -> None:
    from delegation import _request

    requests = [
        Request(audience=f"aud-{i}", tool="crm.read", action="read", resource=f"crm://a/{i}")
        for i in range(3 * _request._TEXTS_MAX)
    ]
    for request in requests:
        fields: list[object] = [request.audience, "crm.read", "read", request.resource, None, {}]
        expected = hashlib.sha256(
            b"delegation/v1/request\x00" + cbor2.dumps(fields, canonical=True)
        ).digest()
        assert request.digest() == expected == request.digest()  # memo filled, then read
        assert len(_request._TEXTS) <= _request._TEXTS_MAX


def test_a_text_subclass_is_never_memoized() -> None:
    # A subclass may define an equality under which it equals another text: the memo must
    # never answer for it with another text's encoding.
    from delegation import _request

    class Sly(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("crm")

    plain = Request(audience="crm", tool="t", action="a")
    plain.digest()
    assert "crm" in _request._TEXTS
    sly = Request(audience=Sly("mail"), tool="t", action="a")
    assert sly.digest() == Request(audience="mail", tool="t", action="a").digest()
    assert sly.digest() != plain.digest()


@pytest.mark.parametrize(
    "text",
    [
        '{"audience": "crm", "audience": "mail"}',
        '{"args": {"path": "/a", "path": "/b"}}',
        '{"args": {"list": [{"k": 1, "k": 2}]}}',
    ],
)
def test_json_that_repeats_a_key_at_any_depth_is_refused(text: str) -> None:
    from delegation._request import loads_unique

    with pytest.raises(MalformedRequest, match="repeats the key"):
        loads_unique(text)


def test_json_without_repeats_reads_as_json() -> None:
    from delegation._request import loads_unique

    assert loads_unique(b'{"a": [{"b": 1}, {"b": 2}]}') == {"a": [{"b": 1}, {"b": 2}]}
    with pytest.raises(ValueError, match="Expecting property name"):
        loads_unique("{not json")
