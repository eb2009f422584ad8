"""The max-depth caveat (``delegation.caveats.depth``).

specs/threats.md: "Depth caps and delegatee allowlists cannot be raised by a later hop"
(authoring side here, verifier side in test_verifier); "An empty value is malformed, never a
wildcard".
"""

from __future__ import annotations

import pytest

from delegation import Code, MalformedToken, NotNarrowing, default_registry
from delegation.caveats import Hop, MaxDepth, Tool
from delegation.limits import MAX_HOPS
from tests.conftest import seeded_agent
from tests.unit._forge import caveat_bytes, check_failure, context, parent_of

REGISTRY = default_registry()
SIG = bytes(range(64))  # not a real signature: hop caveats do not check it themselves


def hop(agent_id: str = "sub", n: int = 20) -> Hop:
    return Hop(agent_id, seeded_agent(n).public_key, SIG)


@pytest.mark.parametrize("n", [0, 1, MAX_HOPS])
def test_max_depth_round_trip(n: int) -> None:
    cav = MaxDepth(n)
    assert REGISTRY.decode(cav.encode()) == cav
    assert cav.describe() == n
    assert (MaxDepth.type_id, MaxDepth.name) == (8, "max_depth")


@pytest.mark.parametrize("n", [-1, MAX_HOPS + 1, True, False, 1.0, "1", None])
def test_max_depth_out_of_range_or_wrong_type_is_malformed(n: object) -> None:
    with pytest.raises(MalformedToken):
        MaxDepth(n)  # type: ignore[arg-type]


@pytest.mark.parametrize("body_hex", ["20", "11", "f5", "f4", "6131", "80", "f93c00"])
def test_max_depth_bad_bodies(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(MaxDepth.type_id, body_hex))


def test_max_depth_counts_later_hops() -> None:
    MaxDepth(0).check(context())
    MaxDepth(2).check(context(later=("a", "b")))
    assert check_failure(MaxDepth(1), context(later=("a", "b"))) is Code.DEPTH_EXCEEDED
    assert check_failure(MaxDepth(0), context(later=("a",))) is Code.DEPTH_EXCEEDED


def test_max_depth_narrowing_refuses_a_raise() -> None:
    parent = parent_of(MaxDepth(2))
    MaxDepth(2).check_narrows(parent)
    MaxDepth(0).check_narrows(parent)
    with pytest.raises(NotNarrowing, match="max_depth"):
        MaxDepth(3).check_narrows(parent)


def test_max_depth_narrowing_is_relative_to_hops_already_taken() -> None:
    # Root allows 2 further hops; one hop taken, so at most 1 more may be allowed.
    parent = parent_of(MaxDepth(2), hop("a", 21))
    MaxDepth(1).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        MaxDepth(2).check_narrows(parent)
    # A cap written after the hop counts from there.
    parent = parent_of(MaxDepth(5), hop("a", 21), MaxDepth(1))
    MaxDepth(1).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        MaxDepth(2).check_narrows(parent)


def test_max_depth_without_a_parent_cap() -> None:
    MaxDepth(MAX_HOPS).check_narrows(parent_of(Tool(("t",))))
