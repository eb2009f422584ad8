"""An auditor's offline checks (``delegation audit verify``, ``delegation receipt verify``) on
what a running service exported: an intact log and a genuine receipt pass; a record altered,
removed, reordered or appended, a log cut short of its checkpoint, and a forged receipt fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from delegation import AgentKey, Request, encode_public_key, prove
from delegation.cli.main import main

from .conftest import Served

CALL = {"audience": "crm", "tool": "crm.read", "action": "read"}


@pytest.fixture
def exported(served: Served, tmp_path: Path) -> dict[str, Any]:
    approver = served.key("approver", "alice")
    verifier = served.key("verifier", "crm", ["crm"])
    auditor = served.key("auditor", "audit")
    holder = AgentKey.generate()
    with served.client(approver) as client:
        minted = client.post(
            "/v1/tasks",
            json={
                "statement": "s",
                "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
                "scope": {"audiences": ["crm"], "expires_in": 60, "tools": ["crm.read"]},
            },
        ).json()
    answers = []
    with served.client(verifier) as client:
        for request in (CALL, {**CALL, "tool": "x"}):
            proof = prove(minted["token"], holder, Request.from_json(request))
            body = {"token": minted["token"], "request": request, "proof": proof}
            answers.append(client.post("/v1/verify", json=body).json())
    with served.client(auditor) as client:
        log = client.get("/v1/audit").text
        checkpoint = client.get("/v1/audit/checkpoint").json()
        key = client.get("/v1/receipt-keys").json()["keys"][0]["public_key"]
    files = {
        "log": tmp_path / "audit.jsonl",
        "checkpoint": tmp_path / "checkpoint.json",
        "receipt": tmp_path / "receipt.json",
    }
    files["log"].write_text(log)
    files["checkpoint"].write_text(json.dumps(checkpoint))
    files["receipt"].write_text(json.dumps(answers[1]["receipt"]))
    return {"files": files, "key": key, "lines": log.splitlines(), "answers": answers}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def test_an_intact_log_and_its_checkpoint_pass(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    files = exported["files"]
    code, out = run(capsys, "audit", "verify", str(files["log"]),
                    "--checkpoint", str(files["checkpoint"]), "--key", exported["key"])  # fmt: skip
    assert code == 0, out
    assert out.startswith(f"OK: {len(exported['lines'])} records, chain intact")


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("damage", ["alter", "remove", "swap", "forge_hash"])
def test_a_damaged_log_is_broken_at_the_damage(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    lines = list(exported["lines"])
    target = len(lines) - 1  # the denial's record
    doc = json.loads(lines[target])
    if damage == "alter":
        doc["allowed"] = True
        lines[target] = json.dumps(doc)
    elif damage == "remove":
        del lines[target - 1]
    elif damage == "swap":
        lines[target - 1], lines[target] = lines[target], lines[target - 1]
    else:
        doc["codes"] = []
        record = {k: v for k, v in doc.items() if k != "hash"}
        from verifier_service.store import record_hash

        doc["hash"] = record_hash(bytes.fromhex(doc["prev"]), record).hex()  # a consistent
        lines[target] = json.dumps(doc)  # record, but the checkpoint still holds the old head
    _rewrite(exported["files"]["log"], lines)
    code, out = run(capsys, "audit", "verify", str(exported["files"]["log"]),
                    "--checkpoint", str(exported["files"]["checkpoint"]),
                    "--key", exported["key"])  # fmt: skip
    assert code == 1
    assert out.startswith("BROKEN")


def test_a_log_cut_short_of_its_checkpoint_is_broken(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite(exported["files"]["log"], exported["lines"][:-1])
    code, out = run(capsys, "audit", "verify", str(exported["files"]["log"]))
    assert code == 0  # a prefix of a chain is a chain...
    code, out = run(capsys, "audit", "verify", str(exported["files"]["log"]),
                    "--checkpoint", str(exported["files"]["checkpoint"]),
                    "--key", exported["key"])  # fmt: skip
    assert (code, out.startswith("BROKEN")) == (1, True)  # ...but not the one the service signed


def test_a_genuine_receipt_and_its_record(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    files = exported["files"]
    code, out = run(capsys, "receipt", "verify", str(files["receipt"]), "--key", exported["key"],
                    "--log", str(files["log"]))  # fmt: skip
    assert code == 0, out
    assert "denied (tool_not_allowed)" in out
    assert "its record is in the log" in out


def test_a_forged_receipt_is_not_genuine(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    files = exported["files"]
    receipt = json.loads(files["receipt"].read_text())
    receipt["body"]["allowed"] = True
    files["receipt"].write_text(json.dumps(receipt))
    code, out = run(capsys, "receipt", "verify", str(files["receipt"]), "--key", exported["key"])
    assert (code, out.startswith("NOT GENUINE")) == (1, True)
    other = exported["answers"][0]["receipt"]  # genuine, but another decision's record...
    other["body"]["audit_seq"] = exported["answers"][1]["receipt"]["body"]["audit_seq"]
    files["receipt"].write_text(json.dumps(other))
    code, _ = run(capsys, "receipt", "verify", str(files["receipt"]), "--key", exported["key"])
    assert code == 1  # ...changed, so its signature no longer holds


def test_a_bad_key_is_a_usage_error(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(capsys, "receipt", "verify", str(exported["files"]["receipt"]), "--key", "x")
    assert code == 2


def test_a_receipt_key_that_starts_with_a_dash_is_a_value(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # base64url has '-' in its alphabet: one receipt key in 64 starts with it. This one may
    # be such a key itself (then the receipt is genuine), or it is changed into one.
    key = exported["key"]
    dashed = "-" + key[1:]
    code, out = run(capsys, "receipt", "verify", str(exported["files"]["receipt"]),
                    "--key", dashed)  # fmt: skip
    # read as the key, not as an option: genuine only if it is the receipt key
    if dashed == key:
        assert (code, out.startswith("GENUINE")) == (0, True)
    else:
        assert (code, out.startswith("NOT GENUINE")) == (1, True)


def test_a_signature_has_one_spelling(exported: dict[str, Any]) -> None:
    from verifier_service.sealing import RECEIPT_DOMAIN, signature_holds, unb64

    receipt = json.loads(exported["files"]["receipt"].read_text())
    key = unb64(exported["key"])
    assert signature_holds(key, RECEIPT_DOMAIN, receipt["body"], receipt["signature"])
    for respelled in (
        "!" + receipt["signature"],
        receipt["signature"] + "=",
        " " + receipt["signature"],
    ):
        assert not signature_holds(key, RECEIPT_DOMAIN, receipt["body"], respelled)
