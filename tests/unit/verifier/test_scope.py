"""The collapsed scope (``delegation/_verifier/_scope.py``): step 7's fast path is exact.

For any set of caveats, ``CollapsedScope.allows`` is true exactly when every caveat it collapses
passes its own ``check``, and the caveats it leaves are exactly the others, so the verifier's
answer never depends on which path it took (``specs/verification.md``, step 7).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Request
from delegation._verifier._scope import collapse
from delegation.caveats import (
    Action,
    ArgConstraint,
    Args,
    Audience,
    Caveat,
    Intent,
    ResourceCaveat,
    Tool,
    Validity,
)
from delegation.caveats.registry import check_caveat
from tests.conftest import NOW
from tests.unit._forge import context

NAMES = ["a", "b", "c", "d"]
SEGMENTS = ["x", "y", "z", "*"]


def _pattern(scheme: str, segs: list[str], rest: bool) -> str:
    path = "/".join(segs + (["**"] if rest else []))
    return f"{scheme}://{path}" if scheme else f"/{path}"


patterns_ = st.builds(
    _pattern,
    st.sampled_from(["", "crm", "files"]),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3),
    st.booleans(),
)
resources = st.one_of(
    st.none(),
    st.builds(
        lambda scheme, segs: f"{scheme}://{'/'.join(segs)}" if scheme else "/" + "/".join(segs),
        st.sampled_from(["", "crm", "files"]),
        st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=4),
    ),
    st.sampled_from(["crm://x/../y", "/x//y", "relative", "crm://x/%2e"]),
)
name_sets = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
times = st.integers(NOW - 100, NOW + 100)


@st.composite
def validity(draw: st.DrawFn) -> Validity:
    nbf = draw(st.none() | times)
    exp = draw(st.none() | times)
    if nbf is not None and exp is not None and nbf >= exp:
        exp = nbf + 1
    if nbf is None and exp is None:
        exp = NOW + 1
    return Validity(nbf, exp)


caveats = st.one_of(
    validity(),
    st.builds(Audience, name_sets),
    st.builds(Tool, name_sets),
    st.builds(Action, name_sets),
    st.builds(Intent, name_sets),
    st.builds(ResourceCaveat, st.lists(patterns_, min_size=1, max_size=3)),
    st.just(Args((ArgConstraint.equals("n", 1),))),
)
requests = st.builds(
    Request,
    audience=st.sampled_from(NAMES),
    tool=st.sampled_from(NAMES),
    action=st.sampled_from(NAMES),
    resource=resources,
    intent=st.none() | st.sampled_from(NAMES),
)


@settings(max_examples=300)
@given(st.lists(caveats, max_size=10), requests, times)
def test_the_collapsed_scope_allows_exactly_what_its_caveats_allow(
    cavs: list[Caveat], request: Request, now: int
) -> None:
    checks = [(index, 0, cav) for index, cav in enumerate(cavs)]
    scope, rest = collapse(checks)
    rest_ids = {index for index, _, _ in rest}
    assert rest_ids == {i for i, c in enumerate(cavs) if type(c) is Args}
    ctx = context(request, now=now)
    collapsed_pass = all(
        check_caveat(cav, ctx) is None for index, cav in enumerate(cavs) if index not in rest_ids
    )
    assert scope.allows(request, now) == collapsed_pass


def test_a_chain_of_narrowing_resource_caveats_keeps_its_narrowest() -> None:
    wide = ResourceCaveat(("crm://accounts/**",))
    mid = ResourceCaveat(("crm://accounts/42/**",))
    narrow = ResourceCaveat(("crm://accounts/42/notes", "crm://accounts/42/files/*"))
    scope, _ = collapse([(0, 0, wide), (1, 1, mid), (2, 2, narrow), (3, 2, wide)])
    assert scope.resources == (narrow._parsed,)


def test_resource_caveats_that_do_not_imply_each_other_are_all_kept() -> None:
    left = ResourceCaveat(("crm://accounts/42/**",))
    right = ResourceCaveat(("crm://accounts/*/notes",))
    scope, _ = collapse([(0, 0, left), (1, 0, right)])
    assert scope.resources == (left._parsed, right._parsed)
    ok = Request(audience="a", tool="t", action="a", resource="crm://accounts/42/notes")
    other = Request(audience="a", tool="t", action="a", resource="crm://accounts/7/notes")
    assert scope.allows(ok, NOW)
    assert not scope.allows(other, NOW)


def test_disjoint_name_sets_allow_nothing() -> None:
    scope, _ = collapse([(0, 0, Tool(("a",))), (1, 1, Tool(("b",)))])
    assert not scope.allows(Request(audience="x", tool="a", action="r"), NOW)
    assert not scope.allows(Request(audience="x", tool="b", action="r"), NOW)


def test_a_resource_caveat_is_dropped_only_when_all_of_another_is_inside_it() -> None:
    wide = ResourceCaveat(("crm://x/**",))
    partly_inside = ResourceCaveat(("crm://x/y", "files://z"))
    scope, _ = collapse([(0, 0, wide), (1, 1, partly_inside)])
    escaping = Request(audience="a", tool="t", action="a", resource="files://z")
    assert not scope.allows(escaping, NOW)  # the wide caveat still refuses files://z


@settings(max_examples=300)
@given(
    st.lists(st.lists(patterns_, min_size=1, max_size=3), min_size=2, max_size=3),
    resources,
)
def test_resource_caveats_collapse_to_what_they_allow_together(
    groups: list[list[str]], resource: str | None
) -> None:
    cavs = [ResourceCaveat(tuple(g)) for g in groups]
    scope, _ = collapse([(i, 0, c) for i, c in enumerate(cavs)])
    request = Request(audience="a", tool="t", action="a", resource=resource)
    ctx = context(request)
    assert scope.allows(request, NOW) == all(check_caveat(c, ctx) is None for c in cavs)
