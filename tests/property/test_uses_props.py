"""Law: no ``max_uses`` counter ever allows more calls than its limit, however calls from the
tokens that share it interleave; and a call is allowed exactly when every counter on its
chain has room (denied calls count nothing).

The model keys a counter by the bytes of the chain up to its caveat, independently of the
verifier's digests. Run against MemoryState and SQLiteState on a temporary file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import Code, Request, Scope, UnverifiedToken, Verifier, attenuate, delegate
from delegation.caveats import MaxUses, Validity
from delegation.stores import MemoryState, SQLiteState
from delegation.testing.world import (
    AGENT_NUMBERS,
    AGENTS,
    KEYRING,
    holder_key,
    mint_root,
    proof_for,
)
from tests.clock import Clock
from tests.conftest import NOW

GOOD = Request(audience="crm", tool="crm.read", action="read")
BAD = Request(
    audience="crm", tool="crm.admin", action="read"
)  # outside the root's tools: always denied
EXPIRES = NOW + 3600

Counter = tuple[bytes, tuple[bytes, ...]]


def counter_key(token: UnverifiedToken, i: int) -> Counter:
    """The model's name for the counter of caveat ``i``: the chain's bytes up to it."""
    prefix = tuple(raw.cid + (raw.vid or b"") for raw in token.raw.caveats[: i + 1])
    return token.raw.identifier, prefix


def counters(token: UnverifiedToken) -> list[tuple[Counter, int]]:
    """Each max_uses caveat of ``token``: (its counter, its limit)."""
    return [
        (counter_key(token, i), cav.uses)
        for i, cav in enumerate(token.unsafe_caveats())
        if isinstance(cav, MaxUses)
    ]


def limits_in_force(token: UnverifiedToken) -> int | None:
    limits = [cav.uses for cav in token.unsafe_caveats() if isinstance(cav, MaxUses)]
    return min(limits) if limits else None


def expiry(token: UnverifiedToken) -> int:
    return min(c.expires for c in token.unsafe_caveats() if isinstance(c, Validity) and c.expires)


def grow(data: st.DataObject, *, vary_expiry: bool) -> list[UnverifiedToken]:
    """A root with max_uses and a random tree below it; nodes may add smaller limits and
    (with ``vary_expiry``) shorter expiries."""
    root_limit = data.draw(st.integers(1, 4), label="root limit")
    root = mint_root(Scope(audiences=["crm"], tools=["crm.read"], expires=EXPIRES))
    if data.draw(st.booleans(), label="root limited"):
        root = attenuate(root, [MaxUses(root_limit)], now=NOW)
    tokens = [root]
    for _ in range(data.draw(st.integers(1, 5), label="nodes")):
        parent = tokens[data.draw(st.integers(0, len(tokens) - 1), label="parent")]
        extra: list[MaxUses | Validity] = []
        cap = limits_in_force(parent)
        if data.draw(st.booleans(), label="own limit"):
            extra.append(MaxUses(data.draw(st.integers(1, cap or 4), label="limit")))
        if vary_expiry and data.draw(st.booleans(), label="shorter"):
            cut = data.draw(st.sampled_from([100, 1000, 2000]), label="cut")
            extra.append(Validity(None, expiry(parent) - cut))
        in_chain = {link.public_key for link in parent.agents()}
        free = [n for n in AGENT_NUMBERS if AGENTS[n].public_key not in in_chain]
        wants_hop = data.draw(st.booleans(), label="delegate")
        if free and wants_hop:
            to = AGENTS[data.draw(st.sampled_from(free), label="delegatee")]
            child = delegate(parent, holder_key(parent), to, Scope(extra=extra), now=NOW)
        elif extra:
            child = attenuate(parent, extra, now=NOW)
        else:
            child = attenuate(parent, [Validity(None, expiry(parent) - 1)], now=NOW)
        tokens.append(child)
    return tokens


@contextmanager
def stores(kind: str) -> Iterator[MemoryState | SQLiteState]:
    if kind == "memory":
        yield MemoryState()
        return
    with tempfile.TemporaryDirectory() as tmp:
        state = SQLiteState.create(Path(tmp) / "state.db")
        try:
            yield state
        finally:
            state.close()


def run_calls(
    data: st.DataObject, tokens: list[UnverifiedToken], kind: str, *, with_time: bool
) -> None:
    calls = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(tokens) - 1),
                st.booleans(),
                st.sampled_from([0, 500, 1500, 2500, 3500]) if with_time else st.just(0),
            ),
            min_size=1,
            max_size=20,
        ),
        label="calls",
    )
    if with_time:  # time only moves forward
        calls = sorted(calls, key=lambda c: c[2])
    spent: dict[Counter, int] = {}
    with stores(kind) as uses:
        clock = Clock(NOW)
        verifier = Verifier(KEYRING, state=uses, clock=clock)
        for index, good, dt in calls:
            token, at = tokens[index], NOW + dt
            request = GOOD if good else BAD
            clock.now = at
            decision = verifier.verify(token, request, proof_for(token, request, at=at))
            found = [r.code for r in decision.reasons]
            mine = counters(token)
            expired = {Code.EXPIRED} if at >= expiry(token) else set()
            if not good:
                assert set(found) == {Code.TOOL_NOT_ALLOWED} | expired, found
            elif expired:
                assert set(found) == expired, found
            elif all(spent.get(key, 0) < limit for key, limit in mine):
                assert decision.allowed, (index, dt, found)
                for key, _ in mine:
                    spent[key] = spent.get(key, 0) + 1
            else:
                assert found == [Code.USES_EXHAUSTED], (index, dt, found)
            event("allowed" if decision.allowed else str(decision.code))
        for token in tokens:
            for key, limit in counters(token):
                assert spent.get(key, 0) <= limit
                if spent.get(key, 0) == limit:
                    event("a counter reached its limit")
            if with_time:
                continue  # a store may forget a count once every sharer has expired
            # The store's count agrees with the model for every counter of every chain.
            chain = verifier.check_chain(token)
            for i, placed in enumerate(chain.caveats):
                if isinstance(placed.caveat, MaxUses):
                    expected = spent.get(counter_key(token, i), 0)
                    assert uses.count(chain.prefix_digests[i + 1]) == expected


@settings(max_examples=40, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["memory", "sqlite"]))
def test_counts_never_exceed_max_uses_under_interleaving(data: st.DataObject, kind: str) -> None:
    tokens = grow(data, vary_expiry=False)
    run_calls(data, tokens, kind, with_time=False)


# Guards against: a count forgotten once a child with a shorter expiry spends a shared counter
# and time passes its expiry (keep_until taken as the presenting chain's minimum expiry), while
# longer-lived tokens sharing the counter are still valid and so get the whole limit again. See
# tests/unit/stores/test_state.py::test_short_lived_child_cannot_reset_its_parents_count.
@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["memory", "sqlite"]))
def test_counts_never_exceed_max_uses_as_time_passes(data: st.DataObject, kind: str) -> None:
    tokens = grow(data, vary_expiry=True)
    run_calls(data, tokens, kind, with_time=True)
