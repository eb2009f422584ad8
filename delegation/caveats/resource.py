"""Resource: the request's resource matches one of these patterns, segment by segment.

See :mod:`delegation._patterns` for the grammar. A request without a resource, or with one
that is not canonical (percent-encoding, dot segments, empty segments), matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from delegation import _patterns as patterns
from delegation._cbor import CBORValue
from delegation._patterns import Resource
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, MalformedToken, NotNarrowing, PatternError


def _parse_pattern(text: str) -> Resource:
    return patterns.parse_resource(text, pattern=True)


_read_pattern = _body.pattern_checked(_parse_pattern)


@dataclass(frozen=True, slots=True)
class ResourceCaveat(Caveat):
    type_id: ClassVar[int] = 5
    name: ClassVar[str] = "resource"

    patterns: tuple[str, ...]
    _parsed: tuple[Resource, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.patterns, str):  # one text would be split into its characters
            raise MalformedToken("resource takes a sequence of texts, not one text")
        values = _body.sorted_set(
            _body.canonical_set(self.patterns, "resource"), "resource", _read_pattern
        )
        object.__setattr__(self, "patterns", values)
        object.__setattr__(self, "_parsed", tuple(_parse_pattern(p) for p in values))

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        # Read once, as _NameSet.from_body does: the reader checks what __post_init__ would.
        patterns_ = _body.sorted_set(body, "resource", _read_pattern)
        caveat = object.__new__(cls)
        object.__setattr__(caveat, "patterns", patterns_)
        object.__setattr__(caveat, "_parsed", tuple(_parse_pattern(p) for p in patterns_))
        return caveat

    def to_body(self) -> CBORValue:
        return list(self.patterns)

    def describe(self) -> list[str]:
        return list(self.patterns)

    def check(self, ctx: CheckContext) -> None:
        resource = ctx.request.resource
        if resource is None:
            raise CaveatFailed(Code.RESOURCE_NOT_ALLOWED, "the request names no resource")
        try:
            parsed = patterns.parse_resource(resource)
        except PatternError as exc:  # matches nothing, so no encoding trick reaches a sibling
            raise CaveatFailed(Code.RESOURCE_NOT_ALLOWED, f"{exc}; it matches no pattern") from exc
        if not any(patterns.resource_matches(p, parsed) for p in self._parsed):
            raise CaveatFailed(
                Code.RESOURCE_NOT_ALLOWED,
                f"resource {resource!r} matches none of {list(self.patterns)}",
            )

    def allows(self, resource: str) -> bool:
        """Would a request for ``resource`` pass this caveat?"""
        try:
            parsed = patterns.parse_resource(resource)
        except PatternError:
            return False
        return any(patterns.resource_matches(p, parsed) for p in self._parsed)

    def check_narrows(self, parent: ParentView) -> None:
        for _, other in parent.of_type(ResourceCaveat):
            for text, mine in zip(self.patterns, self._parsed, strict=True):
                if not any(patterns.resource_covers(o, mine) for o in other._parsed):
                    allowed = list(other.patterns)
                    raise NotNarrowing(f"resource {text!r} is not inside the token's {allowed}")
