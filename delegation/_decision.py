"""The verifier's answer: allowed or not, why, for which task, through which agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from delegation._task import Link, TaskRecord
from delegation.errors import Code


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
class Balance:
    """One budget of the chain as this call left it: ``charged`` of ``unit`` by this call (0
    when the call was denied), ``spent`` of ``total`` in all since the budget's first call.
    ``hop`` and ``caveat`` place the budget caveat as a :class:`Reason` does."""

    unit: str
    total: int
    charged: int
    spent: int
    hop: int
    caveat: int

    @property
    def remaining(self) -> int:
        return self.total - self.spent

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "total": self.total,
            "charged": self.charged,
            "spent": self.spent,
            "remaining": self.remaining,
            "hop": self.hop,
            "caveat": self.caveat,
        }


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What the verifier's policy said about the call (``specs/policy.md``): the revision of the
    policy set that was asked, and the ids of the policies that decided (on a denial, those
    that refused; none when nothing permitted the call or the policy could not answer)."""

    revision: str | None
    policy_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "policy_ids": list(self.policy_ids)}


@dataclass(frozen=True, slots=True)
class Decision:
    """The verifier's answer, with what a tool server needs to act on it and to log it.

    ``bool(decision)`` is ``decision.allowed``: a denial is never truthy. Everything but
    ``allowed`` and ``reasons`` is known only once the token's signature checked out (so a
    denial of a genuine token still names its task and agents), and is None/empty otherwise:

    - ``task``: what the human approved; ``agents``: the chain of agents, root holder first;
    - ``token_id``: this exact token (what ``revoke --token`` takes to kill it and everything
      derived from it); ``root_id``: the root token every token of this task derives from;
    - ``key_id``: the root key it was minted under; ``expires``: its earliest expiry (Unix s);
    - ``at``: the verifier's time of the decision;
    - ``budgets``: each budget of the chain, in token order, once the state answered for them
      (an allow, or a denial for a spent use or budget); empty otherwise;
    - ``reservation``: for an allow verified with ``reserve=True`` that charged a budget, the
      id (32 hex digits) to settle or release it with (:meth:`delegation.Verifier.settle`);
    - ``policy``: on a verifier with a policy, what it said when it was asked (every caveat,
      discharge and the proof passed); None when it was not asked.
    """

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    task: TaskRecord | None = None
    agents: tuple[Link, ...] = ()
    token_id: str | None = None
    root_id: str | None = None
    key_id: str | None = None
    expires: int | None = None
    at: int | None = None
    budgets: tuple[Balance, ...] = ()
    reservation: str | None = None
    policy: PolicyResult | None = None

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
        """The agent that presented the token (the last in ``agents``)."""
        return self.agents[-1] if self.agents else None

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": None if self.code is None else str(self.code),
            "reasons": [r.to_json() for r in self.reasons],
            "task": None if self.task is None else self.task.to_json(),
            "agents": [link.to_json() for link in self.agents],
            "token_id": self.token_id,
            "root_id": self.root_id,
            "key_id": self.key_id,
            "expires": self.expires,
            "at": self.at,
            "budgets": [b.to_json() for b in self.budgets],
            "reservation": self.reservation,
            "policy": None if self.policy is None else self.policy.to_json(),
        }
