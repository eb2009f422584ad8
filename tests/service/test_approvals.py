"""A human's approval through the service, over real HTTP: the agent asks with its token and its
signed approval request (no API key), polls, an approver lists what waits and decides, and
the agent's poll hands the discharge over once; the tool server's verify then allows exactly
that call once. Forged tokens, stolen or stale requests and second decisions are refused."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    Request,
    decode,
    delegate,
    encode_public_key,
    prove,
    prove_for_approval,
)
from delegation._crypto import ASK_DOMAIN
from delegation._proof import Proof

from .conftest import Served

NOTE = {
    "audience": "crm",
    "tool": "crm.update",
    "action": "write",
    "resource": "crm://accounts/42/notes/new",
}


@pytest.fixture
def story(served: Served) -> dict[str, Any]:
    approver = served.key("approver", "alice@example.com")
    verifier = served.key("verifier", "crm", ["crm"])
    holder = AgentKey.generate()
    body = {
        "statement": "File a note on account 42",
        "holder": {"agent_id": "orchestrator", "public_key": encode_public_key(holder.public_key)},
        "scope": {"audiences": ["crm"], "expires_in": 600, "tools": ["crm.read", "crm.update"]},
        "needs_approval": ["crm.update:write"],
    }
    with served.client(approver) as client:
        minted = client.post("/v1/tasks", json=body)
    assert minted.status_code == 201, minted.text
    return {"approver": approver, "verifier": verifier, "holder": holder, **minted.json()}


def ask(served: Served, token: str, key: AgentKey, request: dict[str, Any] = NOTE) -> Any:
    proof = prove_for_approval(token, key, Request.from_json(request))
    with served.client() as agent:  # no API key: the token and its proof authenticate
        return agent.post(
            "/v1/approvals", json={"token": token, "request": request, "proof": proof}
        )


def verify(
    served: Served, story: dict[str, Any], token: str, key: AgentKey, discharges: list[str]
) -> Any:
    proof = prove(token, key, Request.from_json(NOTE))
    body = {"token": token, "request": NOTE, "proof": proof, "discharges": discharges}
    with served.client(story["verifier"]) as client:
        return client.post("/v1/verify", json=body).json()


def test_ask_decide_collect_and_use_once(served: Served, story: dict[str, Any]) -> None:
    token, holder = story["token"], story["holder"]
    assert verify(served, story, token, holder, [])["code"] == "approval_required"
    asked = ask(served, token, holder)
    assert asked.status_code == 201, asked.text
    approval_id, poll_url = asked.json()["approval_id"], asked.json()["poll_url"]
    with served.client() as agent:
        assert agent.get(poll_url).status_code == 202
    with served.client(story["approver"]) as human:
        waiting = human.get("/v1/approvals", params={"state": "pending"}).json()["approvals"]
        (shown,) = [a for a in waiting if a["approval_id"] == approval_id]
        assert shown["agents"] == ["orchestrator"]
        assert shown["asked_by"]["agent_id"] == "orchestrator"
        assert shown["call"]["tool"] == "crm.update"
        assert shown["task"]["approved_by"] == "alice@example.com"
        decided = human.post(f"/v1/approvals/{approval_id}/decision", json={"approve": True})
        assert decided.json() == {"approval_id": approval_id, "state": "approved"}
        again = human.post(f"/v1/approvals/{approval_id}/decision", json={"approve": False})
        assert (again.status_code, again.json()["code"]) == (409, "already_decided")
    with served.client() as agent:
        collected = agent.get(poll_url)
        assert collected.status_code == 200
        discharges = collected.json()["discharges"]
        assert agent.get(poll_url).status_code == 404  # handed out once
    assert verify(served, story, token, holder, discharges)["allowed"] is True
    assert verify(served, story, token, holder, discharges)["code"] == "replay"  # one call


def test_a_refusal_is_collected_once_and_grants_nothing(
    served: Served, story: dict[str, Any]
) -> None:
    asked = ask(served, story["token"], story["holder"]).json()
    with served.client(story["approver"]) as human:
        human.post(f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": False})
    with served.client() as agent:
        assert agent.get(asked["poll_url"]).json() == {"state": "denied"}
        assert agent.get(asked["poll_url"]).status_code == 404


def test_the_yes_holds_for_the_agent_that_asked_only(served: Served, story: dict[str, Any]) -> None:
    writer = AgentKey.generate()
    child = str(delegate(story["token"], story["holder"], Agent("writer", writer.public_key)))
    asked = ask(served, child, writer).json()
    with served.client(story["approver"]) as human:
        human.post(f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": True})
    with served.client() as agent:
        discharges = agent.get(asked["poll_url"]).json()["discharges"]
    # The parent presenting the child's approval (bound to the child's token) is denied.
    parent = verify(served, story, story["token"], story["holder"], discharges)
    assert parent["allowed"] is False
    assert verify(served, story, child, writer, discharges)["allowed"] is True


def test_asking_needs_a_genuine_token_and_the_holders_own_request(
    served: Served, story: dict[str, Any]
) -> None:
    token, holder = story["token"], story["holder"]
    thief = AgentKey.generate()  # holds the token, not its key: signs the request by hand
    unsigned = Proof(int(time.time()), secrets.token_bytes(16), b"")
    message = unsigned.message(decode(token).token_bytes, Request.from_json(NOTE), ASK_DOMAIN)
    forged_ask = Proof(unsigned.issued_at, unsigned.nonce, thief.sign(message)).encode()
    with served.client() as agent:
        stolen = agent.post(
            "/v1/approvals", json={"token": token, "request": NOTE, "proof": forged_ask}
        )
    assert (stolen.status_code, stolen.json()["code"]) == (401, "pop_invalid")
    call_proof = prove(token, holder, Request.from_json(NOTE))  # a call proof is no request
    with served.client() as agent:
        wrong = agent.post("/v1/approvals", json={"token": token, "request": NOTE,
                                                   "proof": call_proof})  # fmt: skip
    assert (wrong.status_code, wrong.json()["code"]) == (401, "pop_invalid")
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    forged = ask(served, tampered, holder)
    assert forged.status_code == 422
    assert forged.json()["code"] in ("bad_signature", "malformed")
    needs_none = ask(served, token, holder, {**NOTE, "tool": "crm.read", "action": "read"})
    assert (needs_none.status_code, needs_none.json()["code"]) == (422, "no_approval_needed")


def test_a_revoked_token_cannot_ask(served: Served, story: dict[str, Any]) -> None:
    with served.client(story["approver"]) as human:
        human.post(f"/v1/tasks/{story['task_id']}/close")
    refused = ask(served, story["token"], story["holder"])
    assert (refused.status_code, refused.json()["code"]) == (403, "revoked")


def test_deciding_an_unknown_approval_and_polling_a_wrong_secret(
    served: Served, story: dict[str, Any]
) -> None:
    with served.client(story["approver"]) as human:
        missing = human.post("/v1/approvals/nope/decision", json={"approve": True})
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    with served.client() as agent:
        assert agent.get("/v1/approvals/poll/" + "x" * 43).status_code == 404
    with served.client(story["verifier"]) as verifier:
        assert verifier.get("/v1/approvals").status_code == 403  # an approver's list


def test_the_approvals_are_in_the_audit_log(served: Served, story: dict[str, Any]) -> None:
    asked = ask(served, story["token"], story["holder"]).json()
    with served.client(story["approver"]) as human:
        human.post(f"/v1/approvals/{asked['approval_id']}/decision", json={"approve": True})
    auditor = served.key("auditor", "audit")
    with served.client(auditor) as client:
        text = client.get("/v1/audit", params={"task": story["task_id"]}).text
    kinds = [line.split('"kind": "')[1].split('"')[0] for line in text.splitlines()]
    assert kinds == ["mint", "approval_request", "approval"]
    assert '"by": "alice@example.com"' in text
    secret = asked["poll_url"].rsplit("/", 1)[1]
    assert secret not in text
    assert story["token"] not in text


def test_a_request_past_its_time_leaves_the_pending_list(
    served: Served, story: dict[str, Any]
) -> None:
    from verifier_service.service import APPROVAL_REQUEST_SECONDS

    asked = ask(served, story["token"], story["holder"])
    approval_id = asked.json()["approval_id"]
    with served.client(story["approver"]) as human:
        listed = human.get("/v1/approvals").json()["approvals"]
        assert [a["approval_id"] for a in listed] == [approval_id]
        served.service.clock = lambda: time.time() + APPROVAL_REQUEST_SECONDS  # an hour on
        assert human.get("/v1/approvals").json()["approvals"] == []
        late = human.post(f"/v1/approvals/{approval_id}/decision", json={"approve": True})
        assert late.status_code == 409
