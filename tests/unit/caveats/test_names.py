"""Audience, tool, action and intent caveats (``delegation.caveats.names``).

specs/threats.md: "Compare parsed fields exactly: ``agent = alice`` must not satisfy
``alice2``"; "An empty value is malformed, never a wildcard"; "A token for audience X presented
at Y is denied"; "One checker per caveat type" (each family reads only its own field).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Code, MalformedToken, NotNarrowing, Request, default_registry
from delegation.caveats import Action, Audience, Intent, Tool
from delegation.caveats.names import _NameSet
from delegation.limits import MAX_LIST_ITEMS, MAX_NAME_CHARS
from tests.unit._forge import (
    assert_one_pass_read_matches_constructor,
    caveat_bytes,
    check_failure,
    context,
    parent_of,
)

REGISTRY = default_registry()
FAMILIES: list[tuple[type[_NameSet], str, Code]] = [
    (Audience, "audience", Code.WRONG_AUDIENCE),
    (Tool, "tool", Code.TOOL_NOT_ALLOWED),
    (Action, "action", Code.ACTION_NOT_ALLOWED),
    (Intent, "intent", Code.INTENT_NOT_ALLOWED),
]
FAMILY = pytest.mark.parametrize(("family", "field", "code"), FAMILIES)


def request_with(field: str, value: str | None) -> Request:
    fields: dict[str, str | None] = {
        "audience": "crm",
        "tool": "crm.read",
        "action": "read",
        "resource": None,
        "intent": "summarise",
    }
    fields[field] = value
    return Request(**fields)  # type: ignore[arg-type]


def test_type_ids_and_names() -> None:
    assert [(f.type_id, f.name) for f, _, _ in FAMILIES] == [
        (2, "audience"),
        (3, "tool"),
        (4, "action"),
        (6, "intent"),
    ]


@FAMILY
def test_names_are_stored_sorted_and_distinct(
    family: type[_NameSet], field: str, code: Code
) -> None:
    cav = family(("b", "a", "b"))
    assert cav.names == ("a", "b")
    assert cav == family(("a", "b"))
    assert cav.encode() == family(("a", "b")).encode()


@FAMILY
def test_round_trip(family: type[_NameSet], field: str, code: Code) -> None:
    cav = family(("crm", "crm.read", "x" * MAX_NAME_CHARS))
    decoded = REGISTRY.decode(cav.encode())
    assert decoded == cav
    assert type(decoded) is family
    assert cav.describe() == list(cav.names)


@FAMILY
@pytest.mark.parametrize(
    "names",
    [(), ("",), ("a\nb",), ("a\x00",), ("x" * (MAX_NAME_CHARS + 1),), (3,), (b"a",), (True,)],
)
def test_empty_or_bad_names_are_malformed(
    family: type[_NameSet], field: str, code: Code, names: tuple[object, ...]
) -> None:
    with pytest.raises(MalformedToken):
        family(names)  # type: ignore[arg-type]


@FAMILY
def test_too_many_names_are_malformed(family: type[_NameSet], field: str, code: Code) -> None:
    family(tuple(f"n{i:02d}" for i in range(MAX_LIST_ITEMS)))
    with pytest.raises(MalformedToken):
        family(tuple(f"n{i:02d}" for i in range(MAX_LIST_ITEMS + 1)))


@FAMILY
@pytest.mark.parametrize(
    "body_hex",
    [
        "80",  # empty list: never a wildcard
        "826162 6161".replace(" ", ""),  # ["b", "a"]: unsorted
        "8261616161",  # ["a", "a"]: duplicate
        "6161",  # bare text
        "8101",  # [1]
        "81f5",  # [true]
        "814161",  # [b"a"]
        "8160",  # [""]
        "81f6",  # [null]
        "8181 6161".replace(" ", ""),  # [["a"]]
    ],
)
def test_bad_bodies_are_malformed(
    family: type[_NameSet], field: str, code: Code, body_hex: str
) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(family.type_id, body_hex))


@FAMILY
def test_check_compares_exactly(family: type[_NameSet], field: str, code: Code) -> None:
    cav = family(("alice", "crm.read"))
    family(("alice",)).check(context(request_with(field, "alice")))
    cav.check(context(request_with(field, "crm.read")))
    for near_miss in ("alice2", "alic", "Alice", "alice ", "crm.read.all", "crm", "crm.rea"):
        assert check_failure(cav, context(request_with(field, near_miss))) is code


def test_a_missing_intent_satisfies_no_intent_caveat() -> None:
    assert check_failure(Intent(("summarise",)), context(request_with("intent", None))) is (
        Code.INTENT_NOT_ALLOWED
    )


def test_each_family_reads_only_its_own_field() -> None:
    req = Request(audience="crm", tool="crm", action="crm", resource=None, intent="crm")
    for family, _, _ in FAMILIES:
        family(("crm",)).check(context(req))
    req = Request(audience="x", tool="crm", action="crm", resource=None, intent="crm")
    assert check_failure(Audience(("crm",)), context(req)) is Code.WRONG_AUDIENCE
    Tool(("crm",)).check(context(req))


@FAMILY
def test_narrowing(family: type[_NameSet], field: str, code: Code) -> None:
    parent = parent_of(family(("a", "b", "c")))
    family(("a",)).check_narrows(parent)
    family(("a", "b", "c")).check_narrows(parent)
    with pytest.raises(NotNarrowing, match="outside"):
        family(("a", "d")).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        family(("z",)).check_narrows(parent)


@FAMILY
def test_narrowing_is_against_every_earlier_caveat_of_the_family(
    family: type[_NameSet], field: str, code: Code
) -> None:
    parent = parent_of(family(("a", "b", "c")), family(("a", "b")))
    family(("b",)).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        family(("c",)).check_narrows(parent)


def test_narrowing_ignores_other_families() -> None:
    parent = parent_of(Tool(("a",)), Action(("b",)))
    Audience(("z",)).check_narrows(parent)
    Intent(("z",)).check_narrows(parent)
    Tool(("a",)).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        Tool(("b",)).check_narrows(parent)


ITEMS: st.SearchStrategy[object] = (
    st.sampled_from(["a", "b", "crm.read", "", "x" * 257, "tab\there", "é"])
    | st.integers(0, 3)
    | st.just([])
)


@settings(max_examples=300)
@given(st.lists(ITEMS, max_size=5))
def test_from_body_reads_in_one_pass_what_the_constructor_accepts(body: list[object]) -> None:
    assert_one_pass_read_matches_constructor(Tool, body)
