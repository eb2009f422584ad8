"""Law: the verifier decides as the reference model (``delegation.testing.model``) says.

The model is ``specs/caveats.md`` transcribed plainly, one function per family, with no code of
the verifier's. On random chains (attenuations, delegations, forced widenings), long chains of
signed hops, and tokens needing an approval that is not given, with random requests and
times, the verifier's decision and its reason codes, in order, are the model's. Keys are TEST
FIXTURES ONLY.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import MemoryState, Verifier, require_approval
from delegation.testing.fixtures import approver_key
from delegation.testing.model import agrees, allowed_by, verifier_agrees_with_model
from delegation.testing.strategies import Chain, delegated_chains, requests, times
from delegation.testing.world import KEYRING, no_internal_errors


def _check(chain: Chain, data: st.DataObject) -> None:
    token = chain.last
    request = data.draw(requests(token.unsafe_caveats()), label="request")
    at = data.draw(times(token.unsafe_caveats()), label="time")
    answer = allowed_by(token, request, at)
    assert answer.modelled, answer.not_modelled
    verifier = Verifier(KEYRING, state=MemoryState(), clock=lambda: at)
    with no_internal_errors():
        decision = verifier.verify(token.encode(), request, chain.prove(request, at=at))
    event("allowed" if decision.allowed else "denied")
    assert agrees(decision, answer), (decision.reasons, answer)


@settings(max_examples=400)
@given(st.data())
def test_the_verifier_decides_as_the_model_on_random_chains(data: st.DataObject) -> None:
    verifier_agrees_with_model(data, max_steps=4)


@settings(max_examples=60)
@given(delegated_chains(st.integers(0, 16)), st.data())
def test_the_verifier_decides_as_the_model_on_long_delegation_chains(
    chain: Chain, data: st.DataObject
) -> None:
    _check(chain, data)


@settings(max_examples=60)
@given(delegated_chains(st.integers(0, 3)), st.sampled_from([(), ("t.read",)]), st.data())
def test_a_third_party_caveat_without_its_discharge_is_decided_as_the_model_says(
    chain: Chain, rules: tuple[str, ...], data: st.DataObject
) -> None:
    token = require_approval(chain.last, approver_key(0x51).public_key, rules=rules)
    _check(Chain((token,), (chain.holder_key,)), data)
