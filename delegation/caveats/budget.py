"""Budget: the token (and everything derived from it after this caveat) may spend at most
``total`` of ``unit`` in all, and at most ``max_per_call`` in one call.

A call's cost is a fixed amount per call or the integer argument the caveat names
(``specs/budgets.md``). The per-call rules are checked here, against the request alone; the
total needs shared state: the verifier charges every budget of the chain at once, all or
nothing, after every other check passed (step 9), under the chain digest up to and including
this caveat, so every token derived from the one that carries it draws on one balance. That is
what makes budgets only shrink down the chain: siblings charge their parent's budget too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, MalformedToken, NotNarrowing
from delegation.limits import MAX_INT

MAX_AMOUNT = MAX_INT - 1
"""Totals, per-call maxima, fixed costs and cost arguments lie in [0, 2^53 - 1]."""
_UNIT, _TOTAL, _MAX_PER_CALL, _COST, _COST_ARG = 1, 2, 3, 4, 5
_FIELDS = frozenset({_UNIT, _TOTAL, _MAX_PER_CALL, _COST, _COST_ARG})


@dataclass(frozen=True, slots=True)
class Budget(Caveat):
    """``unit`` (a name such as ``usd-cents``), ``total`` and optional ``max_per_call`` are
    whole amounts in the unit; ``cost`` is the fixed cost of every call (an integer) or the
    name of the request argument that carries it (a text)."""

    type_id: ClassVar[int] = 15
    name: ClassVar[str] = "budget"

    unit: str
    total: int
    cost: int | str
    max_per_call: int | None = None

    @staticmethod
    def _read(body: CBORValue) -> tuple[str, int, int | None, int | str]:
        fields = _body.int_map(body, "budget", _FIELDS)
        for required in (_UNIT, _TOTAL):
            if required not in fields:
                raise MalformedToken("a budget names its unit (1) and its total (2)")
        if (_COST in fields) == (_COST_ARG in fields):
            raise MalformedToken(
                "a budget takes its cost from exactly one of a fixed amount (4) or an argument (5)"
            )
        unit = _body.text(fields[_UNIT], "budget unit")
        total = _body.integer(fields[_TOTAL], "budget total", 0, MAX_AMOUNT)
        cap = fields.get(_MAX_PER_CALL)
        if cap is not None:
            cap = _body.integer(cap, "budget max_per_call", 0, MAX_AMOUNT)
        cost: int | str
        if _COST in fields:
            cost = _body.integer(fields[_COST], "budget cost", 0, MAX_AMOUNT)
        else:
            cost = _body.text(fields[_COST_ARG], "budget cost argument")
        return unit, total, cap, cost

    def __post_init__(self) -> None:
        if type(self.cost) is bool:  # True is an int to Python: a cost of 1 must say so
            raise MalformedToken("budget cost is an integer amount or an argument name")
        self._read(self.to_body())

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        unit, total, cap, cost = cls._read(body)
        caveat = object.__new__(cls)
        for name, value in (
            ("unit", unit),
            ("total", total),
            ("max_per_call", cap),
            ("cost", cost),
        ):
            object.__setattr__(caveat, name, value)
        return caveat

    def to_body(self) -> CBORValue:
        body: dict[int, CBORValue] = {_UNIT: self.unit, _TOTAL: self.total}
        if self.max_per_call is not None:
            body[_MAX_PER_CALL] = self.max_per_call
        if isinstance(self.cost, str):
            body[_COST_ARG] = self.cost
        else:
            body[_COST] = self.cost
        return body

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"unit": self.unit, "total": self.total}
        if self.max_per_call is not None:
            out["max_per_call"] = self.max_per_call
        key = "cost_arg" if isinstance(self.cost, str) else "cost"
        out[key] = self.cost
        return out

    def cost_of(self, args: object) -> int:
        """This call's cost in the unit. Raises CaveatFailed (``cost_invalid``,
        ``cost_too_high``). ``args`` is the request's argument mapping."""
        if isinstance(self.cost, int):
            cost = self.cost
        else:
            value = args.get(self.cost) if isinstance(args, dict) else None
            if type(value) is not int or not 0 <= value <= MAX_AMOUNT:
                if value is None:
                    found = f"the call has no {self.cost!r} argument"
                elif type(value) is int:
                    found = f"the call's {self.cost!r} argument is {value}"
                else:
                    found = f"the call's {self.cost!r} argument is a {type(value).__name__}"
                raise CaveatFailed(
                    Code.COST_INVALID,
                    f"{found}: the {self.unit} budget reads the call's cost from it, an "
                    f"integer in [0, {MAX_AMOUNT}]",
                )
            cost = value
        if self.max_per_call is not None and cost > self.max_per_call:
            raise CaveatFailed(
                Code.COST_TOO_HIGH,
                f"the call costs {cost} {self.unit}, above the budget's {self.max_per_call} "
                "per call",
            )
        return cost

    def check(self, ctx: CheckContext) -> None:
        """The per-call rules; the total is charged by the verifier at step 9."""
        self.cost_of(ctx.request.args)

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(Budget):
            if other.unit != self.unit:
                continue
            if other.cost != self.cost:
                raise NotNarrowing(
                    f"a {self.unit} budget takes its cost {_source(self.cost)}, the token's "
                    f"{_source(other.cost)}: one unit, one cost"
                )
            if self.total > other.total:
                raise NotNarrowing(
                    f"budget {self.total} {self.unit} is above the token's {other.total}"
                )
            if (
                other.max_per_call is not None
                and self.max_per_call is not None
                and self.max_per_call > other.max_per_call
            ):
                raise NotNarrowing(
                    f"budget max_per_call {self.max_per_call} {self.unit} is above the "
                    f"token's {other.max_per_call}"
                )


def _source(cost: int | str) -> str:
    return f"from argument {cost!r}" if isinstance(cost, str) else f"as {cost} per call"
