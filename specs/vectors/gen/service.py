"""``service.json``: the verifier service's record formats (service.md): canonical JSON, the
audit log's hash chain, its signed checkpoint, and receipts.

Everything here is computed from the definitions in service.md with the primitives alone
(hashlib, JSON, an Ed25519 key from a fixed seed), never by the service's code, so the vectors
check that code, and any auditor's. The receipt key is a public TEST FIXTURE.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from delegation.testing.fixtures import labelled

from gen.fixtures import NOW
from gen.render import FORMAT, VectorFile

AUDIT = b"delegation-service/v1/audit\x00"
CHECKPOINT = b"delegation-service/v1/checkpoint\x00"
RECEIPT = b"delegation-service/v1/receipt\x00"
SEED = labelled("service receipt key")[:32]
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = KEY.public_key().public_bytes_raw()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


KEY_ID = b64(PUBLIC)[:16]


def canonical(value: Any) -> bytes:
    """service.md, "Canonical JSON"."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as exported: ``seq``, ``at`` and ``prev`` set, ``hash`` added."""
    prev = bytes(32)
    out = []
    for seq, fields in enumerate(records, start=1):
        record = {**fields, "seq": seq, "at": NOW + seq, "prev": prev.hex()}
        prev = hashlib.sha256(AUDIT + prev + canonical(record)).digest()
        out.append({**record, "hash": prev.hex()})
    return out


def signed(domain: bytes, body: dict[str, Any]) -> dict[str, Any]:
    return {"body": body, "signature": b64(KEY.sign(domain + canonical(body)))}


class ServiceFile(VectorFile):
    """A file of record vectors: a ``kind`` (canonical, audit_log, checkpoint, receipt), what
    is ``given`` and what checking it gives. It names no token keys: no token is checked."""

    def render(self) -> str:
        doc = {
            "format": FORMAT,
            "description": self.description,
            "receipt_key": {"seed_hex": SEED.hex(), "public_key": b64(PUBLIC), "key_id": KEY_ID},
            "vectors": self.vectors,
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build() -> ServiceFile:
    f = ServiceFile(
        "service.json",
        "The verifier service's record formats: canonical JSON, the audit log's hash chain,"
        " its signed checkpoint, receipts; intact and altered.",
    )
    for name, value in (
        ("canonical_sorted_keys", {"b": 1, "a": [True, None, "x"], "É": {"z": 0, "y": -1}}),
        ("canonical_non_ascii_as_is", {"statement": "résumé 🙂", "quote": '"\\\n'}),
    ):
        f.add_given(
            name,
            "The canonical JSON bytes of a value (service.md, canonical JSON).",
            "canonical",
            {"value": value},
            {"utf8_hex": canonical(value).hex()},
        )

    records = chain(
        [
            {
                "kind": "api_key",
                "key_id": "00112233445566aa",
                "role": "approver",
                "principal": "alice@example.com",
                "audiences": [],
            },
            {
                "kind": "mint",
                "task_id": "task-42",
                "approved_by": "alice@example.com",
                "token_id": "ab" * 16,
                "root_id": "cd" * 16,
            },
            {
                "kind": "decision",
                "decision_id": "ef" * 16,
                "allowed": True,
                "codes": [],
                "task_id": "task-42",
                "token_id": "ab" * 16,
            },
            {
                "kind": "decision",
                "decision_id": "01" * 16,
                "allowed": False,
                "codes": ["tool_not_allowed"],
                "reasons": [["tool_not_allowed", 0, 2]],
                "task_id": "task-42",
                "token_id": "ab" * 16,
            },
            {
                "kind": "revocation",
                "revocation": "task",
                "value": "task-42",
                "task_id": "task-42",
                "by": "alice@example.com",
            },
        ]
    )
    head = records[-1]["hash"]
    f.add_given(
        "audit_chain_intact",
        "Five records as GET /v1/audit exports them: the chain holds.",
        "audit_log",
        {"records": records},
        {"ok": True, "records": 5, "head": head},
    )

    altered = copy.deepcopy(records)
    altered[2]["allowed"] = False
    removed = records[:1] + records[2:]
    swapped = [records[0], records[2], records[1], *records[3:]]
    rehashed = copy.deepcopy(records)  # record 4 changed and re-hashed: record 5 no longer follows
    rehashed[3]["codes"] = []
    body = {k: v for k, v in rehashed[3].items() if k != "hash"}
    rehashed[3]["hash"] = hashlib.sha256(
        AUDIT + bytes.fromhex(body["prev"]) + canonical(body)
    ).hexdigest()
    for name, given, at, what in (
        ("audit_chain_record_altered", altered, 3, "a field of record 3 changed"),
        ("audit_chain_record_removed", removed, 2, "record 2 removed"),
        ("audit_chain_records_swapped", swapped, 2, "records 2 and 3 swapped"),
        ("audit_chain_record_rehashed", rehashed, 5, "record 4 changed and re-hashed"),
    ):
        f.add_given(
            name,
            f"The chain breaks at the first record that does not hold: {what}.",
            "audit_log",
            {"records": given},
            {"ok": False, "at": at},
        )

    checkpoint = signed(CHECKPOINT, {"seq": 5, "head": head, "at": NOW + 9, "key_id": KEY_ID})
    f.add_given(
        "checkpoint_signed",
        "The signed head of the intact log: it holds, at record 5.",
        "checkpoint",
        {"checkpoint": checkpoint},
        {"ok": True, "seq": 5},
    )
    forged = copy.deepcopy(checkpoint)
    forged["body"]["seq"] = 4
    f.add_given(
        "checkpoint_body_changed",
        "A checkpoint whose body changed after signing.",
        "checkpoint",
        {"checkpoint": forged},
        {"ok": False},
    )

    receipt = signed(
        RECEIPT,
        {
            "decision_id": "01" * 16,
            "allowed": False,
            "code": "tool_not_allowed",
            "task_id": "task-42",
            "token_id": "ab" * 16,
            "request_digest": "77" * 32,
            "at": NOW + 4,
            "audit_seq": 4,
            "audit_hash": records[3]["hash"],
            "key_id": KEY_ID,
        },
    )
    f.add_given(
        "receipt_signed",
        "A receipt and its record (record 4 of the intact log).",
        "receipt",
        {"receipt": receipt, "records": records},
        {"ok": True},
    )
    flipped = copy.deepcopy(receipt)
    flipped["body"]["allowed"] = True
    f.add_given(
        "receipt_decision_flipped",
        "A receipt that says allowed where the service said no.",
        "receipt",
        {"receipt": flipped, "records": records},
        {"ok": False},
    )
    other = signed(RECEIPT, {**receipt["body"], "audit_hash": records[2]["hash"]})
    f.add_given(
        "receipt_names_another_record",
        "A genuine signature over a receipt whose record is not in the log with that hash.",
        "receipt",
        {"receipt": other, "records": records},
        {"ok": False},
    )
    return f
