"""Several verifier processes sharing one SQLite state file agree exactly.

Each worker is a separate Python process with its own Verifier over the same state file.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from delegation import Agent, AgentKey, Keyring, Request, Scope, TaskRecord, Verifier, mint
from delegation.caveats import MaxUses
from delegation.keys import RootKey
from delegation.proof import _prove
from delegation.stores import SQLiteState
from delegation.token import attenuate

NOW = 1_800_000_000
WORKERS = 4
KEYRING_SECRET = b"\x07" * 32  # test fixture only
HOLDER_SEED = b"\x08" * 32  # test fixture only
REQUEST = Request(audience="crm", tool="crm.read", action="read")


def _keyring() -> Keyring:
    return Keyring([RootKey("test-k", KEYRING_SECRET, NOW)])


def _token(max_uses: int | None) -> str:
    holder = AgentKey.from_seed(HOLDER_SEED)
    task = TaskRecord(
        task_id="task-c", approved_by="alice", approved_at=NOW, statement="concurrency test"
    )
    tok = mint(
        _keyring(),
        task,
        Agent("orchestrator", holder.public_key),
        Scope(audiences=["crm"], expires=NOW + 3600),
        now=NOW,
    )
    if max_uses is not None:
        tok = attenuate(tok, [MaxUses(max_uses)], now=NOW)
    return str(tok)


def _worker(state_path: str, token: str, proofs: list[str], out: mp.Queue) -> None:  # type: ignore[type-arg]
    state = SQLiteState(state_path, timeout=30)
    verifier = Verifier(
        _keyring(), nonce_store=state, revocations=state, uses=state, clock=lambda: NOW
    )
    codes = [str(verifier.verify(token, REQUEST, p).code) for p in proofs]
    state.close()
    out.put(codes)


def _run(tmp_path: Path, token: str, proofs_per_worker: list[list[str]]) -> list[str]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    state_path = str(tmp_path / "state.db")
    SQLiteState(state_path).close()
    procs = [
        ctx.Process(target=_worker, args=(state_path, token, proofs, out))
        for proofs in proofs_per_worker
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [code for codes in results for code in codes]


@pytest.mark.parametrize("max_uses", [1, 7])
def test_use_count_never_exceeds_max_uses_across_processes(tmp_path: Path, max_uses: int) -> None:
    token = _token(max_uses)
    holder = AgentKey.from_seed(HOLDER_SEED)
    proofs = [
        [_prove(token, holder, REQUEST, now=NOW, nonce=bytes([w, i]) * 8) for i in range(10)]
        for w in range(WORKERS)
    ]
    codes = _run(tmp_path, token, proofs)
    assert codes.count("None") == max_uses
    assert codes.count("uses_exhausted") == WORKERS * 10 - max_uses


def test_a_proof_is_accepted_once_across_processes(tmp_path: Path) -> None:
    token = _token(None)
    holder = AgentKey.from_seed(HOLDER_SEED)
    shared = [_prove(token, holder, REQUEST, now=NOW, nonce=bytes([i]) * 16) for i in range(10)]
    codes = _run(tmp_path, token, [shared] * WORKERS)
    assert codes.count("None") == 10
    assert codes.count("replay") == (WORKERS - 1) * 10
