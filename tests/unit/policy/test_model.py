"""What a policy sees and answers (``delegation/policy/_model.py``, ``specs/policy.md``)."""

from __future__ import annotations

import json

import pytest

from delegation._task import Agent
from delegation.policy import INPUT_VERSION, Verdict
from delegation.policy._model import example_input, json_view

DOCUMENT_KEYS = ["version", "task", "chain", "holder", "request", "approvals", "context"]


def test_the_document_has_the_specs_shape() -> None:
    shown = example_input().to_json()
    assert list(shown) == DOCUMENT_KEYS
    assert shown["version"] == INPUT_VERSION == 1
    assert list(shown["task"]) == [
        "id",
        "approver",
        "approved_at",
        "statement",
        "digest",
        "intents",
    ]
    assert list(shown["chain"][0]) == ["agent_id", "public_key", "hop_id", "depth", "narrowed"]
    assert shown["holder"] == {k: v for k, v in shown["chain"][-1].items() if k != "narrowed"}
    assert list(shown["request"]) == ["audience", "tool", "action", "resource", "intent", "args"]
    assert list(shown["context"]) == [
        "time", "expires", "depth", "token_id", "root_id", "key_id",
    ]  # fmt: skip
    assert json.loads(json.dumps(shown)) == shown


def test_the_example_is_a_valid_chain_of_agents() -> None:
    document = example_input()
    for agent in document.chain:
        Agent(agent.agent_id, agent.public_key)  # raises for a key the screening refuses
    assert document.depth == 1
    assert document.holder.agent_id == "researcher"


def test_json_view_turns_bytes_and_keys_into_text_and_refuses_the_rest() -> None:
    assert json_view({1: b"\x00\xff", "a": [True, None, 3]}) == {"1": "AP8", "a": [True, None, 3]}
    for bad in (1.5, object(), {1, 2}):
        with pytest.raises(ValueError, match="holds"):
            json_view(bad)
    deep: list[object] = []
    for _ in range(20):
        deep = [deep]
    with pytest.raises(ValueError, match="deeply"):
        json_view(deep)


def test_verdict_constructors() -> None:
    assert Verdict.allow("r1") == Verdict(True, "r1", (), "")
    refused = Verdict.deny("r1", ["a", "b"], "why")
    assert (refused.allowed, refused.policy_ids, refused.detail) == (False, ("a", "b"), "why")
    with pytest.raises(ValueError, match="tuple"):
        Verdict(False, "r", ["a"])  # type: ignore[arg-type]
