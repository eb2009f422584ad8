"""Laws of the policy hook (``specs/policy.md``): a policy can only deny.

- A call the token denies (a caveat, a discharge, the proof) stays denied with any policy, for
  the same reasons, and the policy is not even asked.
- An allow with a policy implies an allow without it, with the same task, agents and budgets.
- A policy that refuses, or cannot answer, spends nothing: the same call right after, without
  the policy, is allowed exactly when it was allowed before (a use, an approval or a budget
  the refusal would have spent is still there).

Over generated chains, calls and times, with scripted policies that give every answer a policy
can give, and with real Cedar and Rego sets over the same document.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import Code, MemoryState, Request, Scope, Verifier, attenuate
from delegation.policy import Policy
from delegation.policy.cedar import CedarPolicy
from delegation.policy.rego import RegoPolicy
from delegation.testing.strategies import chains, policies, requests, times
from delegation.testing.world import KEYRING, NOW, codes, proof_for

CEDAR = CedarPolicy.from_text(
    '@id("base") permit (principal, action, resource);\n'
    '@id("deep") forbid (principal, action == Action::"write", resource) '
    "when { principal.depth >= 1 };\n"
    '@id("mail") forbid (principal, action, resource in Delegation::Audience::"mail");\n'
    '@id("n") forbid (principal, action, resource) '
    "when { context.args has n && context.args.n > 0 };",
    args={"n": "Long"},
)
REGO = RegoPolicy.from_text(
    "package delegation\nimport rego.v1\n"
    'deny contains "deep" if { input.context.depth >= 1; input.request.action == "write" }\n'
    'deny contains "sum" if { input.request.intent == "sum"; input.request.tool == "t.admin" }\n',
    timeout=None,
)
ENGINES: tuple[Policy, ...] = (CEDAR, REGO)


def _verifier(at: int, policy: Policy | None) -> Verifier:
    return Verifier(KEYRING, state=MemoryState(), policy=policy, clock=lambda: at)


@st.composite
def any_policy(draw: st.DrawFn) -> Policy:
    if draw(st.booleans(), label="a real engine"):
        return draw(st.sampled_from(ENGINES))
    policy: Policy = draw(policies())
    return policy


def test_a_policy_can_only_deny() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def law(data: st.DataObject) -> None:
        chain = data.draw(chains())
        hint = chain.last.unsafe_caveats()
        request: Request = data.draw(requests(hint))
        at: int = data.draw(times(hint))
        policy = data.draw(any_policy())
        proof = chain.prove(request, at=at)
        token = chain.last.encode()
        without = _verifier(at, None).verify(token, request, proof)
        with_policy = _verifier(at, policy).verify(token, request, proof)
        if not without.allowed:
            seen["denied by the token"] += 1
            assert not with_policy.allowed
            assert codes(with_policy) == codes(without)
            assert with_policy.policy is None  # not asked
            return
        if with_policy.allowed:
            seen["allowed with the policy"] += 1
            assert without.allowed
            assert (with_policy.task, with_policy.agents) == (without.task, without.agents)
            assert with_policy.budgets == without.budgets
            return
        seen["refused by the policy"] += 1
        event(f"policy: {codes(with_policy)[0]}")
        assert codes(with_policy) in ((Code.POLICY_DENIED,), (Code.POLICY_UNAVAILABLE,))

    law()
    assert seen["denied by the token"] >= 10, seen
    assert seen["allowed with the policy"] >= 10, seen
    assert seen["refused by the policy"] >= 10, seen


def test_a_refusal_spends_nothing() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None)
    @given(data=st.data())
    def law(data: st.DataObject) -> None:
        chain = data.draw(chains())
        hint = chain.last.unsafe_caveats()
        request: Request = data.draw(requests(hint))
        at: int = data.draw(times(hint))
        policy = data.draw(any_policy())
        # A single use: a refusal that counted it would leave the next call uses_exhausted.
        single = attenuate(chain.last, Scope(max_uses=1), now=NOW)
        token = single.encode()
        # One state: the policy's verifier first, then a plain one on the same state.
        state = MemoryState()
        guarded = Verifier(KEYRING, state=state, policy=policy, clock=lambda: at)
        plain = Verifier(KEYRING, state=state, clock=lambda: at)
        first = guarded.verify(token, request, proof_for(single, request, at=at))
        second = plain.verify(token, request, proof_for(single, request, at=at))
        reference = _verifier(at, None).verify(token, request, proof_for(single, request, at=at))
        if first.allowed:
            seen["allowed"] += 1
            return  # an allow spends what the call spends: not this law's business
        seen["denied"] += 1
        if reference.allowed:
            seen["refused, and allowed after"] += 1
        assert second.allowed == reference.allowed, (codes(first), codes(second))
        assert codes(second) == codes(reference)

    law()
    # Not vacuous: about one example in ten is a call the token allows that the policy refuses.
    assert seen["refused, and allowed after"] >= 5, seen
