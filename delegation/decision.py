"""The verifier's answer: allowed or not, why, for which task, through which agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from delegation.errors import Code
from delegation.task import Link, TaskRecord


@dataclass(frozen=True, slots=True)
class Reason:
    """One failed check. ``hop`` is the chain segment the caveat sits in (0 = before any hop,
    k = after the k-th hop); ``caveat`` is its index in the token. Both are None for checks of
    the token as a whole."""

    code: Code
    detail: str
    hop: int | None = None
    caveat: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "hop": self.hop,
            "caveat": self.caveat,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """``bool(decision)`` is ``decision.allowed``: a denial is never truthy.

    ``task`` and ``chain`` are set whenever the token's signature checked out, so a denial of a
    genuine token still names the task and the agents; they are None/empty otherwise.
    """

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    task: TaskRecord | None = None
    chain: tuple[Link, ...] = ()
    token_id: str | None = None

    def __post_init__(self) -> None:
        if self.allowed == bool(self.reasons):
            raise ValueError("an allow has no reasons and a denial has at least one")

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def code(self) -> Code | None:
        """The first reason's code, or None when allowed."""
        return self.reasons[0].code if self.reasons else None

    @property
    def holder(self) -> Link | None:
        return self.chain[-1] if self.chain else None

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": None if self.code is None else str(self.code),
            "reasons": [r.to_json() for r in self.reasons],
            "task": None if self.task is None else self.task.to_json(),
            "chain": [link.to_json() for link in self.chain],
            "token_id": self.token_id,
        }
