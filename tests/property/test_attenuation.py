"""Law: attenuation never widens. Anything a child token allows, every ancestor allows."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation.testing.strategies import draw_chain, requests, times
from delegation.testing.world import codes, new_verifier, verify_as_holder


def _caveat_failures(reasons: object) -> set[tuple[str, int | None, int | None]]:
    assert isinstance(reasons, tuple)
    return {(r.code, r.hop, r.caveat) for r in reasons if r.caveat is not None}


def test_attenuation_never_widens() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def law(data: st.DataObject) -> None:
        chain = draw_chain(data)
        hint = chain[-1].unsafe_caveats()
        calls = data.draw(
            st.lists(st.tuples(requests(hint), times(hint)), min_size=1, max_size=4),
            label="requests",
        )
        for request, at in calls:
            verifier = new_verifier(at)
            decisions = [verify_as_holder(t, request, at=at, verifier=verifier) for t in chain]
            outcome = "allowed" if decisions[-1].allowed else "denied"
            event(f"child {outcome}")
            if len(chain) > 1:  # only a token with an ancestor tests the law
                seen[outcome] += 1
            for depth, (ancestor, descendant) in enumerate(itertools.pairwise(decisions)):
                # A child holds every caveat of its parent at the same index, so it keeps
                # every one of the parent's caveat failures (and may add its own).
                assert _caveat_failures(ancestor.reasons) <= _caveat_failures(descendant.reasons), (
                    depth,
                    codes(ancestor),
                    codes(descendant),
                )
                if descendant.allowed:
                    assert ancestor.allowed, (depth, request, at, codes(ancestor))

    law()
    # Not vacuous: the small alphabets make children allow and deny often.
    assert seen["allowed"] >= 10, seen
    assert seen["denied"] >= 5, seen
