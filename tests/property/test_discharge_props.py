"""Law: a discharge verifies with the token it was bound to and with no other.

Random trees of attenuations, delegations and holder-added third-party caveats grow under an
issuer token that needs a human approval for every call. The discharges one node gets
(bound to it) must fail with every other node: parent, child, sibling, cousin.
Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import (
    Code,
    MemoryState,
    Request,
    Scope,
    UnverifiedToken,
    Verifier,
    prove_for_approval,
)
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY, ThirdPartyCaveat
from delegation.testing.fixtures import approver_key
from delegation.testing.world import KEYRING, holder_key, mint_root, proof_for
from tests.conftest import NOW
from tests.property.test_revocation_props import descends, grow_tree

APPROVER = Approver(approver_key(0x51))
"""The issuer's approval service. TEST FIXTURE ONLY."""
THIRD = Approver(approver_key(0x53))
"""A third party holders add on their own. TEST FIXTURE ONLY."""

REQUEST = Request(audience="crm", tool="crm.read", action="read", args={"q": 1})
ROOT_SCOPE = Scope(audiences=["crm"], tools=["crm.read"], expires=NOW + 3600)
DENIALS = frozenset({Code.BAD_DISCHARGE, Code.APPROVAL_REQUIRED, Code.DISCHARGE_REQUIRED})


def restrict(token: UnverifiedToken, _: int) -> UnverifiedToken:
    """A holder adds a third-party caveat of its own (every call needs THIRD's discharge)."""
    return require_approval(token, THIRD.public_key, purpose=PURPOSE_THIRD_PARTY)


def discharges_for(token: UnverifiedToken) -> list[str]:
    """Every discharge ``token`` needs for REQUEST, from the right service, bound to it: the
    issuer's approval asked for by the holder, THIRD's for each of its bare caveat ids."""
    asked = prove_for_approval(token, holder_key(token), REQUEST, now=NOW)
    out = [
        bind_discharge(token, APPROVER.approve(pending, now=NOW))
        for pending in APPROVER.pending(token, REQUEST, asked, now=NOW)
    ]
    for raw, caveat in zip(token.raw.caveats, token.unsafe_caveats(), strict=True):
        if isinstance(caveat, ThirdPartyCaveat) and caveat.third_party == THIRD.public_key:
            out.append(bind_discharge(token, THIRD.discharge_ticket(raw.cid, None, now=NOW)))
    return out


def codes_of(token: UnverifiedToken, discharges: list[str]) -> set[Code]:
    """Codes from a fresh verifier: approvals are single use, and this law is about binding."""
    verifier = Verifier(KEYRING, state=MemoryState(), clock=lambda: NOW)
    proof = proof_for(token, REQUEST)
    decision = verifier.verify(token, REQUEST, proof, discharges=discharges)
    return {r.code for r in decision.reasons}


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_discharge_verifies_only_with_its_own_token(data: st.DataObject) -> None:
    root = require_approval(mint_root(ROOT_SCOPE), APPROVER.public_key)
    nodes = grow_tree(data, root, max_nodes=6, extra_ops={"restrict": restrict})
    target = data.draw(st.integers(0, len(nodes) - 1), label="target")
    target_token = nodes[target].token
    texts = discharges_for(target_token)
    assert codes_of(target_token, texts) == set()
    for i, node in enumerate(nodes):
        same = node.token.token_bytes == target_token.token_bytes
        if same:
            continue
        relation = (
            "descendant"
            if descends(node.token, target_token)
            else "ancestor"
            if descends(target_token, node.token)
            else "other"
        )
        event(relation)
        # All of the target's discharges together, and each one on its own (with the
        # node's own correct discharges for every other caveat), never verify.
        found = codes_of(node.token, texts)
        assert found, (i, relation)
        assert found <= DENIALS, (i, relation, found)
        assert Code.BAD_DISCHARGE in found, (i, relation, found)
        own = discharges_for(node.token)
        for k, text in enumerate(texts):
            mixed = [text if j == k else d for j, d in enumerate(own)]
            if k >= len(own):
                mixed = [*own, text]
            found = codes_of(node.token, mixed)
            assert found, (i, k, relation)
            assert Code.BAD_DISCHARGE in found, (i, k, relation, found)
        # Sanity: the node's own discharges do work for it.
        assert codes_of(node.token, own) == set(), (i, relation)
