"""The delegation families: max depth, allowed delegatees and hop caveats
(``delegation.caveats.depth``, ``.delegatee``, ``.hop``).

THREATS.md lines covered: "Depth caps and delegatee allowlists cannot be raised by a later hop;
cycles and very long chains are rejected fast and cheaply" (authoring side here, verifier side
in test_verifier); "Compare parsed fields exactly: ``agent = alice`` must not satisfy
``alice2``"; "An empty value is malformed, never a wildcard"; "Signatures ... never appear in
errors or logs" (a hop's repr and description omit its signature).
"""

from __future__ import annotations

import pytest

from delegation import Code, MalformedToken, NotNarrowing, default_registry, encode_public_key
from delegation.caveats import Delegatees, Hop, MaxDepth, Tool
from delegation.limits import MAX_HOPS, MAX_LIST_ITEMS
from tests.conftest import seeded_agent
from tests.unit._forge import caveat_bytes, check_failure, context, parent_of

REGISTRY = default_registry()
PK = seeded_agent(20).public_key
SIG = bytes(range(64))  # not a real signature: hop caveats do not check it themselves


def hop(agent_id: str = "sub", n: int = 20) -> Hop:
    return Hop(agent_id, seeded_agent(n).public_key, SIG)


# --- max depth ---------------------------------------------------------------------------------


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


# --- delegatees --------------------------------------------------------------------------------


def test_delegatees_round_trip_and_canonical_order() -> None:
    cav = Delegatees(("sub-*", "alice", "alice"))
    assert cav.patterns == ("alice", "sub-*")
    assert REGISTRY.decode(cav.encode()) == cav
    assert (Delegatees.type_id, Delegatees.name) == (9, "delegatees")


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("",),
        ("a b",),
        ("**",),
        ("a*b",),
        ("\u0430lice",),
        tuple(f"a{i:02d}" for i in range(33)),
    ],
)
def test_bad_delegatees_are_malformed(values: tuple[str, ...]) -> None:
    assert MAX_LIST_ITEMS == 32
    with pytest.raises(MalformedToken):
        Delegatees(values)


@pytest.mark.parametrize(
    "body_hex", ["80", "826162 6161".replace(" ", ""), "8261616161", "8101", "6161"]
)
def test_delegatees_bad_bodies(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(Delegatees.type_id, body_hex))


def test_delegatees_check_every_later_agent_exactly() -> None:
    cav = Delegatees(("alice", "sub-*"))
    cav.check(context(later=()))
    cav.check(context(later=("alice", "sub-1", "sub-")))
    for bad in ("alice2", "Alice", "alic", "sub", "bob"):
        code = check_failure(cav, context(later=("alice", bad)))
        assert code is Code.DELEGATEE_NOT_ALLOWED


def test_delegatees_narrowing() -> None:
    parent = parent_of(Delegatees(("alice", "sub-*")))
    for narrower in (("alice",), ("sub-*",), ("sub-a*",), ("sub-a",), ("alice", "sub-x")):
        Delegatees(narrower).check_narrows(parent)
    for wider in (("*",), ("sub*",), ("alice*",), ("alice2",), ("bob",), ("alice", "bob")):
        with pytest.raises(NotNarrowing, match="delegatee"):
            Delegatees(wider).check_narrows(parent)


def test_delegatees_narrowing_against_every_earlier_list() -> None:
    parent = parent_of(Delegatees(("sub-*",)), Delegatees(("sub-a*",)))
    Delegatees(("sub-ab",)).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        Delegatees(("sub-b",)).check_narrows(parent)


# --- hop -----------------------------------------------------------------------------------------


def test_hop_round_trip_and_description_without_signature() -> None:
    cav = hop("researcher")
    assert REGISTRY.decode(cav.encode()) == cav
    assert (Hop.type_id, Hop.name) == (10, "hop")
    assert cav.describe() == {"agent_id": "researcher", "public_key": encode_public_key(PK)}
    assert SIG.hex() not in repr(cav)
    assert "signature" not in repr(cav)


@pytest.mark.parametrize(
    ("agent_id", "public_key", "signature"),
    [
        ("", PK, SIG),
        ("a b", PK, SIG),
        ("sub*", PK, SIG),
        ("x" * 257, PK, SIG),
        (3, PK, SIG),
        ("sub", PK[:31], SIG),
        ("sub", PK + b"\x00", SIG),
        ("sub", "pk", SIG),
        ("sub", PK, SIG[:63]),
        ("sub", PK, SIG + b"\x00"),
        ("sub", PK, b""),
        ("sub", PK, None),
    ],
)
def test_bad_hops_are_malformed(agent_id: object, public_key: object, signature: object) -> None:
    with pytest.raises(MalformedToken):
        Hop(agent_id, public_key, signature)  # type: ignore[arg-type]


@pytest.mark.parametrize("body_hex", ["80", "826161 4100".replace(" ", ""), "a0", "6161"])
def test_hop_bad_bodies(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(Hop.type_id, body_hex))


def test_hop_check_is_a_chain_check_not_a_request_check() -> None:
    hop().check(context())


def test_hop_narrowing_respects_depth_caps() -> None:
    hop("a", 21).check_narrows(parent_of(MaxDepth(1)))
    with pytest.raises(NotNarrowing, match="max_depth"):
        hop("a", 21).check_narrows(parent_of(MaxDepth(0)))
    with pytest.raises(NotNarrowing):
        hop("b", 22).check_narrows(parent_of(MaxDepth(1), hop("a", 21)))
    # a cap written after a hop counts the hops after it only
    hop("b", 22).check_narrows(parent_of(MaxDepth(5), hop("a", 21), MaxDepth(1)))
    with pytest.raises(NotNarrowing):
        hop("c", 23).check_narrows(parent_of(hop("a", 21), MaxDepth(1), hop("b", 22)))


def test_hop_narrowing_respects_the_global_hop_limit() -> None:
    chain = [hop(f"a{i}", 30 + i) for i in range(MAX_HOPS)]
    with pytest.raises(NotNarrowing, match="at most"):
        hop("last", 99).check_narrows(parent_of(*chain))
    hop("last", 99).check_narrows(parent_of(*chain[:-1]))


def test_hop_narrowing_respects_delegatee_lists() -> None:
    hop("sub-1").check_narrows(parent_of(Delegatees(("sub-*",))))
    for bad in ("sub", "sub1", "other"):
        with pytest.raises(NotNarrowing, match="not an allowed delegatee"):
            hop(bad).check_narrows(parent_of(Delegatees(("sub-*",))))
    with pytest.raises(NotNarrowing):
        hop("alice2").check_narrows(parent_of(Delegatees(("alice",))))
