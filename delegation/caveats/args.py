"""Argument constraints: every listed constraint holds for the request's arguments.

Operators: ``eq`` (the argument equals a text, integer or boolean, type included: ``"3"``,
``3.0`` and ``true`` do not equal ``3``), ``in`` (equals one of a set), ``min`` and ``max``
(a number, not a boolean, within an integer bound), ``resource`` (a text argument matching a
resource pattern). A missing argument satisfies nothing. Checks are total and bounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Self, cast

from delegation import _cbor
from delegation import _patterns as patterns
from delegation._cbor import CBORValue
from delegation._request import ArgValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import (
    AuthoringError,
    CaveatFailed,
    Code,
    MalformedToken,
    NotNarrowing,
    PatternError,
)
from delegation.limits import MAX_LIST_ITEMS, MAX_NAME_CHARS

Scalar = str | int | bool


class ArgOp(StrEnum):
    """The operator of an argument constraint; build constraints with ArgConstraint's
    constructors (``equals``, ``one_of``, ``at_least``, ``at_most``, ``resource``)."""

    EQ = "eq"
    IN = "in"
    MIN = "min"
    MAX = "max"
    RESOURCE = "resource"


OPS = {ArgOp.EQ: 1, ArgOp.IN: 2, ArgOp.MIN: 3, ArgOp.MAX: 4, ArgOp.RESOURCE: 5}
_OP_NAMES = {v: k for k, v in OPS.items()}


def _scalar(value: CBORValue, what: str) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _body.integer(value, what)
    if isinstance(value, str):
        return _body.text(value, what, MAX_NAME_CHARS)
    raise MalformedToken(f"{what} must be text, an integer or a boolean")


def _same(arg: ArgValue, value: Scalar) -> bool:
    return type(arg) is type(value) and arg == value


@dataclass(frozen=True, slots=True)
class ArgConstraint:
    """One constraint on one named argument. Build it with a constructor that says what it
    means: ``ArgConstraint.at_most("amount", 100)``, not an operator string."""

    arg: str
    op: ArgOp
    value: Scalar | tuple[Scalar, ...]

    @classmethod
    def equals(cls, arg: str, value: Scalar) -> ArgConstraint:
        """The argument equals ``value``, type included (``"3"`` and ``True`` are not ``3``)."""
        return cls(arg, ArgOp.EQ, value)

    @classmethod
    def one_of(cls, arg: str, values: Iterable[Scalar]) -> ArgConstraint:
        """The argument equals one of ``values`` (a list or tuple, 1 to MAX_LIST_ITEMS)."""
        if isinstance(values, str | bytes):  # "ab" would become {"a", "b"}
            raise MalformedToken(f"argument {arg!r} in value must be a list, not one text")
        return cls(arg, ArgOp.IN, tuple(values))

    @classmethod
    def at_least(cls, arg: str, bound: int) -> ArgConstraint:
        """The argument is a number (not a boolean) no smaller than ``bound``."""
        return cls(arg, ArgOp.MIN, bound)

    @classmethod
    def at_most(cls, arg: str, bound: int) -> ArgConstraint:
        """The argument is a number (not a boolean) no larger than ``bound``."""
        return cls(arg, ArgOp.MAX, bound)

    @classmethod
    def resource(cls, arg: str, pattern: str) -> ArgConstraint:
        """The argument is a canonical resource that ``pattern`` matches."""
        return cls(arg, ArgOp.RESOURCE, pattern)

    def __post_init__(self) -> None:
        _body.text(self.arg, "argument name")
        if type(self.op) is not ArgOp:
            raise MalformedToken("argument operator must be an ArgOp (use ArgConstraint.equals...)")
        what = f"argument {self.arg!r} {self.op} value"
        if self.op == "in":
            values = self.value if isinstance(self.value, tuple | list) else None
            if not values or len(values) > MAX_LIST_ITEMS:
                raise MalformedToken(f"{what} must be 1-{MAX_LIST_ITEMS} values")
            # Canonical order: ascending deterministic CBOR encoding, so one set, one spelling.
            items = tuple(sorted((_scalar(v, what) for v in values), key=_cbor.dumps))
            if len({(type(v), v) for v in items}) != len(items):
                raise MalformedToken(f"{what} has duplicates")
            object.__setattr__(self, "value", items)
        elif self.op in ("min", "max"):
            if type(self.value) is not int:
                raise MalformedToken(f"{what} must be an integer")
            _body.integer(self.value, what)
        elif self.op == "resource":
            text = _body.text(self.value, what, 1024)  # type: ignore[arg-type]
            try:
                patterns.parse_resource(text, pattern=True)
            except PatternError as exc:
                raise MalformedToken(f"{what}: {exc}") from exc
        else:
            _scalar(self.value, what)  # type: ignore[arg-type]

    def satisfied_by(self, arg: ArgValue) -> bool:
        value = self.value
        if self.op == "eq":
            return _same(arg, value)  # type: ignore[arg-type]
        if self.op == "in":
            return any(_same(arg, v) for v in value)  # type: ignore[union-attr]
        if self.op in ("min", "max"):
            if isinstance(arg, bool) or not isinstance(arg, int | float) or not math.isfinite(arg):
                return False
            return arg >= value if self.op == "min" else arg <= value  # type: ignore[operator]
        if not isinstance(arg, str):
            return False
        try:
            parsed = patterns.parse_resource(arg)
        except PatternError:
            return False
        pattern = patterns.parse_resource(cast(str, value), pattern=True)  # resource: text
        return patterns.resource_matches(pattern, parsed)

    def to_cbor(self) -> list[CBORValue]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return [self.arg, OPS[self.op], value]

    def describe(self) -> str:
        shown = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.arg} {self.op} {shown!r}"

    def why_not_narrower(self, parent: ArgConstraint) -> str | None:
        """Why this constraint would try to widen ``parent`` (same argument), or None."""
        if self.op in ("eq", "in"):
            values = self.value if isinstance(self.value, tuple) else (self.value,)
            for v in values:
                if not parent.satisfied_by(v):
                    return f"{self.arg}={v!r} is outside the token's {parent.describe()}"
        elif self.op == parent.op == "min" and self.value < parent.value:  # type: ignore[operator]
            return f"{self.describe()} is below the token's {parent.describe()}"
        elif self.op == parent.op == "max" and self.value > parent.value:  # type: ignore[operator]
            return f"{self.describe()} is above the token's {parent.describe()}"
        elif self.op == parent.op == "resource" and not patterns.resource_covers(
            patterns.parse_resource(cast(str, parent.value), pattern=True),  # resource: text
            patterns.parse_resource(cast(str, self.value), pattern=True),
        ):
            return f"{self.describe()} is not inside the token's {parent.describe()}"
        return None


@dataclass(frozen=True, slots=True)
class Args(Caveat):
    type_id: ClassVar[int] = 7
    name: ClassVar[str] = "args"

    constraints: tuple[ArgConstraint, ...]

    def __post_init__(self) -> None:
        items = tuple(sorted(self.constraints, key=lambda c: (c.arg, OPS[c.op])))
        if not items or len(items) > MAX_LIST_ITEMS:
            raise MalformedToken(f"an args caveat holds 1-{MAX_LIST_ITEMS} constraints")
        keys = [(c.arg, c.op) for c in items]
        if len(set(keys)) != len(keys):
            raise MalformedToken("an args caveat has one constraint per argument and operator")
        object.__setattr__(self, "constraints", items)

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if not isinstance(body, list):
            raise MalformedToken("args must be an array of [name, op, value]")
        out = []
        for item in body:
            if not isinstance(item, list) or len(item) != 3 or type(item[1]) is not int:
                raise MalformedToken("an argument constraint is [name, op, value]")
            if item[1] not in _OP_NAMES:
                raise MalformedToken("an argument constraint is [name, op, value]")
            name, op, value = item
            if isinstance(value, list):
                value = tuple(value)
            out.append(ArgConstraint(_body.text(name, "argument name"), _OP_NAMES[op], value))
        return cls(tuple(out))

    def to_body(self) -> CBORValue:
        return [c.to_cbor() for c in self.constraints]

    def describe(self) -> list[str]:
        return [c.describe() for c in self.constraints]

    def check(self, ctx: CheckContext) -> None:
        args = ctx.request.args
        for c in self.constraints:
            if c.arg not in args:
                raise CaveatFailed(Code.ARGS_NOT_ALLOWED, f"argument {c.arg!r} is missing")
            if not c.satisfied_by(args[c.arg]):
                raise CaveatFailed(
                    Code.ARGS_NOT_ALLOWED, f"argument {c.arg!r} does not satisfy {c.describe()}"
                )

    def check_narrows(self, parent: ParentView) -> None:
        inherited = [c for _, other in parent.of_type(Args) for c in other.constraints]
        for mine in self.constraints:
            for theirs in inherited:
                if theirs.arg == mine.arg:
                    why = mine.why_not_narrower(theirs)
                    if why:
                        raise NotNarrowing(why)
        everything = inherited + list(self.constraints)
        for arg in {c.arg for c in self.constraints}:
            _refuse_unsatisfiable(arg, [c for c in everything if c.arg == arg])
        for _, only in parent.of_type(ArgsOnly):
            for mine in self.constraints:
                if mine.arg not in only.names:
                    raise AuthoringError(
                        f"no call can satisfy {mine.describe()}: the token allows only the"
                        f" arguments {list(only.names)}"
                    )


def _refuse_unsatisfiable(arg: str, constraints: list[ArgConstraint]) -> None:
    """Raise AuthoringError if no value of ``arg`` satisfies every constraint on it."""
    shown = ", ".join(c.describe() for c in constraints)
    listed = [c for c in constraints if c.op in (ArgOp.EQ, ArgOp.IN)]
    if listed:  # a finite set of candidates: one must pass everything
        candidates: list[Scalar] = []
        for c in listed:
            candidates += c.value if isinstance(c.value, tuple) else [c.value]
        if not any(all(c.satisfied_by(v) for c in constraints) for v in candidates):
            raise AuthoringError(f"no call can satisfy {shown}")
        return
    lows = [c.value for c in constraints if c.op == ArgOp.MIN and type(c.value) is int]
    highs = [c.value for c in constraints if c.op == ArgOp.MAX and type(c.value) is int]
    if lows and highs and max(lows) > min(highs):
        raise AuthoringError(f"no call can satisfy {shown}: the minimum is above the maximum")


@dataclass(frozen=True, slots=True)
class ArgsOnly(Caveat):
    """Only the listed arguments may be present: closes the argument list, so a token that
    constrains ``project`` does not let an unconstrained ``path=/etc/passwd`` through."""

    type_id: ClassVar[int] = 13
    name: ClassVar[str] = "args_only"

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.names, str):  # one text would be split into its characters
            raise MalformedToken("args_only takes a sequence of argument names, not one text")
        object.__setattr__(
            self, "names", _body.sorted_set(_body.canonical_set(self.names, self.name), self.name)
        )

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        return cls(_body.sorted_set(body, cls.name))

    def to_body(self) -> CBORValue:
        return list(self.names)

    def describe(self) -> list[str]:
        return list(self.names)

    def check(self, ctx: CheckContext) -> None:
        extra = sorted(set(ctx.request.args) - set(self.names))
        if extra:
            raise CaveatFailed(
                Code.ARGS_NOT_ALLOWED,
                f"argument {extra[0]!r} is not one of the allowed arguments {list(self.names)}",
            )

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(ArgsOnly):
            extra = set(self.names) - set(other.names)
            if extra:
                raise NotNarrowing(
                    f"args_only {sorted(extra)} is outside the token's {list(other.names)}"
                )
        for _, args in parent.of_type(Args):
            for c in args.constraints:
                if c.arg not in self.names:
                    raise AuthoringError(
                        f"no call can satisfy the token's {c.describe()} once only"
                        f" {list(self.names)} may be present"
                    )
