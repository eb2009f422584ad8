"""``state.json``: verifier state. Revocations present before the calls, each part of the
state failing, use limits over several calls, a verifier without state."""

from __future__ import annotations

from collections.abc import Sequence

from delegation import Code, Request, Scope, UnverifiedToken, _wire, attenuate
from delegation._token import ID_BYTES
from delegation.caveats import Call, MaxUses, Tool, Validity
from delegation.stores import RevocationKind
from delegation.testing.fixtures import labelled

from gen.fixtures import (
    EXPIRES,
    NOW,
    READ,
    ROOT_KEY_ID,
    TASK,
    UPDATE,
    Json,
    Tokenish,
    agent_public_key,
    appended,
    approval_discharge,
    approved_for,
    bound,
    by_hand,
    caveat_key,
    cids,
    hop,
    needs,
    pop,
    req,
    resigned,
    root,
    root_id,
    token_id,
    tp_cids,
)
from gen.render import THIRD_PARTY, At, Reason, Step, VectorFile, expected_chain


def build() -> VectorFile:
    f = VectorFile(
        "state.json",
        "Verifier state: revocations present before the calls, stores that cannot answer, and"
        " use limits counted over several calls.",
        third_parties=True,
    )
    r = root("state")
    res = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    summ = hop(r, "orchestrator", "summariser")
    grand = hop(res, "researcher", "writer")
    res_hop_id = expected_chain(res, ["orchestrator", "researcher"])[1]["hop_id"]
    att = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    att_child = hop(att, "orchestrator", "researcher")
    orch = ["orchestrator"]

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        signer: str,
        codes: Sequence[Reason],
        *,
        request: Json = READ,
        chain: Sequence[str] | None = None,
        revoked: Sequence[tuple[RevocationKind, str]] = (),
        store_failure: str | None = None,
        then: Sequence[Step] = (),
        proof_signer: str | None = None,
        with_proof: bool = True,
        discharges: Sequence[str] = (),
        stateless: bool = False,
    ) -> None:
        proof = pop(tok, proof_signer or signer, request, name) if with_proof else None
        f.add(
            name,
            description,
            tok,
            request,
            proof,
            codes=codes,
            chain=chain,
            revoked=revoked,
            store_failure=store_failure,
            then=then,
            discharges=discharges,
            stateless=stateless,
        )

    def step(
        tok: Tokenish,
        signer: str,
        label: str,
        codes: Sequence[Reason] = (),
        chain: Sequence[str] | None = None,
        request: Json = READ,
        discharges: Sequence[str] = (),
    ) -> Step:
        return Step(
            request,
            pop(tok, signer, request, label),
            codes=codes,
            chain=chain,
            token=tok,
            discharges=discharges,
        )

    chain_ = RevocationKind.TOKEN
    # revocation: by token (a chain prefix: token id, chain id, hop id), task, agent key, key id
    case(
        "revoked_token_id",
        "The root token's id is revoked: every token derived from it is, the root too.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(chain_, root_id(r))],
        then=[step(r, "orchestrator", "revoked_token_id/2", [Code.REVOKED])],
    )
    case(
        "revoked_root_chain_id",
        "The root token's exact chain id is revoked: it and every token derived from it.",
        r,
        "orchestrator",
        [Code.REVOKED],
        revoked=[(chain_, token_id(r))],
        then=[step(summ, "summariser", "revoked_root_chain_id/2", [Code.REVOKED])],
    )
    case(
        "revoked_attenuated_chain_id",
        "An attenuated token's chain id is revoked: it and its descendants die, the less"
        " attenuated root token lives on.",
        att,
        "orchestrator",
        [Code.REVOKED],
        revoked=[(chain_, token_id(att))],
        then=[
            step(att_child, "researcher", "revoked_attenuated_chain_id/2", [Code.REVOKED]),
            step(r, "orchestrator", "revoked_attenuated_chain_id/3", chain=orch),
        ],
    )
    case(
        "revoked_hop_id",
        "The researcher's hop is revoked: its branch (researcher, writer below it) dies; the"
        " sibling summariser and the root live on.",
        res,
        "researcher",
        [Code.REVOKED],
        revoked=[(chain_, res_hop_id)],
        then=[
            step(grand, "writer", "revoked_hop_id/2", [Code.REVOKED]),
            step(summ, "summariser", "revoked_hop_id/3", chain=["orchestrator", "summariser"]),
            step(r, "orchestrator", "revoked_hop_id/4", chain=orch),
        ],
    )
    case(
        "revoked_task",
        "The whole task is revoked.",
        summ,
        "summariser",
        [Code.REVOKED],
        revoked=[(RevocationKind.TASK, TASK.task_id)],
        then=[step(r, "orchestrator", "revoked_task/2", [Code.REVOKED])],
    )
    case(
        "revoked_agent_key",
        "The researcher's key is revoked: every chain through it dies, others live on.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(RevocationKind.AGENT, agent_public_key("researcher"))],
        then=[
            step(res, "researcher", "revoked_agent_key/2", [Code.REVOKED]),
            step(summ, "summariser", "revoked_agent_key/3", chain=["orchestrator", "summariser"]),
            step(r, "orchestrator", "revoked_agent_key/4", chain=orch),
        ],
    )
    case(
        "revoked_root_holder_key",
        "The root holder's key is revoked: every token of its chains dies.",
        summ,
        "summariser",
        [Code.REVOKED],
        revoked=[(RevocationKind.AGENT, agent_public_key("orchestrator"))],
    )
    case(
        "revoked_root_key_id",
        "The root key id the token was minted under is revoked.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(RevocationKind.KEY, ROOT_KEY_ID)],
    )
    case(
        "revocations_of_others",
        "Revocations of another task, key id, agent and chain do not touch this token.",
        grand,
        "writer",
        [],
        chain=["orchestrator", "researcher", "writer"],
        revoked=[
            (RevocationKind.TASK, "task-43"),
            (RevocationKind.KEY, "vec-k2"),
            (RevocationKind.AGENT, agent_public_key("mallory")),
            (chain_, "00" * ID_BYTES),
            (chain_, token_id(summ)),
        ],
    )
    case(
        "revoked_and_caveat_fails",
        "A revoked token used outside its scope: both reasons, revocation first.",
        r,
        "orchestrator",
        [Code.REVOKED, At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id)],
        request=req(tool="crm.delete"),
        revoked=[(RevocationKind.TASK, TASK.task_id)],
    )
    case(
        "revoked_without_proof",
        "A revoked token with no proof: both reasons, revocation first.",
        r,
        "orchestrator",
        [Code.REVOKED, Code.POP_REQUIRED],
        revoked=[(RevocationKind.TASK, TASK.task_id)],
        with_proof=False,
    )

    # stores that cannot answer: never an allow
    single = attenuate(r, [MaxUses(1)], now=NOW)
    case(
        "store_revocations_unavailable",
        "The revocation store cannot answer.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="revocations",
    )
    case(
        "store_revocations_unavailable_and_caveat_fails",
        "The revocation store cannot answer and the call is out of scope: both reasons.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE, At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id)],
        request=req(tool="crm.delete"),
        store_failure="revocations",
    )
    case(
        "store_nonces_unavailable",
        "The nonce store cannot record the proof's nonce.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="nonces",
    )
    case(
        "store_nonces_unavailable_no_proof",
        "No proof, so there is no nonce to record: only pop_required.",
        r,
        "orchestrator",
        [Code.POP_REQUIRED],
        store_failure="nonces",
        with_proof=False,
    )
    case(
        "store_nonces_unavailable_bad_proof",
        "A proof that fails its signature check has no nonce to record: only pop_invalid.",
        r,
        "orchestrator",
        [Code.POP_INVALID],
        store_failure="nonces",
        proof_signer="mallory",
    )
    case(
        "store_uses_unavailable",
        "The use counter cannot answer for a single-use token.",
        single,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="uses",
    )
    case(
        "store_uses_unavailable_no_limit",
        "The use counter cannot answer, but the token has no max_uses caveat to count.",
        r,
        "orchestrator",
        [],
        chain=orch,
        store_failure="uses",
    )
    case(
        "store_uses_unavailable_denied_call",
        "A call already denied at step 7 never reaches the use counter.",
        single,
        "orchestrator",
        [At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id)],
        request=req(tool="crm.delete"),
        store_failure="uses",
    )

    # use limits over several calls
    one_sub = attenuate(res, [MaxUses(1)], now=NOW)
    researcher = ["orchestrator", "researcher"]
    case(
        "uses_one_several_calls",
        "A single-use delegated token: one call, then every further call is refused.",
        one_sub,
        "researcher",
        [],
        chain=researcher,
        then=[
            step(
                one_sub,
                "researcher",
                "uses_one_several_calls/2",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
            step(
                one_sub,
                "researcher",
                "uses_one_several_calls/3",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    two = attenuate(r, [MaxUses(2)], now=NOW)
    case(
        "uses_two_several_calls",
        "max_uses 2: two calls, then refused, and refused again.",
        two,
        "orchestrator",
        [],
        chain=orch,
        then=[
            step(two, "orchestrator", "uses_two_several_calls/2", chain=orch),
            step(
                two,
                "orchestrator",
                "uses_two_several_calls/3",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
            step(
                two,
                "orchestrator",
                "uses_two_several_calls/4",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    first_proof = pop(two, "orchestrator", READ, "uses_replay_not_counted")
    f.add(
        "uses_replay_not_counted",
        "max_uses 2: a replayed proof is refused and does not count a use.",
        two,
        READ,
        first_proof,
        chain=orch,
        then=[
            Step(READ, first_proof, codes=[Code.REPLAY]),
            step(two, "orchestrator", "uses_replay_not_counted/3", chain=orch),
            step(
                two,
                "orchestrator",
                "uses_replay_not_counted/4",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    inner = hop(two, "orchestrator", "researcher")
    inner_one = attenuate(inner, [MaxUses(1)], now=NOW)
    case(
        "uses_nested_limits",
        "A parent allows 2 uses, its child 1 more narrowly: a spent child counts nothing"
        " against the parent.",
        inner_one,
        "researcher",
        [],
        chain=researcher,
        then=[
            step(
                inner_one,
                "researcher",
                "uses_nested_limits/2",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id, nth=-1)],
            ),
            step(two, "orchestrator", "uses_nested_limits/3", chain=orch),
            step(
                two,
                "orchestrator",
                "uses_nested_limits/4",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    # A count is keyed by the chain digest through its own max_uses caveat (state.md, use
    # counts): two narrowings of one token that differ before their max_uses caveats count
    # apart, even though their max_uses caveats are the same bytes.
    only_read = attenuate(r, [Tool(("crm.read",)), MaxUses(1)], now=NOW)
    read_or_update = attenuate(r, [Tool(("crm.read", "crm.update")), MaxUses(1)], now=NOW)
    case(
        "uses_counted_under_their_own_prefix",
        "Two single-use narrowings of one token, with other tool caveats before their max_uses"
        " caveats: each has its own count, so each allows its one call, and then neither.",
        only_read,
        "orchestrator",
        [],
        chain=orch,
        then=[
            step(read_or_update, "orchestrator", "uses own prefix/2", chain=orch),
            step(
                only_read,
                "orchestrator",
                "uses own prefix/3",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
            step(
                read_or_update,
                "orchestrator",
                "uses own prefix/4",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    first_limit = resigned(r.raw.identifier, [MaxUses(1).encode(), *cids(r)])
    case(
        "max_uses_before_any_expiry",
        "A single-use token whose max_uses caveat comes first, before any expiry (MACed by hand:"
        " mint writes the expiry first): the one call is allowed and counted, a second refused.",
        first_limit,
        "orchestrator",
        [],
        chain=orch,
        then=[
            step(
                first_limit,
                "orchestrator",
                "uses before expiry/2",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            )
        ],
    )
    ra = needs(r, "approval-service", "state approval", rules=["crm.update:write"])
    single_ra = attenuate(ra, [MaxUses(1)], now=NOW)
    # the orchestrator asks, with the root token, for the update; its narrowings may use it
    approval = approval_discharge(
        ra, "orchestrator", UPDATE, tp_cids(ra)[0], caveat_key("state approval"), "state"
    )
    case(
        "uses_not_spent_by_denied_call",
        "A single-use token: a call denied for want of an approval spends nothing; the next"
        " call is the one use.",
        single_ra,
        "orchestrator",
        [At(Code.APPROVAL_REQUIRED, family=THIRD_PARTY)],
        request=UPDATE,
        then=[
            step(single_ra, "orchestrator", "uses_not_spent_by_denied_call/2", chain=orch),
            step(
                single_ra,
                "orchestrator",
                "uses_not_spent_by_denied_call/3",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
    )
    case(
        "uses_spent_by_approved_call",
        "A single-use token: the approved update is its one use; a read after it is refused.",
        single_ra,
        "orchestrator",
        [],
        request=UPDATE,
        chain=orch,
        then=[
            step(
                single_ra,
                "orchestrator",
                "uses_spent_by_approved_call/2",
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
            ),
        ],
        discharges=[bound(single_ra, approval)],
    )

    # a verifier without state: nothing to revoke with, no replay memory, nothing it can count
    plain_proof = pop(r, "orchestrator", READ, "stateless_plain_token")
    f.add(
        "stateless_plain_token",
        "A verifier without state allows a token with nothing to count; it cannot remember"
        " proofs, so the same proof is allowed again.",
        r,
        READ,
        plain_proof,
        chain=orch,
        stateless=True,
        then=[Step(READ, plain_proof, chain=orch)],
    )
    case(
        "stateless_max_uses",
        "A verifier without state cannot count a single-use token's use: state_required.",
        single,
        "orchestrator",
        [At(Code.STATE_REQUIRED, family=MaxUses.type_id)],
        stateless=True,
    )
    case(
        "stateless_max_uses_denied_call",
        "A call already denied at step 7 never gets to step 9: only its own reason.",
        single,
        "orchestrator",
        [At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id)],
        request=req(tool="crm.delete"),
        stateless=True,
    )
    case(
        "stateless_approval",
        "A verifier without state cannot spend an approval, good for one call: state_required.",
        ra,
        "orchestrator",
        [At(Code.STATE_REQUIRED, family=THIRD_PARTY)],
        request=UPDATE,
        discharges=[bound(ra, approval)],
        stateless=True,
    )
    _kept_until(f, r)
    return f


def _kept_until(f: VectorFile, r: UnverifiedToken) -> None:
    """How long the state remembers (state.md): a nonce until its proof's ``issued_at`` + 90,
    under the holder's key; a max_uses count until the earliest expiry *before* the caveat
    + 30; a spent approval until the approver's expiry (the earliest before the discharge's
    first call caveat, else its latest) + 30. Each is shown by a later presentation just
    inside and just after the time, or after the time a looser rule would pick."""
    nonce = labelled("proof nonce kept until")[:16]

    def same_nonce(at: int, codes: Sequence[Reason] = (), tok: UnverifiedToken = r) -> Step:
        signer = "orchestrator" if tok is r else "researcher"
        proof = pop(tok, signer, READ, "", at=at, nonce=nonce)
        chain = (
            None if codes else (["orchestrator"] if tok is r else ["orchestrator", "researcher"])
        )
        return Step(READ, proof, codes=codes, chain=chain, now=at, token=tok)

    first = pop(r, "orchestrator", READ, "", nonce=nonce)
    orch = ["orchestrator"]
    f.add(
        "nonce_kept_until_issued_at_plus_90",
        "A proof issued at now claims its nonce until now + 90 (60 s of age, 30 s of skew): a"
        " fresh proof with the same nonce issued and shown at now + 89 is a replay.",
        r,
        READ,
        first,
        chain=orch,
        then=[same_nonce(NOW + 89, [Code.REPLAY])],
    )
    f.add(
        "nonce_forgotten_at_issued_at_plus_90",
        "The same nonce in a fresh proof issued and shown at now + 90: the record is gone at"
        " exactly its keep time, and the call is allowed.",
        r,
        READ,
        first,
        chain=orch,
        then=[same_nonce(NOW + 90)],
    )
    ahead = pop(r, "orchestrator", READ, "", at=NOW + 30, nonce=nonce)
    f.add(
        "nonce_kept_from_issued_at_not_now",
        "A proof dated 30 s ahead (within skew) keeps its nonce until its issued_at + 90, that is"
        " now + 120, not now + 90: the same nonce issued and shown at now + 119 is a replay.",
        r,
        READ,
        ahead,
        chain=orch,
        then=[same_nonce(NOW + 119, [Code.REPLAY])],
    )
    child = hop(r, "orchestrator", "researcher")
    f.add(
        "nonce_key_includes_holder_key",
        "The orchestrator's proof and then the researcher's, with the same nonce, at the same"
        " time: the nonce is remembered under the holder's key, so both are allowed.",
        r,
        READ,
        first,
        chain=orch,
        then=[same_nonce(NOW, tok=child)],
    )

    # max_uses: counted under D[p], kept until the earliest expiry before the caveat + 30.
    single = attenuate(r, [MaxUses(1)], now=NOW)
    short = attenuate(single, [Validity(None, NOW + 10)], now=NOW)
    f.add(
        "uses_kept_past_a_later_expiry",
        "max_uses 1, then a child narrowed to expire at now + 10 spends the use: the count is"
        " kept until the expiry before the max_uses caveat (now + 3600) + 30, not the child's:"
        " the parent at now + 1000 is uses_exhausted.",
        short,
        READ,
        pop(short, "orchestrator", READ, "uses kept/1"),
        chain=orch,
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "uses kept/2", at=NOW + 1000),
                codes=[At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
                now=NOW + 1000,
                token=single,
            )
        ],
    )
    f.add(
        "uses_kept_until_the_expiry",
        "max_uses 1 (the token expires at now + 3600), spent at now, used again at now + 3599,"
        " the last second the token is valid: uses_exhausted, as the count is kept past the"
        " expiry.",
        single,
        READ,
        pop(single, "orchestrator", READ, "uses until expiry/1"),
        chain=orch,
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "uses until expiry/2", at=EXPIRES - 1),
                codes=[At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
                now=EXPIRES - 1,
            )
        ],
    )

    # approvals: kept until the approver's expiry + 30, which a holder cannot shorten.
    ra = needs(r, "approval-service", "state keep", rules=["crm.update:write"])
    cid, key = tp_cids(ra)[0], caveat_key("state keep")
    approval = approval_discharge(ra, "orchestrator", UPDATE, cid, key, "state keep")
    narrowed = appended(approval, Validity(None, NOW + 10).encode())

    def later(at: int, discharge: _wire.RawMacaroon, label: str, codes: Sequence[Reason]) -> Step:
        proof = pop(ra, "orchestrator", UPDATE, label, at=at)
        chain = None if codes else orch
        return Step(
            UPDATE, proof, codes=codes, chain=chain, now=at, discharges=[bound(ra, discharge)]
        )

    f.add(
        "approval_kept_past_the_holders_earlier_expiry",
        "The holder appends an expiry of now + 10 to its approval (approver's expiry now + 300)"
        " and spends the copy; the spend record is kept until now + 330, so the original at"
        " now + 100 is a replay.",
        ra,
        UPDATE,
        pop(ra, "orchestrator", UPDATE, "approval kept/1"),
        chain=orch,
        discharges=[bound(ra, narrowed)],
        then=[later(NOW + 100, approval, "approval kept/2", [At(Code.REPLAY, family=THIRD_PARTY)])],
    )
    after_call = by_hand(
        cid,
        key,
        [
            approved_for(ra, "orchestrator", "state keep after call"),
            Call(Request.from_json(UPDATE).digest()),
            Validity(None, NOW + 300),
        ],
    )
    f.add(
        "approval_kept_until_latest_expiry_without_approver_expiry",
        "An approval whose only expiry (now + 300) follows its call caveat, and a holder's copy"
        " with an expiry of now + 10 appended: with no expiry before the call, the record is"
        " kept until the latest expiry + 30, so the original at now + 100 is a replay.",
        ra,
        UPDATE,
        pop(ra, "orchestrator", UPDATE, "approval latest/1"),
        chain=orch,
        discharges=[bound(ra, appended(after_call, Validity(None, NOW + 10).encode()))],
        then=[
            later(NOW + 100, after_call, "approval latest/2", [At(Code.REPLAY, family=THIRD_PARTY)])
        ],
    )
    f.add(
        "approval_kept_until_its_expiry",
        "An approval (expiry now + 300) spent at now, presented again at now + 299, the last"
        " second it is valid: still a replay, as the spend record is kept past the expiry.",
        ra,
        UPDATE,
        pop(ra, "orchestrator", UPDATE, "approval until expiry/1"),
        chain=orch,
        discharges=[bound(ra, approval)],
        then=[
            later(
                NOW + 299,
                approval,
                "approval until expiry/2",
                [At(Code.REPLAY, family=THIRD_PARTY)],
            )
        ],
    )
