"""Human approval of one specific call: require_approval, Approver, bind_discharge, verify.

The holder asks with a signed approval request (prove_for_approval); the approval holds for
that call, made by that holder through the chain it showed (specs/third-party.md, "Approvals
are bound to the chain that asked"). Which chains may use it, at the verifier, is in
test_discharges.py and tests/property/test_approval_binding.py.

Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    AuthoringError,
    BadProof,
    Code,
    Decision,
    Keyring,
    MalformedToken,
    MemoryState,
    MisuseError,
    Request,
    Scope,
    TaskRecord,
    TokenError,
    UnverifiedToken,
    Verifier,
    _crypto,
    _wire,
    attenuate,
    default_registry,
    delegate,
    encode_public_key,
    mint,
    prove,
    prove_for_approval,
)
from delegation._thirdparty.approval import (
    APPROVAL_TTL_SECONDS,
    Approver,
    PendingApproval,
    bind_discharge,
    require_approval,
)
from delegation._thirdparty.caveat import (
    PURPOSE_APPROVAL,
    PURPOSE_THIRD_PARTY,
    ApproverKey,
    Rule,
    ThirdPartyCaveat,
    TicketContents,
    decode_discharge,
    new_caveat_key,
    seal_ticket,
    seal_vid,
)
from delegation._token import _mint
from delegation.caveats import ApprovedFor, Call, MaxUses, Validity
from delegation.errors import BadDischarge
from delegation.limits import (
    CLOCK_SKEW_SECONDS,
    MAX_CAVEAT_BYTES,
    MAX_TIME,
    POP_MAX_AGE_SECONDS,
)
from delegation.stores import (
    SQLiteState,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
)
from delegation.testing import fixtures
from delegation.testing.fixtures import approver_key
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

APPROVER_KEY = approver_key(0x51)
"""The approval service's key. TEST FIXTURE ONLY."""
ROGUE_KEY = approver_key(0x52)
"""A key a sub-agent controls and passes off as an approver. TEST FIXTURE ONLY."""
LOCATION = "https://approve.example"

RES = "crm://accounts/42/notes"
READ = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
WRITE = Request(
    audience="crm",
    tool="crm.update",
    action="write",
    resource=RES,
    intent="update-notes",
    args={"text": "hi"},
)
UPDATE_READ = Request(
    audience="crm", tool="crm.update", action="read", resource=RES, intent="summarise"
)


class Clock:
    """A verifier clock the test moves by hand."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def check(keyring: Keyring, clock: Clock) -> Checker:
    return Checker(Verifier(keyring, state=MemoryState(), clock=clock), clock)


@pytest.fixture
def approver() -> Approver:
    return Approver(APPROVER_KEY, location=LOCATION)


@pytest.fixture
def gated(root_token: UnverifiedToken) -> UnverifiedToken:
    """The issuer's token: ``crm.update`` with ``write`` needs a human."""
    return require_approval(
        root_token, APPROVER_KEY.public_key, rules=["crm.update:write"], location=LOCATION
    )


@pytest.fixture
def child(gated: UnverifiedToken, orchestrator: AgentKey, writer: AgentKey) -> UnverifiedToken:
    return delegate(gated, orchestrator, Agent("writer", writer.public_key), now=NOW)


class Checker:
    """Verifies at the verifier's own clock, with a fresh proof signed at that time."""

    def __init__(self, verifier: Verifier, clock: Clock) -> None:
        self.verifier = verifier
        self.clock = clock

    def __call__(
        self,
        token: UnverifiedToken,
        key: AgentKey,
        request: Request,
        discharges: Sequence[str] = (),
    ) -> Decision:
        proof = prove(token, key, request, now=self.clock.at)
        return self.verifier.verify(token, request, proof, discharges=discharges)


def codes(decision: Decision) -> list[Code]:
    return [r.code for r in decision.reasons]


def triples(decision: Decision) -> list[tuple[Code, int | None, int | None]]:
    return [(r.code, r.hop, r.caveat) for r in decision.reasons]


def ask(
    approver: Approver, token: UnverifiedToken, key: AgentKey, request: Request
) -> list[PendingApproval]:
    """What the holder does: sign an approval request for its call and show it to the
    approver with its token."""
    proof = prove_for_approval(token, key, request, now=NOW)
    return approver.pending(token, request, proof, now=NOW)


def approved_for_of(unbound: str) -> ApprovedFor:
    """The approved_for caveat an approver wrote into a discharge."""
    found = [
        cav
        for raw in decode_discharge(unbound).caveats
        if isinstance(cav := default_registry().decode(raw.cid), ApprovedFor)
    ]
    assert len(found) == 1
    return found[0]


def approval_for(
    approver: Approver,
    token: UnverifiedToken,
    key: AgentKey,
    request: Request,
    *,
    ttl: int = APPROVAL_TTL_SECONDS,
) -> str:
    """What the client does: ask the approver, get a yes, bind the discharge to its token."""
    (pending,) = ask(approver, token, key, request)
    return bind_discharge(token, approver.approve(pending, now=NOW, ttl=ttl))


def splice_third_party(token: UnverifiedToken, caveat: ThirdPartyCaveat) -> UnverifiedToken:
    """Append a third-party caveat with a fresh vid, as any holder can."""
    raw = _wire.RawCaveat(caveat.encode(), seal_vid(token.raw.signature, new_caveat_key()))
    sig = _crypto.chain_step(token.raw.signature, raw)
    mac = _wire.RawMacaroon(
        token.raw.identifier, (*token.raw.caveats, raw), sig, token.raw.location
    )
    return UnverifiedToken(mac)


def gate(token: UnverifiedToken, key: ApproverKey = APPROVER_KEY) -> UnverifiedToken:
    """The issuer's gate without a location (the ``gated`` fixture's has one)."""
    return require_approval(token, key.public_key, rules=["crm.update:write"])


# --- which calls need approval ---------------------------------------------------------------


def test_matching_call_needs_approval_and_names_the_caveat(
    check: Checker, child: UnverifiedToken, writer: AgentKey
) -> None:
    decision = check(child, writer, WRITE)
    assert codes(decision) == [Code.APPROVAL_REQUIRED]
    index = len(child.raw.caveats) - 2  # the caveat just before the hop
    assert (decision.reasons[0].hop, decision.reasons[0].caveat) == (0, index)


@pytest.mark.parametrize("request_", [READ, UPDATE_READ], ids=["other-tool", "other-action"])
def test_tool_action_rule_leaves_other_calls_alone(
    check: Checker, child: UnverifiedToken, writer: AgentKey, request_: Request
) -> None:
    assert check(child, writer, request_).allowed


def test_tool_rule_covers_every_action_of_that_tool_only(
    check: Checker, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = require_approval(root_token, APPROVER_KEY.public_key, rules=[Rule("crm.update")])
    assert codes(check(token, orchestrator, WRITE)) == [Code.APPROVAL_REQUIRED]
    assert codes(check(token, orchestrator, UPDATE_READ)) == [Code.APPROVAL_REQUIRED]
    assert check(token, orchestrator, READ).allowed


def test_tool_only_rule_string_parses(root_token: UnverifiedToken) -> None:
    assert Rule.parse("crm.update") == Rule("crm.update")
    assert Rule.parse("crm.update:write") == Rule("crm.update", "write")
    token = require_approval(root_token, APPROVER_KEY.public_key, rules=["crm.update"])
    caveat = token.unsafe_caveats()[-1]
    assert isinstance(caveat, ThirdPartyCaveat)
    assert caveat.rules == (Rule("crm.update"),)


@pytest.mark.parametrize("text", ["", ":write", "crm.update:"])
def test_malformed_rule_strings_are_refused(text: str) -> None:
    with pytest.raises(MalformedToken):
        Rule.parse(text)


def test_no_rules_means_every_call(
    check: Checker, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = require_approval(root_token, APPROVER_KEY.public_key)
    for request in (READ, WRITE, UPDATE_READ):
        assert codes(check(token, orchestrator, request)) == [Code.APPROVAL_REQUIRED]


def test_pending_is_empty_for_a_call_that_needs_no_approval(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    assert ask(approver, child, writer, READ) == []


# --- the approved call ------------------------------------------------------------------------


def test_approved_call_is_allowed(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    assert check(child, writer, WRITE, [approval_for(approver, child, writer, WRITE)]).allowed


def test_pending_shows_task_agents_call_and_who_asked(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    text = pending.summary()
    assert "task-42" in text
    assert "Summarise account 42's notes" in text
    assert "orchestrator -> writer" in text
    assert "crm.update write on crm" in text
    assert "'text': 'hi'" in text
    # The human sees which agent asked, with the key that signed the request, and the token.
    asked = f"asked by: writer (key {encode_public_key(writer.public_key)}, signed), token "
    assert f"{asked}{child.token_id}" in text
    assert [link.agent_id for link in pending.agents] == ["orchestrator", "writer"]
    assert pending.holder == pending.agents[-1]
    assert pending.holder.public_key == writer.public_key
    assert (pending.root_id, pending.token_id) == (child.root_id, child.token_id)
    assert pending.request == WRITE
    assert "caveat_key" not in repr(pending)


@pytest.mark.parametrize(
    "other",
    [
        Request(
            audience="crm",
            tool="crm.update",
            action="write",
            resource=RES,
            intent="update-notes",
            args={"text": "bye"},
        ),
        Request(
            audience="crm",
            tool="crm.update",
            action="write",
            resource=RES,
            intent="update-notes",
            args={"text": "hi", "x": 1},
        ),
        Request(
            audience="crm", tool="crm.update", action="write", resource=RES, intent="update-notes"
        ),
        Request(
            audience="crm",
            tool="crm.update",
            action="write",
            resource="crm://accounts/42/secret",
            intent="update-notes",
            args={"text": "hi"},
        ),
        Request(
            audience="crm",
            tool="crm.update",
            action="write",
            resource=RES,
            intent="summarise",
            args={"text": "hi"},
        ),
    ],
    ids=["other-args", "extra-arg", "no-args", "other-resource", "other-intent"],
)
def test_discharge_for_a_different_call_is_approval_required(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey, other: Request
) -> None:
    discharge = approval_for(approver, child, writer, WRITE)
    decision = check(child, writer, other, [discharge])
    assert codes(decision) == [Code.APPROVAL_REQUIRED]
    assert "different call" in decision.reasons[0].detail


def test_approval_is_for_the_exact_call_only_even_within_one_tool(
    check: Checker, approver: Approver, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = require_approval(root_token, APPROVER_KEY.public_key, rules=[Rule("crm.update")])
    (pending,) = ask(approver, token, orchestrator, WRITE)
    discharge = bind_discharge(token, approver.approve(pending, now=NOW))
    assert check(token, orchestrator, WRITE, [discharge]).allowed
    assert codes(check(token, orchestrator, UPDATE_READ, [discharge])) == [Code.APPROVAL_REQUIRED]


def test_stale_approval_attached_to_a_call_that_needs_none_is_denied(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    # The caveat does not apply to READ, but a discharge presented for it is still checked,
    # and its call caveat names WRITE. Fail-closed; the code is the discharge's own.
    discharge = approval_for(approver, child, writer, WRITE)
    assert codes(check(child, writer, READ, [discharge])) == [Code.APPROVAL_REQUIRED]


# --- one approval, one call ------------------------------------------------------------------


def test_an_approval_is_spent_by_its_first_allowed_call(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    discharge = approval_for(approver, child, writer, WRITE)
    assert check(child, writer, WRITE, [discharge]).allowed
    decision = check(child, writer, WRITE, [discharge])
    assert codes(decision) == [Code.REPLAY]


def test_a_denied_call_does_not_spend_the_approval(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    discharge = approval_for(approver, child, writer, WRITE)
    verifier = check.verifier
    assert codes(verifier.verify(child, WRITE, None, discharges=[discharge])) == [Code.POP_REQUIRED]
    other_request = prove(child, writer, READ, now=NOW)  # a proof for another request
    assert codes(verifier.verify(child, WRITE, other_request, discharges=[discharge])) == [
        Code.POP_INVALID
    ]
    assert check(child, writer, WRITE, [discharge]).allowed


def test_a_spent_approval_is_spent_for_every_verifier_sharing_state(
    keyring: Keyring, approver: Approver, child: UnverifiedToken, writer: AgentKey, tmp_path: Path
) -> None:
    discharge = approval_for(approver, child, writer, WRITE)
    one = SQLiteState.create(tmp_path / "s.db")
    two = SQLiteState(tmp_path / "s.db")
    try:
        # Approvals are spent as one-use limits with the uses (all or nothing with max_uses).
        first = Verifier(keyring, state=one, clock=lambda: NOW)
        second = Verifier(keyring, state=two, clock=lambda: NOW)
        proof = prove(child, writer, WRITE, now=NOW)
        assert first.verify(child, WRITE, proof, discharges=[discharge]).allowed
        proof = prove(child, writer, WRITE, now=NOW)
        decision = second.verify(child, WRITE, proof, discharges=[discharge])
        assert codes(decision) == [Code.REPLAY]
    finally:
        one.close()
        two.close()


def test_an_approval_discharge_must_name_the_call(
    check: Checker, child: UnverifiedToken, writer: AgentKey
) -> None:
    # Signed by the real approval service's caveat key for this very chain, but approving
    # "any call".
    cid = child.raw.caveats[-2].cid
    key = APPROVER_KEY.open_ticket(ThirdPartyCaveat.decode(cid).ticket).caveat_key
    digests = _crypto.chain_digests(child.raw.identifier, child.raw.caveats)
    this_chain = ApprovedFor(writer.public_key, len(digests) - 1, digests[-1], b"\x01" * 16)
    caveats = (Validity(None, NOW + 300), this_chain)
    raws = tuple(_wire.RawCaveat(c.encode()) for c in caveats)
    blanket = _wire.RawMacaroon(cid, raws, _crypto.chain_signature(key, cid, raws))
    text = bind_discharge(child, _wire.b64encode(_wire.encode(blanket)))
    decision = check(child, writer, WRITE, [text])
    assert codes(decision) == [Code.BAD_DISCHARGE]
    assert decision.reasons[0].detail == "an approval discharge must name the call it approves"


def test_two_approvals_of_one_call_are_two_discharges_good_for_one_call_each(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    """Two yeses to the same call, in the same second, are two approvals: each discharge names
    its own approval (a random approval id, covered by the spend key), so each makes one call,
    and then each is spent."""
    (pending,) = ask(approver, child, writer, WRITE)
    one, two = (approver.approve(pending, now=NOW) for _ in range(2))
    assert one != two
    ids = [approved_for_of(text).approval_id for text in (one, two)]
    assert ids[0] != ids[1]
    assert all(len(i) == 16 for i in ids)
    first, second = bind_discharge(child, one), bind_discharge(child, two)
    assert check(child, writer, WRITE, [first]).allowed
    assert check(child, writer, WRITE, [second]).allowed
    index = len(child.raw.caveats) - 2
    for spent in (first, second):
        assert triples(check(child, writer, WRITE, [spent])) == [(Code.REPLAY, 0, index)]


def test_an_approval_names_the_holder_and_the_exact_chain_it_was_shown(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    raw = decode_discharge(approver.approve(pending, now=NOW, ttl=60))
    caveats = [default_registry().decode(c.cid) for c in raw.caveats]
    n = len(child.raw.caveats)
    digest = _crypto.chain_digests(child.raw.identifier, child.raw.caveats)[n]
    # The expiry, then who asked through which chain, then the call: approved_for before the
    # call, where the spend key covers it.
    assert [type(c) for c in caveats] == [Validity, ApprovedFor, Call]
    assert caveats[0] == Validity(None, NOW + 60)
    approved = caveats[1]
    assert isinstance(approved, ApprovedFor)
    assert (approved.holder_key, approved.caveats, approved.chain_digest) == (
        writer.public_key,
        n,
        digest,
    )
    assert approved.token_id == child.token_id == pending.token_id
    assert caveats[2] == Call(WRITE.digest())


# --- expiry ---------------------------------------------------------------------------------


def test_discharge_expires_after_its_ttl(
    check: Checker, clock: Clock, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    discharge = approval_for(approver, child, writer, WRITE, ttl=120)
    clock.at = NOW + 119
    assert check(child, writer, WRITE, [discharge]).allowed
    clock.at = NOW + 120
    assert codes(check(child, writer, WRITE, [discharge])) == [Code.EXPIRED]
    clock.at = NOW + APPROVAL_TTL_SECONDS + 1
    assert codes(check(child, writer, WRITE, [discharge])) == [Code.EXPIRED]


def test_default_ttl_is_minutes(
    check: Checker, clock: Clock, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    discharge = approval_for(approver, child, writer, WRITE)
    clock.at = NOW + APPROVAL_TTL_SECONDS - 1
    assert check(child, writer, WRITE, [discharge]).allowed
    clock.at = NOW + APPROVAL_TTL_SECONDS
    assert codes(check(child, writer, WRITE, [discharge])) == [Code.EXPIRED]


@pytest.mark.parametrize("ttl", [0, -1, 901, 86_400])
def test_approve_refuses_a_ttl_out_of_bounds(
    approver: Approver, child: UnverifiedToken, writer: AgentKey, ttl: int
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    with pytest.raises(AuthoringError):
        approver.approve(pending, now=NOW, ttl=ttl)


# Guards against: approve() accepting ttl=True (a one-second approval), and a float TTL or an
# expiry past 2**34 escaping from the Validity constructor as MalformedToken, where
# third-party.md says a TTL outside 1-900 is AuthoringError.
@pytest.mark.parametrize(
    "kwargs",
    [{"ttl": True}, {"ttl": 1.5}, {"now": MAX_TIME - 10}],
    ids=["bool-ttl", "float-ttl", "expiry-past-max-time"],
)
def test_approve_refuses_unusable_ttls_with_authoring_error(
    root_token: UnverifiedToken, orchestrator: AgentKey, kwargs: dict[str, Any]
) -> None:
    approver = Approver(APPROVER_KEY)
    (pending,) = ask(approver, gate(root_token), orchestrator, WRITE)
    options: dict[str, Any] = {"now": NOW, **kwargs}
    with pytest.raises(AuthoringError):
        approver.approve(pending, **options)


# --- binding to the token -------------------------------------------------------------------


def test_unbound_approval_is_bad_discharge(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    unbound = approver.approve(pending, now=NOW)
    assert codes(check(child, writer, WRITE, [unbound])) == [Code.BAD_DISCHARGE]


def test_approval_bound_to_the_parent_does_not_serve_the_child(
    check: Checker,
    approver: Approver,
    gated: UnverifiedToken,
    child: UnverifiedToken,
    orchestrator: AgentKey,
    writer: AgentKey,
) -> None:
    for_parent = approval_for(approver, gated, orchestrator, WRITE)
    assert codes(check(child, writer, WRITE, [for_parent])) == [Code.BAD_DISCHARGE]
    for_child = approval_for(approver, child, writer, WRITE)
    assert codes(check(gated, orchestrator, WRITE, [for_child])) == [Code.BAD_DISCHARGE]
    # Rebinding does not help: the parent's yes was for the parent's holder, the child's for
    # the writer (bind_discharge refuses; bound anyway, the verifier says wrong_chain).
    (asked_by_parent,) = ask(approver, gated, orchestrator, WRITE)
    (asked_by_child,) = ask(approver, child, writer, WRITE)
    parents, childs = (approver.approve(p, now=NOW) for p in (asked_by_parent, asked_by_child))
    index = len(gated.raw.caveats) - 1
    for token, key, unbound in ((child, writer, parents), (gated, orchestrator, childs)):
        with pytest.raises(BadDischarge, match="approval was given to"):
            bind_discharge(token, unbound)
        decision = check(token, key, WRITE, [_forge.bind_anyway(token, unbound)])
        assert triples(decision) == [(Code.WRONG_CHAIN, 0, index)]
    assert check(gated, orchestrator, WRITE, [for_parent]).allowed
    assert check(child, writer, WRITE, [for_child]).allowed


def test_approval_bound_to_a_sibling_is_bad_discharge(
    check: Checker,
    approver: Approver,
    gated: UnverifiedToken,
    child: UnverifiedToken,
    orchestrator: AgentKey,
    writer: AgentKey,
) -> None:
    other = seeded_agent(4)
    sibling = delegate(gated, orchestrator, Agent("writer-2", other.public_key), now=NOW)
    (asked,) = ask(approver, sibling, other, WRITE)
    unbound = approver.approve(asked, now=NOW)
    for_sibling = bind_discharge(sibling, unbound)
    assert codes(check(child, writer, WRITE, [for_sibling])) == [Code.BAD_DISCHARGE]
    # Rebound to the child, the sibling's approval is still the sibling's: wrong_chain.
    with pytest.raises(BadDischarge, match="approval was given to"):
        bind_discharge(child, unbound)
    decision = check(child, writer, WRITE, [_forge.bind_anyway(child, unbound)])
    assert triples(decision) == [(Code.WRONG_CHAIN, 0, len(gated.raw.caveats) - 1)]
    assert check(sibling, other, WRITE, [for_sibling]).allowed  # and it was not spent


def test_bind_discharge_refuses_an_approval_given_to_another_chain(
    approver: Approver,
    gated: UnverifiedToken,
    child: UnverifiedToken,
    orchestrator: AgentKey,
    writer: AgentKey,
) -> None:
    """The holder-side view of wrong_chain: bind_discharge says what the verifier would."""
    (pending,) = ask(approver, child, writer, WRITE)
    unbound = approver.approve(pending, now=NOW)
    sibling = delegate(gated, orchestrator, Agent("writer-2", seeded_agent(4).public_key), now=NOW)
    with pytest.raises(BadDischarge) as info:
        bind_discharge(sibling, unbound)
    assert str(info.value) == (
        f"the approval was given to another chain (token {child.token_id}), not one this "
        "token extends"
    )
    with pytest.raises(BadDischarge, match="another chain"):
        bind_discharge(gated, unbound)  # the parent: shorter than the chain that asked
    grandchild = delegate(child, writer, Agent("sub", seeded_agent(6).public_key), now=NOW)
    with pytest.raises(BadDischarge) as info:
        bind_discharge(grandchild, unbound)  # it extends the chain, but another holds it
    assert str(info.value) == (
        f"the approval was given to the holder {encode_public_key(writer.public_key)}, not "
        "this token's"
    )
    assert unbound not in str(info.value)


def test_bind_discharge_binds_an_approval_to_its_holders_narrowed_token(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    unbound = approver.approve(pending, now=NOW)
    narrowed = attenuate(child, Scope(tools=["crm.update"]), now=NOW)
    narrower = attenuate(narrowed, [MaxUses(3)], now=NOW)
    for token in (child, narrowed, narrower):
        bound = _forge.bind_anyway(token, unbound)
        assert bind_discharge(token, unbound) == bind_discharge(token.encode(), unbound) == bound
    assert check(narrower, writer, WRITE, [bind_discharge(narrower, unbound)]).allowed


# --- a sub-agent cannot approve itself ------------------------------------------------------


def test_sub_agent_self_approval_does_not_satisfy_the_issuer(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    rogue = Approver(ROGUE_KEY)
    selfish = require_approval(child, ROGUE_KEY.public_key, rules=["crm.update:write"])
    (own,) = ask(rogue, selfish, writer, WRITE)  # only the caveat addressed to the rogue key
    assert own.caveat.third_party == ROGUE_KEY.public_key
    own_discharge = bind_discharge(selfish, rogue.approve(own, now=NOW))
    decision = check(selfish, writer, WRITE, [own_discharge])
    issuer_index = len(child.raw.caveats) - 2
    assert codes(decision) == [Code.APPROVAL_REQUIRED]
    assert (decision.reasons[0].hop, decision.reasons[0].caveat) == (0, issuer_index)
    # With the real approval as well, both caveats are satisfied.
    issuer = approval_for(approver, selfish, writer, WRITE)
    assert check(selfish, writer, WRITE, [issuer, own_discharge]).allowed


def test_sub_agent_cannot_discharge_the_issuer_caveat_with_its_own_key(
    check: Checker, child: UnverifiedToken, writer: AgentKey
) -> None:
    rogue = Approver(ROGUE_KEY)
    issuer_cid = child.raw.caveats[-2].cid
    with pytest.raises(BadDischarge):
        rogue.discharge_ticket(issuer_cid, WRITE, now=NOW)
    with pytest.raises(BadDischarge):
        ROGUE_KEY.open_ticket(ThirdPartyCaveat.decode(issuer_cid).ticket)
    # A discharge for the issuer's caveat id, signed under a key the sub-agent made up.
    forged = _wire.RawMacaroon(
        issuer_cid, (), _crypto.chain_signature(new_caveat_key(), issuer_cid, ())
    )
    forged_text = bind_discharge(child, _wire.b64encode(_wire.encode(forged)))
    assert codes(check(child, writer, WRITE, [forged_text])) == [Code.BAD_DISCHARGE]


def test_sub_agent_copying_the_issuer_caveat_gains_nothing(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    # The sub-agent re-appends the issuer's caveat id with a vid of its own making, then
    # discharges that copy under the key it chose: the original caveat is still unmet.
    issuer_cid = child.raw.caveats[-2].cid
    key = new_caveat_key()
    raw = _wire.RawCaveat(issuer_cid, seal_vid(child.raw.signature, key))
    sig = _crypto.chain_step(child.raw.signature, raw)
    copied = UnverifiedToken(
        _wire.RawMacaroon(child.raw.identifier, (*child.raw.caveats, raw), sig)
    )
    own = _wire.RawMacaroon(issuer_cid, (), _crypto.chain_signature(key, issuer_cid, ()))
    own_text = bind_discharge(copied, _wire.b64encode(_wire.encode(own)))
    decision = check(copied, writer, WRITE, [own_text])
    assert not decision.allowed
    assert set(codes(decision)) == {Code.BAD_DISCHARGE, Code.APPROVAL_REQUIRED}


# --- the approval request: the holder's signed ask ------------------------------------------


def test_a_call_proof_is_not_an_approval_request(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    call_proof = prove(child, writer, WRITE, now=NOW)
    with pytest.raises(BadProof) as info:
        approver.pending(child, WRITE, call_proof, now=NOW)
    assert info.value.code is Code.POP_INVALID
    assert "not signed by the token's holder" in info.value.detail


def test_an_approval_request_is_not_a_call_proof(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    """What the approver, or anyone who reads its requests, sees cannot make the call: the
    request is signed under another domain. Denied, it spends nothing."""
    asked = prove_for_approval(child, writer, WRITE, now=NOW)
    (pending,) = approver.pending(child, WRITE, asked, now=NOW)
    discharge = bind_discharge(child, approver.approve(pending, now=NOW))
    decision = check.verifier.verify(child, WRITE, asked, discharges=[discharge])
    assert codes(decision) == [Code.POP_INVALID]
    assert "not the holder's signature" in decision.reasons[0].detail
    ungated = prove_for_approval(child, writer, READ, now=NOW)
    assert codes(check.verifier.verify(child, READ, ungated)) == [Code.POP_INVALID]
    assert check(child, writer, WRITE, [discharge]).allowed


RESPELLED = "https://elsewhere.example"
"""A token location: outside the MAC, so a token with it is another spelling of the same one."""


def respelled(token: UnverifiedToken) -> UnverifiedToken:
    raw = token.raw
    return UnverifiedToken(_wire.RawMacaroon(raw.identifier, raw.caveats, raw.signature, RESPELLED))


TEXT = "an approval request's proof is text"
MALFORMED = "the approval request's proof is malformed"
FUTURE = "the approval request's proof is dated in the future"
OLD = "the approval request's proof is too old; sign a fresh one"
SIGNED = "the approval request is not signed by the token's holder over this token and call"


def bad_requests(
    gated: UnverifiedToken, child: UnverifiedToken, writer: AgentKey
) -> dict[str, tuple[UnverifiedToken, object, str]]:
    """The token shown, the proof sent with it and what BadProof says, for each way an
    approval request is bad."""
    good = prove_for_approval(child, writer, WRITE, now=NOW)
    other_call = Request(audience="crm", tool="crm.update", action="write", resource=RES)
    ask_domain = _crypto.ASK_DOMAIN
    stale = NOW - POP_MAX_AGE_SECONDS - 1
    ahead = NOW + CLOCK_SKEW_SECONDS + 1
    return {
        "call-proof": (child, prove(child, writer, WRITE, now=NOW), SIGNED),
        "stale": (child, prove_for_approval(child, writer, WRITE, now=stale), OLD),
        "future": (child, prove_for_approval(child, writer, WRITE, now=ahead), FUTURE),
        "empty": (child, "", MALFORMED),
        "not-base64": (child, "not a proof!", MALFORMED),
        "truncated": (child, good[:-4], MALFORMED),
        "not-a-proof": (child, child.encode(), MALFORMED),
        "bytes": (child, good.encode(), TEXT),
        "none": (child, None, TEXT),
        "number": (child, 5, TEXT),
        "parent-key": (
            child,
            _forge.proof_by(child, seeded_agent(1), WRITE, domain=ask_domain),
            SIGNED,
        ),
        "stranger-key": (
            child,
            _forge.proof_by(child, seeded_agent(9), WRITE, domain=ask_domain),
            SIGNED,
        ),
        "another-call": (child, prove_for_approval(child, writer, other_call, now=NOW), SIGNED),
        "parent-token": (child, prove_for_approval(gated, seeded_agent(1), WRITE, now=NOW), SIGNED),
        "token-respelled-after-signing": (respelled(child), good, SIGNED),
        "token-respelled-before-signing": (
            child,
            prove_for_approval(respelled(child), writer, WRITE, now=NOW),
            SIGNED,
        ),
    }


BAD_REQUESTS = [
    "call-proof",
    "stale",
    "future",
    "empty",
    "not-base64",
    "truncated",
    "not-a-proof",
    "bytes",
    "none",
    "number",
    "parent-key",
    "stranger-key",
    "another-call",
    "parent-token",
    "token-respelled-after-signing",
    "token-respelled-before-signing",
]


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_pending_refuses_a_bad_approval_request_with_bad_proof(
    approver: Approver,
    gated: UnverifiedToken,
    child: UnverifiedToken,
    writer: AgentKey,
    case: str,
) -> None:
    cases = bad_requests(gated, child, writer)
    assert sorted(cases) == sorted(BAD_REQUESTS)
    token, proof, detail = cases[case]
    with pytest.raises(BadProof) as info:
        approver.pending(token, WRITE, proof, now=NOW)  # type: ignore[arg-type]
    assert info.value.code is Code.POP_INVALID
    assert info.value.detail == detail
    assert isinstance(info.value, TokenError)
    if isinstance(proof, str) and proof:
        assert proof not in str(info.value)


def test_the_approval_request_window_is_the_verifiers(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    """Accepted exactly as a call proof is: up to POP_MAX_AGE_SECONDS old, and dated up to
    CLOCK_SKEW_SECONDS ahead (one second past either edge is refused above)."""
    for at in (NOW - POP_MAX_AGE_SECONDS, NOW + CLOCK_SKEW_SECONDS):
        proof = prove_for_approval(child, writer, WRITE, now=at)
        assert len(approver.pending(child, WRITE, proof, now=NOW)) == 1


def test_the_approval_request_is_checked_before_any_ticket_is_opened(
    approver: Approver, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    ticket = seal_ticket(ROGUE_KEY.public_key, TicketContents(new_caveat_key(), root_token.root_id))
    token = splice_third_party(
        root_token, ThirdPartyCaveat(PURPOSE_APPROVAL, APPROVER_KEY.public_key, ticket)
    )
    call_proof = prove(token, orchestrator, WRITE, now=NOW)
    with pytest.raises(BadProof):
        approver.pending(token, WRITE, call_proof, now=NOW)


@pytest.mark.parametrize(
    "request_",
    [WRITE.digest(), {"audience": "crm", "tool": "crm.update"}, "crm.update", None],
    ids=["digest", "dict", "text", "none"],
)
def test_pending_takes_the_call_as_a_request(
    approver: Approver, child: UnverifiedToken, writer: AgentKey, request_: object
) -> None:
    proof = prove_for_approval(child, writer, WRITE, now=NOW)
    with pytest.raises(MisuseError, match="Request"):
        approver.pending(child, request_, proof, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "now", "words"),
    [
        (b"bytes", NOW, "token as text"),
        (None, NOW, "token as text"),
        ("child", "1800000000", "whole Unix seconds"),
        ("child", 1.5, "whole Unix seconds"),
        ("child", True, "whole Unix seconds"),
        ("child", -1, "whole Unix seconds"),
    ],
)
def test_pending_refuses_a_token_or_time_of_the_wrong_type(
    approver: Approver,
    child: UnverifiedToken,
    writer: AgentKey,
    token: object,
    now: object,
    words: str,
) -> None:
    proof = prove_for_approval(child, writer, WRITE, now=NOW)
    given = child if token == "child" else token
    with pytest.raises(MisuseError, match=words):
        approver.pending(given, WRITE, proof, now=now)  # type: ignore[arg-type]


def test_an_approver_approves_only_what_was_asked_of_it(
    approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    (pending,) = ask(approver, child, writer, WRITE)
    with pytest.raises(MisuseError, match="another approver"):
        Approver(ROGUE_KEY).approve(pending, now=NOW)


# --- approver-side refusals -----------------------------------------------------------------


def test_pending_refuses_a_ticket_sealed_for_another_token(
    approver: Approver,
    keyring: Keyring,
    child: UnverifiedToken,
    root_scope: Scope,
) -> None:
    holder = seeded_agent(5)
    other = _mint(
        keyring,
        child.task,
        Agent("other", holder.public_key),
        root_scope,
        now=NOW,
        nonce=b"\x09" * 16,
        location=None,
    )
    assert other.root_id != child.root_id
    issuer = ThirdPartyCaveat.decode(child.raw.caveats[-2].cid)
    spliced = splice_third_party(other, issuer)
    with pytest.raises(BadDischarge, match="another token"):
        ask(approver, spliced, holder, WRITE)


def test_pending_refuses_a_ticket_that_does_not_open_under_its_key(
    approver: Approver, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    # Addressed to the approver's public key, but sealed to another key.
    ticket = seal_ticket(ROGUE_KEY.public_key, TicketContents(new_caveat_key(), root_token.root_id))
    caveat = ThirdPartyCaveat(PURPOSE_APPROVAL, APPROVER_KEY.public_key, ticket)
    token = splice_third_party(root_token, caveat)
    with pytest.raises(BadDischarge):
        ask(approver, token, orchestrator, WRITE)
    # The same ticket in a generic third party's caveat, shown by its bare caveat id.
    generic = ThirdPartyCaveat(PURPOSE_THIRD_PARTY, APPROVER_KEY.public_key, ticket)
    with pytest.raises(BadDischarge):
        approver.discharge_ticket(generic.encode(), None, now=NOW)


def test_discharge_ticket_for_another_third_party_is_refused(
    approver: Approver, root_token: UnverifiedToken
) -> None:
    token = require_approval(root_token, ROGUE_KEY.public_key)
    with pytest.raises(BadDischarge, match="another third party"):
        approver.discharge_ticket(token.raw.caveats[-1].cid, WRITE, now=NOW)


def test_an_approval_is_not_given_for_a_bare_caveat_id(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    """An approval names the chain that asked, which a bare caveat id does not show: with or
    without the call, discharge_ticket refuses an approval caveat, and only pending (token,
    call and the holder's signed request) leads to a yes."""
    cid = child.raw.caveats[-2].cid
    for request in (None, WRITE):
        with pytest.raises(AuthoringError, match="pending"):
            approver.discharge_ticket(cid, request, now=NOW)
    assert check(child, writer, WRITE, [approval_for(approver, child, writer, WRITE)]).allowed


def test_discharge_ticket_still_serves_a_generic_third_party(
    check: Checker, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = require_approval(root_token, APPROVER_KEY.public_key, purpose=PURPOSE_THIRD_PARTY)
    unbound = Approver(APPROVER_KEY).discharge_ticket(token.raw.caveats[-1].cid, now=NOW)
    discharge = bind_discharge(token, unbound)
    assert check(token, orchestrator, READ, [discharge]).allowed
    assert check(token, orchestrator, WRITE, [discharge]).allowed  # reusable: not an approval


def test_holder_restricting_itself_needs_both_approvals(
    check: Checker, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    restricted = require_approval(child, APPROVER_KEY.public_key, rules=[Rule("crm.update")])
    pendings = ask(approver, restricted, writer, WRITE)
    assert len(pendings) == 2
    first, second = (bind_discharge(restricted, approver.approve(p, now=NOW)) for p in pendings)
    assert codes(check(restricted, writer, WRITE, [first])) == [Code.APPROVAL_REQUIRED]
    assert codes(check(restricted, writer, WRITE, [second])) == [Code.APPROVAL_REQUIRED]
    assert check(restricted, writer, WRITE, [first, second]).allowed
    # crm.update:read now needs the holder's own approval only.
    assert codes(check(restricted, writer, UPDATE_READ)) == [Code.APPROVAL_REQUIRED]


class _FlakyUses(MemoryState):
    """State that is down for its first check that spends, then answers from memory."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if self.down and query.spend:
            self.down = False
            raise StoreUnavailable(UnavailableReason.UNREACHABLE, "use counter is down")
        return super().check(query, now)


# Guards against: a call denied at the very last step still spending its approval. Were
# approvals claimed before uses are counted, a use counter that then fails (store_unavailable)
# or is exhausted would deny the call with the approval already spent, and the human would
# have to approve again.
def test_a_call_denied_by_the_use_counter_does_not_spend_the_approval(
    keyring: Keyring, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    limited = attenuate(child, [MaxUses(5)], now=NOW)
    discharge = approval_for(approver, limited, writer, WRITE)
    verifier = Verifier(keyring, state=_FlakyUses(), clock=lambda: NOW)
    proof = prove(limited, writer, WRITE, now=NOW)
    decision = verifier.verify(limited, WRITE, proof, discharges=[discharge])
    assert codes(decision) == [Code.STORE_UNAVAILABLE]
    proof = prove(limited, writer, WRITE, now=NOW)
    assert verifier.verify(limited, WRITE, proof, discharges=[discharge]).allowed


def test_rules_that_are_not_text_are_authoring_errors(root_token: UnverifiedToken) -> None:
    with pytest.raises(AuthoringError):
        require_approval(root_token, APPROVER_KEY.public_key, rules=[5])  # type: ignore[list-item]


# Guards against: require_approval letting a ValueError from the X25519 exchange escape for a
# low-order approver key (e.g. 32 zero bytes) instead of raising AuthoringError.
def test_core_require_approval_refuses_a_low_order_key_with_authoring_error() -> None:
    keyring = fixtures.keyring(fixtures.root_key(1))  # test-only key
    holder = Agent("o", fixtures.agent_key(5).public_key)  # test-only key
    token = mint(
        keyring,
        TaskRecord(task_id="t", approved_by="a", approved_at=0, statement="s"),
        holder,
        Scope(["crm"], expires_in=60),
    )
    with pytest.raises(AuthoringError):
        require_approval(token, bytes(32))


def test_require_approval_still_names_the_size_limit_for_an_oversized_caveat(
    root_token: UnverifiedToken,
) -> None:
    rules = [f"{i:02}" + "t" * 200 for i in range(20)]  # about 4 KB of rules
    with pytest.raises(AuthoringError) as info:
        require_approval(root_token, APPROVER_KEY.public_key, rules=rules)
    assert str(info.value) == f"the third-party caveat would exceed {MAX_CAVEAT_BYTES} bytes"


# Guards against: the same split in require_approval(rules="crm.update"), one rule per
# character ("c", "r", "m", ...). The caveat would then apply to no real tool: the issuer's
# human-approval gate silently off, and crm.update write allowed without any approval.
def test_a_bare_string_of_approval_rules_does_not_switch_the_approval_off(
    root_token: UnverifiedToken,
) -> None:
    with pytest.raises(AuthoringError, match="not one text"):
        require_approval(root_token, APPROVER_KEY.public_key, rules="crm.update")


def test_discharge_ticket_checks_the_tickets_purpose(
    approver: Approver, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    """A ticket sealed for one purpose inside a caveat claiming the other is refused both
    ways: an approval ticket in a generic caveat cannot become a reusable discharge, and a
    generic ticket in an approval caveat is not an approval."""
    root_id = root_token.root_id
    approval_ticket = seal_ticket(
        APPROVER_KEY.public_key, TicketContents(new_caveat_key(), root_id, PURPOSE_APPROVAL)
    )
    generic = ThirdPartyCaveat(PURPOSE_THIRD_PARTY, APPROVER_KEY.public_key, approval_ticket)
    with pytest.raises(BadDischarge, match="purpose"):
        approver.discharge_ticket(generic.encode(), None, now=NOW)
    generic_ticket = seal_ticket(
        APPROVER_KEY.public_key, TicketContents(new_caveat_key(), root_id, PURPOSE_THIRD_PARTY)
    )
    approval = ThirdPartyCaveat(PURPOSE_APPROVAL, APPROVER_KEY.public_key, generic_ticket)
    with pytest.raises(BadDischarge, match="purpose"):
        ask(approver, splice_third_party(root_token, approval), orchestrator, WRITE)


def test_a_holder_cannot_stretch_how_long_a_spent_approval_is_kept(
    keyring: Keyring, approver: Approver, child: UnverifiedToken, writer: AgentKey
) -> None:
    unbound = approver.approve(ask(approver, child, writer, WRITE)[0], now=NOW)
    raw = _wire.decode(_wire.b64decode(unbound, 10_000))
    far = _wire.RawCaveat(Validity(None, 2**34 - 1).encode())
    stretched = _wire.RawMacaroon(
        raw.identifier, (*raw.caveats, far), _crypto.chain_step(raw.signature, far), raw.location
    )
    discharge = bind_discharge(child, _wire.b64encode(_wire.encode(stretched)))
    uses = MemoryState()
    verifier = Verifier(keyring, state=uses, clock=lambda: NOW)
    proof = prove(child, writer, WRITE, now=NOW)
    assert verifier.verify(child, WRITE, proof, discharges=[discharge]).allowed
    kept = [keep for _, keep in uses._counts.values()]
    assert kept == [NOW + APPROVAL_TTL_SECONDS + 30]
