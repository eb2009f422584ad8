"""Checking the service's record offline: the audit log's hash chain, a checkpoint, a receipt.

What an auditor runs without the service (``delegation audit verify``, ``delegation receipt
verify``), from ``specs/service.md`` alone: it needs only the exported JSON Lines, the
checkpoint or receipt JSON, and the receipt key's public half. Needs no service dependency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from verifier_service.sealing import CHECKPOINT_DOMAIN, RECEIPT_DOMAIN, signature_holds
from verifier_service.store import GENESIS, record_hash

MAX_LINE_CHARS = 1 << 20


@dataclass(frozen=True, slots=True)
class LogCheck:
    """The outcome of checking a log: ``records`` read, the ``head`` hash after the last good
    record, and ``problem`` (with the ``seq`` it was found at) when the chain breaks."""

    records: int
    head: bytes
    problem: str | None = None
    at: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_log(lines: Iterable[str], *, until: int | None = None) -> LogCheck:
    """Recompute the chain over JSON Lines exported by ``GET /v1/audit`` from the first
    record (through record ``until`` only, when given). Stops at the first record that breaks
    it."""
    seq, prev = 0, GENESIS
    count = 0
    for number, line in enumerate(lines, start=1):
        if until is not None and seq >= until:
            break
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            return LogCheck(count, prev, f"line {number} is over {MAX_LINE_CHARS} characters")
        try:
            doc = json.loads(line)
        except ValueError:
            return LogCheck(count, prev, f"line {number} is not JSON", seq + 1)
        if not isinstance(doc, dict) or not isinstance(doc.get("hash"), str):
            return LogCheck(count, prev, f"line {number} is not an audit record", seq + 1)
        claimed = doc.pop("hash")
        if doc.get("seq") != seq + 1:
            return LogCheck(count, prev, f"record {seq + 1} is missing or out of order", seq + 1)
        if doc.get("prev") != prev.hex():
            return LogCheck(
                count, prev, f"record {seq + 1} does not follow its predecessor", seq + 1
            )
        try:
            digest = record_hash(prev, doc)
        except TypeError:
            return LogCheck(
                count, prev, f"record {seq + 1} holds a value JSON cannot hash", seq + 1
            )
        if digest.hex() != claimed:
            return LogCheck(
                count, prev, f"record {seq + 1} was altered (its hash differs)", seq + 1
            )
        seq, prev, count = seq + 1, digest, count + 1
    return LogCheck(count, prev)


def checkpoint_seq(checkpoint: Any, public_key: bytes) -> int | str:
    """The record number a checkpoint signed by ``public_key`` covers, or why it is none."""
    body = checkpoint.get("body") if isinstance(checkpoint, dict) else None
    signature = checkpoint.get("signature") if isinstance(checkpoint, dict) else None
    if not isinstance(body, dict) or not isinstance(signature, str):
        return "not a checkpoint: {body, signature}"
    if not signature_holds(public_key, CHECKPOINT_DOMAIN, body, signature):
        return "the checkpoint's signature is not the receipt key's"
    seq = body.get("seq")
    if type(seq) is not int or seq < 0:
        return "the checkpoint names no record"
    return seq


def check_checkpoint(checkpoint: Any, log: LogCheck) -> str | None:
    """None when the (signature-checked, :func:`checkpoint_seq`) ``checkpoint`` names the head
    that ``log``, checked through its ``seq``, reached; else why not."""
    body = checkpoint["body"]
    if body.get("seq") != log.records:
        return f"the checkpoint is at record {body.get('seq')}, the log has {log.records}"
    if body.get("head") != log.head.hex():
        return "the log's head is not the checkpoint's: records were removed or altered"
    return None


def check_receipt(
    receipt: Any, public_key: bytes, records: list[dict[str, Any]] | None
) -> str | None:
    """None when ``receipt`` is signed by ``public_key`` (and, given the log's ``records``,
    its audit record is there with that hash and decision); else why not."""
    body = receipt.get("body") if isinstance(receipt, dict) else None
    signature = receipt.get("signature") if isinstance(receipt, dict) else None
    if not isinstance(body, dict) or not isinstance(signature, str):
        return "not a receipt: {body, signature}"
    if not signature_holds(public_key, RECEIPT_DOMAIN, body, signature):
        return "the receipt's signature is not the receipt key's"
    if records is None:
        return None
    found = next((r for r in records if r.get("seq") == body.get("audit_seq")), None)
    if found is None:
        return f"the log has no record {body.get('audit_seq')}"
    if found.get("hash") != body.get("audit_hash"):
        return "the log's record differs from the one the receipt names"
    if found.get("decision_id") != body.get("decision_id") or found.get("allowed") != body.get(
        "allowed"
    ):
        return "the log's record is another decision"
    return None
