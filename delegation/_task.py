"""The human-approved task a root token is minted for, and the agents of a chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from delegation import _cbor
from delegation import _patterns as patterns
from delegation._cbor import CBORValue
from delegation._crypto.ed25519 import is_safe_public_key
from delegation._keys import PUBLIC_KEY_BYTES, encode_public_key
from delegation.caveats import _body
from delegation.errors import MalformedToken, PatternError
from delegation.limits import MAX_TEXT_CHARS


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """What a human approved: the task id, who approved it, when (Unix seconds), and the words."""

    task_id: str
    approved_by: str
    approved_at: int
    statement: str

    def __post_init__(self) -> None:
        _body.text(self.task_id, "task id")
        _body.text(self.approved_by, "approved_by")
        _body.timestamp(self.approved_at, "approved_at")
        _body.text(self.statement, "statement", MAX_TEXT_CHARS)

    def to_cbor(self) -> list[CBORValue]:
        return [self.task_id, self.approved_by, self.approved_at, self.statement]

    @classmethod
    def from_cbor(cls, value: CBORValue) -> TaskRecord:
        if not isinstance(value, list) or len(value) != 4:
            raise MalformedToken("a task is [task_id, approved_by, approved_at, statement]")
        task_id, approved_by, approved_at, statement = value
        return cls(
            task_id=task_id, approved_by=approved_by, approved_at=approved_at, statement=statement
        )

    def digest(self) -> str:
        """Hex SHA-256 of the task's canonical CBOR: names exactly what was approved."""
        return hashlib.sha256(_cbor.dumps(self.to_cbor())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "statement": self.statement,
            "digest": self.digest(),
        }


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent a token can be bound to: its id and its Ed25519 public key (32 raw bytes)."""

    agent_id: str
    public_key: bytes

    def __post_init__(self) -> None:
        try:
            patterns.check_agent_id(self.agent_id)
        except (PatternError, TypeError) as exc:
            raise MalformedToken(f"agent id: {exc}") from exc
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            raise MalformedToken("an agent public key is 32 bytes")
        if not is_safe_public_key(self.public_key):
            raise MalformedToken("an agent public key is not a canonical, full-order Ed25519 key")

    def to_cbor(self) -> list[CBORValue]:
        return [self.agent_id, self.public_key]

    @classmethod
    def from_cbor(cls, value: CBORValue) -> Agent:
        if not isinstance(value, list) or len(value) != 2:
            raise MalformedToken("an agent is [agent_id, public_key]")
        return cls(_body.text(value[0], "agent id"), value[1])


@dataclass(frozen=True, slots=True)
class Link:
    """One agent in a chain: the root holder (``hop_id`` None) or a delegatee."""

    agent_id: str
    public_key: bytes
    hop_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "public_key": encode_public_key(self.public_key),
            "hop_id": self.hop_id,
        }
