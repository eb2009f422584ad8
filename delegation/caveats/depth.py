"""Max depth: at most N further signed hops after this caveat.

Relative to where it stands, so a delegator can write "my delegatee may delegate once more"
without counting the hops above it. The effective cap is the tightest of all such caveats;
a later one can lower it and never raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation._cbor import CBORValue
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext, ParentView
from delegation.errors import CaveatFailed, Code, NotNarrowing
from delegation.limits import MAX_HOPS


@dataclass(frozen=True, slots=True)
class MaxDepth(Caveat):
    type_id: ClassVar[int] = 8
    name: ClassVar[str] = "max_depth"

    further_hops: int

    def __post_init__(self) -> None:
        _body.integer(self.further_hops, "max_depth", 0, MAX_HOPS)

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        return cls(_body.integer(body, "max_depth", 0, MAX_HOPS))

    def to_body(self) -> CBORValue:
        return self.further_hops

    def check(self, ctx: CheckContext) -> None:
        if len(ctx.later_agents) > self.further_hops:
            raise CaveatFailed(
                Code.DEPTH_EXCEEDED,
                f"{len(ctx.later_agents)} hops follow a cap of {self.further_hops}",
            )

    def check_narrows(self, parent: ParentView) -> None:
        mine = parent.hops + self.further_hops
        for before, other in parent.of_type(MaxDepth):
            if mine > before + other.further_hops:
                raise NotNarrowing(
                    f"max_depth {self.further_hops} would allow more hops than the token's cap"
                )
