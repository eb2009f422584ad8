"""What an unverified token's caveats add up to: the view ``inspect`` prints, and the expiry
``attenuate`` and ``delegate`` look at before extending a token.

Every caveat applies to every call, whichever hop added it, so the effective scope is their
intersection: the names every name caveat allows, the resource patterns every resource caveat
covers, the earliest expiry and the latest not-before time. It is read from
``unsafe_caveats()``: a view of what the token claims, never a verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from delegation import UnverifiedToken
from delegation import _patterns as patterns
from delegation.caveats import Action, Args, Audience, Intent, ResourceCaveat, Tool, Validity
from delegation.limits import CLOCK_SKEW_SECONDS

_NameFamily = type[Audience] | type[Tool] | type[Action] | type[Intent]
_NAME_FAMILIES: tuple[tuple[str, _NameFamily], ...] = (
    ("audiences", Audience),
    ("tools", Tool),
    ("actions", Action),
    ("intents", Intent),
)


@dataclass(frozen=True, slots=True)
class EffectiveScope:
    """The intersection of a token's caveats. ``None`` means no caveat of that kind (any);
    an empty tuple means the caveats exclude each other (nothing is allowed)."""

    audiences: tuple[str, ...] | None
    tools: tuple[str, ...] | None
    actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    intents: tuple[str, ...] | None
    args: tuple[str, ...]
    """Every argument constraint, each of which must hold."""
    not_before: int | None
    expires: int | None

    def expired(self, now: int) -> bool:
        """As the verifier's validity check: ``expires`` is exclusive, with no skew."""
        return self.expires is not None and now >= self.expires

    def not_yet_valid(self, now: int) -> bool:
        """As the verifier's validity check: a not-before time tolerates the clock skew."""
        return self.not_before is not None and now + CLOCK_SKEW_SECONDS < self.not_before

    def to_json(self, now: int) -> dict[str, Any]:
        def listed(values: tuple[str, ...] | None) -> list[str] | None:
            return None if values is None else list(values)

        return {
            "audiences": listed(self.audiences),
            "tools": listed(self.tools),
            "actions": listed(self.actions),
            "resources": listed(self.resources),
            "intents": listed(self.intents),
            "args": list(self.args),
            "not_before": self.not_before,
            "expires": self.expires,
            "expired": self.expired(now),
            "not_yet_valid": self.not_yet_valid(now),
        }


def effective_scope(token: UnverifiedToken) -> EffectiveScope:
    """The narrowest scope all of ``token``'s caveats allow together (unverified)."""
    caveats = token.unsafe_caveats()
    names: dict[str, tuple[str, ...] | None] = {}
    for field, family in _NAME_FAMILIES:
        allowed: set[str] | None = None
        for cav in caveats:
            if isinstance(cav, family):
                allowed = set(cav.names) if allowed is None else allowed & set(cav.names)
        names[field] = None if allowed is None else tuple(sorted(allowed))
    validity = [c for c in caveats if type(c) is Validity]
    expiries = [c.expires for c in validity if c.expires is not None]
    starts = [c.not_before for c in validity if c.not_before is not None]
    args = [text for c in caveats if type(c) is Args for text in c.describe()]
    return EffectiveScope(
        resources=_resources([c for c in caveats if type(c) is ResourceCaveat]),
        args=tuple(dict.fromkeys(args)),
        not_before=max(starts, default=None),
        expires=min(expiries, default=None),
        **names,
    )


def _resources(caveats: list[ResourceCaveat]) -> tuple[str, ...] | None:
    """The patterns every resource caveat covers, none inside another listed one.

    Exact for tokens built by ``attenuate`` and ``delegate``, where each pattern lies inside its
    parent's; for other caveat sets it lists what is certainly allowed and may miss overlaps.
    """
    if not caveats:
        return None
    parsed = {p: patterns.parse_resource(p, pattern=True) for c in caveats for p in c.patterns}

    def covered_by_all(text: str) -> bool:
        inner = parsed[text]
        return all(
            any(patterns.resource_covers(parsed[o], inner) for o in c.patterns) for c in caveats
        )

    inside_all = [p for p in sorted(parsed) if covered_by_all(p)]
    widest = [
        p
        for p in inside_all
        if not any(
            o != p
            and patterns.resource_covers(parsed[o], parsed[p])
            and not (patterns.resource_covers(parsed[p], parsed[o]) and o > p)
            for o in inside_all
        )
    ]
    return tuple(widest)
