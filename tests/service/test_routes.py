"""The service's routes over real HTTP: roles, minting for an approved task, verify and its
receipt, batch, settle, revocations and their feed, the audit log and its checkpoint, and
refusals that are typed, never a 500, and never echo a secret."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from delegation import AgentKey, Request, encode_public_key, prove
from tests.conftest import POSTGRES_DSN
from verifier_service.sealing import (
    CHECKPOINT_DOMAIN,
    RECEIPT_DOMAIN,
    b64,
    signature_holds,
    unb64,
)
from verifier_service.store import GENESIS, StoreError, record_hash

from .conftest import Served

CALL = {"audience": "crm", "tool": "crm.read", "action": "read", "resource": "crm://a/42/n"}


def mint(served: Served, approver: str, holder: AgentKey, **scope: Any) -> dict[str, Any]:
    body = {
        "statement": "Summarise account 42",
        "holder": {"agent_id": "orchestrator", "public_key": encode_public_key(holder.public_key)},
        "scope": {"audiences": ["crm"], "expires_in": 600, "tools": ["crm.read"], **scope},
    }
    with served.client(approver) as client:
        answer = client.post("/v1/tasks", json=body)
    assert answer.status_code == 201, answer.text
    minted: dict[str, Any] = answer.json()
    return minted


def call(
    token: str, holder: AgentKey, request: dict[str, Any] = CALL, **extra: Any
) -> dict[str, Any]:
    proof = prove(token, holder, Request.from_json(request))
    return {"token": token, "request": request, "proof": proof, **extra}


def test_health_and_readiness(served: Served) -> None:
    with served.client() as anyone:
        assert anyone.get("/healthz").json() == {"status": "ok"}
        assert anyone.get("/readyz").json()["status"] == "ready"
        keys = anyone.get("/v1/receipt-keys").json()["keys"]
    assert len(keys) == 1
    assert len(unb64(keys[0]["public_key"])) == 32


def test_every_other_route_needs_a_key_of_its_role(served: Served, keys: dict[str, str]) -> None:
    with served.client() as anyone:
        answer = anyone.post("/v1/verify", json={})
        assert (answer.status_code, answer.json()["code"]) == (401, "unauthenticated")
        bad = anyone.get("/v1/audit", headers={"Authorization": "Bearer dlg_0000000000000000_x"})
        assert bad.status_code == 401
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post("/v1/tasks", json={})
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
        assert (
            verifier.post("/v1/revocations", json={"kind": "task", "value": "t"}).status_code == 403
        )
    with served.client(keys["approver"]) as approver:
        assert approver.post("/v1/verify", json={}).status_code == 403


def test_the_approver_recorded_is_the_credential_never_the_body(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(keys["approver"]) as approver:
        task = approver.get(f"/v1/tasks/{minted['task_id']}").json()
        assert task["approved_by"] == "alice@example.com"
        body = {
            "statement": "x",
            "approved_by": "mallory",
            "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
            "scope": {"audiences": ["crm"], "expires_in": 60},
        }
        refused = approver.post("/v1/tasks", json=body)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request")


def test_verify_answers_the_librarys_decision_with_a_signed_receipt(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(keys["verifier"]) as verifier:
        allowed = verifier.post("/v1/verify", json=call(minted["token"], holder)).json()
        denied = verifier.post(
            "/v1/verify", json=call(minted["token"], holder, {**CALL, "tool": "crm.delete"})
        )
        public = verifier.get("/v1/receipt-keys").json()["keys"][0]["public_key"]
    assert allowed["allowed"] is True
    assert allowed["task"]["approved_by"] == "alice@example.com"
    assert allowed["token_id"] == minted["token_id"]
    receipt = allowed["receipt"]
    assert receipt["body"]["decision_id"] == allowed["decision_id"]
    assert signature_holds(unb64(public), RECEIPT_DOMAIN, receipt["body"], receipt["signature"])
    forged = {**receipt["body"], "allowed": False}
    assert not signature_holds(unb64(public), RECEIPT_DOMAIN, forged, receipt["signature"])
    assert denied.status_code == 200  # a denial is an answer, not an error
    assert denied.json()["code"] == "tool_not_allowed"


def test_a_verifier_key_spends_nothing_of_another_audience(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    body = call(minted["token"], holder)
    with served.client(keys["other"]) as mail:
        refused = mail.post("/v1/verify", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "wrong_audience_for_key")
    with served.client(keys["verifier"]) as crm:
        assert crm.post("/v1/verify", json=body).json()["allowed"] is True  # nonce unspent
        assert crm.post("/v1/verify", json=body).json()["code"] == "replay"


def test_batch_verifies_many_calls_and_refuses_too_many(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    token = mint(served, keys["approver"], holder)["token"]
    calls = [call(token, holder) for _ in range(3)]
    with served.client(keys["verifier"]) as verifier:
        results = verifier.post("/v1/verify/batch", json={"calls": calls}).json()["results"]
        too_many = verifier.post("/v1/verify/batch", json={"calls": calls * 22})
    assert [r["allowed"] for r in results] == [True, True, True]
    assert len({r["decision_id"] for r in results}) == 3
    assert (too_many.status_code, too_many.json()["code"]) == (422, "invalid_request")


def test_revocations_deny_at_once_and_feed_local_verifiers(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(served.admin) as admin:
        revoked = admin.post("/v1/revocations", json={"kind": "token", "value": minted["token_id"]})
        assert revoked.status_code == 201
        cursor = revoked.json()["cursor"]
        bad = admin.post("/v1/revocations", json={"kind": "token", "value": "not-an-id"})
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_revocation")
    with served.client(keys["verifier"]) as verifier:
        assert verifier.post("/v1/verify", json=call(minted["token"], holder)).json()["code"] == (
            "revoked"
        )
        feed = verifier.get("/v1/revocations", params={"since": 0}).json()
        assert feed["revocations"][-1] == {
            "cursor": cursor,
            "kind": "token",
            "value": minted["token_id"],
            "revoked_at": feed["revocations"][-1]["revoked_at"],
        }
        assert verifier.get("/v1/revocations", params={"since": cursor}).json() == {
            "revocations": [],
            "cursor": cursor,
        }


def test_closing_a_task_revokes_everything_under_it(served: Served, keys: dict[str, str]) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(keys["approver"]) as approver:
        closed = approver.post(f"/v1/tasks/{minted['task_id']}/close").json()
        assert closed["closed_at"] is not None
        assert approver.post("/v1/tasks/nope/close").status_code == 404
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post("/v1/verify", json=call(minted["token"], holder)).json()
    assert answer["code"] == "revoked"


def test_a_budget_is_reserved_then_settled_through_the_service(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    budgets = [{"unit": "usd-cents", "total": 1000, "cost_arg": "amount"}]
    token = mint(served, keys["approver"], holder, budgets=budgets)["token"]
    request = {**CALL, "args": {"amount": 600}}
    with served.client(keys["verifier"]) as verifier:
        held = verifier.post("/v1/verify", json=call(token, holder, request, reserve=True)).json()
        assert held["budgets"][0]["remaining"] == 400
        settled = verifier.post(
            "/v1/settle", json={"reservation": held["reservation"], "costs": {"usd-cents": 100}}
        )
        assert settled.json()["settled"][0]["spent"] == 100
        again = verifier.post("/v1/settle", json={"reservation": held["reservation"]})
    assert (again.status_code, again.json()["code"]) == (409, "unknown_reservation")


def test_only_the_key_that_reserved_may_settle(served: Served, keys: dict[str, str]) -> None:
    holder = AgentKey.generate()
    budgets = [{"unit": "usd-cents", "total": 1000, "cost_arg": "amount"}]
    token = mint(served, keys["approver"], holder, budgets=budgets)["token"]
    request = {**CALL, "args": {"amount": 600}}
    with served.client(keys["verifier"]) as verifier:
        held = verifier.post("/v1/verify", json=call(token, holder, request, reserve=True)).json()
    other = served.key("verifier", "another-crm-server", ["crm"])
    with served.client(other) as stranger:
        refused = stranger.post("/v1/settle", json={"reservation": held["reservation"]})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_your_reservation")
    with served.client(keys["verifier"]) as verifier:
        released = verifier.post("/v1/settle", json={"reservation": held["reservation"]})
    assert released.json()["settled"][0]["charged"] == 0  # the stranger changed nothing


def test_the_audit_log_is_a_hash_chain_with_a_signed_head_and_no_secrets(
    served: Served, keys: dict[str, str]
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    body = call(minted["token"], holder)
    with served.client(keys["verifier"]) as verifier:
        verifier.post("/v1/verify", json=body)
    with served.client(keys["auditor"]) as auditor:
        text = auditor.get("/v1/audit").text
        head = auditor.get("/v1/audit/checkpoint").json()
        public = auditor.get("/v1/receipt-keys").json()["keys"][0]["public_key"]
        per_task = auditor.get("/v1/audit", params={"task": minted["task_id"]}).text
    records = [json.loads(line) for line in text.splitlines()]
    prev = GENESIS
    for i, line in enumerate(records, start=1):
        record = {k: v for k, v in line.items() if k != "hash"}
        assert record["seq"] == i
        assert record["prev"] == prev.hex()
        prev = record_hash(prev, record)
        assert line["hash"] == prev.hex()
    assert {r["kind"] for r in records} >= {"api_key", "mint", "decision"}
    kinds = [json.loads(line)["kind"] for line in per_task.splitlines()]
    assert kinds == ["mint", "chain", "decision"]  # a chain is recorded on its first sight
    assert head["body"]["seq"] == len(records)
    assert head["body"]["head"] == prev.hex()
    assert signature_holds(unb64(public), CHECKPOINT_DOMAIN, head["body"], head["signature"])
    for secret in (minted["token"], body["proof"], keys["verifier"], served.admin):
        assert secret not in text


def test_api_keys_and_root_keys_are_never_stored_in_the_clear(
    served: Served, keys: dict[str, str]
) -> None:
    data = served.service.data_dir
    everything = b"".join(p.read_bytes() for p in data.iterdir() if p.is_file())
    backend = served.service.store.backend_name
    if backend == "postgres":  # every row of every table of both schemas, as text and bytes
        everything += _postgres_rows(served.service.schema or "")
    for key in keys.values():
        assert key.split("_", 2)[2].encode() not in everything
    secret = served.service.keyring.current.secret
    assert secret not in everything
    assert secret.hex().encode() not in everything
    assert b64(secret).encode() not in everything
    if backend == "sqlite":
        db = sqlite3.connect(data / "service.db")
        assert db.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 5
        db.close()


def _postgres_rows(schema: str) -> bytes:
    import psycopg
    from psycopg import sql

    out = []
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (%s, %s)",
            (schema, f"{schema}_service"),
        ).fetchall()
        assert len(tables) > 8
        for table_schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.{}").format(
                    sql.Identifier(table_schema), sql.Identifier(table)
                )
            ).fetchall()
            for row in rows:
                for value in row:
                    out.append(bytes(value) if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(out)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 422, "invalid_request"),
        (b"[]", 422, "invalid_request"),
        (b'{"token": 5, "request": {}}', 422, "invalid_request"),
        (b'{"token": "t", "request": {}, "extra": 1}', 422, "invalid_request"),
        (b'{"token": "' + b"A" * 30000 + b'", "request": {}}', 422, "invalid_request"),
        (b" " * (1 << 20) + b"{}", 413, "too_large"),
        (b'{"token": "t", "token": "u", "request": {}}', 422, "invalid_request"),
        (
            b'{"token": "t", "request": {"audience": "crm", "audience": "mail"}}',
            422,
            "invalid_request",
        ),
    ],
)
def test_bad_bodies_are_typed_refusals(
    served: Served, keys: dict[str, str], body: bytes, status: int, code: str
) -> None:
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post(
            "/v1/verify", content=body, headers={"content-type": "application/json"}
        )
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert "AAAA" not in answer.text


def test_a_malformed_call_inside_a_good_body_is_a_denial(
    served: Served, keys: dict[str, str]
) -> None:
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post(
            "/v1/verify", json={"token": "garbage", "request": {"audience": "crm", "tool": 5}}
        )
    assert answer.status_code == 200
    assert answer.json()["code"] == "malformed"


def test_a_streamed_body_over_the_cap_is_refused(served: Served, keys: dict[str, str]) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b" " * 32768

    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post(
            "/v1/verify", content=chunks(), headers={"content-type": "application/json"}
        )
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")


def test_no_route_answers_500_for_unknown_paths_or_methods(served: Served) -> None:
    with served.client(served.admin) as admin:
        assert admin.get("/v1/nothing").json()["code"] == "not_found"
        assert admin.delete("/v1/verify").json()["code"] == "method_not_allowed"
        assert admin.get("/v1/tasks/" + "x" * 5000).status_code == 403  # an approver's route
        answer = admin.get("/v1/revocations", params={"since": -1})
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")


_ = httpx


def test_an_allow_is_never_answered_without_its_audit_record(
    served: Served, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)

    def cannot_write(*_: object) -> None:
        raise StoreError("the service database failed (disk full)")

    monkeypatch.setattr(served.service.store, "append", cannot_write)
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post("/v1/verify", json=call(minted["token"], holder))
    assert (answer.status_code, answer.json()["code"]) == (503, "store_unavailable")
    assert "allowed" not in answer.text
    with served.client() as anyone:
        metrics = anyone.get("/metrics").text
    assert "delegation_audit_write_failures_total 1.0" in metrics


def test_metrics_count_decisions(served: Served, keys: dict[str, str]) -> None:
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(keys["verifier"]) as verifier:
        verifier.post("/v1/verify", json=call(minted["token"], holder))
        verifier.post("/v1/verify", json=call(minted["token"], holder, {**CALL, "tool": "x"}))
    with served.client() as anyone:
        metrics = anyone.get("/metrics").text
    assert 'delegation_decisions_total{allowed="true",code="none"} 1.0' in metrics
    assert 'delegation_decisions_total{allowed="false",code="tool_not_allowed"} 1.0' in metrics
    assert "delegation_verify_seconds_count 2.0" in metrics


def test_root_keys_rotate_and_retire_over_http(served: Served, keys: dict[str, str]) -> None:
    holder = AgentKey.generate()
    before = mint(served, keys["approver"], holder)
    with served.client(served.admin) as admin:
        listed = admin.get("/v1/keys").json()["keys"]
        assert [k["state"] for k in listed] == ["current"]
        assert set(listed[0]) == {"key_id", "state"}  # ids and states, never material
        old = listed[0]["key_id"]
        assert admin.post(f"/v1/keys/{old}/retire").status_code == 409  # the current key
        fresh = admin.post("/v1/keys/rotate")
        assert fresh.status_code == 201
        new = fresh.json()["key_id"]
        after = mint(served, keys["approver"], holder)
        with served.client(keys["verifier"]) as verifier:
            for minted in (before, after):
                answer = verifier.post("/v1/verify", json=call(minted["token"], holder)).json()
                assert answer["allowed"], answer
        assert admin.post(f"/v1/keys/{old}/retire").json() == {"key_id": old, "state": "retired"}
        assert admin.post(f"/v1/keys/{old}/retire").status_code == 404
        assert admin.post("/v1/keys/no-such-key/retire").status_code == 404
        assert {k["key_id"]: k["state"] for k in admin.get("/v1/keys").json()["keys"]} == {
            old: "retired",
            new: "current",
        }
    with served.client(keys["verifier"]) as verifier:
        answer = verifier.post("/v1/verify", json=call(before["token"], holder)).json()
        # this replica's keyring no longer has the key (another's denies it as revoked)
        assert (answer["allowed"], answer["code"]) == (False, "unknown_key")
        assert verifier.post("/v1/verify", json=call(after["token"], holder)).json()["allowed"]
        assert verifier.get("/v1/keys").status_code == 403
        assert verifier.post("/v1/keys/rotate").status_code == 403


def test_an_api_key_revoked_is_refused_from_its_next_request(
    served: Served, keys: dict[str, str]
) -> None:
    key_id = keys["verifier"].split("_")[1]
    holder = AgentKey.generate()
    minted = mint(served, keys["approver"], holder)
    with served.client(keys["verifier"]) as verifier:
        assert verifier.post("/v1/verify", json=call(minted["token"], holder)).status_code == 200
    with served.client(served.admin) as admin:
        answer = admin.post(f"/v1/apikeys/{key_id}/revoke")
        assert answer.json() == {"key_id": key_id, "revoked": True}
        assert admin.post(f"/v1/apikeys/{key_id}/revoke").status_code == 404  # once
        own = served.admin.split("_")[1]
        assert admin.post(f"/v1/apikeys/{own}/revoke").status_code == 409
        assert admin.post("/v1/apikeys/not-a-key-id/revoke").status_code == 422
    with served.client(keys["verifier"]) as verifier:
        refused = verifier.post("/v1/verify", json=call(minted["token"], holder))
    assert refused.status_code == 401
    with served.client(keys["auditor"]) as auditor:
        kinds = [json.loads(line)["kind"] for line in auditor.get("/v1/audit").text.splitlines()]
    assert "api_key_revoked" in kinds
