"""``delegation.testing.strategies``: chains come with their holders' keys, delegated chains
have exactly the hops asked for, approvals verify, and the hooks reach the draws."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import AgentKey, Code, Request
from delegation.caveats import Caveat, Hop, MaxUses
from delegation.testing.strategies import (
    Approval,
    Chain,
    agents,
    approvals,
    chains,
    child_scopes,
    delegated_chains,
    requests,
)
from delegation.testing.world import ROOT, codes, new_verifier


@settings(max_examples=30)
@given(chains(4))
def test_each_token_of_a_chain_comes_with_its_holders_key(chain: Chain) -> None:
    assert len(chain.tokens) == len(chain.keys)
    for token, key in zip(chain.tokens, chain.keys, strict=True):
        assert token.holder.public_key == key.public_key


@settings(max_examples=20)
@given(st.integers(0, 16).flatmap(lambda d: st.tuples(st.just(d), delegated_chains(d))))
def test_a_delegated_chain_has_exactly_its_hops_and_the_holder_proves(
    drawn: tuple[int, Chain],
) -> None:
    hops, chain = drawn
    assert sum(isinstance(c, Hop) for c in chain.last.unsafe_caveats()) == hops
    request = Request(audience="crm", tool="t.read", action="read")
    decision = new_verifier().verify(chain.last.encode(), request, chain.prove(request))
    assert Code.BAD_HOP not in codes(decision)
    assert Code.POP_INVALID not in codes(decision)


@settings(max_examples=20)
@given(approvals())
def test_an_approval_discharge_serves_its_token_and_call(approval: Approval) -> None:
    chain = Chain((approval.token,), (approval.key,))
    decision = new_verifier().verify(
        approval.token.encode(),
        approval.request,
        chain.prove(approval.request),
        discharges=[approval.discharge],
    )
    assert not {Code.APPROVAL_REQUIRED, Code.BAD_DISCHARGE, Code.WRONG_CHAIN} & set(codes(decision))


@given(agents())
def test_agents_come_with_their_private_key(drawn: tuple[object, AgentKey]) -> None:
    agent, key = drawn
    assert getattr(agent, "public_key", None) == key.public_key


def _always_max_uses(parent: Sequence[Caveat]) -> st.SearchStrategy[Sequence[Caveat]]:
    return st.just([MaxUses(5)])


@settings(max_examples=10)
@given(child_scopes(ROOT.unsafe_caveats(), _always_max_uses))
def test_the_extra_hook_adds_its_caveats_to_a_scope(scope: object) -> None:
    assert getattr(scope, "extra", None) == (MaxUses(5),)


@settings(max_examples=20)
@given(requests((), {"amount": st.integers(0, 10)}))
def test_the_args_hook_draws_its_arguments(request: Request) -> None:
    assert "amount" not in request.args or isinstance(request.args["amount"], int)
