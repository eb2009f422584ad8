"""Step 8a: the verifier's policy, asked about a call nothing else denied (``specs/policy.md``).

The policy sees a :class:`~delegation.policy.PolicyInput` built here from the verified chain's
public facts, and can only add a reason: ``policy_denied`` for a refusal, naming the policies
that refused, ``policy_unavailable`` for a policy that cannot answer (whatever it raised or
returned). Nothing here spends anything: the state is asked afterwards, and spends nothing
for a call with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from delegation._decision import PolicyResult, Reason
from delegation._request import Request
from delegation._thirdparty.discharges import Approval
from delegation._verifier._chain import VerifiedChain
from delegation.caveats import Hop, Intent
from delegation.errors import Code
from delegation.policy._model import (
    Narrowed,
    Policy,
    PolicyAgent,
    PolicyApproval,
    PolicyFailure,
    PolicyInput,
    PolicyUnavailable,
    Verdict,
    json_view,
)

log = logging.getLogger("delegation")


def policy_input(
    chain: VerifiedChain, request: Request, approvals: Sequence[Approval], at: int
) -> PolicyInput:
    """The document a policy sees for this call. Raises ValueError for a caveat whose public
    description is not JSON (an application family's), which denies as the policy's error."""
    narrowed: list[list[Narrowed]] = [[] for _ in chain.agents]
    intents: set[str] | None = None
    for index, (segment, cav) in enumerate(chain.caveats):
        if type(cav) is Hop:
            continue
        narrowed[segment].append(Narrowed(index, cav.name, json_view(cav.describe())))
        if segment == 0 and type(cav) is Intent:
            names = set(cav.names)
            intents = names if intents is None else intents & names
    agents = tuple(
        PolicyAgent(link.agent_id, link.public_key, link.hop_id, depth, tuple(narrowed[depth]))
        for depth, link in enumerate(chain.agents)
    )
    by_index = {place.index: place for place in chain.third_party}
    carried = tuple(
        PolicyApproval(
            by_index[a.caveat].caveat.third_party,
            by_index[a.caveat].caveat.location,
            a.segment,
            a.caveat,
        )
        for a in approvals
    )
    return PolicyInput(
        task=chain.task,
        task_intents=None if intents is None else tuple(sorted(intents)),
        chain=agents,
        request=request,
        approvals=carried,
        time=at,
        expires=chain.expires,
        token_id=chain.token_id,
        root_id=chain.root_id,
        key_id=chain.key_id,
    )


def ask_policy(
    policy: Policy,
    chain: VerifiedChain,
    request: Request,
    approvals: Sequence[Approval],
    at: int,
) -> tuple[Reason | None, PolicyResult]:
    """Step 8a: the reason the policy adds (None: it does not object) and what it said."""
    try:
        verdict = policy.evaluate(policy_input(chain, request, approvals, at))
        if not isinstance(verdict, Verdict):
            raise TypeError(f"the policy answered a {type(verdict).__name__}, not a Verdict")
    except PolicyUnavailable as exc:
        reason = exc.reason if isinstance(exc.reason, PolicyFailure) else PolicyFailure.ERROR
        log.warning("the policy cannot answer (%s): %s", reason.value, exc.detail)
        revision = exc.revision if isinstance(exc.revision, str) else None
        return unavailable(reason), PolicyResult(revision)
    except Exception:  # a policy's bug denies, and is logged; its words never reach the caller
        log.exception("the policy failed")
        return unavailable(PolicyFailure.ERROR), PolicyResult(None)
    result = PolicyResult(verdict.revision, verdict.policy_ids)
    if verdict.allowed:
        return None, result
    return denied(verdict), result


def denied(verdict: Verdict) -> Reason:
    """The reason for a policy's refusal: the policies that refused, and what they say."""
    if verdict.policy_ids:
        detail = f"denied by policy {', '.join(verdict.policy_ids)}"
    else:
        detail = "no policy permits this call"
    if verdict.detail:
        detail += f": {verdict.detail}"
    return Reason(Code.POLICY_DENIED, detail)


def unavailable(reason: PolicyFailure) -> Reason:
    return Reason(Code.POLICY_UNAVAILABLE, f"the policy cannot answer ({reason.value})")
