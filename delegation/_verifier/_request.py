"""Steps 6-9 on a verified chain: the request, the verifier's clock and the state's one answer.

Everything that needs no state is checked first, then the verifier's policy (step 8a) for a
call nothing else denied; then one :meth:`State.check` answers revocation, the proof's nonce
and the spending of uses and approvals together, spending nothing for a call with a reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import NamedTuple

from delegation import _crypto
from delegation._decision import Balance, PolicyResult, Reason
from delegation._proof import parse as parse_proof
from delegation._proof import replay_key
from delegation._request import Request
from delegation._thirdparty.discharges import Approval, check_discharges
from delegation._verifier._chain import VerifiedChain
from delegation._verifier._policy import ask_policy
from delegation.caveats import Registry
from delegation.caveats.registry import CheckContext, check_caveat
from delegation.errors import Code, TokenError
from delegation.limits import CLOCK_SKEW_SECONDS, POP_MAX_AGE_SECONDS, RESERVATION_SECONDS
from delegation.policy._model import Policy
from delegation.stores import (
    Charge,
    Hold,
    NonceClaim,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)

log = logging.getLogger("delegation")


class Outcome(NamedTuple):
    """Steps 6-9's answer: the reasons to deny, in step order (none: allowed), the chain's
    budgets as the state left them, the reservation an allow holds, and what the policy said
    (None: not asked)."""

    reasons: tuple[Reason, ...]
    budgets: tuple[Balance, ...] = ()
    reservation: str | None = None
    policy: PolicyResult | None = None


_ALLOWED = Outcome(())


def authorize(
    chain: VerifiedChain,
    registry: Registry,
    state: State | None,
    request: Request,
    proof: str | None,
    discharges: Sequence[str],
    at: int,
    reserve: bool = False,
    policy: Policy | None = None,
) -> Outcome:
    """Steps 6-9, with the policy (step 8a) when there is one.

    The nonce is claimed only for a proof whose signature verified; the policy is asked only
    when steps 7-8 found nothing; uses are counted, budgets charged and approvals spent only
    when nothing else failed, the policy included.
    """
    reasons = check_caveats(chain, request, at)
    if discharges or chain.third_party:
        discharge_reasons, approvals = check_discharges(registry, chain, request, discharges, at)
        reasons += discharge_reasons
    else:
        approvals = []
    proof_reasons, nonce = check_proof(chain, request, proof, at)
    reasons += proof_reasons
    said: PolicyResult | None = None
    refused: list[Reason] = []
    if policy is not None and not reasons:
        objection, said = ask_policy(policy, chain, request, approvals, at)
        refused = [] if objection is None else [objection]
    counted = not reasons and not refused
    spend = limits(chain, approvals) if counted and (chain.use_limits or approvals) else []
    charges = charges_of(chain, request) if counted and chain.budgets else []
    if state is None:
        if spend or charges:
            return Outcome((state_required(chain, approvals),), policy=said)
        return Outcome((*reasons, *refused), policy=said)
    hold = None
    if reserve and charges:
        hold = Hold(os.urandom(16), at + RESERVATION_SECONDS)
    query = StateQuery(chain._revocations, nonce, spend, charges, hold)
    outcome = ask_state(state, chain, approvals, query, reasons, at, refused)
    return outcome if said is None else outcome._replace(policy=said)


def check_caveats(chain: VerifiedChain, request: Request, now: int) -> list[Reason]:
    """Step 7's first-party caveats, each in the context of its place in the chain.

    When the chain's collapsed scope allows the call, only the caveats it does not collapse
    are checked one by one; otherwise every caveat is, so each failure is named."""
    checks = chain._rest if chain._scope.allows(request, now) else chain._checks
    if not checks:
        return []
    holder, digests, later = chain.holder.public_key, chain.prefix_digests, chain._later_agents
    contexts: dict[int, CheckContext] = {}
    reasons = []
    for index, segment, cav in checks:
        ctx = contexts.get(segment)
        if ctx is None:
            ctx = CheckContext(request, now, segment, later[segment], holder, digests)
            contexts[segment] = ctx
        failed = check_caveat(cav, ctx)
        if failed is not None:
            reasons.append(Reason(failed.code, failed.detail, segment, index))
    return reasons


def check_proof(
    chain: VerifiedChain, request: Request, proof: str | None, now: int
) -> tuple[list[Reason], NonceClaim | None]:
    """Step 8 but the nonce: the reasons, or the nonce to claim for a proof that verified."""
    if proof is None:
        reason = Reason(Code.POP_REQUIRED, "a proof of possession by the holder is required")
        return [reason], None
    try:
        issued_at, nonce, signature = parse_proof(proof)
    except TokenError:
        return [Reason(Code.POP_INVALID, "the proof of possession is malformed")], None
    if issued_at > now + CLOCK_SKEW_SECONDS:
        return [Reason(Code.POP_INVALID, "the proof is dated in the future")], None
    if now - issued_at > POP_MAX_AGE_SECONDS:
        return [Reason(Code.POP_INVALID, "the proof is too old; sign a fresh one")], None
    holder = chain.agents[-1].public_key
    message = _crypto.pop_message(chain._token_digest, request.digest(), issued_at, nonce)
    if not _crypto.ed25519_verify(holder, signature, message):
        detail = "the proof is not the holder's signature over this token and request"
        return [Reason(Code.POP_INVALID, detail)], None
    expires = issued_at + POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
    return [], NonceClaim(replay_key(holder, nonce), expires)


def limits(chain: VerifiedChain, approvals: list[Approval]) -> list[UseLimit]:
    """Step 9's limits: every max_uses caveat in token order, then every approval used."""
    out = [
        UseLimit(chain.prefix_digests[limit.caveat + 1], limit.uses, limit.keep_until)
        for limit in chain.use_limits
    ]
    out += [UseLimit(a.key, 1, a.keep_until) for a in approvals]
    return out


def charges_of(chain: VerifiedChain, request: Request) -> list[Charge]:
    """Step 9's charges: every budget caveat in token order, at this call's cost (which step 7
    found readable and within each budget's per-call maximum)."""
    return [
        Charge(
            chain.prefix_digests[place.caveat + 1],
            place.budget.unit,
            place.budget.total,
            place.budget.cost_of(request.args),
            place.keep_until,
        )
        for place in chain.budgets
    ]


def ask_state(
    state: State,
    chain: VerifiedChain,
    approvals: list[Approval],
    query: StateQuery,
    reasons: list[Reason],
    now: int,
    refused: Sequence[Reason] = (),
) -> Outcome:
    """Steps 6, 8 (the nonce) and 9 in one question; ``reasons`` are steps 7-8's, ``refused``
    step 8a's (the policy's), reported after the proof's replay."""
    charges = query.charges
    try:
        answer = state.check(query, now)
        if not isinstance(answer, StateAnswer) or not (
            (answer.exhausted is None or 0 <= answer.exhausted < len(query.spend))
            and (answer.over_budget is None or 0 <= answer.over_budget < len(charges))
            and len(answer.spent) in (0, len(charges))
        ):
            raise TypeError("the state answered something that is not a StateAnswer")
    except Exception as exc:  # any store failure denies; it takes step 6's place
        return Outcome((store_failure(exc), *reasons, *refused))
    if (
        answer.revoked is None
        and not answer.replayed
        and not reasons
        and not refused
        and answer.exhausted is None
        and answer.over_budget is None
        and not answer.spent
    ):
        return _ALLOWED  # nothing to report, and no budget charged
    out = []
    if answer.revoked is not None:
        hit = answer.revoked
        out.append(Reason(Code.REVOKED, f"the token was revoked ({hit.kind} {hit.value})"))
    out += reasons
    if answer.replayed:
        out.append(Reason(Code.REPLAY, "this proof has been used before"))
    out += refused
    if not out and answer.exhausted is not None:
        out.append(exhausted(chain, approvals, answer.exhausted))
    elif not out and answer.over_budget is not None:
        out.append(over_budget(chain, charges, answer.spent, answer.over_budget))
    if not answer.spent or (out and answer.exhausted is None and answer.over_budget is None):
        return Outcome(tuple(out))
    balances = tuple(
        Balance(c.unit, c.total, 0 if out else c.amount, spent, place.segment, place.caveat)
        for c, spent, place in zip(charges, answer.spent, chain.budgets, strict=True)
    )
    held = None if out or query.hold is None else query.hold.reservation.hex()
    return Outcome(tuple(out), balances, held)


def over_budget(
    chain: VerifiedChain, charges: Sequence[Charge], spent: Sequence[int], index: int
) -> Reason:
    """The reason for the first budget the state found without room for the call."""
    place, charge = chain.budgets[index], charges[index]
    left = max(0, charge.total - spent[index])
    detail = (
        f"the {charge.unit} budget has {left} of {charge.total} left; "
        f"the call costs {charge.amount}"
    )
    return Reason(Code.BUDGET_EXCEEDED, detail, place.segment, place.caveat)


def exhausted(chain: VerifiedChain, approvals: list[Approval], index: int) -> Reason:
    """The reason for the first limit the state found spent."""
    if index < len(chain.use_limits):
        limit = chain.use_limits[index]
        detail = (
            "the token's single use is spent"
            if limit.uses == 1
            else f"all {limit.uses} uses are spent"
        )
        return Reason(Code.USES_EXHAUSTED, detail, limit.segment, limit.caveat)
    spent = approvals[index - len(chain.use_limits)]
    detail = "this approval has already been used for a call"
    return Reason(Code.REPLAY, detail, spent.segment, spent.caveat)


def state_required(chain: VerifiedChain, approvals: list[Approval]) -> Reason:
    """Step 9 at a verifier without state: at the first limit or budget it cannot keep."""
    if chain.use_limits:
        limit = chain.use_limits[0]
        detail = (
            "the token limits its uses (max_uses): counting them needs shared state, and "
            "this verifier has none"
        )
        return Reason(Code.STATE_REQUIRED, detail, limit.segment, limit.caveat)
    if chain.budgets:
        place = chain.budgets[0]
        detail = (
            f"the token has a {place.budget.unit} budget: keeping its balance needs shared "
            "state, and this verifier has none"
        )
        return Reason(Code.STATE_REQUIRED, detail, place.segment, place.caveat)
    first = approvals[0]
    detail = (
        "the call spends an approval, which is good for one call: recording that needs "
        "shared state, and this verifier has none"
    )
    return Reason(Code.STATE_REQUIRED, detail, first.segment, first.caveat)


def store_failure(exc: Exception) -> Reason:
    """The reason for a state that did not answer: its category, never its message (which a
    third-party store may fill with a host name or worse)."""
    if isinstance(exc, StoreUnavailable) and isinstance(exc.reason, UnavailableReason):
        why = exc.reason.value
    else:
        log.exception("the state store failed")
        why = "error"
    return Reason(Code.STORE_UNAVAILABLE, f"the state store cannot answer ({why})")
