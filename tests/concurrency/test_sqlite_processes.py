"""Several verifier processes sharing one SQLite state file agree exactly.

Each worker is a separate Python process with its own Verifier over the same state file: a use
is counted, a proof accepted and an approval spent exactly as often as the limits allow, and a
state file made by several processes at once is made once.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from delegation import (
    Agent,
    AgentKey,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    Verifier,
    mint,
    prove_for_approval,
)
from delegation._keys import RootKey
from delegation._proof import _prove
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._thirdparty.caveat import ApproverKey
from delegation._token import attenuate
from delegation.caveats import MaxUses
from delegation.stores import Revocation, RevocationKind, SQLiteState
from delegation.testing import fixtures

NOW = fixtures.NOW
WORKERS = 4
KEYRING_SECRET = fixtures.root_secret(7)  # test fixture only
HOLDER_SEED = fixtures.agent_seed(8)  # test fixture only
APPROVER_SEED = fixtures.approver_seed(9)  # test fixture only
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


def _worker(
    state_path: str,
    token: str,
    proofs: list[str],
    discharges: list[str],
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    state = SQLiteState(state_path, timeout=30)
    verifier = Verifier(_keyring(), state=state, clock=lambda: NOW)
    codes = [str(verifier.verify(token, REQUEST, p, discharges=discharges).code) for p in proofs]
    state.close()
    out.put(codes)


def _run(
    tmp_path: Path,
    token: str,
    proofs_per_worker: list[list[str]],
    discharges: list[str] | None = None,
) -> list[str]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    state_path = str(tmp_path / "state.db")
    SQLiteState.create(state_path).close()
    procs = [
        ctx.Process(target=_worker, args=(state_path, token, proofs, discharges or [], out))
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


def test_an_approval_is_spent_once_across_processes(tmp_path: Path) -> None:
    """Every worker shows the same approval with proofs of its own: one call is allowed."""
    approver = Approver(ApproverKey.from_seed(APPROVER_SEED))
    gated = require_approval(_token(None), approver.public_key, rules=["crm.read"])
    holder = AgentKey.from_seed(HOLDER_SEED)
    asked = prove_for_approval(gated, holder, REQUEST, now=NOW)
    (pending,) = approver.pending(gated, REQUEST, asked, now=NOW)
    discharge = bind_discharge(gated, approver.approve(pending, now=NOW))
    proofs = [
        [_prove(gated, holder, REQUEST, now=NOW, nonce=bytes([w, i]) * 8) for i in range(5)]
        for w in range(WORKERS)
    ]
    codes = _run(tmp_path, str(gated), proofs, [discharge])
    assert codes.count("None") == 1
    assert codes.count("replay") == WORKERS * 5 - 1


def _create_and_revoke(path: str, task: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        state = SQLiteState.create(path, timeout=30)
        state.revoke(Revocation(RevocationKind.TASK, task), NOW)
        state.close()
    except Exception as exc:  # report it, so the test fails at once and says why
        out.put(f"{task}: {type(exc).__name__}: {exc}")
        return
    out.put(task)


def test_processes_creating_one_state_file_at_once_make_it_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    path = str(tmp_path / "state.db")
    tasks = [f"task-{w}" for w in range(WORKERS)]
    procs = [ctx.Process(target=_create_and_revoke, args=(path, t, out)) for t in tasks]
    for p in procs:
        p.start()
    assert sorted(out.get(timeout=120) for _ in procs) == tasks
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with SQLiteState(path) as state:
        assert sorted(r.revocation.value for r in state.revocations()) == tasks
