"""The allowed-delegatees caveat (``delegation.caveats.delegatee``).

specs/threats.md: "Depth caps and delegatee allowlists cannot be raised by a later hop"
(authoring side here, verifier side in test_verifier); "Compare parsed fields exactly:
``agent = alice`` must not satisfy ``alice2``"; "An empty value is malformed, never a wildcard".
"""

from __future__ import annotations

import pytest

from delegation import Code, MalformedToken, NotNarrowing, default_registry
from delegation.caveats import Delegatees
from delegation.limits import MAX_LIST_ITEMS
from tests.unit._forge import caveat_bytes, check_failure, context, parent_of

REGISTRY = default_registry()


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
