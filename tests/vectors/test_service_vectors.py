"""The service's record vectors (``specs/vectors/service.json``, service.md) against the
service's own code: canonical JSON, the audit chain as ``delegation audit verify`` checks it,
checkpoints and receipts as ``delegation receipt verify`` checks them. The vectors were computed
from the spec with primitives alone; the receipt key in them is a public test fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifier_service import audit
from verifier_service.sealing import canonical, unb64

FILE = Path(__file__).resolve().parents[2] / "specs" / "vectors" / "service.json"
DOC: dict[str, Any] = json.loads(FILE.read_text(encoding="utf-8"))
PUBLIC = unb64(DOC["receipt_key"]["public_key"])
KINDS = {"canonical", "audit_log", "checkpoint", "receipt"}


def _lines(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r) for r in records]


@pytest.mark.parametrize("vector", DOC["vectors"], ids=[v["name"] for v in DOC["vectors"]])
def test_service_vector(vector: dict[str, Any]) -> None:
    given, expected = vector["given"], vector["expected"]
    kind = vector["kind"]
    assert kind in KINDS
    if kind == "canonical":
        assert canonical(given["value"]).hex() == expected["utf8_hex"]
    elif kind == "audit_log":
        result = audit.check_log(_lines(given["records"]))
        assert result.ok is expected["ok"]
        if expected["ok"]:
            assert (result.records, result.head.hex()) == (expected["records"], expected["head"])
        else:
            assert result.at == expected["at"]
    elif kind == "checkpoint":
        seq = audit.checkpoint_seq(given["checkpoint"], PUBLIC)
        assert isinstance(seq, int) is expected["ok"]
        if expected["ok"]:
            assert seq == expected["seq"]
    else:
        problem = audit.check_receipt(given["receipt"], PUBLIC, given["records"])
        assert (problem is None) is expected["ok"], problem


def test_the_file_is_well_formed() -> None:
    assert set(DOC) == {"format", "description", "receipt_key", "vectors"}
    assert DOC["format"] == "delegation-test-vectors/6"
    for vector in DOC["vectors"]:
        assert set(vector) == {"name", "description", "kind", "given", "expected"}
    assert {v["kind"] for v in DOC["vectors"]} == KINDS


def test_the_intact_log_checks_against_its_checkpoint() -> None:
    by_name = {v["name"]: v for v in DOC["vectors"]}
    records = by_name["audit_chain_intact"]["given"]["records"]
    checkpoint = by_name["checkpoint_signed"]["given"]["checkpoint"]
    upto = audit.check_log(_lines(records), until=audit.checkpoint_seq(checkpoint, PUBLIC))  # type: ignore[arg-type]
    assert audit.check_checkpoint(checkpoint, upto) is None
    assert audit.check_checkpoint(checkpoint, audit.check_log(_lines(records[:-1]))) is not None
