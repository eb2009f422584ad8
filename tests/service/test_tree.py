"""``GET /v1/tasks/{id}/tree``: an auditor rebuilds, from the audit log alone, who delegated to
whom under a task, what each hop narrowed, and every call each agent made with its decision
and the very receipt the tool server got."""

from __future__ import annotations

from typing import Any

from delegation import Agent, AgentKey, Scope, delegate
from verifier_service.sealing import RECEIPT_DOMAIN, signature_holds, unb64

from .conftest import Served
from .test_routes import CALL, call, mint

WRITE = {**CALL, "tool": "crm.update", "action": "write"}


def test_the_tree_holds_every_agent_hop_and_call(served: Served, keys: dict[str, str]) -> None:
    orchestrator, researcher, writer = (AgentKey.generate() for _ in range(3))
    minted = mint(
        served,
        keys["approver"],
        orchestrator,
        tools=["crm.read", "crm.update"],
        actions=["read", "write"],
    )
    root = minted["token"]
    read_only = delegate(
        root, orchestrator, Agent("researcher", researcher.public_key),
        Scope(tools=["crm.read"], actions=["read"]),
    ).encode()  # fmt: skip
    writes = delegate(root, orchestrator, Agent("writer", writer.public_key)).encode()
    with served.client(keys["verifier"]) as verifier:
        answers = [
            verifier.post("/v1/verify", json=call(root, orchestrator)).json(),
            verifier.post("/v1/verify", json=call(read_only, researcher)).json(),
            verifier.post("/v1/verify", json=call(read_only, researcher, WRITE)).json(),
            verifier.post("/v1/verify", json=call(writes, writer, WRITE)).json(),
            verifier.post("/v1/verify", json={"token": writes, "request": CALL}).json(),  # stolen
            verifier.post("/v1/verify", json={"token": root + "A", "request": CALL}).json(),
        ]
    with served.client(keys["auditor"]) as auditor:
        answer = auditor.get(f"/v1/tasks/{minted['task_id']}/tree")
        public = unb64(auditor.get("/v1/receipt-keys").json()["keys"][0]["public_key"])
    assert answer.status_code == 200, answer.text
    tree = answer.json()
    assert tree["task"]["task_id"] == minted["task_id"]
    assert tree["partial"] is False
    top = tree["root"]
    assert (top["agent_id"], top["hop_id"]) == ("orchestrator", None)
    assert [c["decision_id"] for c in top["calls"]] == [answers[0]["decision_id"]]
    kids = {child["agent_id"]: child for child in top["children"]}
    assert set(kids) == {"researcher", "writer"}
    narrowed = {c["type"]: c["value"] for c in kids["researcher"]["narrowed"]}
    assert narrowed == {
        "hop": {"agent_id": "researcher", "public_key": kids["researcher"]["public_key"]},
        "tool": ["crm.read"],
        "action": ["read"],
    }
    assert [c["type"] for c in kids["writer"]["narrowed"]] == ["hop"]  # narrowed nothing
    assert {c["type"] for c in top["narrowed"]} >= {"validity", "audience", "tool", "action"}
    research_calls = kids["researcher"]["calls"]
    assert [(c["allowed"], c["codes"][:1]) for c in research_calls] == [
        (True, []),
        (False, ["tool_not_allowed"]),
    ]
    writer_calls = kids["writer"]["calls"]
    assert [c["decision_id"] for c in writer_calls] == [
        answers[3]["decision_id"],
        answers[4]["decision_id"],  # the chain is the writer's: a call made with it is its
    ]
    assert writer_calls[1]["codes"][0] == "pop_required"
    # The receipt in the tree is the one the tool server got, and it checks out.
    every: list[dict[str, Any]] = [
        *top["calls"], *research_calls, *writer_calls, *tree["unattributed_calls"],
    ]  # fmt: skip
    by_id = {c["decision_id"]: c for c in every}
    for got in answers[:5]:
        kept = by_id[got["decision_id"]]["receipt"]
        assert kept == got["receipt"]
        assert signature_holds(public, RECEIPT_DOMAIN, kept["body"], kept["signature"])
    # a token that never verified has no chain: its call is kept, unattributed, if it names the
    # task at all (a junk token names none, so it is not in this task's records)
    assert answers[5]["decision_id"] not in by_id


def test_the_tree_of_an_unknown_task_is_not_found(served: Served, keys: dict[str, str]) -> None:
    with served.client(keys["auditor"]) as auditor:
        answer = auditor.get("/v1/tasks/no-such-task/tree")
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    with served.client(keys["verifier"]) as verifier:  # not a role that may read trees
        assert verifier.get("/v1/tasks/no-such-task/tree").status_code == 403
