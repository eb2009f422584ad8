"""Law: depth caps hold wherever they stand, and authoring refuses exactly what would deny.

A ``max_depth`` caveat after ``b`` signed hops with value ``w`` allows at most ``w`` further
hops: a chain of ``n`` hops passes it iff ``n - b <= w``. The verifier allows iff every cap
holds and names every broken one; ``delegate()`` refuses (NotNarrowing) exactly when the
verifier would deny the resulting chain on depth; ``attenuate()`` refuses a cap exactly when it
is looser than one already there (``b + w`` larger), since that one could never bind.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import Code, NotNarrowing, Request, Scope, attenuate, delegate
from delegation.caveats import MaxDepth
from delegation.testing.hostile import append_caveats
from delegation.testing.world import (
    AGENT_NUMBERS,
    AGENTS,
    codes,
    force_delegate,
    holder_key,
    mint_root,
    new_verifier,
    no_internal_errors,
    verify_as_holder,
)
from tests.conftest import NOW

DEPTH_SCOPE = Scope(audiences=["crm"], expires=NOW + 3600)
REQUEST = Request(audience="crm", tool="t.read", action="read")


@settings(max_examples=100, deadline=None)
@given(
    hops=st.integers(0, 5),
    caps=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), max_size=4),
    order=st.permutations([n for n in AGENT_NUMBERS if n != 1]),
)
def test_depth_caps_hold_and_delegate_refuses_exactly_what_would_deny(
    hops: int, caps: list[tuple[int, int]], order: list[int]
) -> None:
    token = mint_root(DEPTH_SCOPE)
    placed: list[tuple[int, int, int]] = []  # (hops before, cap, caveat index)
    verifier = new_verifier()
    for segment in range(hops + 1):
        for value in [w for b, w in caps if min(b, hops) == segment]:
            looser = any(segment + value > b + w for b, w, _ in placed)
            try:
                attenuate(token, [MaxDepth(value)], now=NOW)
                refused = False
            except NotNarrowing:
                refused = True
            assert refused == looser, (placed, segment, value)
            placed.append((segment, value, len(token.raw.caveats)))
            token = append_caveats(token, [MaxDepth(value)])
        if segment == hops:
            break
        to = AGENTS[order[segment]]
        forced = force_delegate(token, to)
        with no_internal_errors():
            denied_on_depth = Code.DEPTH_EXCEEDED in codes(
                verify_as_holder(forced, REQUEST, verifier=verifier)
            )
        assert denied_on_depth == any(segment + 1 - b > w for b, w, _ in placed)
        try:
            delegate(token, holder_key(token), to, now=NOW)
            refused = False
        except NotNarrowing:
            refused = True
        assert refused == denied_on_depth, (placed, segment)
        token = forced

    broken = [(b, index) for b, w, index in placed if hops - b > w]
    with no_internal_errors():
        decision = verify_as_holder(token, REQUEST, verifier=verifier)
    event("allowed" if decision.allowed else "denied on depth")
    assert decision.allowed == (not broken)
    assert set(codes(decision)) <= {Code.DEPTH_EXCEEDED}
    assert [(r.hop, r.caveat) for r in decision.reasons] == broken
