"""Step 8a, the verifier's policy (``specs/verification.md``, ``specs/policy.md``): asked only
about a call nothing else denies, before anything is spent; it can only deny, and a policy that
cannot answer denies with its own code. Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from delegation import (
    Code,
    MaxUses,
    MemoryState,
    Request,
    Revocation,
    RevocationKind,
    Scope,
    Verifier,
    attenuate,
    bind_discharge,
    delegate,
    encode_public_key,
    prove_for_approval,
    require_approval,
)
from delegation._wire import b64encode
from delegation.caveats import Budget
from delegation.policy import (
    PolicyFailure,
    PolicyInput,
    PolicyUnavailable,
    Verdict,
)
from delegation.stores import StateAnswer, StateQuery
from delegation.testing.fixtures import approver_seed, root_secret
from delegation.testing.strategies import APPROVER
from delegation.testing.world import (
    AGENTS,
    HOP2,
    KEYRING,
    KEYS,
    NOW,
    STORY_REQUEST,
    STORY_SCOPE,
    codes,
    mint_root,
    proof_for,
)


class Recording:
    """A policy that answers ``answer(document)`` and keeps every document it was shown."""

    def __init__(self, answer: Callable[[PolicyInput], Verdict] | None = None) -> None:
        self.answer = answer or (lambda _: Verdict.allow("rev-1"))
        self.documents: list[PolicyInput] = []

    def evaluate(self, document: PolicyInput) -> Verdict:
        self.documents.append(document)
        return self.answer(document)


def refuse(_: PolicyInput) -> Verdict:
    return Verdict.deny("rev-1", ["no-writes"], "writes need a human")


class Spy(MemoryState):
    """A memory state that keeps every query it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[StateQuery] = []

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        self.queries.append(query)
        return super().check(query, now)


def verifier(policy: Any, state: MemoryState | None = None) -> Verifier:
    return Verifier(KEYRING, state=state, policy=policy, clock=lambda: NOW)


def test_an_allowing_policy_allows_and_the_decision_names_its_revision() -> None:
    policy = Recording(lambda _: Verdict.allow("rev-7", ["base"]))
    decision = verifier(policy, MemoryState()).verify(
        HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST)
    )
    assert decision.allowed
    assert decision.policy is not None
    assert (decision.policy.revision, decision.policy.policy_ids) == ("rev-7", ("base",))
    assert len(policy.documents) == 1


def test_a_refusal_is_policy_denied_naming_the_policies_and_their_words() -> None:
    decision = verifier(Recording(refuse), MemoryState()).verify(
        HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST)
    )
    assert codes(decision) == (Code.POLICY_DENIED,)
    reason = decision.reasons[0]
    assert (reason.hop, reason.caveat) == (None, None)
    assert reason.detail == "denied by policy no-writes: writes need a human"
    assert decision.policy is not None
    assert decision.policy.policy_ids == ("no-writes",)
    assert decision.task is not None  # a denial of a genuine token still names it
    nobody = verifier(Recording(lambda _: Verdict.deny("r", [])), None).verify(
        HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST)
    )
    assert nobody.reasons[0].detail == "no policy permits this call"


def test_the_policy_is_not_asked_when_anything_else_denies() -> None:
    policy = Recording(refuse)
    v = verifier(policy, MemoryState())
    wrong_tool = Request(**{**STORY_REQUEST.to_json(), "tool": "t.admin"})
    outside = v.verify(HOP2.encode(), wrong_tool, proof_for(HOP2, wrong_tool))
    no_proof = v.verify(HOP2.encode(), STORY_REQUEST, None)
    stolen = v.verify(HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST, key=KEYS[7]))
    assert codes(outside) == (Code.TOOL_NOT_ALLOWED, Code.TOOL_NOT_ALLOWED)  # two tool caveats
    assert codes(no_proof) == (Code.POP_REQUIRED,)
    assert codes(stolen) == (Code.POP_INVALID,)
    assert policy.documents == []
    assert outside.policy is None


@pytest.mark.parametrize("allow", [True, False])
def test_a_refused_call_spends_nothing_but_its_proof_nonce(allow: bool) -> None:
    token = attenuate(mint_root(STORY_SCOPE), Scope(max_uses=1), now=NOW)
    state = Spy()
    proof = proof_for(token, STORY_REQUEST)
    refused = verifier(Recording(refuse), state).verify(token.encode(), STORY_REQUEST, proof)
    assert codes(refused) == (Code.POLICY_DENIED,)
    query = state.queries[-1]
    assert query.nonce is not None  # the proof is claimed: it stays single-shot
    assert (query.spend, query.charges, query.hold) == ([], [], None)
    again = verifier(Recording(), state).verify(token.encode(), STORY_REQUEST, proof)
    assert codes(again) == (Code.REPLAY,)
    policy = Recording(None if allow else refuse)
    fresh = verifier(policy, state).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    # The single use was never spent by the refused call: the first allowed call spends it.
    assert fresh.allowed is allow
    assert codes(fresh) == (() if allow else (Code.POLICY_DENIED,))


def test_a_refusal_comes_after_revocation_and_replay_in_step_order() -> None:
    state = MemoryState()
    state.revoke(Revocation(RevocationKind.TASK, "task-42"), NOW)
    proof = proof_for(HOP2, STORY_REQUEST)
    v = verifier(Recording(refuse), state)
    first = v.verify(HOP2.encode(), STORY_REQUEST, proof)
    second = v.verify(HOP2.encode(), STORY_REQUEST, proof)
    assert codes(first) == (Code.REVOKED, Code.POLICY_DENIED)
    assert codes(second) == (Code.REVOKED, Code.REPLAY, Code.POLICY_DENIED)


def test_a_refused_call_charges_no_budget() -> None:
    root = mint_root(STORY_SCOPE)
    token = attenuate(root, Scope(budgets=[Budget("calls", 1, 1)]), now=NOW)
    state = MemoryState()
    refused = verifier(Recording(refuse), state).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    assert codes(refused) == (Code.POLICY_DENIED,)
    assert refused.budgets == ()
    allowed = verifier(Recording(), state).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    assert allowed.allowed
    assert [b.spent for b in allowed.budgets] == [1]


def test_a_stateless_verifier_reports_the_refusal_and_not_state_required() -> None:
    token = attenuate(mint_root(STORY_SCOPE), Scope(max_uses=3), now=NOW)
    refused = verifier(Recording(refuse)).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    assert codes(refused) == (Code.POLICY_DENIED,)
    allowed_by_policy = verifier(Recording()).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    assert codes(allowed_by_policy) == (Code.STATE_REQUIRED,)
    assert allowed_by_policy.policy is not None  # it was asked


def test_a_refused_call_spends_no_approval() -> None:
    token = require_approval(mint_root(STORY_SCOPE), APPROVER.public_key)
    key = KEYS[1]
    asked = prove_for_approval(token, key, STORY_REQUEST, now=NOW)
    pending = APPROVER.pending(token, STORY_REQUEST, asked, now=NOW)
    discharge = bind_discharge(token, APPROVER.approve(pending[0], now=NOW))
    state = Spy()
    refused = verifier(Recording(refuse), state).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST), discharges=[discharge]
    )
    assert codes(refused) == (Code.POLICY_DENIED,)
    assert state.queries[-1].spend == []
    allowed = verifier(Recording(), state).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST), discharges=[discharge]
    )
    assert allowed.allowed


class Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def evaluate(self, document: PolicyInput) -> Verdict:
        raise self.exc


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (Raising(PolicyUnavailable(PolicyFailure.TIMEOUT, "slow", "rev-2")), "timeout"),
        (Raising(PolicyUnavailable(PolicyFailure.UNPARSEABLE, "broken", "rev-2")), "unparseable"),
        (Raising(RuntimeError("secret host db.internal:5432")), "error"),
        (Recording(lambda _: "allow"), "error"),  # type: ignore[arg-type,return-value]
        (Recording(lambda _: True), "error"),  # type: ignore[arg-type,return-value]
        (Recording(lambda _: None), "error"),  # type: ignore[arg-type,return-value]
    ],
)
def test_a_policy_that_cannot_answer_is_policy_unavailable(
    policy: Any, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = Spy()
    with caplog.at_level(logging.WARNING, logger="delegation"):
        decision = verifier(policy, state).verify(
            HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST)
        )
    assert codes(decision) == (Code.POLICY_UNAVAILABLE,)
    assert decision.reasons[0].detail == f"the policy cannot answer ({why})"
    assert "db.internal" not in json.dumps(decision.to_json())
    assert state.queries[-1].spend == []
    assert decision.policy is not None
    if why in ("timeout", "unparseable"):
        assert decision.policy.revision == "rev-2"


def test_a_verdict_outside_the_spec_cannot_be_built() -> None:
    bad: Callable[[], Verdict]
    for bad in (
        lambda: Verdict(1, "r"),  # type: ignore[arg-type]
        lambda: Verdict.allow(""),
        lambda: Verdict.allow("r" * 129),
        lambda: Verdict.deny("r", ["a\nb"]),
        lambda: Verdict.deny("r", ["x"] * 33),
        lambda: Verdict.deny("r", ["x"], "d" * 513),
        lambda: Verdict.deny("r", ["x"], "line\x00"),
    ):
        with pytest.raises(ValueError, match=r"\w"):
            bad()


def test_a_policy_is_checked_to_be_one_when_the_verifier_is_built() -> None:
    from delegation import MisuseError

    with pytest.raises(MisuseError, match="evaluate"):
        Verifier(KEYRING, state=None, policy=lambda doc: Verdict.allow("r"))  # type: ignore[arg-type]


def test_the_document_shows_the_chain_the_call_and_the_context() -> None:
    policy = Recording()
    verifier(policy, MemoryState()).verify(
        HOP2.encode(), STORY_REQUEST, proof_for(HOP2, STORY_REQUEST)
    )
    doc = policy.documents[0]
    assert doc.depth == 2
    assert doc.holder.agent_id == "agent-3"
    assert doc.task_intents == ("sum",)
    shown = doc.to_json()
    assert [a["agent_id"] for a in shown["chain"]] == ["agent-1", "agent-2", "agent-3"]
    assert [a["depth"] for a in shown["chain"]] == [0, 1, 2]
    assert shown["chain"][0]["hop_id"] is None
    assert shown["chain"][1]["public_key"] == encode_public_key(AGENTS[2].public_key)
    # What each hop narrowed: the root's scope, then each segment's own caveats.
    assert {"caveat": 9, "type": "resource", "value": ["crm://accounts/42/notes/*"]} in (
        shown["chain"][1]["narrowed"]
    )
    assert shown["chain"][2]["narrowed"] == [
        {"caveat": 11, "type": "validity", "value": {"expires": NOW + 600}}
    ]
    assert all(n["type"] != "hop" for a in shown["chain"] for n in a["narrowed"])
    assert shown["request"] == {**STORY_REQUEST.to_json(), "resource": STORY_REQUEST.resource}
    assert shown["context"] == {
        "time": NOW,
        "expires": NOW + 600,
        "depth": 2,
        "token_id": HOP2.token_id,
        "root_id": HOP2.root_id,
        "key_id": "test-k1",
    }
    assert shown["task"]["id"] == "task-42"
    assert shown["approvals"] == []
    assert json.loads(json.dumps(shown)) == shown


def test_task_intents_are_the_root_scopes_intents_intersected() -> None:
    policy = Recording()
    v = verifier(policy, MemoryState())
    root = attenuate(mint_root(STORY_SCOPE), Scope(intents=["sum"]), now=NOW)
    v.verify(root.encode(), STORY_REQUEST, proof_for(root, STORY_REQUEST))
    unscoped = mint_root(Scope(audiences=["crm"], expires=NOW + 60))
    v.verify(unscoped.encode(), STORY_REQUEST, proof_for(unscoped, STORY_REQUEST))
    assert [d.task_intents for d in policy.documents] == [("sum",), None]
    assert policy.documents[1].to_json()["task"]["intents"] is None


def test_a_policy_changing_its_document_changes_nothing_the_verifier_holds() -> None:
    def vandal(document: PolicyInput) -> Verdict:
        shown = document.to_json()
        shown["request"]["args"]["n"] = 99
        return Verdict.allow("r")

    request = Request(audience="crm", tool="t.read", action="read", args={"n": [1]})
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60))
    decision = verifier(Recording(vandal), MemoryState()).verify(
        token.encode(), request, proof_for(token, request)
    )
    assert decision.allowed
    assert request.args == {"n": [1]}


def test_the_document_holds_no_secret() -> None:
    """Root key, chain states and the token's signature, the caveat keys opened from VIDs, the
    proof, the discharge and its signature, agent seeds: none is in what a policy sees."""
    approver = APPROVER
    token = require_approval(
        mint_root(STORY_SCOPE), approver.public_key, location="https://approve.example"
    )
    token = attenuate(token, Scope(budgets=[Budget("usd", 100, 1)], max_uses=5), now=NOW)
    token = delegate(token, KEYS[1], AGENTS[2], Scope(tools=["t.read"]), now=NOW)
    asked = prove_for_approval(token, KEYS[2], STORY_REQUEST, now=NOW)
    pending = approver.pending(token, STORY_REQUEST, asked, now=NOW)
    discharge = bind_discharge(token, approver.approve(pending[0], now=NOW))
    proof = proof_for(token, STORY_REQUEST)
    policy = Recording()
    v = verifier(policy, MemoryState())
    decision = v.verify(token.encode(), STORY_REQUEST, proof, discharges=[discharge])
    assert decision.allowed, decision.reasons
    document = policy.documents[0]
    shown = json.dumps(document.to_json())
    assert document.approvals[0].service == approver.public_key
    assert document.to_json()["approvals"][0]["location"] == "https://approve.example"
    chain = v.check_chain(token.encode())
    secrets: list[bytes] = [
        root_secret(1),
        KEYRING.get("test-k1").derived,  # type: ignore[union-attr]
        token.raw.signature,
        *[place.caveat_key for place in chain.third_party],
        approver_seed(0x51),
        KEYS[1]._seed(),
        KEYS[2]._seed(),
    ]
    for secret in secrets:
        assert secret.hex() not in shown
        assert b64encode(secret) not in shown
    for text in (token.encode(), proof, discharge):
        assert text not in shown
        assert text[:40] not in shown
    assert "ticket" not in shown or '"ticket_bytes"' in shown  # its length only
    assert repr(document).find(chain.third_party[0].caveat_key.hex()) == -1


def test_max_uses_and_budgets_show_as_what_they_narrow() -> None:
    token = attenuate(mint_root(STORY_SCOPE), Scope(max_uses=2), now=NOW)
    policy = Recording()
    verifier(policy, MemoryState()).verify(
        token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
    )
    narrowed = policy.documents[0].to_json()["chain"][0]["narrowed"]
    assert {"type": MaxUses.name, "value": 2} in [
        {k: v for k, v in n.items() if k != "caveat"} for n in narrowed
    ]
