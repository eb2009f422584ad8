"""Hypothesis strategies over small alphabets, so that both allows and denies happen often."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from delegation import (
    ArgConstraint,
    AuthoringError,
    Caveat,
    Request,
    Scope,
    UnverifiedToken,
    _cbor,
    attenuate,
    delegate,
)
from delegation.caveats import (
    Action,
    Args,
    Audience,
    Delegatees,
    Intent,
    ResourceCaveat,
    Tool,
    Validity,
)
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_CBOR_DEPTH, MAX_INT
from tests.conftest import NOW
from tests.property._support import (
    AGENT_NUMBERS,
    AGENTS,
    force_append,
    force_delegate,
    holder_key,
    mint_root,
)

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
AUDIENCES = ("crm", "mail")
TOOLS = ("t.read", "t.write", "t.admin")
ACTIONS = ("read", "write")
INTENTS = ("sum", "upd")
EXPIRIES = (NOW + 100, NOW + 1000, NOW + 10_000)
NOT_BEFORES = (NOW - 100, NOW + 40)
"""Both before every expiry; NOW + 40 is not yet valid at NOW (skew is 30 s) but is at NOW + 50."""
TIMES = (NOW, NOW + 50, NOW + 500, NOW + 5000)
DELEGATEE_PATTERNS = ("agent-1*", "agent-2", "agent-3", "agent-*", "*")
ARG_VALUES: tuple[str | int | bool, ...] = (0, 1, 2, 3, "x", "y", True)
REQUEST_ARG_VALUES: dict[str, tuple[Any, ...]] = {
    "n": (0, 1, 2, 3, "1", True, 1.0, 2.5, None),
    "s": ("x", "y", 1, True),
    "r": ("crm://a", "crm://a/b", "crm://b/a", "crm://a/../b", "crm://a%2Fb", 3),
}


def _subsets(values: tuple[str, ...], min_size: int = 0) -> st.SearchStrategy[tuple[str, ...]]:
    """One draw picks a whole subset: far cheaper for Hypothesis than a list of draws."""
    every = [
        combo
        for size in range(min_size, len(values) + 1)
        for combo in itertools.combinations(values, size)
    ]
    return st.sampled_from(every)


_SEGMENT = st.sampled_from(("a", "b", "c"))
_SEGMENTS_0_2 = st.lists(_SEGMENT, max_size=2)
_SEGMENTS_1_3 = st.lists(_SEGMENT, min_size=1, max_size=3)

RESOURCE_PATTERNS = tuple(
    "crm://" + "/".join([*head, *([tail] if tail else [])] or ["**"])
    for size in range(3)
    for head in itertools.product(("a", "b", "*"), repeat=size)
    for tail in ("", "**", "a", "b")
)
resource_patterns = st.sampled_from(RESOURCE_PATTERNS)
resources = _SEGMENTS_1_3.map(lambda segments: "crm://" + "/".join(segments))


def _in_values() -> list[tuple[str | int | bool, ...]]:
    return [c for size in (1, 2, 3) for c in itertools.combinations(ARG_VALUES, size)]


ARG_CONSTRAINTS = (
    *(ArgConstraint.at_least("n", v) for v in range(4)),
    *(ArgConstraint.at_most("n", v) for v in range(4)),
    *(ArgConstraint.equals(a, v) for a in ("n", "s") for v in ARG_VALUES),
    *(ArgConstraint.one_of(a, vs) for a in ("n", "s") for vs in _in_values()),
    *(ArgConstraint.resource("r", p) for p in RESOURCE_PATTERNS),
)
arg_constraints = st.sampled_from(ARG_CONSTRAINTS)
_ARG_LISTS = st.lists(arg_constraints, max_size=2, unique_by=lambda c: (c.arg, c.op))
_RESOURCE_LISTS = st.lists(resource_patterns, unique=True, max_size=2)
_MAYBE_EXPIRY = st.none() | st.sampled_from(EXPIRIES)
_MAYBE_NOT_BEFORE = st.none() | st.sampled_from(NOT_BEFORES)
_MAYBE_DEPTH = st.none() | st.integers(0, 3)


def _mintable(scope: Scope) -> bool:
    """Mint refuses a scope no call can satisfy (say ``n min 1`` with ``n max 0``)."""
    try:
        mint_root(scope)
    except AuthoringError:
        return False
    return True


root_scopes = st.builds(
    Scope,
    audiences=_subsets(AUDIENCES, min_size=1),
    tools=_subsets(TOOLS),
    actions=_subsets(ACTIONS),
    resources=_RESOURCE_LISTS,
    intents=_subsets(INTENTS),
    args=_ARG_LISTS,
    expires=st.sampled_from(EXPIRIES),
    not_before=_MAYBE_NOT_BEFORE,
    max_depth=_MAYBE_DEPTH,
    delegatees=_subsets(DELEGATEE_PATTERNS),
).filter(_mintable)
"""A random root scope that mint accepts: always an audience and an expiry."""

_CHOICE = st.integers(0, 9)
_NAME_FAMILIES = (
    (Audience, AUDIENCES),
    (Tool, TOOLS),
    (Action, ACTIONS),
    (Intent, INTENTS),
    (Delegatees, DELEGATEE_PATTERNS),
)


@functools.cache
def _nonempty_subsets(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return _subsets(values, min_size=1)


@st.composite
def child_scopes(draw: st.DrawFn, parent: Sequence[Caveat]) -> Scope:
    """A scope to attenuate or delegate ``parent`` with.

    Each field is left alone half the time, narrows what ``parent`` allows four times in ten,
    and is arbitrary (often an attempt to widen) one time in ten. Long chains therefore keep
    allowing something, and widening attempts still come up.
    """
    names: dict[type[Caveat], tuple[str, ...]] = {}
    for family, alphabet in _NAME_FAMILIES:
        current = set(alphabet)
        for cav in parent:
            if isinstance(cav, family):
                current &= set(cav.patterns if isinstance(cav, Delegatees) else cav.names)
        choice = draw(_CHOICE)
        if choice < 5:
            names[family] = ()
        elif choice < 9 and current:
            names[family] = draw(_nonempty_subsets(tuple(sorted(current))))
        else:
            names[family] = draw(_subsets(alphabet))
    sometimes = draw(_CHOICE) >= 5
    return Scope(
        audiences=names[Audience],
        tools=names[Tool],
        actions=names[Action],
        resources=draw(_RESOURCE_LISTS) if draw(_CHOICE) >= 7 else (),
        intents=names[Intent],
        args=draw(_ARG_LISTS) if draw(_CHOICE) >= 7 else (),
        expires=draw(_MAYBE_EXPIRY) if sometimes else None,
        not_before=draw(_MAYBE_NOT_BEFORE) if draw(_CHOICE) >= 8 else None,
        max_depth=draw(_MAYBE_DEPTH) if draw(_CHOICE) >= 7 else None,
        delegatees=names[Delegatees],
    )


def _instantiate(draw: st.DrawFn, pattern: str) -> str:
    """A resource the pattern matches (when it is well formed)."""
    scheme, _, path = pattern.partition("://")
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "**":
            out += draw(_SEGMENTS_0_2)
        elif segment == "*":
            out.append(draw(_SEGMENT))
        else:
            out.append(segment)
    return f"{scheme}://" + "/".join(out or ["a"])


def _pick(
    draw: st.DrawFn, hint: Sequence[Caveat], family: type[Any], alphabet: tuple[str, ...]
) -> str:
    allowed = set(alphabet)
    for cav in hint:
        if isinstance(cav, family):
            allowed &= set(cav.names)
    if allowed and draw(_USUALLY) > 0:
        return draw(st.sampled_from(sorted(allowed)))
    return draw(st.sampled_from(alphabet))


def _satisfying(draw: st.DrawFn, c: ArgConstraint) -> Any:
    if c.op == "eq":
        return c.value
    if c.op == "in":
        assert isinstance(c.value, tuple)
        return draw(st.sampled_from(c.value))
    if c.op == "resource":
        assert isinstance(c.value, str)
        return _instantiate(draw, c.value)
    assert isinstance(c.value, int)
    return draw(st.integers(c.value, 3) if c.op == "min" else st.integers(0, c.value))


_USUALLY = st.integers(0, 7)
"""Nonzero seven times in eight: how often a request follows its hint."""
_REQUEST_RESOURCES = st.none() | resources | st.just("crm://a/../a")
_REQUEST_ARGS = {name: st.sampled_from(values) for name, values in REQUEST_ARG_VALUES.items()}


@st.composite
def requests(draw: st.DrawFn, hint: Sequence[Caveat] = ()) -> Request:
    """A request from the small alphabets, biased (when ``hint`` is given) toward what those
    caveats allow, so that allows are common. The bias only steers; nothing is assumed."""
    args = {}
    for name, values in _REQUEST_ARGS.items():
        if draw(st.booleans()):
            args[name] = draw(values)
    constraints: dict[str, list[ArgConstraint]] = {}
    for cav in hint:
        if isinstance(cav, Args):
            for c in cav.constraints:
                constraints.setdefault(c.arg, []).append(c)
    for name, on_arg in constraints.items():
        candidates = [_satisfying(draw, c) for c in on_arg]
        good = [v for v in candidates if all(c.satisfied_by(v) for c in on_arg)]
        if good and draw(_USUALLY) > 0:
            args[name] = draw(st.sampled_from(good))
    resource = draw(_REQUEST_RESOURCES)
    on_resource = [cav for cav in hint if isinstance(cav, ResourceCaveat)]
    candidates = [_instantiate(draw, p) for cav in on_resource for p in cav.patterns]
    good = [r for r in candidates if all(cav.allows(r) for cav in on_resource)]
    if good and draw(_USUALLY) > 0:
        resource = draw(st.sampled_from(good))
    return Request(
        audience=_pick(draw, hint, Audience, AUDIENCES),
        tool=_pick(draw, hint, Tool, TOOLS),
        action=_pick(draw, hint, Action, ACTIONS),
        resource=resource,
        intent=_pick(draw, hint, Intent, INTENTS) if draw(_USUALLY) > 0 else None,
        args=args,
    )


def times(hint: Sequence[Caveat] = ()) -> st.SearchStrategy[int]:
    """A verification time, biased toward the validity window of ``hint``."""
    fitting = [
        t
        for t in TIMES
        if all(
            (c.expires is None or t < c.expires)
            and (c.not_before is None or t + CLOCK_SKEW_SECONDS >= c.not_before)
            for c in hint
            if isinstance(c, Validity)
        )
    ]
    return st.sampled_from(fitting) | st.sampled_from(TIMES) if fitting else st.sampled_from(TIMES)


def draw_chain(data: st.DataObject, max_steps: int = 3) -> list[UnverifiedToken]:
    """A root token and its descendants, each the previous one attenuated or delegated.

    A step the library refuses as NotNarrowing is sometimes forced anyway (appended to the
    HMAC chain with no authoring check), as a hostile holder would, and otherwise dropped: the
    verifier must never let a child do more than its parent either way.
    """
    chain = [mint_root(data.draw(root_scopes, label="root scope"))]
    used = {1}
    for _ in range(data.draw(st.integers(0, max_steps), label="steps")):
        parent = chain[-1]
        scope = data.draw(child_scopes(parent.unsafe_caveats()), label="scope")
        verb = "delegate" if data.draw(st.booleans(), label="delegate") else "attenuate"
        try:
            if verb == "delegate":
                n = data.draw(st.sampled_from([n for n in AGENT_NUMBERS if n not in used]))
                used.add(n)
                child = delegate(parent, holder_key(parent), AGENTS[n], scope, now=NOW)
            else:
                child = attenuate(parent, scope, now=NOW)
            event(f"{verb} accepted")
        except AuthoringError:  # widening, or no call could satisfy it
            if not data.draw(st.booleans(), label="force it"):
                event(f"{verb} refused and dropped")
                continue
            event(f"{verb} refused and forced")
            hop = force_delegate(parent, AGENTS[n]) if verb == "delegate" else parent
            child = force_append(hop, scope.caveats(NOW))
        chain.append(child)
    return chain


_ints = st.integers(-MAX_INT + 1, MAX_INT - 1)
_leaves = st.one_of(st.booleans(), _ints, st.text(max_size=8), st.binary(max_size=8))


def cbor_values_nested(depth: int) -> st.SearchStrategy[_cbor.CBORValue]:
    """Allowed CBOR values nested at most ``depth`` levels below the top."""
    if depth == 0:
        return _leaves
    inner = cbor_values_nested(depth - 1)
    return st.one_of(
        _leaves,
        st.lists(inner, max_size=3),
        st.dictionaries(st.integers(0, MAX_INT - 1), inner, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    )


cbor_values = cbor_values_nested(MAX_CBOR_DEPTH)
"""Every kind of value the spec allows, nested as deep as it allows."""
