"""The service with a policy set per audience (issue 11), over real HTTP: calls to a policed
audience are decided with its set (a Cedar file here), the set's revision and the deciding ids
are in the audit record and the signed receipt, other audiences are untouched, ``/readyz``
reports each revision and goes red while a set does not load."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from delegation import AgentKey, Request, encode_public_key, prove
from delegation.cli.main import main
from delegation.policy import load_policy
from verifier_service.service import Service

from .conftest import serve

POLICY = """@id("base") permit (principal, action, resource);
@id("no-writes") @reason("this tool server takes no writes")
forbid (principal, action, resource) when { action == Action::"write" };
"""
READ = {"audience": "crm", "tool": "crm.notes", "action": "read", "resource": "crm://a/1/n"}
WRITE = {**READ, "action": "write"}
MAIL = {"audience": "mail", "tool": "mail.send", "action": "write", "resource": "mail://x"}


@pytest.fixture
def policed(tmp_path: Path) -> Iterator[dict[str, Any]]:
    policy_file = tmp_path / "crm.cedar"
    policy_file.write_text(POLICY)
    service = Service(tmp_path / "data", environ={},
                      policies={"crm": load_policy(policy_file, reload_interval=0)})  # fmt: skip
    admin_file = service.bootstrap_admin()
    assert admin_file is not None
    server, thread, url = serve(service)
    admin = {"Authorization": f"Bearer {admin_file.read_text().strip()}"}

    def key(body: dict[str, Any]) -> str:
        made = httpx.post(f"{url}/v1/apikeys", headers=admin, json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["api_key"])

    holder = AgentKey.generate()
    approver = key({"role": "approver", "principal": "alice@example.com"})
    minted = httpx.post(
        f"{url}/v1/tasks",
        headers={"Authorization": f"Bearer {approver}"},
        json={
            "statement": "Tend the CRM and the mail",
            "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
            "scope": {"audiences": ["crm", "mail"], "expires_in": 600},
        },
    ).json()
    yield {
        "url": url, "file": policy_file, "holder": holder, "token": minted["token"],
        "verifier": key({"role": "verifier", "principal": "tools",
                         "audiences": ["crm", "mail"]}),
        "auditor": key({"role": "auditor", "principal": "audit"}),
    }  # fmt: skip
    server.should_exit = True
    thread.join(timeout=20)
    service.close()


def _verify(p: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    proof = prove(p["token"], p["holder"], Request.from_json(call))
    answer = httpx.post(
        f"{p['url']}/v1/verify",
        headers={"Authorization": f"Bearer {p['verifier']}"},
        json={"token": p["token"], "request": call, "proof": proof},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_the_audiences_set_decides_and_the_record_and_receipt_say_which(
    policed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revision = _revision(policed["file"])
    read, write, mail = (_verify(policed, c) for c in (READ, WRITE, MAIL))
    assert read["allowed"] is True
    assert read["policy"]["revision"] == revision
    assert (write["allowed"], write["code"]) == (False, "policy_denied")
    assert write["policy"] == {"revision": revision, "policy_ids": ["no-writes"]}
    assert write["receipt"]["body"]["policy"] == write["policy"]
    assert mail["allowed"] is True  # another audience: no policy asked
    assert mail["policy"] is None
    assert "policy" not in mail["receipt"]["body"]
    log = httpx.get(f"{policed['url']}/v1/audit",
                    headers={"Authorization": f"Bearer {policed['auditor']}"}).text  # fmt: skip
    records = {r.get("decision_id"): r for r in map(json.loads, log.splitlines())}
    assert records[write["decision_id"]]["policy"] == write["policy"]
    assert "policy" not in records[mail["decision_id"]]
    # an auditor checks the receipt, its policy included, against the log offline
    (tmp_path / "log.jsonl").write_text(log)
    (tmp_path / "receipt.json").write_text(json.dumps(write["receipt"]))
    public = httpx.get(f"{policed['url']}/v1/receipt-keys").json()["keys"][0]["public_key"]
    capsys.readouterr()
    code = main(["receipt", "verify", str(tmp_path / "receipt.json"), "--key", public,
                 "--log", str(tmp_path / "log.jsonl")])  # fmt: skip
    assert code == 0, capsys.readouterr().out


def test_readyz_reports_each_revision_and_goes_red_while_a_set_does_not_load(
    policed: dict[str, Any],
) -> None:
    ready = httpx.get(f"{policed['url']}/readyz")
    assert ready.json()["policies"] == {"crm": _revision(policed["file"])}
    policed["file"].write_text("this is not cedar")
    time.sleep(0.05)
    broken = httpx.get(f"{policed['url']}/readyz")
    assert broken.status_code == 503
    assert broken.json()["detail"].startswith("policy set for crm: unparseable")
    assert _verify(policed, READ)["code"] == "policy_unavailable"  # fail closed
    assert _verify(policed, MAIL)["allowed"] is True  # other audiences are not affected
    policed["file"].write_text(POLICY)
    time.sleep(0.05)
    assert httpx.get(f"{policed['url']}/readyz").status_code == 200
    assert _verify(policed, READ)["allowed"] is True


def _revision(path: Path) -> str:
    """The revision a set loaded from ``path`` reports (every engine's policy has one)."""
    revision: str = getattr(load_policy(path), "revision")  # noqa: B009 (not on the Protocol)
    return revision
