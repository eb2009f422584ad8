"""Audience, tool, action and intent: one family of "the request's field is one of these names".

The four share one shape and differ only in the request field, type id and reason code, so they
live together. Names compare exactly: ``alice`` does not satisfy ``alice2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, MalformedToken, NotNarrowing


@dataclass(frozen=True, slots=True)
class _NameSet(Caveat):
    field: ClassVar[str]
    code: ClassVar[Code]

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.names, str):  # one text would be split into its characters
            raise MalformedToken(f"{self.name} takes a sequence of texts, not one text")
        # Validate and store in canonical order, whatever order the caller gave.
        object.__setattr__(
            self, "names", _body.sorted_set(_body.canonical_set(self.names, self.name), self.name)
        )

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        # Read once: the reader checks exactly what __post_init__ would, on a body that is
        # already in canonical order (a sorted set), so the constructor is not run again.
        caveat = object.__new__(cls)
        object.__setattr__(caveat, "names", _body.sorted_set(body, cls.name))
        return caveat

    def to_body(self) -> CBORValue:
        return list(self.names)

    def describe(self) -> list[str]:
        return list(self.names)

    def check(self, ctx: CheckContext) -> None:
        value = getattr(ctx.request, self.field)
        if value not in self.names:
            shown = "none" if value is None else repr(value)
            raise CaveatFailed(self.code, f"{self.field} {shown} is not one of {list(self.names)}")

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(type(self)):
            extra = set(self.names) - set(other.names)
            if extra:
                raise NotNarrowing(
                    f"{self.name} {sorted(extra)} is outside the token's {list(other.names)}"
                )


@dataclass(frozen=True, slots=True)
class Audience(_NameSet):
    type_id: ClassVar[int] = 2
    name: ClassVar[str] = "audience"
    field: ClassVar[str] = "audience"
    code: ClassVar[Code] = Code.WRONG_AUDIENCE


@dataclass(frozen=True, slots=True)
class Tool(_NameSet):
    type_id: ClassVar[int] = 3
    name: ClassVar[str] = "tool"
    field: ClassVar[str] = "tool"
    code: ClassVar[Code] = Code.TOOL_NOT_ALLOWED


@dataclass(frozen=True, slots=True)
class Action(_NameSet):
    type_id: ClassVar[int] = 4
    name: ClassVar[str] = "action"
    field: ClassVar[str] = "action"
    code: ClassVar[Code] = Code.ACTION_NOT_ALLOWED


@dataclass(frozen=True, slots=True)
class Intent(_NameSet):
    type_id: ClassVar[int] = 6
    name: ClassVar[str] = "intent"
    field: ClassVar[str] = "intent"
    code: ClassVar[Code] = Code.INTENT_NOT_ALLOWED
