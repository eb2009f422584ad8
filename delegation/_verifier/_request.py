"""Steps 6-9 on a verified chain: the request, the verifier's clock and the state's one answer.

Everything that needs no state is checked first; then one :meth:`State.check` answers
revocation, the proof's nonce and the spending of uses and approvals together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from delegation import _crypto
from delegation._decision import Reason
from delegation._proof import Proof
from delegation._request import Request
from delegation._thirdparty.discharges import Approval, check_discharges
from delegation._verifier._chain import VerifiedChain
from delegation.caveats import Registry
from delegation.caveats.registry import CheckContext, check_caveat
from delegation.errors import Code, TokenError
from delegation.limits import CLOCK_SKEW_SECONDS, POP_MAX_AGE_SECONDS
from delegation.stores import (
    NonceClaim,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)

log = logging.getLogger("delegation")


def authorize(
    chain: VerifiedChain,
    registry: Registry,
    state: State | None,
    request: Request,
    proof: str | None,
    discharges: Sequence[str],
    at: int,
) -> tuple[Reason, ...]:
    """Steps 6-9; the reasons to deny, in step order (none: allowed).

    The nonce is claimed only for a proof whose signature verified; uses are counted and
    approvals spent only when nothing else failed.
    """
    reasons = check_caveats(chain, request, at)
    discharge_reasons, approvals = check_discharges(registry, chain, request, discharges, at)
    reasons += discharge_reasons
    proof_reasons, nonce = check_proof(chain, request, proof, at)
    reasons += proof_reasons
    spend = [] if reasons else limits(chain, approvals)
    if state is None:
        if spend:
            return (state_required(chain, approvals),)
        return tuple(reasons)
    return tuple(ask_state(state, chain, approvals, nonce, spend, reasons, at))


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
        parsed = Proof.decode(proof)
    except TokenError:
        return [Reason(Code.POP_INVALID, "the proof of possession is malformed")], None
    if parsed.issued_at > now + CLOCK_SKEW_SECONDS:
        return [Reason(Code.POP_INVALID, "the proof is dated in the future")], None
    if now - parsed.issued_at > POP_MAX_AGE_SECONDS:
        return [Reason(Code.POP_INVALID, "the proof is too old; sign a fresh one")], None
    holder = chain.holder.public_key
    message = _crypto.pop_message(
        chain._token_digest, request.digest(), parsed.issued_at, parsed.nonce
    )
    if not _crypto.ed25519_verify(holder, parsed.signature, message):
        detail = "the proof is not the holder's signature over this token and request"
        return [Reason(Code.POP_INVALID, detail)], None
    expires = parsed.issued_at + POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
    return [], NonceClaim(parsed.replay_key(holder), expires)


def limits(chain: VerifiedChain, approvals: list[Approval]) -> list[UseLimit]:
    """Step 9's limits: every max_uses caveat in token order, then every approval used."""
    out = [
        UseLimit(chain.prefix_digests[limit.caveat + 1], limit.uses, limit.keep_until)
        for limit in chain.use_limits
    ]
    out += [UseLimit(a.key, 1, a.keep_until) for a in approvals]
    return out


def ask_state(
    state: State,
    chain: VerifiedChain,
    approvals: list[Approval],
    nonce: NonceClaim | None,
    spend: list[UseLimit],
    reasons: list[Reason],
    now: int,
) -> list[Reason]:
    """Steps 6, 8 (the nonce) and 9 in one question; ``reasons`` are steps 7-8's."""
    query = StateQuery(chain._revocations, nonce, spend)
    try:
        answer = state.check(query, now)
        if not isinstance(answer, StateAnswer) or not (
            answer.exhausted is None or 0 <= answer.exhausted < len(spend)
        ):
            raise TypeError("the state answered something that is not a StateAnswer")
    except Exception as exc:  # any store failure denies; it takes step 6's place
        return [store_failure(exc), *reasons]
    out = []
    if answer.revoked is not None:
        hit = answer.revoked
        out.append(Reason(Code.REVOKED, f"the token was revoked ({hit.kind} {hit.value})"))
    out += reasons
    if answer.replayed:
        out.append(Reason(Code.REPLAY, "this proof has been used before"))
    if not out and answer.exhausted is not None:
        out.append(exhausted(chain, approvals, answer.exhausted))
    return out


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
    """Step 9 at a verifier without state: at the first limit it cannot count."""
    if chain.use_limits:
        limit = chain.use_limits[0]
        detail = (
            "the token limits its uses (max_uses): counting them needs shared state, and "
            "this verifier has none"
        )
        return Reason(Code.STATE_REQUIRED, detail, limit.segment, limit.caveat)
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
