"""A token for the unit tests of delegation.http: a root for the orchestrator, delegated to a
writer, under a keyring of the test's own."""

from __future__ import annotations

import time

from delegation import Agent, AgentKey, Keyring, Scope, TaskRecord, delegate, mint

KEYRING = Keyring.generate()
ORCHESTRATOR, WRITER = AgentKey.generate(), AgentKey.generate()
TASK = TaskRecord(
    task_id="task-1",
    approved_by="alice@example.com",
    approved_at=int(time.time()),
    statement="File notes",
)
ROOT = mint(
    KEYRING,
    TASK,
    Agent("orchestrator", ORCHESTRATOR.public_key),
    Scope(audiences=["crm"], resources=["crm://accounts/42/**"], expires_in=3600),
)
TOKEN = str(delegate(ROOT, ORCHESTRATOR, Agent("writer", WRITER.public_key), Scope()))
