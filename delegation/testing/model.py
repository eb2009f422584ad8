"""A reference model of what a genuine token allows, written from ``specs/caveats.md``.

The question it answers: given a token whose integrity checked out (steps 1-5 of
``specs/verification.md``: MAC, hop signatures, holder continuity), a request, a time and a
fresh state, should the call be allowed, and if not, with which reason codes, in which order?
It is slow and plain on purpose: one small function per caveat family, each a transcription
of the family's "Check" paragraph, resource and agent patterns matched segment by segment as
the spec words it. It imports nothing of the verifier, the caveats' ``check`` methods or the
pattern matcher; a difference between the two is a bug in one of them.

What it takes from the library, and why:

- the caveat list, as ``UnverifiedToken.unsafe_caveats(registry)`` parses it: decoding bodies
  is not authorization semantics, and the encoding vectors and the ``token`` fuzz harness pin
  it. The model reads only the parsed fields (``names``, ``patterns``, ``constraints``, ...);
- ``Request.digest()`` for the call caveat: the digest is specified in
  ``specs/proof-of-possession.md``, not in the caveat semantics;
- the chain digests it computes itself, from the token's raw bytes (``specs/token-format.md``
  section 7).

What it does not model, and says so: integrity (steps 1-5: feed it genuine tokens, or tokens a
holder extended with a valid MAC, as ``delegation.testing.hostile`` makes), the proof (step 8:
sign one by the holder), revocation, and discharges: a third-party caveat that applies to the
call is modelled only when no discharge is given. State is fresh: a ``max_uses`` caveat allows
the first call (or, with ``stateful=False``, is ``state_required``). A caveat family the model
has no function for (one added to the library after it, such as a new core family, or your
own) makes the answer ``not_modelled``: a differential test skips that example. Add your own
family's function with ``families={type_id: function}`` (``docs/security-kit.md``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from delegation._decision import Decision
from delegation._request import Request
from delegation._thirdparty.caveat import ThirdPartyCaveat
from delegation._token import UnverifiedToken
from delegation._verifier import Verifier
from delegation.caveats import (
    Action,
    ApprovedFor,
    Args,
    ArgsOnly,
    Audience,
    Call,
    Delegatees,
    Hop,
    Intent,
    MaxDepth,
    MaxUses,
    Registry,
    ResourceCaveat,
    Tool,
    UnknownCaveat,
    Validity,
    default_registry,
)
from delegation.errors import Code
from delegation.stores import MemoryState
from delegation.testing.strategies import Extra, chains, requests, times
from delegation.testing.world import KEYRING, no_internal_errors

__all__ = [
    "CORE_MODELS",
    "Answer",
    "FamilyModel",
    "Place",
    "agrees",
    "allowed_by",
    "is_canonical_resource",
    "matches_agent_pattern",
    "matches_resource_pattern",
    "verifier_agrees_with_model",
]


@dataclass(frozen=True)
class Place:
    """Where a caveat stands and what it is checked against (``specs/caveats.md``: "A caveat
    is checked against the request, now, its place in the token ... and the verified chain")."""

    request: Request
    now: int
    hops_before: int
    later_agents: tuple[str, ...]
    """Agent ids of the hops after the caveat, in order."""
    holder_key: bytes
    prefix_digests: tuple[bytes, ...]
    """``D[0..m]`` of the token (``specs/token-format.md`` section 7)."""


FamilyModel = Callable[[Any, Place], Code | None]
"""A family's check as the model states it: the caveat and its place; the code it fails with,
or None when it holds."""


@dataclass(frozen=True)
class Answer:
    """The model's answer. ``codes`` are the reasons in the verifier's order (first-party
    caveats in token order, then third-party caveats in token order); ``allowed`` is True
    exactly when there are none. ``not_modelled`` names what the model cannot judge; when it is
    not empty, ``allowed`` and ``codes`` say nothing."""

    allowed: bool
    codes: tuple[Code, ...]
    not_modelled: tuple[str, ...] = field(default=())

    @property
    def modelled(self) -> bool:
        return not self.not_modelled


# -- resources and agent ids, as specs/caveats.md words them -----------------------------------

_SCHEME_FIRST = "abcdefghijklmnopqrstuvwxyz"
_SCHEME_REST = _SCHEME_FIRST + "0123456789+.-"
_SEGMENT_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()+,;=:@"
)


def _split_resource(text: str) -> tuple[str, list[str]] | None:
    """``(scheme, segments)`` of a resource or pattern, or None if it has neither form."""
    if "://" in text:
        scheme, _, path = text.partition("://")
        if not scheme or len(scheme) > 32 or scheme[0] not in _SCHEME_FIRST:
            return None
        if any(c not in _SCHEME_REST for c in scheme):
            return None
    elif text.startswith("/"):
        scheme, path = "", text[1:]
    else:
        return None
    return scheme, path.split("/")


def is_canonical_resource(text: object) -> bool:
    """A request resource in the grammar: at most 1 024 characters, a scheme or the ``/``
    form, 1-32 segments, each non-empty from the segment alphabet and never ``.`` or ``..``."""
    if not isinstance(text, str) or len(text) > 1024:
        return False
    split = _split_resource(text)
    if split is None:
        return False
    _, segments = split
    if not 1 <= len(segments) <= 32:
        return False
    for segment in segments:
        if segment in ("", ".", ".."):
            return False
        if any(c not in _SEGMENT_CHARS for c in segment):
            return False
    return True


def matches_resource_pattern(pattern: str, resource: str) -> bool:
    """``Match (pattern P, resource R)``: equal schemes; walking P's segments, ``**`` matches
    the rest (even nothing), ``*`` any one segment, a literal only itself; without ``**`` the
    segment counts are equal. A resource outside the grammar matches nothing."""
    if not is_canonical_resource(resource):
        return False
    p, r = _split_resource(pattern), _split_resource(resource)
    if p is None or r is None or p[0] != r[0]:
        return False
    pattern_segments, resource_segments = p[1], r[1]
    for i, segment in enumerate(pattern_segments):
        if segment == "**":
            return True
        if i >= len(resource_segments):
            return False
        if segment != "*" and segment != resource_segments[i]:
            return False
    return len(pattern_segments) == len(resource_segments)


def matches_agent_pattern(pattern: str, agent_id: str) -> bool:
    """``*`` is any agent; ``p*`` any id starting with ``p`` (``p`` included); an id only
    itself."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return agent_id.startswith(pattern[:-1])
    return agent_id == pattern


# -- one function per core family ----------------------------------------------------------------


def _validity(cav: Validity, at: Place) -> Code | None:
    if cav.expires is not None and at.now >= cav.expires:
        return Code.EXPIRED
    if cav.not_before is not None and at.now + 30 < cav.not_before:
        return Code.NOT_YET_VALID
    return None


def _name_in(value: str | None, names: Sequence[str], code: Code) -> Code | None:
    return None if value is not None and value in names else code


def _audience(cav: Audience, at: Place) -> Code | None:
    return _name_in(at.request.audience, cav.names, Code.WRONG_AUDIENCE)


def _tool(cav: Tool, at: Place) -> Code | None:
    return _name_in(at.request.tool, cav.names, Code.TOOL_NOT_ALLOWED)


def _action(cav: Action, at: Place) -> Code | None:
    return _name_in(at.request.action, cav.names, Code.ACTION_NOT_ALLOWED)


def _intent(cav: Intent, at: Place) -> Code | None:
    return _name_in(at.request.intent, cav.names, Code.INTENT_NOT_ALLOWED)


def _resource(cav: ResourceCaveat, at: Place) -> Code | None:
    resource = at.request.resource
    if resource is not None and any(matches_resource_pattern(p, resource) for p in cav.patterns):
        return None
    return Code.RESOURCE_NOT_ALLOWED


def _is_number(value: object) -> bool:
    """An integer or a finite float, never a boolean."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _equal(arg: object, value: object) -> bool:
    """``eq``: the same type and value (``"3"``, ``3.0`` and ``True`` are not ``3``)."""
    return type(arg) is type(value) and arg == value


def _satisfies(arg: object, op: str, value: Any) -> bool:
    if op == "eq":
        return _equal(arg, value)
    if op == "in":
        return any(_equal(arg, v) for v in value)
    if op == "min":
        return _is_number(arg) and arg >= value
    if op == "max":
        return _is_number(arg) and arg <= value
    if op == "resource":
        return isinstance(arg, str) and matches_resource_pattern(value, arg)
    raise ValueError(f"no argument operator {op!r} in specs/caveats.md")


_MISSING = object()


def _args(cav: Args, at: Place) -> Code | None:
    for c in cav.constraints:
        arg = at.request.args.get(c.arg, _MISSING)
        if arg is _MISSING or not _satisfies(arg, str(c.op), c.value):
            return Code.ARGS_NOT_ALLOWED
    return None


def _args_only(cav: ArgsOnly, at: Place) -> Code | None:
    if all(name in cav.names for name in at.request.args):
        return None
    return Code.ARGS_NOT_ALLOWED


def _max_depth(cav: MaxDepth, at: Place) -> Code | None:
    return Code.DEPTH_EXCEEDED if len(at.later_agents) > cav.further_hops else None


def _delegatees(cav: Delegatees, at: Place) -> Code | None:
    for agent_id in at.later_agents:
        if not any(matches_agent_pattern(p, agent_id) for p in cav.patterns):
            return Code.DELEGATEE_NOT_ALLOWED
    return None


def _hop(cav: Hop, at: Place) -> Code | None:
    return None  # checked while the chain is walked (steps 1-5), not per request


def _call(cav: Call, at: Place) -> Code | None:
    return None if at.request.digest() == cav.digest else Code.APPROVAL_REQUIRED


def _max_uses(cav: MaxUses, at: Place) -> Code | None:
    return None  # counted at step 9, after every other check; fresh state allows a first call


def _approved_for(cav: ApprovedFor, at: Place) -> Code | None:
    digests = at.prefix_digests
    if cav.caveats >= len(digests) or digests[cav.caveats] != cav.chain_digest:
        return Code.WRONG_CHAIN
    return None if at.holder_key == cav.holder_key else Code.WRONG_CHAIN


CORE_MODELS: Mapping[int, FamilyModel] = {
    1: _validity,
    2: _audience,
    3: _tool,
    4: _action,
    5: _resource,
    6: _intent,
    7: _args,
    8: _max_depth,
    9: _delegatees,
    10: _hop,
    11: _call,
    12: _max_uses,
    13: _args_only,
    14: _approved_for,
}
"""The model of each core family, by type id (``specs/caveats.md``, "Core families")."""


# -- the whole token -----------------------------------------------------------------------------


def _digests(token: UnverifiedToken) -> tuple[bytes, ...]:
    """``D[0..n]`` as ``specs/token-format.md`` section 7 defines them."""
    raw = token.raw
    identifier = raw.identifier
    out = [
        hashlib.sha256(
            b"delegation/v1/chain\x00" + len(identifier).to_bytes(4, "big") + identifier
        ).digest()
    ]
    for section in raw.caveats:
        tail = b"\x00" if section.vid is None else b"\x01" + len(section.vid).to_bytes(4, "big")
        tail += section.vid or b""
        framed = len(section.cid).to_bytes(4, "big") + section.cid + tail
        out.append(hashlib.sha256(out[-1] + framed).digest())
    return tuple(out)


def allowed_by(
    token: UnverifiedToken,
    request: Request,
    now: int,
    *,
    registry: Registry | None = None,
    families: Mapping[int, FamilyModel] | None = None,
    stateful: bool = True,
    discharges: Sequence[str] = (),
) -> Answer:
    """Should ``token`` (genuine) allow ``request`` at ``now``, with fresh state?

    ``registry`` is the one the verifier uses (its families decode; others are unknown
    caveats). ``families`` adds or replaces family models by type id. Raises MalformedToken if
    a caveat does not parse (then the verifier says ``malformed`` at step 4).
    """
    models = {**CORE_MODELS, **(families or {})}
    caveats = token.unsafe_caveats(registry or default_registry())
    holder = token.identifier.holder.public_key
    agent_after: list[tuple[int, str]] = []  # (index, agent id) of every hop
    for index, cav in enumerate(caveats):
        if isinstance(cav, Hop):
            agent_after.append((index, cav.agent_id))
            holder = cav.public_key
    digests = _digests(token)

    has_audience = any(isinstance(c, Audience) for c in caveats)
    has_expiry = any(isinstance(c, Validity) and c.expires is not None for c in caveats)
    if not (has_audience and has_expiry):
        return Answer(False, (Code.MISSING_CAVEAT,))  # step 5: the token's alg "none"

    first_party: list[Code] = []
    third_party: list[Code] = []
    not_modelled: list[str] = []
    uses = False
    hops_seen = 0
    for index, cav in enumerate(caveats):
        if isinstance(cav, Hop):
            hops_seen += 1
        later = tuple(agent for i, agent in agent_after if i > index)
        place = Place(request, now, hops_seen, later, holder, digests)
        if isinstance(cav, ThirdPartyCaveat):
            if discharges:
                not_modelled.append("discharges")
            elif cav.applies_to(request):
                approval = cav.is_approval
                third_party.append(Code.APPROVAL_REQUIRED if approval else Code.DISCHARGE_REQUIRED)
            continue
        if isinstance(cav, UnknownCaveat):
            first_party.append(Code.UNKNOWN_CAVEAT)  # "A verifier always fails it"
            continue
        model = models.get(cav.type_id)
        if model is None:
            not_modelled.append(f"{cav.name} (type {cav.type_id})")
            continue
        uses = uses or isinstance(cav, MaxUses)
        code = model(cav, place)
        if code is not None:
            first_party.append(code)
    codes = (*first_party, *third_party)
    if not codes and uses and not stateful:
        codes = (Code.STATE_REQUIRED,)
    return Answer(not codes, codes, tuple(not_modelled))


def requests_allowed_by(
    token: UnverifiedToken, now: int, *, registry: Registry | None = None
) -> st.SearchStrategy[Request]:
    """Requests (``strategies.requests``) that the model says ``token`` allows at ``now``:
    inside its scope. May be empty for a token that allows nothing (Hypothesis then reports
    an unsatisfiable filter)."""
    hint = token.unsafe_caveats(registry or default_registry())
    return requests(hint).filter(lambda r: allowed_by(token, r, now, registry=registry).allowed)


def requests_denied_by(
    token: UnverifiedToken, now: int, *, registry: Registry | None = None
) -> st.SearchStrategy[Request]:
    """Requests that the model says ``token`` denies at ``now``: outside its scope."""
    hint = token.unsafe_caveats(registry or default_registry())
    return requests(hint).filter(lambda r: not allowed_by(token, r, now, registry=registry).allowed)


# -- the differential check ----------------------------------------------------------------------


def agrees(decision: Decision, answer: Answer) -> bool:
    """The verifier's decision and the model's answer say the same (when it is modelled)."""
    codes = tuple(reason.code for reason in decision.reasons)
    return decision.allowed == answer.allowed and codes == answer.codes


def verifier_agrees_with_model(
    data: st.DataObject,
    *,
    registry: Registry | None = None,
    families: Mapping[int, FamilyModel] | None = None,
    extra: Extra | None = None,
    args: Mapping[str, st.SearchStrategy[Any]] | None = None,
    max_steps: int = 3,
) -> Answer:
    """The differential property, for a ``@given(st.data())`` test: draw a chain of tokens
    (``strategies.chains``, with ``extra`` appending your family's caveats), a request
    (``strategies.requests``, with ``args`` for the arguments your family reads) and a time;
    verify the last token with its holder's proof and fresh state under ``registry``; and
    fail (AssertionError) unless the decision is the model's answer, codes and order included.
    An example the model does not cover is skipped (an ``event``), not failed. Returns the
    model's answer, so a test can count allows and denials.
    """
    reg = registry if registry is not None else default_registry()
    chain = data.draw(chains(max_steps, extra), label="chain")
    token = chain.last
    caveats = token.unsafe_caveats(reg)
    request = data.draw(requests(caveats, args), label="request")
    at = data.draw(times(caveats), label="time")
    answer = allowed_by(token, request, at, registry=reg, families=families)
    if not answer.modelled:
        event(f"not modelled: {', '.join(answer.not_modelled)}")
        return answer
    verifier = Verifier(KEYRING, state=MemoryState(), registry=reg, clock=lambda: at)
    with no_internal_errors():
        decision = verifier.verify(token.encode(), request, chain.prove(request, at=at))
    event("allowed" if decision.allowed else "denied")
    assert agrees(decision, answer), (
        f"verifier {decision.allowed} {[r.code.value for r in decision.reasons]} != model "
        f"{answer.allowed} {[c.value for c in answer.codes]}\n"
        f"request {request}\nat {at}\ncaveats {token.unsafe_caveats(reg)}"
    )
    return answer
