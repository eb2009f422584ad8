"""LocalVerifier: the library's verifier behind the middleware's interface, off the event
loop; Granted: what a handler reads."""

from __future__ import annotations

import anyio

from delegation import MemoryState, Request, prove
from delegation.http import Granted, LocalVerifier

from ._world import KEYRING, TOKEN, WRITER

CALL = Request(audience="crm", tool="crm.update", action="write", resource="crm://accounts/42/n")


def test_local_verifier_allows_then_says_replay() -> None:
    verifier = LocalVerifier(KEYRING, MemoryState())
    proof = prove(TOKEN, WRITER, CALL)

    async def twice() -> tuple[bool, str | None]:
        first = await verifier.verify(TOKEN, CALL, proof, ())
        second = await verifier.verify(TOKEN, CALL, proof, ())
        return first.decision.allowed, str(second.decision.code)

    assert anyio.run(twice) == (True, "replay")


def test_granted_names_the_task_the_approver_and_the_chain() -> None:
    verifier = LocalVerifier(KEYRING, None)
    verdict = anyio.run(verifier.verify, TOKEN, CALL, prove(TOKEN, WRITER, CALL), ())
    grant = Granted(CALL, verdict.decision)
    assert grant.task.task_id == "task-1"
    assert grant.approver == "alice@example.com"
    assert [a.agent_id for a in grant.agents] == ["orchestrator", "writer"]
    assert grant.holder.agent_id == "writer"
    assert verdict.decision_id is None
    assert verdict.receipt is None
