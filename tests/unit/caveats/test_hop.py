"""The hop caveat (``delegation.caveats.hop``): a delegation to a named key.

specs/threats.md: "Depth caps and delegatee allowlists cannot be raised by a later hop;
cycles and very long chains are rejected fast and cheaply" (authoring side here, verifier side
in test_verifier); "Signatures ... never appear in errors or logs" (a hop's repr and description
omit its signature).
"""

from __future__ import annotations

import pytest

from delegation import MalformedToken, NotNarrowing, default_registry, encode_public_key
from delegation.caveats import Delegatees, Hop, MaxDepth
from delegation.limits import MAX_HOPS
from tests.conftest import seeded_agent
from tests.unit._forge import caveat_bytes, parent_of

REGISTRY = default_registry()
PK = seeded_agent(20).public_key
SIG = bytes(range(64))  # not a real signature: hop caveats do not check it themselves


def hop(agent_id: str = "sub", n: int = 20) -> Hop:
    return Hop(agent_id, seeded_agent(n).public_key, SIG)


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
