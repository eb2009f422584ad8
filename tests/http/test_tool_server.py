"""A FastAPI tool server behind DelegationMiddleware, called through httpx on loopback, in
local mode (a keyring and a MemoryState in the tool server) and remote mode (a real verifier
service's /v1/verify): every kind of denial has its documented status and codes, never echoes
the credential, and no handler runs for it (specs/http.md)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from delegation import Agent, AgentKey, MalformedRequest, Request, Scope, decode, delegate, prove
from delegation._crypto import POP_DOMAIN
from delegation._proof import Proof
from delegation.http import (
    ApprovalDenied,
    ApprovalProgress,
    Credential,
    DelegationAuth,
    DelegationAuth2,
)

from .conftest import AUDIENCE, World

NOTE = {"text": "Renewal call booked"}


def writer_of(world: World, **narrow: Any) -> tuple[str, AgentKey]:
    """The orchestrator's flow: take a root token, delegate a narrowed one to a sub-agent by
    its public key and id, hand it over."""
    root, orchestrator = world.root(**narrow)
    writer = AgentKey.generate()
    token = delegate(root, orchestrator, Agent("writer", writer.public_key), Scope())
    return str(token), writer


def note_call(account: int = 42, text: str = NOTE["text"]) -> Request:
    return Request(
        audience=AUDIENCE,
        tool="crm.update",
        action="write",
        resource=f"crm://accounts/{account}/notes",
        args={"text": text},
    )


def denied(answer: httpx.Response, status: int, *codes: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert [r["code"] for r in body["reasons"]] == list(codes), body
    assert body["code"] == codes[0]
    return body


def no_echo(answer: httpx.Response, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in answer.text
        assert all(secret not in v for v in answer.headers.values())


def test_an_allowed_call_runs_once_and_the_handler_sees_the_decision(world: World) -> None:
    token, writer = writer_of(world)
    auth = DelegationAuth(token, writer, audience=AUDIENCE)
    with httpx.Client(base_url=world.app.url, auth=auth) as agent:
        answer = agent.post("/accounts/42/notes", json=NOTE)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"filed": True, "holder": "writer"}
        assert agent.get("/accounts/42/notes/7").json() == {"note": "7"}
    ((route, seen), (second, _)) = world.app.calls.seen
    assert (route, second) == ("add_note", "read_note")
    assert seen["agents"] == ["orchestrator", "writer"]
    assert seen["approver"] == "alice@example.com"
    assert seen["authorization"] is None  # never passed on to the handler
    assert (seen["decision_id"] is None) == (world.mode == "local")


def test_async_client_and_httpx2_sign_the_same_way(world: World) -> None:
    import anyio
    import httpx2

    token, writer = writer_of(world)

    async def call() -> int:
        auth = DelegationAuth(token, writer, audience=AUDIENCE)
        async with httpx.AsyncClient(base_url=world.app.url, auth=auth) as agent:
            return (await agent.post("/accounts/42/notes", json=NOTE)).status_code

    assert anyio.run(call) == 200
    auth2 = DelegationAuth2(token, writer, audience=AUDIENCE)
    with httpx2.Client(base_url=world.app.url, auth=auth2) as agent2:
        assert agent2.post("/accounts/42/notes", json=NOTE).status_code == 200
    assert len(world.app.calls.seen) == 2


def test_no_credential_is_401_with_a_bare_challenge(world: World) -> None:
    answer = httpx.post(f"{world.app.url}/accounts/42/notes", json=NOTE)
    body = denied(answer, 401, "token_required")
    assert "error" not in body
    assert answer.headers["www-authenticate"] == 'Bearer realm="crm"'
    assert world.app.calls.seen == []


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer dlg1.not*base64.x",
        "Bearer dlg1.AAAA",  # a "token" that does not decode
        "Bearer dlg1.",
    ],
)
def test_a_malformed_credential_is_401(world: World, authorization: str) -> None:
    answer = httpx.post(
        f"{world.app.url}/accounts/42/notes", json=NOTE, headers={"Authorization": authorization}
    )
    denied(answer, 401, "malformed")
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert world.app.calls.seen == []


def test_two_credentials_are_refused(world: World) -> None:
    token, writer = writer_of(world)
    header = Credential(token, prove(token, writer, note_call())).header()
    with httpx.Client() as client:
        request = client.build_request("POST", f"{world.app.url}/accounts/42/notes", json=NOTE)
        request.headers = httpx.Headers(
            [*request.headers.multi_items(), ("authorization", header), ("authorization", header)]
        )
        answer = client.send(request)
    denied(answer, 401, "malformed")
    no_echo(answer, token)
    assert world.app.calls.seen == []


def test_a_stolen_token_is_useless_without_its_key(world: World) -> None:
    token, _ = writer_of(world)
    thief = AgentKey.generate()  # signs with its own key

    unsigned = Proof(int(time.time()), b"\x01" * 16, b"")
    message = unsigned.message(decode(token).token_bytes, note_call(), POP_DOMAIN)
    proof = Proof(unsigned.issued_at, unsigned.nonce, thief.sign(message)).encode()
    answer = httpx.post(
        f"{world.app.url}/accounts/42/notes",
        json=NOTE,
        headers={"Authorization": Credential(token, proof).header()},
    )
    denied(answer, 401, "pop_invalid")
    no_echo(answer, token, proof)
    assert world.app.calls.seen == []


def test_a_proof_for_another_call_does_not_hold(world: World) -> None:
    token, writer = writer_of(world)
    proof = prove(token, writer, note_call(text="something else"))
    answer = httpx.post(
        f"{world.app.url}/accounts/42/notes",
        json=NOTE,
        headers={"Authorization": Credential(token, proof).header()},
    )
    denied(answer, 401, "pop_invalid")
    added = httpx.post(  # the right proof, and a query parameter added in flight
        f"{world.app.url}/accounts/42/notes?notify=all",
        json=NOTE,
        headers={"Authorization": Credential(token, prove(token, writer, note_call())).header()},
    )
    denied(added, 401, "pop_invalid")
    assert world.app.calls.seen == []


def test_a_replayed_credential_is_refused(world: World) -> None:
    token, writer = writer_of(world)
    header = Credential(token, prove(token, writer, note_call())).header()
    url = f"{world.app.url}/accounts/42/notes"
    assert httpx.post(url, json=NOTE, headers={"Authorization": header}).status_code == 200
    again = httpx.post(url, json=NOTE, headers={"Authorization": header})
    denied(again, 401, "replay")
    assert len(world.app.calls.seen) == 1


def test_a_call_out_of_scope_is_403(world: World) -> None:
    token, writer = writer_of(world)
    auth = DelegationAuth(token, writer, audience=AUDIENCE)
    with httpx.Client(base_url=world.app.url, auth=auth) as agent:
        answer = agent.post("/accounts/43/notes", json=NOTE)
    body = denied(answer, 403, "resource_not_allowed")
    assert body["error"] == "insufficient_scope"
    assert 'error_description="resource_not_allowed"' in answer.headers["www-authenticate"]
    assert (body.get("decision_id") is None) == (world.mode == "local")
    assert world.app.calls.seen == []


def test_a_revoked_token_is_401(world: World) -> None:
    token, writer = writer_of(world)
    world.revoke(
        "task", "task-42" if world.mode == "local" else decode(token).identifier.task.task_id
    )
    auth = DelegationAuth(token, writer, audience=AUDIENCE)
    with httpx.Client(base_url=world.app.url, auth=auth) as agent:
        answer = agent.post("/accounts/42/notes", json=NOTE)
    denied(answer, 401, "revoked")
    assert world.app.calls.seen == []


def test_undeclared_routes_are_denied_and_public_ones_open(world: World) -> None:
    denied(httpx.get(f"{world.app.url}/undeclared"), 403, "not_declared")
    assert httpx.get(f"{world.app.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{world.app.url}/nowhere").status_code == 404
    assert httpx.get(f"{world.app.url}/accounts/42/notes").status_code == 405
    assert world.app.calls.seen == []


def test_a_body_over_the_cap_is_413_before_it_is_read(world: World) -> None:
    answer = httpx.post(
        f"{world.app.url}/accounts/42/notes",
        json={"text": "x" * (1 << 20)},
        headers={"Authorization": "Bearer dlg1.AAAA.BBBB"},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "too_large"
    assert world.app.calls.seen == []


def test_an_agent_refuses_a_call_that_cannot_be_a_request(world: World) -> None:
    token, writer = writer_of(world)
    auth = DelegationAuth(token, writer, audience=AUDIENCE)
    with httpx.Client(base_url=world.app.url, auth=auth) as agent, pytest.raises(MalformedRequest):
        agent.post("/accounts/42/notes", json={"text": "x" * 70000})
    assert world.app.calls.seen == []


def test_a_body_that_is_no_request_is_400(world: World) -> None:
    token, writer = writer_of(world)
    header = Credential(token, prove(token, writer, note_call())).header()
    answer = httpx.post(
        f"{world.app.url}/accounts/42/notes",
        content=b'{"text": "a", "text": "b"}',
        headers={"Authorization": header, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed"
    assert world.app.calls.seen == []


def test_an_approval_is_asked_for_waited_on_and_used_once(remote: World) -> None:
    assert remote.service is not None
    service = remote.service
    token, writer = writer_of(remote, needs_approval=("crm.update:write",))
    approver = service.key("approver", "bob@example.com")
    progress: list[ApprovalProgress] = []

    plain = DelegationAuth(token, writer, audience=AUDIENCE)
    with httpx.Client(base_url=remote.app.url, auth=plain) as agent:
        denied(agent.post("/accounts/42/notes", json=NOTE), 403, "approval_required")

    def human(approve: bool) -> None:
        with service.client(approver) as client:
            for _ in range(200):
                waiting = client.get("/v1/approvals", params={"state": "pending"}).json()
                if waiting["approvals"]:
                    approval_id = waiting["approvals"][0]["approval_id"]
                    decided = client.post(
                        f"/v1/approvals/{approval_id}/decision", json={"approve": approve}
                    )
                    assert decided.status_code == 200, decided.text
                    return
                time.sleep(0.05)

    auth = DelegationAuth(
        token,
        writer,
        audience=AUDIENCE,
        approvals=service.url,
        poll_interval=0.05,
        approval_timeout=30,
        progress=progress.append,
    )
    yes = threading.Thread(target=human, args=(True,))
    yes.start()
    with httpx.Client(base_url=remote.app.url, auth=auth) as agent:
        answer = agent.post("/accounts/42/notes", json=NOTE)
    yes.join()
    assert answer.status_code == 200, answer.text
    assert progress[0].state == "asked"
    assert progress[-1].state == "approved"
    assert "crm.update write on crm://accounts/42/notes" in str(progress[-1])
    assert len(remote.app.calls.seen) == 1

    no = threading.Thread(target=human, args=(False,))
    no.start()
    with httpx.Client(base_url=remote.app.url, auth=auth) as agent, pytest.raises(ApprovalDenied):
        agent.post("/accounts/42/notes", json=NOTE)  # each approval is for one call
    no.join()
    assert len(remote.app.calls.seen) == 1


def test_an_approval_nobody_decides_times_out(remote: World) -> None:
    from delegation.http import ApprovalTimedOut

    token, writer = writer_of(remote, needs_approval=("crm.update:write",))
    auth = DelegationAuth(
        token,
        writer,
        audience=AUDIENCE,
        approvals=remote.service.url if remote.service else "",
        poll_interval=0.05,
        approval_timeout=0.3,
    )
    agent = httpx.Client(base_url=remote.app.url, auth=auth)
    with agent, pytest.raises(ApprovalTimedOut) as caught:
        agent.post("/accounts/42/notes", json=NOTE)
    assert caught.value.response.status_code == 403
    assert remote.app.calls.seen == []


def test_a_service_out_of_reach_denies_with_503(tool_server: Any) -> None:
    from delegation.http import RemoteVerifier

    app = tool_server(RemoteVerifier("http://127.0.0.1:9", "dlg_0000000000000000_x", timeout=1))
    token = "AAAA"
    answer = httpx.post(
        f"{app.url}/accounts/42/notes",
        json=NOTE,
        headers={"Authorization": f"Bearer dlg1.{token}.{'B' * 88}"},
    )
    denied(answer, 503, "store_unavailable")
    assert answer.headers["retry-after"] == "1"
    assert app.calls.seen == []


def test_an_agent_refuses_a_route_map_naming_another_audience(world: World) -> None:
    from delegation.http import RouteMapUnavailable

    token, writer = writer_of(world)
    auth = DelegationAuth(token, writer, audience="bank")
    with (
        httpx.Client(base_url=world.app.url, auth=auth) as agent,
        pytest.raises(RouteMapUnavailable),
    ):
        agent.post("/accounts/42/notes", json=NOTE)
    assert world.app.calls.seen == []
