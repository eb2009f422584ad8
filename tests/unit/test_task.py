"""The approved task record and the agents of a chain (``delegation._task``).

specs/threats.md: "Type confusion: ... negative or huge times" (approval time);
"An empty value is malformed, never a wildcard" (task fields, agent ids).
"""

from __future__ import annotations

import hashlib

import pytest

from delegation import Agent, Link, MalformedToken, TaskRecord, _cbor, encode_public_key
from delegation.limits import MAX_TEXT_CHARS, MAX_TIME
from tests.conftest import NOW, seeded_agent

PK = seeded_agent(1).public_key


def test_task_round_trip_and_digest() -> None:
    task = TaskRecord(
        task_id="task-42",
        approved_by="alice@example.com",
        approved_at=NOW,
        statement="Summarise account 42",
    )
    assert TaskRecord.from_cbor(task.to_cbor()) == task
    assert task.digest() == hashlib.sha256(_cbor.dumps(task.to_cbor())).hexdigest()
    assert (
        task.digest()
        != TaskRecord(
            task_id="task-42",
            approved_by="alice@example.com",
            approved_at=NOW,
            statement="Summarise 43",
        ).digest()
    )
    assert task.to_json() == {
        "task_id": "task-42",
        "approved_by": "alice@example.com",
        "approved_at": NOW,
        "statement": "Summarise account 42",
        "digest": task.digest(),
    }


@pytest.mark.parametrize(
    ("task_id", "approved_by", "approved_at", "statement"),
    [
        ("", "a", NOW, "s"),
        ("t", "", NOW, "s"),
        ("t", "a", NOW, ""),
        ("t\n", "a", NOW, "s"),
        ("t", "a\x00", NOW, "s"),
        ("t", "a", -1, "s"),
        ("t", "a", MAX_TIME, "s"),
        ("t", "a", True, "s"),
        ("t", "a", float(NOW), "s"),
        ("t", "a", str(NOW), "s"),
        ("t", "a", NOW, "s" * (MAX_TEXT_CHARS + 1)),
        ("t" * 257, "a", NOW, "s"),
        (1, "a", NOW, "s"),
    ],
)
def test_bad_tasks_are_malformed(
    task_id: object, approved_by: object, approved_at: object, statement: object
) -> None:
    with pytest.raises(MalformedToken):
        TaskRecord(
            task_id=task_id,  # type: ignore[arg-type]
            approved_by=approved_by,  # type: ignore[arg-type]
            approved_at=approved_at,  # type: ignore[arg-type]
            statement=statement,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("value", [[], ["t", "a", NOW], ["t", "a", NOW, "s", "x"], {}, "t"])
def test_bad_task_shapes_are_malformed(value: object) -> None:
    with pytest.raises(MalformedToken):
        TaskRecord.from_cbor(value)  # type: ignore[arg-type]


def test_agent_round_trip() -> None:
    agent = Agent("researcher", PK)
    assert Agent.from_cbor(agent.to_cbor()) == agent


@pytest.mark.parametrize(
    ("agent_id", "public_key"),
    [
        ("", PK),
        ("a b", PK),
        ("a*", PK),
        ("x" * 257, PK),
        (3, PK),
        ("a", PK[:31]),
        ("a", PK + b"\x00"),
        ("a", encode_public_key(PK)),
        ("a", bytearray(PK)),
    ],
)
def test_bad_agents_are_malformed(agent_id: object, public_key: object) -> None:
    with pytest.raises(MalformedToken):
        Agent(agent_id, public_key)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [[], ["a"], ["a", PK, 1], [1, PK], "a"])
def test_bad_agent_shapes_are_malformed(value: object) -> None:
    with pytest.raises(MalformedToken):
        Agent.from_cbor(value)  # type: ignore[arg-type]


def test_link_json() -> None:
    assert Link("a", PK).to_json() == {
        "agent_id": "a",
        "public_key": encode_public_key(PK),
        "hop_id": None,
    }
    assert Link("a", PK, "00ff").to_json()["hop_id"] == "00ff"
