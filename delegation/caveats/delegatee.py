"""Allowed delegatees: every hop after this caveat names an agent id matching a pattern.

Patterns are exact ids, ``prefix*`` or ``*`` (see :mod:`delegation._patterns`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation import _patterns as patterns
from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, MalformedToken, NotNarrowing

_read_pattern = _body.pattern_checked(patterns.check_agent_pattern)


@dataclass(frozen=True, slots=True)
class Delegatees(Caveat):
    type_id: ClassVar[int] = 9
    name: ClassVar[str] = "delegatees"

    patterns: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.patterns, str):  # one text would be split into its characters
            raise MalformedToken("delegatees takes a sequence of texts, not one text")
        values = _body.sorted_set(
            _body.canonical_set(self.patterns, "delegatees"), "delegatees", _read_pattern
        )
        object.__setattr__(self, "patterns", values)

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        return cls(_body.sorted_set(body, "delegatees", _read_pattern))

    def to_body(self) -> CBORValue:
        return list(self.patterns)

    def describe(self) -> list[str]:
        return list(self.patterns)

    def allows(self, agent_id: str) -> bool:
        return any(patterns.agent_matches(p, agent_id) for p in self.patterns)

    def check(self, ctx: CheckContext) -> None:
        for agent_id in ctx.later_agents:
            if not self.allows(agent_id):
                raise CaveatFailed(
                    Code.DELEGATEE_NOT_ALLOWED,
                    f"agent {agent_id!r} matches none of {list(self.patterns)}",
                )

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(Delegatees):
            for mine in self.patterns:
                if not any(patterns.agent_covers(o, mine) for o in other.patterns):
                    allowed = list(other.patterns)
                    raise NotNarrowing(f"delegatee {mine!r} is not inside the token's {allowed}")
