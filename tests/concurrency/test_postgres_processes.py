"""Verifier processes sharing one PostgreSQL state agree exactly, as replicas on several hosts
would: a single-use token is allowed once, a proof once, and a budget is never passed, however
the calls of four processes interleave. Each process has its own PostgresState (its own
connection) on one schema of the real server.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from delegation import Agent, AgentKey, Budget, Keyring, Request, Scope, TaskRecord, Verifier, mint
from delegation._keys import RootKey
from delegation._proof import _prove
from delegation.stores.postgres import PostgresState
from delegation.testing import fixtures
from tests.conftest import POSTGRES_DSN

NOW = fixtures.NOW
WORKERS = 4
SECRET = fixtures.root_secret(41)  # test fixture only
HOLDER_SEED = fixtures.agent_seed(42)  # test fixture only


def _keyring() -> Keyring:
    return Keyring([RootKey("pg-k", SECRET, NOW)])


def _token(scope: Scope) -> str:
    holder = AgentKey.from_seed(HOLDER_SEED)
    task = TaskRecord(task_id="t-pg", approved_by="alice", approved_at=NOW, statement="replicas")
    return str(mint(_keyring(), task, Agent("orchestrator", holder.public_key), scope, now=NOW))


def _worker(schema: str, token: str, calls: list[tuple[int, bytes]], out: Any) -> None:
    holder = AgentKey.from_seed(HOLDER_SEED)
    state = PostgresState(POSTGRES_DSN, schema=schema, timeout=30)
    verifier = Verifier(_keyring(), state=state, clock=lambda: NOW)
    codes = []
    for amount, nonce in calls:
        req = Request(audience="crm", tool="crm.read", action="read", args={"amount": amount})
        proof = _prove(token, holder, req, now=NOW, nonce=nonce)
        codes.append(str(verifier.verify(token, req, proof).code))
    state.close()
    out.put(codes)


def _run(schema: str, token: str, per_worker: list[list[tuple[int, bytes]]]) -> list[str]:
    PostgresState.create(POSTGRES_DSN, schema=schema).close()
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(schema, token, calls, out)) for calls in per_worker]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [code for codes in results for code in codes]


def test_a_single_use_token_and_a_proof_are_each_accepted_once(pg_schema: str) -> None:
    token = _token(Scope(audiences=["crm"], expires=NOW + 3600, max_uses=3))
    own = [[(0, bytes([w, i]) * 8) for i in range(6)] for w in range(WORKERS)]
    shared = [(0, bytes([9, i]) * 8) for i in range(3)]
    codes = _run(pg_schema, token, [calls + shared for calls in own])
    assert codes.count("None") == 3  # the use limit, whichever proofs won
    assert set(codes) <= {"None", "uses_exhausted", "replay"}
    # Each shared proof is fresh for exactly one worker: the other three see a replay.
    assert codes.count("replay") == (WORKERS - 1) * len(shared)


def test_a_budget_is_never_passed_across_processes(pg_schema: str) -> None:
    budget = Budget("usd-cents", 1000, "amount", max_per_call=100)
    token = _token(Scope(audiences=["crm"], expires=NOW + 3600, budgets=[budget]))
    per_worker = [[(70, bytes([w, i]) * 8) for i in range(8)] for w in range(WORKERS)]
    codes = _run(pg_schema, token, per_worker)
    assert codes.count("None") == 1000 // 70  # 14 calls of 70 fit; the 15th would pass 1000
    assert codes.count("budget_exceeded") == WORKERS * 8 - 14
    with PostgresState(POSTGRES_DSN, schema=pg_schema) as state:
        key = bytes.fromhex(_budget_key(token))
        assert state.spent(key, NOW) == 14 * 70


def _budget_key(token: str) -> str:
    from delegation import decode
    from delegation._crypto import chain_digests

    raw = decode(token).raw
    return chain_digests(raw.identifier, raw.caveats)[-1].hex()
