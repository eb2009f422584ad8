"""Request bodies: strict (no coercion, no unknown fields), every length bounded.

The shapes are the service's; the values' rules are the library's, checked when the library
builds its objects (a scope the library refuses is a 422 with its reason, never a 500).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from delegation._printable import is_printable
from delegation.limits import (
    MAX_DISCHARGES,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_PROOF_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOKEN_CHARS,
)

BATCH_LIMIT = 64
"""Calls in one ``POST /v1/verify/batch``."""


def _printable(value: str) -> str:
    """The library's rule for names (``specs/token-format.md``, "Printable text"): no control
    characters, so nothing unprintable reaches a record, a log or an approver's screen."""
    if not is_printable(value):
        raise ValueError("holds control or unassigned characters")
    return value


Printable = AfterValidator(_printable)
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_CHARS), Printable]
Names = Annotated[list[Name], Field(max_length=MAX_LIST_ITEMS)]
Pattern = Annotated[StrictStr, Field(min_length=1, max_length=1024), Printable]
Amount = Annotated[StrictInt, Field(ge=0, le=2**53 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Holder(Strict):
    agent_id: Name
    public_key: Annotated[StrictStr, Field(min_length=43, max_length=43)]


class ArgRule(Strict):
    name: Name
    op: Literal["eq", "in", "min", "max", "resource"]
    value: StrictStr | StrictInt | StrictBool | list[StrictStr | StrictInt | StrictBool]


class BudgetSpec(Strict):
    unit: Name
    total: Amount
    cost: Amount | None = None
    cost_arg: Name | None = None
    max_per_call: Amount | None = None


class ScopeSpec(Strict):
    audiences: Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    expires_in: Annotated[StrictInt, Field(ge=1, le=30 * 86400)]
    tools: Names = []
    actions: Names = []
    resources: Annotated[list[Pattern], Field(max_length=MAX_LIST_ITEMS)] = []
    intents: Names = []
    args: Annotated[list[ArgRule], Field(max_length=MAX_LIST_ITEMS)] = []
    only_args: Names = []
    max_depth: Annotated[StrictInt, Field(ge=0, le=16)] | None = None
    delegatees: Annotated[list[Pattern], Field(max_length=MAX_LIST_ITEMS)] = []
    max_uses: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] | None = None
    budgets: Annotated[list[BudgetSpec], Field(max_length=8)] = []


Rule = Annotated[StrictStr, Field(min_length=1, max_length=2 * MAX_NAME_CHARS + 1), Printable]


class NewTask(Strict):
    task_id: Name | None = None
    statement: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    holder: Holder
    scope: ScopeSpec
    needs_approval: Annotated[list[Rule], Field(max_length=MAX_LIST_ITEMS)] = []
    """Calls (``tool`` or ``tool:action``) that need a human's yes through this service."""


Token = Annotated[StrictStr, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]
Proof = Annotated[StrictStr, Field(min_length=1, max_length=MAX_PROOF_CHARS)]
Discharge = Annotated[StrictStr, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]


class Call(Strict):
    token: Token
    request: dict[str, Any]
    proof: Proof | None = None
    discharges: Annotated[list[Discharge], Field(max_length=MAX_DISCHARGES)] = []
    reserve: StrictBool = False


class ApprovalRequest(Strict):
    token: Token
    request: dict[str, Any]
    proof: Proof
    """The holder's signed approval request (``prove_for_approval``), not a call proof."""


class ApprovalDecision(Strict):
    approve: StrictBool


class Batch(Strict):
    calls: Annotated[list[Call], Field(min_length=1, max_length=BATCH_LIMIT)]


class NewRevocation(Strict):
    kind: Literal["token", "task", "hop", "agent", "key"]
    value: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class Settle(Strict):
    reservation: Annotated[StrictStr, Field(pattern="^[0-9a-f]{32}$")]
    costs: Annotated[dict[Name, Amount], Field(max_length=8)] | None = None
    """Actual cost by unit; null releases the reservation."""


class NewApiKey(Strict):
    role: Literal["admin", "approver", "verifier", "auditor"]
    principal: Name
    audiences: Names = []


def to_scope(spec: ScopeSpec) -> Any:
    """The library's Scope for ``spec``. Raises the library's errors for values it refuses."""
    from delegation import ArgConstraint, ArgOp, Budget, Scope

    args = [
        ArgConstraint(
            rule.name,
            ArgOp(rule.op),
            tuple(rule.value) if isinstance(rule.value, list) else rule.value,
        )
        for rule in spec.args
    ]
    budgets = []
    for b in spec.budgets:
        if (b.cost is None) == (b.cost_arg is None):
            raise ValueError("a budget takes exactly one of cost and cost_arg")
        cost: int | str = b.cost if b.cost is not None else b.cost_arg  # type: ignore[assignment]
        budgets.append(Budget(b.unit, b.total, cost, max_per_call=b.max_per_call))
    return Scope(
        audiences=spec.audiences,
        tools=spec.tools,
        actions=spec.actions,
        resources=spec.resources,
        intents=spec.intents,
        args=args,
        only_args=spec.only_args,
        expires_in=spec.expires_in,
        max_depth=spec.max_depth,
        delegatees=spec.delegatees,
        max_uses=spec.max_uses,
        budgets=budgets,
    )
