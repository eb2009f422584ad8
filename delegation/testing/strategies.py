"""Hypothesis strategies for ``delegation``: keys, agents, scopes, requests in and out of a
scope, whole chains of tokens with their holders' keys, discharges, and CBOR values.

Values come from small alphabets (three tools, two audiences, resources over the segments
``a``, ``b``, ``c``), so that allows and denials both happen often, and a request drawn for a
token hits its caveats rather than missing them by chance. Every strategy that takes a
``hint`` (the caveats of a token) is biased toward what those caveats allow; the bias only
steers, it assumes nothing.

Application families plug in (``docs/security-kit.md``): ``child_scopes``, ``chains`` and
``draw_chain`` take ``extra``, a strategy of caveats to append in a step (from the parent's
caveats), and ``requests`` takes ``args``, strategies for the arguments your family reads.

Tokens live in the fixed world of :mod:`delegation.testing.world` (its keyring, task, agents
and clock). Every key is a TEST FIXTURE: never use one for anything real. Needs the
``testing`` extra (Hypothesis).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from delegation import _cbor
from delegation._keys import AgentKey
from delegation._proof import _prove, prove_for_approval
from delegation._request import Request
from delegation._task import Agent
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._token import Scope, UnverifiedToken, attenuate, delegate
from delegation.caveats import (
    Action,
    ArgConstraint,
    Args,
    Audience,
    Caveat,
    Delegatees,
    Intent,
    ResourceCaveat,
    Tool,
    Validity,
)
from delegation.errors import AuthoringError
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_CBOR_DEPTH, MAX_HOPS, MAX_INT
from delegation.policy import PolicyFailure, PolicyInput, PolicyUnavailable, Verdict
from delegation.testing.fixtures import NOW, agent_key, approver_key
from delegation.testing.hostile import B64URL, append_caveats
from delegation.testing.world import (
    AGENT_NUMBERS,
    AGENTS,
    KEYS,
    force_delegate,
    holder_key,
    mint_root,
)

__all__ = [
    "ACTIONS",
    "ARG_CONSTRAINTS",
    "AUDIENCES",
    "B64URL",
    "DELEGATEE_PATTERNS",
    "EXPIRIES",
    "INTENTS",
    "RESOURCE_PATTERNS",
    "TIMES",
    "TOOLS",
    "Approval",
    "Chain",
    "Extra",
    "agent_ids",
    "agent_keys",
    "agents",
    "approvals",
    "arg_constraints",
    "cbor_values",
    "cbor_values_nested",
    "chains",
    "child_scopes",
    "delegated_chains",
    "draw_chain",
    "policies",
    "requests",
    "resource_patterns",
    "resources",
    "root_scopes",
    "times",
]
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


Extra = Callable[[Sequence[Caveat]], st.SearchStrategy[Sequence[Caveat]]]
"""A hook for application families: given a parent's caveats, the caveats a step may append
(``Scope.extra``); an empty sequence appends none."""


@st.composite
def child_scopes(draw: st.DrawFn, parent: Sequence[Caveat], extra: Extra | None = None) -> Scope:
    """A scope to attenuate or delegate ``parent`` with.

    Each field is left alone half the time, narrows what ``parent`` allows four times in ten,
    and is arbitrary (often an attempt to widen) one time in ten. Long chains therefore keep
    allowing something, and widening attempts still come up. ``extra`` adds application
    caveats (see ``Extra``).
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
        extra=tuple(draw(extra(parent))) if extra is not None else (),
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
def requests(
    draw: st.DrawFn,
    hint: Sequence[Caveat] = (),
    args: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> Request:
    """A request from the small alphabets, biased (when ``hint`` is given) toward what those
    caveats allow, so that allows are common. The bias only steers; nothing is assumed.

    Arguments ``n``, ``s`` and ``r`` (each present half the time) are drawn from values that
    confuse types (``1``, ``"1"``, ``True``, ``1.0``) and resources (``..``, ``%2F``); ``args``
    adds strategies for arguments an application family reads (each present half the time)."""
    arg_strategies = {**_REQUEST_ARGS, **(args or {})}
    chosen: dict[str, Any] = {}
    for name, values in arg_strategies.items():
        if draw(st.booleans()):
            chosen[name] = draw(values)
    args_out = chosen
    constraints: dict[str, list[ArgConstraint]] = {}
    for cav in hint:
        if isinstance(cav, Args):
            for c in cav.constraints:
                constraints.setdefault(c.arg, []).append(c)
    for name, on_arg in constraints.items():
        candidates = [_satisfying(draw, c) for c in on_arg]
        good = [v for v in candidates if all(c.satisfied_by(v) for c in on_arg)]
        if good and draw(_USUALLY) > 0:
            args_out[name] = draw(st.sampled_from(good))
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
        args=args_out,
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


@dataclass(frozen=True)
class Chain:
    """A root token and its descendants, each the previous one attenuated or delegated.

    ``tokens[0]`` is the root; ``keys[i]`` is the private key of ``tokens[i]``'s holder (a TEST
    FIXTURE), the key that signs its proofs and its next hop."""

    tokens: tuple[UnverifiedToken, ...]
    keys: tuple[AgentKey, ...]

    @property
    def last(self) -> UnverifiedToken:
        return self.tokens[-1]

    @property
    def holder_key(self) -> AgentKey:
        """The key that proves possession of the last token."""
        return self.keys[-1]

    def prove(self, request: Request, *, at: int = NOW, index: int = -1) -> str:
        """A fresh proof of ``request`` by the holder of ``tokens[index]``."""
        return _prove(self.tokens[index], self.keys[index], request, now=at, nonce=_nonce())


_NONCES = itertools.count(1 << 64)


def _nonce() -> bytes:
    return next(_NONCES).to_bytes(16, "big")


@st.composite
def chains(draw: st.DrawFn, max_steps: int = 3, extra: Extra | None = None) -> Chain:
    """A root token (``root_scopes``) and up to ``max_steps`` descendants, each the previous
    one attenuated or delegated (to an agent not yet in the chain) with a ``child_scopes``.

    A step the library refuses (NotNarrowing, or no call could satisfy it) is sometimes forced
    anyway, appended to the HMAC chain with no authoring check as a hostile holder would, and
    otherwise dropped: the verifier must never let a child do more than its parent either way.
    """
    tokens = [mint_root(draw(root_scopes, label="root scope"))]
    used = {1}
    for _ in range(draw(st.integers(0, max_steps), label="steps")):
        parent = tokens[-1]
        scope = draw(child_scopes(parent.unsafe_caveats(), extra), label="scope")
        verb = "delegate" if draw(st.booleans(), label="delegate") else "attenuate"
        n = 0
        try:
            if verb == "delegate":
                n = draw(st.sampled_from([n for n in AGENT_NUMBERS if n not in used]))
                used.add(n)
                child = delegate(parent, holder_key(parent), AGENTS[n], scope, now=NOW)
            else:
                child = attenuate(parent, scope, now=NOW)
            event(f"{verb} accepted")
        except AuthoringError:  # widening, or no call could satisfy it
            if not draw(st.booleans(), label="force it"):
                event(f"{verb} refused and dropped")
                continue
            event(f"{verb} refused and forced")
            hop = force_delegate(parent, AGENTS[n]) if verb == "delegate" else parent
            child = append_caveats(hop, scope.caveats(NOW))
        tokens.append(child)
    return Chain(tuple(tokens), tuple(holder_key(t) for t in tokens))


def draw_chain(
    data: st.DataObject, max_steps: int = 3, extra: Extra | None = None
) -> list[UnverifiedToken]:
    """The tokens of ``data.draw(chains(max_steps, extra))``, root first."""
    return list(data.draw(chains(max_steps, extra)).tokens)


_DEEP_KEYS = tuple(agent_key(f"deep agent {i}") for i in range(1, MAX_HOPS + 2))
"""Keys for chains longer than the world's agents allow (TEST FIXTURES)."""


_HOP_COUNTS = st.integers(1, 4)


def _unbounded(scope: Scope) -> Scope:
    """``scope`` without a depth cap or a delegatee list, so every planned hop can follow."""
    return dataclasses.replace(scope, max_depth=None, delegatees=())


@st.composite
def delegated_chains(draw: st.DrawFn, hops: int | st.SearchStrategy[int] = _HOP_COUNTS) -> Chain:
    """A root token and exactly ``hops`` signed delegations (0 to ``MAX_HOPS``; default 1-4),
    each to a fresh agent with a narrowing scope, sometimes with an attenuation between: every
    token is one the library builds. No depth cap or delegatee list stands in the way of the
    planned hops; ``chains`` draws those. ``keys[-1]`` signs the last token's proofs."""
    count = hops if isinstance(hops, int) else draw(hops)
    if not 0 <= count <= MAX_HOPS:
        raise ValueError(f"a chain has 0 to {MAX_HOPS} hops")
    tokens = [mint_root(_unbounded(draw(root_scopes, label="root scope")))]
    keys = [KEYS[1]]
    for i in range(count):
        parent = tokens[-1]
        scope = _unbounded(draw(child_scopes(parent.unsafe_caveats()), label="scope"))
        key = _DEEP_KEYS[i]
        agent = Agent(f"agent-deep-{i + 1}", key.public_key)
        try:
            child = delegate(parent, keys[-1], agent, scope, now=NOW)
        except AuthoringError:  # the drawn scope widens: delegate with none
            child = delegate(parent, keys[-1], agent, Scope(), now=NOW)
        tokens.append(child)
        keys.append(key)
        if draw(st.integers(0, 3), label="attenuate") == 0:
            narrower = _unbounded(draw(child_scopes(child.unsafe_caveats()), label="scope"))
            try:
                tokens.append(attenuate(child, narrower, now=NOW))
                keys.append(key)
            except AuthoringError:
                pass
    return Chain(tuple(tokens), tuple(keys))


_AGENT_ID_CHARS = "abcxyzABZ019-._:@/+"


def agent_ids() -> st.SearchStrategy[str]:
    """Agent ids (``specs/caveats.md``, agent ids): 1-256 characters from the id alphabet."""
    return st.text(_AGENT_ID_CHARS, min_size=1, max_size=256)


def agent_keys() -> st.SearchStrategy[AgentKey]:
    """Ed25519 agent keys from drawn seeds (TEST FIXTURES: the seed is in the example)."""
    return st.binary(min_size=32, max_size=32).map(AgentKey.from_seed)


def agents() -> st.SearchStrategy[tuple[Agent, AgentKey]]:
    """An agent (its id and public key) with its private key."""
    return st.tuples(agent_ids(), agent_keys()).map(lambda p: (Agent(p[0], p[1].public_key), p[1]))


APPROVER = Approver(approver_key(0x51))
"""The approval service of ``approvals`` (TEST FIXTURE)."""


@dataclass(frozen=True)
class Approval:
    """A token that needs a human approval for ``request``, with the approval discharge its
    holder got (bound to it) and the holder's key."""

    token: UnverifiedToken
    request: Request
    discharge: str
    key: AgentKey
    approver: Approver


@st.composite
def approvals(draw: st.DrawFn, max_steps: int = 2) -> Approval:
    """A root token (``root_scopes``) that needs ``APPROVER``'s approval for every call, up to
    ``max_steps`` attenuations or delegations the library accepts, a request of the last
    holder's, and the approval discharge the approver signs for it, bound to the last token.
    The discharge is good for one call: verify it with fresh state."""
    token = require_approval(mint_root(draw(root_scopes)), APPROVER.public_key)
    used = {1}
    for _ in range(draw(st.integers(0, max_steps), label="steps")):
        scope = draw(child_scopes(token.unsafe_caveats()), label="scope")
        try:
            if draw(st.booleans(), label="delegate"):
                n = draw(st.sampled_from([n for n in AGENT_NUMBERS if n not in used]))
                used.add(n)
                token = delegate(token, holder_key(token), AGENTS[n], scope, now=NOW)
            else:
                token = attenuate(token, scope, now=NOW)
        except AuthoringError:
            continue
    key = holder_key(token)
    request = draw(requests(token.unsafe_caveats()))
    asked = prove_for_approval(token, key, request, now=NOW)
    pending = APPROVER.pending(token, request, asked, now=NOW)
    discharge = bind_discharge(token, APPROVER.approve(pending[0], now=NOW))
    return Approval(token, request, discharge, key, APPROVER)


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


class ScriptedPolicy:
    """A policy (``delegation.policy.Policy``) that answers as it was drawn, whatever the call:
    allow (naming ``ids`` as the permitting policies), deny (naming ``ids``), raise
    ``PolicyUnavailable`` for ``reason``, raise another exception, or return something that is
    not a Verdict. It counts the calls it was asked about."""

    def __init__(self, mode: str, ids: tuple[str, ...], reason: PolicyFailure) -> None:
        self.mode, self.ids, self.reason = mode, ids, reason
        self.asked = 0

    def evaluate(self, document: PolicyInput) -> Verdict:
        self.asked += 1
        if self.mode == "allow":
            return Verdict.allow("scripted", self.ids)
        if self.mode == "deny":
            return Verdict.deny("scripted", self.ids, "scripted refusal")
        if self.mode == "unavailable":
            raise PolicyUnavailable(self.reason, "scripted", "scripted")
        if self.mode == "raise":
            raise RuntimeError("a scripted bug")
        return "allow"  # type: ignore[return-value]  # not a Verdict: must deny

    def __repr__(self) -> str:
        return f"ScriptedPolicy({self.mode!r}, {self.ids!r}, {self.reason.value!r})"


POLICY_MODES = ("allow", "deny", "unavailable", "raise", "junk")


@st.composite
def policies(draw: st.DrawFn) -> ScriptedPolicy:
    """A policy for the policy hook's laws (``tests/property/test_policy_props.py``): any
    answer a policy can give, a well-formed one or not."""
    mode = draw(st.sampled_from(POLICY_MODES), label="policy answers")
    ids = draw(st.lists(st.sampled_from(("p-a", "p-b", "p-c")), unique=True, max_size=3))
    reason = draw(st.sampled_from(tuple(PolicyFailure)))
    return ScriptedPolicy(mode, tuple(ids), reason)
