"""The resource caveat (``delegation.caveats.resource``).

specs/threats.md: "Resource segments: ``/reports`` covers ``/reports/q1``, not
``/reports-secret``, ``/reports/../hr``, percent- or Unicode-encoded variants"; "An empty value
is malformed, never a wildcard"; "No regular expressions from tokens". The pattern grammar
itself is tested in test_patterns.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Code, MalformedToken, NotNarrowing, Request, default_registry
from delegation.caveats import ResourceCaveat, Tool
from delegation.errors import CaveatFailed
from delegation.limits import MAX_LIST_ITEMS
from tests.unit._forge import (
    assert_one_pass_read_matches_constructor,
    caveat_bytes,
    check_failure,
    context,
    parent_of,
)

REGISTRY = default_registry()


def req(resource: str | None) -> Request:
    return Request(audience="crm", tool="t", action="a", resource=resource)


def test_type_id_and_round_trip() -> None:
    assert (ResourceCaveat.type_id, ResourceCaveat.name) == (5, "resource")
    cav = ResourceCaveat(("/reports/**", "crm://accounts/42/*"))
    assert cav.patterns == ("/reports/**", "crm://accounts/42/*")  # sorted
    assert REGISTRY.decode(cav.encode()) == cav
    assert cav.describe() == ["/reports/**", "crm://accounts/42/*"]


def test_patterns_are_stored_sorted_and_distinct() -> None:
    assert ResourceCaveat(("/b", "/a", "/b")).patterns == ("/a", "/b")


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("",),
        ("reports",),
        ("/reports/",),
        ("/a/../b",),
        ("/a/%2e%2e",),
        ("/a/**/b",),
        ("/r\u0435ports",),
        ("/" + "a" * 1100,),
        tuple(f"/p{i:02d}" for i in range(MAX_LIST_ITEMS + 1)),
    ],
)
def test_bad_patterns_are_malformed(values: tuple[str, ...]) -> None:
    with pytest.raises(MalformedToken):
        ResourceCaveat(values)


@pytest.mark.parametrize(
    "body_hex",
    [
        "80",  # []
        "82622f62622f61",  # ["/b", "/a"]: unsorted
        "82622f61622f61",  # duplicate
        "8163616161",  # ["aaa"]: not a resource
        "8101",  # [1]
        "622f61",  # bare text
    ],
)
def test_bad_bodies_are_malformed(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(ResourceCaveat.type_id, body_hex))


@pytest.mark.parametrize(
    "resource",
    ["/reports", "/reports/q1", "/reports/q1/page-2", "crm://accounts/42/notes"],
)
def test_allowed_resources(resource: str) -> None:
    ResourceCaveat(("/reports/**", "crm://accounts/42/*")).check(context(req(resource)))


@pytest.mark.parametrize(
    "resource",
    [
        None,  # no resource satisfies a resource caveat
        "/reports-secret",
        "/reports-secret/q1",
        "/reports/../hr",
        "/reports/%2e%2e/hr",
        "/reports%2Fq1",
        "/reports//q1",
        "/reports/./q1",
        "/r\u0435ports/q1",
        "/\uff52eports/q1",
        "/REPORTS/q1",
        "/reports/q1?all=1",
        "crm://accounts/42",
        "crm://accounts/420/notes",
        "crm://accounts/42-x/notes",
        "crm://accounts/42/notes/x",
        "crm://accounts/42/../43",
        "crn://accounts/42/notes",
        "/accounts/42/notes",
        "CRM://accounts/42/notes",
    ],
)
def test_denied_resources(resource: str | None) -> None:
    cav = ResourceCaveat(("/reports/**", "crm://accounts/42/*"))
    assert check_failure(cav, context(req(resource))) is Code.RESOURCE_NOT_ALLOWED


def test_regex_metacharacters_are_literal() -> None:
    cav = ResourceCaveat(("/a/(x+)+",))
    cav.check(context(req("/a/(x+)+")))
    assert check_failure(cav, context(req("/a/xxxx"))) is Code.RESOURCE_NOT_ALLOWED


def test_narrowing_accepts_patterns_inside_the_parent() -> None:
    parent = parent_of(ResourceCaveat(("crm://accounts/42/**",)))
    for inside in (
        ("crm://accounts/42/**",),
        ("crm://accounts/42",),
        ("crm://accounts/42/notes",),
        ("crm://accounts/42/*",),
        ("crm://accounts/42/notes/**",),
        ("crm://accounts/42/*/x", "crm://accounts/42/y"),
    ):
        ResourceCaveat(inside).check_narrows(parent)


@pytest.mark.parametrize(
    "outside",
    [
        ("crm://accounts/**",),
        ("crm://accounts/43/**",),
        ("crm://accounts/420/**",),
        ("crm://accounts/42-x/**",),
        ("crm://**",),
        ("/accounts/42/**",),
        ("crm://accounts/*/notes",),
        ("crm://accounts/42/notes", "crm://accounts/43/notes"),  # one of them outside
    ],
)
def test_narrowing_refuses_patterns_not_inside(outside: tuple[str, ...]) -> None:
    parent = parent_of(ResourceCaveat(("crm://accounts/42/**",)))
    with pytest.raises(NotNarrowing, match="not inside"):
        ResourceCaveat(outside).check_narrows(parent)


def test_narrowing_is_against_every_earlier_resource_caveat() -> None:
    parent = parent_of(ResourceCaveat(("/a/**",)), ResourceCaveat(("/a/b/**",)))
    ResourceCaveat(("/a/b/c",)).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        ResourceCaveat(("/a/c",)).check_narrows(parent)


def test_narrowing_with_several_parent_patterns() -> None:
    parent = parent_of(ResourceCaveat(("/a/**", "/b/*")))
    ResourceCaveat(("/a/x", "/b/y")).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        ResourceCaveat(("/b/y/z",)).check_narrows(parent)


def test_narrowing_without_a_parent_resource_caveat() -> None:
    ResourceCaveat(("/**",)).check_narrows(parent_of(Tool(("t",))))


@pytest.mark.parametrize(
    ("resource", "rule"),
    [
        ("/reports/q1/", "segment 3 is empty (no trailing '/')"),
        ("/reports//q1", "segment 2 is empty (no '//')"),
        ("/reports/../hr", "dot segment"),
        ("/reports/q%31", "percent-encoded"),
        ("/reports/q1?x=1", "query or fragment"),
        ("/reports/*", "wildcard"),
        ("/reports/é", "outside A-Z"),
    ],
)
def test_a_non_canonical_resource_is_denied_with_the_rule_it_breaks(
    resource: str, rule: str
) -> None:
    cav = ResourceCaveat(("/reports/**",))
    with pytest.raises(CaveatFailed) as failed:
        cav.check(context(req(resource)))
    assert failed.value.code is Code.RESOURCE_NOT_ALLOWED
    assert "not canonical" in failed.value.detail
    assert rule in failed.value.detail


def test_file_url_with_an_empty_authority_says_what_to_write_instead() -> None:
    with pytest.raises(MalformedToken) as refused:
        ResourceCaveat(("file:///srv/data/**",))
    assert "write '/srv/data/**' for a local path" in str(refused.value)
    assert "'file://HOST/srv/data/**'" in str(refused.value)
    # what it suggests works, and means what the user meant
    local = ResourceCaveat(("/srv/data/**",))
    local.check(context(req("/srv/data/reports/q1.csv")))
    with pytest.raises(NotNarrowing):
        ResourceCaveat(("/srv/**",)).check_narrows(parent_of(local))


ITEMS: st.SearchStrategy[object] = (
    st.sampled_from(["/a", "/a/**", "crm://x/*", "crm://x/../y", "", "rel", "/a//b"])
    | st.integers(0, 3)
    | st.just([])
)


@settings(max_examples=300)
@given(st.lists(ITEMS, max_size=5))
def test_from_body_reads_in_one_pass_what_the_constructor_accepts(body: list[object]) -> None:
    assert_one_pass_read_matches_constructor(ResourceCaveat, body)
