"""A verified chain's scope, collapsed once so that a call that passes costs O(families), not
O(caveats): the fast path of step 7 (``specs/verification.md``).

Every caveat still applies. :meth:`CollapsedScope.allows` is true only when every collapsed
caveat would pass; the caveats it does not collapse are still checked one by one, and when it
is false the verifier checks every caveat one by one, so a denial names each failed caveat with
its hop and index exactly as before. The collapse is a pure function of the verified caveats:

- validity caveats: the latest ``not_before`` and the earliest ``expires``;
- audience, tool, action and intent: the intersection of each family's name sets;
- resource caveats: one parse of the request's resource per call, and a caveat is dropped when
  another kept caveat implies it (each of the other's patterns is covered by one of its own:
  ``resource_covers``, which is exact), so a chain of narrowing hops keeps its narrowest one.

Anything else (argument constraints, depth and delegatee caveats, application families,
``approved_for``) is left to its own ``check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from delegation import _patterns as patterns
from delegation._request import Request
from delegation.caveats import Action, Audience, Caveat, Intent, ResourceCaveat, Tool, Validity
from delegation.errors import PatternError
from delegation.limits import CLOCK_SKEW_SECONDS

_NAMES = {Audience: 0, Tool: 1, Action: 2, Intent: 3}


@dataclass(frozen=True, slots=True)
class CollapsedScope:
    """What the collapsible caveats of one chain allow, folded together."""

    not_before: int | None
    expires: int | None
    names: tuple[frozenset[str] | None, ...]
    """Audience, tool, action, intent: the names every caveat of the family allows (None: no
    such caveat)."""
    resources: tuple[tuple[patterns.Resource, ...], ...]
    """Pattern sets, each of which the request's resource must match one of."""

    def allows(self, request: Request, now: int) -> bool:
        """True only if every collapsed caveat allows ``request`` at ``now``."""
        if self.expires is not None and now >= self.expires:
            return False
        if self.not_before is not None and now + CLOCK_SKEW_SECONDS < self.not_before:
            return False
        audiences, tools, actions, intents = self.names
        if audiences is not None and request.audience not in audiences:
            return False
        if tools is not None and request.tool not in tools:
            return False
        if actions is not None and request.action not in actions:
            return False
        if intents is not None and request.intent not in intents:
            return False
        if self.resources:
            if request.resource is None:
                return False
            try:
                parsed = patterns.parse_resource(request.resource)
            except PatternError:
                return False
            matches = patterns.resource_matches
            for group in self.resources:
                for pattern in group:
                    if matches(pattern, parsed):
                        break
                else:
                    return False
        return True


def collapse(
    checks: Sequence[tuple[int, int, Caveat]],
) -> tuple[CollapsedScope, tuple[tuple[int, int, Caveat], ...]]:
    """The collapsed scope of ``checks`` (index, segment, caveat), and the checks it leaves."""
    not_before: int | None = None
    expires: int | None = None
    names: list[frozenset[str] | None] = [None, None, None, None]
    groups: list[tuple[patterns.Resource, ...]] = []
    rest = []
    for entry in checks:
        cav = entry[2]
        kind = type(cav)
        if kind is Validity:
            nbf, exp = cav.not_before, cav.expires  # type: ignore[attr-defined]
            if nbf is not None and (not_before is None or nbf > not_before):
                not_before = nbf
            if exp is not None and (expires is None or exp < expires):
                expires = exp
        elif kind in _NAMES:
            slot = _NAMES[kind]
            allowed = frozenset(cav.names)  # type: ignore[attr-defined]
            seen = names[slot]
            names[slot] = allowed if seen is None else seen & allowed
        elif kind is ResourceCaveat:
            groups.append(cav._parsed)  # type: ignore[attr-defined]
        else:
            rest.append(entry)
    scope = CollapsedScope(not_before, expires, tuple(names), _narrowest(groups))
    return scope, tuple(rest)


def _implies(narrow: tuple[patterns.Resource, ...], wide: tuple[patterns.Resource, ...]) -> bool:
    """Every resource one of ``narrow``'s patterns matches is matched by one of ``wide``'s."""
    return all(any(patterns.resource_covers(w, n) for w in wide) for n in narrow)


def _narrowest(
    groups: list[tuple[patterns.Resource, ...]],
) -> tuple[tuple[patterns.Resource, ...], ...]:
    """The pattern sets left when each set implied by another kept one is dropped."""
    kept: list[tuple[patterns.Resource, ...]] = []
    for group in groups:
        if group in kept:  # the same set again, as each hop's narrowing often restates it
            continue
        if any(_implies(k, group) for k in kept):
            continue  # a kept set is at least as narrow
        kept = [k for k in kept if not _implies(group, k)]
        kept.append(group)
    return tuple(kept)
