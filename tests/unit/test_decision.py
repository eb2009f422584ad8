"""Decisions and reasons (``delegation._decision``): truthiness and the JSON shape.

specs/threats.md: "Build so that every one is a typed denial, never an allow"
(a denial is never truthy; an allow carries no reasons); "Signatures, root keys ... never
appear in errors" (the JSON view holds public keys and ids only).
"""

from __future__ import annotations

import json

import pytest

from delegation import (
    AgentKey,
    Code,
    Decision,
    Link,
    Reason,
    Request,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    encode_public_key,
    prove,
)
from delegation.policy import PolicyResult
from delegation.testing.fixtures import root_secret
from tests.conftest import NOW


def test_a_denial_is_falsy_and_an_allow_truthy() -> None:
    denied = Decision(False, (Reason(Code.EXPIRED, "the token expired"),))
    assert not denied
    assert bool(denied) is False
    assert denied.code is Code.EXPIRED
    allowed = Decision(True)
    assert allowed
    assert bool(allowed) is True
    assert allowed.code is None
    assert allowed.holder is None


def test_allowed_and_reasons_must_agree() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Decision(False)
    with pytest.raises(ValueError, match="no reasons"):
        Decision(True, (Reason(Code.EXPIRED, "x"),))


def test_decision_code_is_the_first_reason() -> None:
    decision = Decision(
        False, (Reason(Code.TOOL_NOT_ALLOWED, "a", 0, 2), Reason(Code.POP_REQUIRED, "b"))
    )
    assert decision.code is Code.TOOL_NOT_ALLOWED


def test_reason_json() -> None:
    assert Reason(Code.BAD_HOP, "hop 1 is not signed", 1, 7).to_json() == {
        "code": "bad_hop",
        "hop": 1,
        "caveat": 7,
        "detail": "hop 1 is not signed",
    }
    assert Reason(Code.UNKNOWN_KEY, "x").to_json() == {
        "code": "unknown_key",
        "hop": None,
        "caveat": None,
        "detail": "x",
    }


def test_decision_json_shape_for_an_allow(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    task: TaskRecord,
) -> None:
    proof = prove(root_token, orchestrator, read_request, now=NOW)
    doc = verifier.verify(root_token, read_request, proof).to_json()
    assert doc == {
        "allowed": True,
        "code": None,
        "reasons": [],
        "task": task.to_json(),
        "agents": [
            {
                "agent_id": "orchestrator",
                "public_key": encode_public_key(orchestrator.public_key),
                "hop_id": None,
            }
        ],
        "token_id": root_token.token_id,
        "root_id": root_token.root_id,
        "key_id": root_token.identifier.key_id,
        "expires": NOW + 3600,  # the root scope's expiry
        "at": NOW,
        "budgets": [],
        "reservation": None,
        "policy": None,  # no policy was asked
    }
    assert json.loads(json.dumps(doc)) == doc


def test_decision_json_shape_for_a_denial(
    verifier: Verifier, root_token: UnverifiedToken, task: TaskRecord
) -> None:
    request = Request(
        audience="crm",
        tool="crm.delete",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    doc = verifier.verify(root_token, request, None).to_json()
    assert list(doc) == [
        "allowed", "code", "reasons", "task", "agents", "token_id", "root_id", "key_id", "expires",
        "at", "budgets", "reservation", "policy",
    ]  # fmt: skip
    assert doc["allowed"] is False
    assert doc["code"] == "tool_not_allowed"
    assert [(r["code"], r["hop"], r["caveat"]) for r in doc["reasons"]] == [
        ("tool_not_allowed", 0, 2),
        ("pop_required", None, None),
    ]
    assert all(set(r) == {"code", "hop", "caveat", "detail"} for r in doc["reasons"])
    assert doc["task"] == task.to_json()
    assert (doc["token_id"], doc["root_id"]) == (root_token.token_id, root_token.root_id)
    assert (doc["key_id"], doc["at"]) == (root_token.identifier.key_id, NOW)
    text = json.dumps(doc)
    assert root_token.raw.signature.hex() not in text
    assert root_secret(1).hex() not in text  # the test keyring's root key


def test_decision_json_for_an_unreadable_token() -> None:
    decision = Decision(False, (Reason(Code.MALFORMED, "token is not unpadded base64url"),))
    assert decision.to_json() == {
        "allowed": False,
        "code": "malformed",
        "reasons": [
            {
                "code": "malformed",
                "hop": None,
                "caveat": None,
                "detail": "token is not unpadded base64url",
            }
        ],
        "task": None,
        "agents": [],
        "token_id": None,
        "root_id": None,
        "key_id": None,
        "expires": None,
        "at": None,
        "budgets": [],
        "reservation": None,
        "policy": None,
    }


def test_a_policy_result_is_in_the_json() -> None:
    result = PolicyResult("9f2c", ("no-writes-after-hours",))
    decision = Decision(False, (Reason(Code.POLICY_DENIED, "x"),), policy=result)
    assert decision.to_json()["policy"] == {
        "revision": "9f2c",
        "policy_ids": ["no-writes-after-hours"],
    }
    assert PolicyResult(None).to_json() == {"revision": None, "policy_ids": []}


def test_holder_is_the_last_link() -> None:
    a, b = Link("a", b"\x01" * 32), Link("b", b"\x02" * 32, "ab" * 16)
    assert Decision(True, (), None, (a, b)).holder == b
