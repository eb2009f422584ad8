"""Several verifier processes spending from one budget tree never pass any budget.

A property over generated trees: a root budget, two or three sub-agents with budgets of their
own (any totals, above the root's included: the root's still applies), and each sub-agent's
calls of generated costs, made by its own process with its own Verifier over one shared SQLite
state file, all at once. Whatever the interleaving:

- no balance ever passes its total, the root's shared by every sibling included;
- the state's balances are exactly the sums of the costs of the allowed calls;
- every denial is ``budget_exceeded`` (or ``cost_too_high`` above the per-call maximum).

The worker processes are started once for the module and fed one example after another, so an
example costs its calls, not a process start.
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delegation import (
    Agent,
    AgentKey,
    Budget,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    delegate,
    mint,
)
from delegation._crypto import chain_digests
from delegation._keys import RootKey
from delegation._proof import _prove
from delegation.stores import SQLiteState
from delegation.testing import fixtures

NOW = fixtures.NOW
WORKERS = 3
SECRET = fixtures.root_secret(21)  # test fixture only
ROOT_SEED = fixtures.agent_seed(22)  # test fixture only
CAP = 60


def _keyring() -> Keyring:
    return Keyring([RootKey("budget-k", SECRET, NOW)])


def _serve(jobs: mp.Queue, results: mp.Queue) -> None:  # type: ignore[type-arg]
    """One verifier process: for each job, verify its calls against the job's state file."""
    while True:
        job = jobs.get()
        if job is None:
            return
        path, token, seed, costs = job
        key = AgentKey.from_seed(seed)
        state = SQLiteState(path, timeout=30)
        verifier = Verifier(_keyring(), state=state, clock=lambda: NOW)
        out = []
        for i, cost in enumerate(costs):
            req = Request(audience="pay", tool="pay.send", action="write", args={"amount": cost})
            proof = _prove(token, key, req, now=NOW, nonce=i.to_bytes(16, "big"))
            out.append(str(verifier.verify(token, req, proof).code))
        state.close()
        results.put(out)


@pytest.fixture(scope="module")
def workers() -> Iterator[list[tuple[Any, Any]]]:
    ctx = mp.get_context("spawn")
    pool = []
    for _ in range(WORKERS):
        jobs: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        proc = ctx.Process(target=_serve, args=(jobs, results), daemon=True)
        proc.start()
        pool.append((jobs, results, proc))
    yield [(jobs, results) for jobs, results, _ in pool]
    for jobs, _, proc in pool:
        jobs.put(None)
        proc.join(timeout=30)


trees = st.tuples(
    st.integers(0, 150),  # the root's total
    st.lists(st.integers(0, 150), min_size=2, max_size=WORKERS),  # each sub-agent's own
    st.lists(st.lists(st.integers(0, CAP + 5), max_size=12), min_size=WORKERS, max_size=WORKERS),
)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees)
def test_concurrent_spending_never_exceeds_any_budget(
    workers: list[tuple[Any, Any]], tree: tuple[int, list[int], list[list[int]]]
) -> None:
    root_total, child_totals, calls = tree
    orchestrator = AgentKey.from_seed(ROOT_SEED)
    task = TaskRecord(task_id="t-b", approved_by="alice", approved_at=NOW, statement="budgets")
    budget = Budget("usd-cents", root_total, "amount", max_per_call=CAP)
    root = mint(
        _keyring(),
        task,
        Agent("orchestrator", orchestrator.public_key),
        Scope(audiences=["pay"], expires=NOW + 3600, budgets=[budget]),
        now=NOW,
    )
    children: list[tuple[UnverifiedToken, bytes, int | None]] = []
    for n, total in enumerate(child_totals):
        key = AgentKey.from_seed(fixtures.agent_seed(30 + n))
        own = [Budget("usd-cents", total, "amount")] if total <= root_total else []
        token = delegate(root, orchestrator, Agent(f"sub-{n}", key.public_key), Scope(budgets=own))
        children.append((token, fixtures.agent_seed(30 + n), total if own else None))

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "state.db")
        SQLiteState.create(path).close()
        for (jobs, _), (token, seed, _), costs in zip(workers, children, calls, strict=False):
            jobs.put((path, str(token), seed, costs))
        codes = [
            results.get(timeout=120) for (_, results), _ in zip(workers, children, strict=False)
        ]
        with SQLiteState(path) as state:
            root_key = chain_digests(root.raw.identifier, root.raw.caveats)[-1]
            root_spent = state.spent(root_key)
            child_spent: list[int | None] = []
            for child_token, _, own_total in children:
                digest = chain_digests(child_token.raw.identifier, child_token.raw.caveats)[-1]
                child_spent.append(None if own_total is None else state.spent(digest))

    allowed_sums = []
    for child_codes, costs in zip(codes, calls, strict=False):
        assert set(child_codes) <= {"None", "budget_exceeded", "cost_too_high"}
        for code, cost in zip(child_codes, costs, strict=True):
            assert (code == "cost_too_high") == (cost > CAP)
        allowed_sums.append(
            sum(c for code, c in zip(child_codes, costs, strict=True) if code == "None")
        )
    assert root_spent == sum(allowed_sums) <= root_total
    for (_, _, limit), spent, allowed in zip(children, child_spent, allowed_sums, strict=True):
        if limit is not None:
            assert spent == allowed <= limit
