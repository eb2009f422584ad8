"""``thirdparty.json``: third-party caveats and discharges. Human approval of one exact call,
binding to one token, the set of discharges, hand-built discharges, self-approval, generic
third parties, nesting depth and VIDs."""

from __future__ import annotations

from collections.abc import Sequence

import cbor2

from delegation import Code, Request, _crypto, _wire, attenuate
from delegation.caveats import Call, Delegatees, MaxDepth, MaxUses, Tool, Validity
from delegation.limits import MAX_CAVEATS, MAX_DISCHARGE_DEPTH, MAX_DISCHARGES, MAX_TOKEN_CHARS
from delegation.testing.fixtures import labelled
from delegation.thirdparty.caveat import PURPOSE_THIRD_PARTY, seal_vid

from gen.fixtures import (
    NOW,
    READ,
    UPDATE,
    Json,
    Tokenish,
    appended,
    bound,
    by_hand,
    canonical,
    cav,
    caveat_key,
    discharge_raw,
    discharged,
    dtext,
    hop,
    needs,
    nested,
    pop,
    replaced,
    req,
    root,
    signed_hop,
    text,
    token_id,
    tp_caveat,
    tp_cids,
    tstr,
)
from gen.render import Step, VectorFile


def call_digest(request: Json) -> bytes:
    return Request.from_json(request).digest()


def build() -> VectorFile:
    f = VectorFile(
        "thirdparty.json",
        "Third-party caveats and their discharges: human approval of one exact call, generic"
        " third parties, binding to one token, nesting, and the discharges a verifier refuses.",
        third_parties=True,
    )
    r = root("thirdparty")
    # The issuer marks crm.update with write as needing a human, at mint time (before any hop).
    ra = needs(r, "approval-service", "issuer approval", rules=["crm.update:write"])
    issuer_cid, issuer_key = tp_cids(ra)[0], caveat_key("issuer approval")
    w = hop(ra, "orchestrator", "writer")
    sibling = hop(ra, "orchestrator", "summariser")
    writer = ["orchestrator", "writer"]
    other_call = req(**{**UPDATE, "args": {"text": "Account closed"}})
    approval = discharged("approval-service", issuer_cid, UPDATE)
    approved = bound(w, approval)

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        discharges: Sequence[str],
        codes: Sequence[Code],
        *,
        signer: str = "writer",
        now: int = NOW,
        chain: Sequence[str] | None = None,
        then: Sequence[Step] = (),
    ) -> None:
        proof = pop(tok, signer, request, name, at=now)
        f.add(
            name,
            description,
            tok,
            request,
            proof,
            codes=codes,
            chain=chain,
            now=now,
            discharges=discharges,
            then=then,
        )

    # approval: when it is needed, and the exact call
    case(
        "approval_required_for_matching_call",
        "The issuer's rule crm.update:write matches the call and no approval comes with it.",
        w,
        UPDATE,
        [],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_not_required_other_tool",
        "A read does not match the rule crm.update:write: no approval is needed.",
        w,
        READ,
        [],
        [],
        chain=writer,
    )
    read_update = req(tool="crm.update", action="read")
    case(
        "approval_not_required_other_action",
        "crm.update with the action read does not match the rule crm.update:write.",
        w,
        read_update,
        [],
        [],
        chain=writer,
    )
    case(
        "approval_exact_call_allowed",
        "The approval service's discharge for this exact call, bound to the writer's token.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
    )
    case(
        "approval_for_other_call",
        "The same approval presented for a call with other arguments: its call caveat fails.",
        w,
        other_call,
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_for_other_resource",
        "The same approval presented for the same update of another note.",
        w,
        req(**{**UPDATE, "resource": "crm://accounts/42/tasks"}),
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_root_holder",
        "The root holder's own update, approved and bound to the root token.",
        ra,
        UPDATE,
        [bound(ra, approval)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "approval_valid_until_its_expiry",
        "An approval minted at NOW lives 300 seconds: presented at NOW + 299 it still holds.",
        w,
        UPDATE,
        [approved],
        [],
        now=NOW + 299,
        chain=writer,
    )
    case(
        "approval_expired_at_expiry",
        "The same approval presented at NOW + 300, its (exclusive) expiry.",
        w,
        UPDATE,
        [approved],
        [Code.EXPIRED],
        now=NOW + 300,
    )
    old = bound(w, discharged("approval-service", issuer_cid, UPDATE, at=NOW - 400))
    case(
        "approval_expired",
        "An approval minted 400 seconds ago for five minutes.",
        w,
        UPDATE,
        [old],
        [Code.EXPIRED],
    )

    # an approval is for one call
    case(
        "approval_used_twice",
        "An approval allows its call once; the same call again (fresh proof) is a replay.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/2"),
                codes=[Code.REPLAY],
                discharges=[approved],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/3"),
                chain=writer,
                discharges=[bound(w, discharged("approval-service", issuer_cid, UPDATE, ttl=600))],
            ),
        ],
    )
    case(
        "approval_not_spent_by_denied_call",
        "A call denied for its proof or for being another call does not spend the approval.",
        w,
        UPDATE,
        [approved],
        [Code.POP_INVALID],
        signer="mallory",
        then=[
            Step(
                other_call,
                pop(w, "writer", other_call, "approval_not_spent_by_denied_call/2"),
                codes=[Code.APPROVAL_REQUIRED],
                discharges=[approved],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_not_spent_by_denied_call/3"),
                chain=writer,
                discharges=[approved],
            ),
        ],
    )

    # Fixed bug: delegation/verifier.py _check_discharge notes the spend key
    # b"approval\0" + discharge.signature, the *bound* signature. A holder can bind the same
    # unbound approval to an attenuated copy of its token (or append a caveat to the discharge,
    # which changes even the unbound signature, and bind that): each is a new spend key, so one
    # approval allows its call again and again until it expires. Expected (an approval is for
    # one call, third-party.md "Approvals", known issue 1): replay.
    rebound_to = attenuate(w, [Validity(None, NOW + 1800)], now=NOW)
    case(
        "approval_reused_via_attenuated_token",
        "After its call, the writer attenuates its token and binds the same approval to the"
        " copy: still the one approval, already spent.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(rebound_to, "writer", UPDATE, "approval_reused_via_attenuated_token/2"),
                codes=[Code.REPLAY],
                token=rebound_to,
                discharges=[bound(rebound_to, approval)],
            )
        ],
    )
    # Fixed bug: as above, with the discharge attenuated instead of the token.
    reworded = appended(discharge_raw(approval), Validity(None, NOW + 200).encode())
    case(
        "approval_reused_via_attenuated_discharge",
        "After its call, the writer appends a caveat to the approval and binds it again: still"
        " the one approval, already spent.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_reused_via_attenuated_discharge/2"),
                codes=[Code.REPLAY],
                discharges=[bound(w, reworded)],
            )
        ],
    )
    limited = attenuate(ra, [MaxUses(1)], now=NOW)
    case(
        "approval_not_spent_when_uses_exhausted",
        "A single-use copy of the root token is spent by a read; the approved update with it"
        " is refused for its uses, so the approval stays unspent and works with the root token.",
        limited,
        READ,
        [],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                UPDATE,
                pop(limited, "orchestrator", UPDATE, "approval_not_spent_when_uses_exhausted/2"),
                codes=[Code.USES_EXHAUSTED],
                discharges=[bound(limited, approval)],
            ),
            Step(
                UPDATE,
                pop(ra, "orchestrator", UPDATE, "approval_not_spent_when_uses_exhausted/3"),
                chain=["orchestrator"],
                token=ra,
                discharges=[bound(ra, approval)],
            ),
        ],
    )
    case(
        "approval_two_for_one_caveat",
        "Two approvals for the same caveat (for two calls) sent together.",
        w,
        UPDATE,
        [approved, bound(w, discharged("approval-service", issuer_cid, other_call))],
        [Code.BAD_DISCHARGE],
    )

    # binding: a discharge works with the token it is bound to and no other
    case(
        "discharge_unbound",
        "The approval as the approval service returned it, not bound to any token.",
        w,
        UPDATE,
        [approval],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_parent",
        "The approval bound to the writer's parent (the root token), presented with the"
        " writer's token.",
        w,
        UPDATE,
        [bound(ra, approval)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_child_used_with_parent",
        "The approval bound to the writer's token, presented by the orchestrator with the"
        " root token it was derived from.",
        ra,
        UPDATE,
        [approved],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "discharge_bound_to_sibling",
        "The approval bound to the summariser's token (a sibling with the same caveat),"
        " presented with the writer's token.",
        w,
        UPDATE,
        [bound(sibling, approval)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_writer_used_by_sibling",
        "The writer's bound approval presented by the summariser with its own token.",
        sibling,
        UPDATE,
        [approved],
        [Code.BAD_DISCHARGE],
        signer="summariser",
    )
    case(
        "discharge_bound_twice",
        "The writer's bound approval bound once more to the writer's token.",
        w,
        UPDATE,
        [bound(w, approved)],
        [Code.BAD_DISCHARGE],
    )

    # the set of discharges
    case(
        "discharge_duplicate",
        "The right approval sent twice.",
        w,
        UPDATE,
        [approved, approved],
        [Code.BAD_DISCHARGE],
    )
    stranger = needs(root("thirdparty stranger"), "approval-service", "stranger approval")
    extra = bound(w, discharged("approval-service", tp_cids(stranger)[0], UPDATE))
    case(
        "discharge_extra",
        "The right approval plus a genuine one for another token's caveat, bound to this one.",
        w,
        UPDATE,
        [approved, extra],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_extra_no_caveats",
        "A genuine discharge for another token's caveat with a call that needs no discharge.",
        w,
        READ,
        [extra],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_text",
        "A discharge that is not base64url.",
        w,
        READ,
        ["not a discharge!"],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_bytes",
        "A discharge that is base64url of 32 bytes that are no macaroon.",
        w,
        READ,
        [_wire.b64encode(labelled("garbage discharge"))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_empty_string",
        "An empty discharge.",
        w,
        READ,
        [""],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_is_the_token",
        "The token itself sent as a discharge: it decodes, but discharges no caveat.",
        w,
        READ,
        [text(w)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_beside_good_one",
        "The right approval and a discharge that does not decode.",
        w,
        UPDATE,
        [approved, "AAAA"],
        [Code.BAD_DISCHARGE],
    )
    eight = r
    for i in range(MAX_DISCHARGES):
        eight = needs(eight, "notary", f"many {i}", purpose=PURPOSE_THIRD_PARTY, location=None)
    many = needs(eight, "notary", "many last", purpose=PURPOSE_THIRD_PARTY, location=None)
    many_discharges = [bound(many, discharged("notary", cid, None)) for cid in tp_cids(many)]
    eight_discharges = [bound(eight, discharged("notary", cid, None)) for cid in tp_cids(eight)]
    # An oversize discharge does not decode: bad_discharge, like any other that does not.
    case(
        "discharge_too_long",
        f"A discharge text of {MAX_TOKEN_CHARS + 1} characters: it does not decode.",
        w,
        READ,
        ["A" * (MAX_TOKEN_CHARS + 1)],
        [Code.BAD_DISCHARGE],
    )
    long_discharge = by_hand(
        issuer_cid, issuer_key, [Validity(None, NOW + 300 - i) for i in range(MAX_CAVEATS + 1)]
    )
    case(
        "discharge_too_many_caveats",
        f"A discharge with {MAX_CAVEATS + 1} caveats: it does not decode.",
        w,
        UPDATE,
        [bound(w, long_discharge)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "approval_sent_with_call_that_needs_none",
        "The approval of the update sent along with a read, which needs none: a discharge sent"
        " is checked all the same, and its call caveat names another call.",
        w,
        READ,
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "discharges_at_limit",
        f"{MAX_DISCHARGES} third-party caveats, each with its discharge: the most allowed.",
        eight,
        READ,
        eight_discharges,
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "discharges_too_many",
        f"{MAX_DISCHARGES + 1} third-party caveats, each with its genuine discharge: more"
        f" than {MAX_DISCHARGES} discharges is refused before any is checked.",
        many,
        READ,
        many_discharges,
        [Code.TOO_LARGE],
        signer="orchestrator",
    )

    # hand-built approval discharges (with the caveat root key sealed in the issuer's caveat)
    expiry = Validity(None, NOW + 300)
    exact = Call(call_digest(UPDATE))
    case(
        "approval_discharge_built_by_hand",
        "A discharge MACed here with the caveat root key: an expiry and the call. Allowed,"
        " which shows the hand-built discharges below fail only for what they change.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact]))],
        [],
        chain=writer,
    )
    case(
        "discharge_without_expiry",
        "An approval discharge with the call but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_with_not_before_only",
        "An approval discharge with a not-before time but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [Validity(NOW - 10, None), exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "approval_discharge_without_call",
        "An approval discharge with an expiry but no call caveat: it would approve any call.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_not_yet_valid",
        "An approval discharge valid from ten minutes from now.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [Validity(NOW + 600, NOW + 900), exact]))],
        [Code.NOT_YET_VALID],
    )
    for name, forbidden in (
        ("discharge_carries_max_uses", MaxUses(1)),
        ("discharge_carries_max_depth", MaxDepth(0)),
        ("discharge_carries_delegatees", Delegatees(("writer",))),
    ):
        case(
            name,
            f"An approval discharge that carries a {forbidden.name} caveat, which a discharge"
            " may not.",
            w,
            UPDATE,
            [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact, forbidden]))],
            [Code.BAD_DISCHARGE],
        )
    case(
        "discharge_carries_hop",
        "An approval discharge that carries a hop caveat, which a discharge may not.",
        w,
        UPDATE,
        [
            bound(
                w,
                by_hand(
                    issuer_cid,
                    issuer_key,
                    [expiry, exact, _wire.RawCaveat(signed_hop(w, "writer", "alice"))],
                ),
            )
        ],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_carries_unknown_caveat",
        "An approval discharge with a caveat type the verifier does not know.",
        w,
        UPDATE,
        [
            bound(
                w,
                by_hand(
                    issuer_cid, issuer_key, [expiry, exact, _wire.RawCaveat(cav(1024, tstr("x")))]
                ),
            )
        ],
        [Code.UNKNOWN_CAVEAT],
    )
    case(
        "discharge_caveat_dropped",
        "The approval with its call caveat removed and its signature kept.",
        w,
        UPDATE,
        [bound(w, replaced(discharge_raw(approval), caveats=discharge_raw(approval).caveats[:1]))],
        [Code.BAD_DISCHARGE],
    )
    narrowed = appended(discharge_raw(approval), Validity(None, NOW + 60).encode())
    case(
        "discharge_attenuated_by_holder",
        "The holder appends a shorter expiry to the approval before binding it, as any"
        " macaroon holder can.",
        w,
        UPDATE,
        [bound(w, narrowed)],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "discharge_attenuated_by_holder/2", at=NOW + 60),
                now=NOW + 60,
                codes=[Code.EXPIRED],
                discharges=[bound(w, narrowed)],
            )
        ],
    )

    # a sub-agent cannot approve itself
    selfish = needs(
        w,
        "mallory-approver",
        "self approval",
        rules=["crm.update:write"],
        location="https://writer.example/approve",
    )
    own = bound(selfish, discharged("mallory-approver", tp_cids(selfish)[1], UPDATE))
    case(
        "self_approval_does_not_satisfy_issuer",
        "The writer adds an approval caveat for a service it runs and approves its own call:"
        " the issuer's approval caveat is still undischarged.",
        selfish,
        UPDATE,
        [own],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "self_added_approval_with_issuer_approval",
        "The writer's own approval caveat and the issuer's, each discharged by its service.",
        selfish,
        UPDATE,
        [bound(selfish, approval), own],
        [],
        chain=writer,
    )
    # Fixed bug: delegation/verifier.py _claim_approvals claims
    # approvals one by one; when a later one is a replay, the earlier fresh ones stay spent by
    # a call that is denied (verification.md step 9 now says so). Expected here: a denied call
    # spends nothing, all or none, like use counts.
    fresh_issuer = bound(selfish, discharged("approval-service", issuer_cid, UPDATE, ttl=600))
    fresh_own = bound(selfish, discharged("mallory-approver", tp_cids(selfish)[1], UPDATE, ttl=600))
    case(
        "approval_not_spent_when_other_approval_replayed",
        "Two approval caveats, both approved and used. Then a fresh issuer approval with the"
        " spent own approval: replay, and the fresh one is not spent by that denied call, so"
        " it works with a fresh own approval.",
        selfish,
        UPDATE,
        [bound(selfish, approval), own],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(selfish, "writer", UPDATE, "approval_not_spent_when_other_approval_replayed/2"),
                codes=[Code.REPLAY],
                discharges=[fresh_issuer, own],
            ),
            Step(
                UPDATE,
                pop(selfish, "writer", UPDATE, "approval_not_spent_when_other_approval_replayed/3"),
                chain=writer,
                discharges=[fresh_issuer, fresh_own],
            ),
        ],
    )
    copy_key = labelled("the writer's key for a copied caveat id")
    copied = appended(
        w, _wire.RawCaveat(issuer_cid, seal_vid(w.raw.signature, copy_key, bytes(12)))
    )
    case(
        "self_approval_copied_issuer_caveat_id",
        "The writer appends a caveat with the issuer's caveat id but a key of its own, and"
        " discharges it: one discharge per caveat id, so it is checked against the issuer's"
        " caveat (and fails) and the copy has none.",
        copied,
        UPDATE,
        [bound(copied, by_hand(issuer_cid, copy_key, [expiry, exact]))],
        [Code.BAD_DISCHARGE, Code.APPROVAL_REQUIRED],
    )
    case(
        "self_approval_forged_for_issuer_caveat",
        "The writer MACs a discharge for the issuer's caveat with a key of its own choosing.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, labelled("a key the writer made up"), [expiry, exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "self_approval_with_own_caveat_key",
        "The writer MACs a discharge for the issuer's caveat with the caveat root key of the"
        " approval caveat it added itself.",
        selfish,
        UPDATE,
        [bound(selfish, by_hand(issuer_cid, caveat_key("self approval"), [expiry, exact])), own],
        [Code.BAD_DISCHARGE],
    )

    # generic third parties (purpose 0)
    generic = needs(
        r, "notary", "generic", purpose=PURPOSE_THIRD_PARTY, location="https://notary.example"
    )
    generic_cid = tp_cids(generic)[0]
    notarised = bound(generic, discharged("notary", generic_cid, None))
    case(
        "generic_discharge_required",
        "A third-party caveat of purpose 0 without rules applies to every call; none is sent.",
        generic,
        READ,
        [],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    case(
        "generic_discharge_allowed",
        "The notary's discharge, bound to the token; it is not spent by a call, only by time.",
        generic,
        READ,
        [notarised],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(generic, "orchestrator", READ, "generic_discharge_allowed/2"),
                chain=["orchestrator"],
                discharges=[notarised],
            )
        ],
    )
    case(
        "generic_discharge_caveat_fails",
        "The notary's discharge restricts the tool to crm.update; the call is a read.",
        generic,
        READ,
        [
            bound(
                generic,
                by_hand(
                    generic_cid,
                    caveat_key("generic"),
                    [expiry, Tool(("crm.update",))],
                ),
            )
        ],
        [Code.TOOL_NOT_ALLOWED],
        signer="orchestrator",
    )
    both = needs(ra, "notary", "generic after approval", purpose=PURPOSE_THIRD_PARTY, location=None)
    case(
        "approval_and_generic_both_missing",
        "Two third-party caveats, neither discharged: one reason each, in token order.",
        both,
        UPDATE,
        [],
        [Code.APPROVAL_REQUIRED, Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )

    # nesting: a discharge may need discharges, MAX_DISCHARGE_DEPTH levels deep at most
    nest = needs(
        r, "notary", "nest", purpose=PURPOSE_THIRD_PARTY, location="https://notary.example"
    )
    deep_enough = nested(nest, "nest", MAX_DISCHARGE_DEPTH)
    case(
        "nested_discharges_at_limit",
        f"The notary's discharge needs another, which needs another: {MAX_DISCHARGE_DEPTH}"
        " levels of nesting, the most allowed.",
        nest,
        READ,
        [bound(nest, d) for d in deep_enough],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharges_any_order",
        "The same discharges sent innermost first.",
        nest,
        READ,
        [bound(nest, d) for d in reversed(deep_enough)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharges_too_deep",
        f"{MAX_DISCHARGE_DEPTH + 1} levels of nested discharges.",
        nest,
        READ,
        [bound(nest, d) for d in nested(nest, "nest", MAX_DISCHARGE_DEPTH + 1)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "nested_discharge_missing",
        "The notary's discharge needs another discharge, which is not sent.",
        nest,
        READ,
        [bound(nest, deep_enough[0])],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    outer, inner = nested(nest, "nest", 1)
    case(
        "nested_discharges_one_level",
        "The notary's discharge needs one more discharge; both are sent, bound.",
        nest,
        READ,
        [bound(nest, outer), bound(nest, inner)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharge_unbound",
        "The inner discharge is sent without binding it to the token.",
        nest,
        READ,
        [bound(nest, outer), dtext(inner)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "nested_discharge_bound_to_outer",
        "The inner discharge is bound to the outer discharge instead of the token.",
        nest,
        READ,
        [bound(nest, outer), bound(outer, inner)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )

    generic_key = caveat_key("generic")
    needs_itself = by_hand(
        generic_cid,
        generic_key,
        [
            expiry,
            _wire.RawCaveat(
                generic_cid,
                seal_vid(
                    _crypto.chain_signature(
                        generic_key, generic_cid, [_wire.RawCaveat(expiry.encode())]
                    ),
                    generic_key,
                    bytes(12),
                ),
            ),
        ],
    )
    case(
        "discharge_needs_itself",
        "The notary's discharge carries a third-party caveat with its own caveat id: a cycle,"
        " whose second use counts as missing.",
        generic,
        READ,
        [bound(generic, needs_itself)],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    bad_inner = tp_caveat(labelled("not the discharge's chain state"), "notary", "bad inner", "x")
    case(
        "nested_vid_does_not_open",
        "The notary's discharge carries a third-party caveat whose VID does not open under the"
        " discharge's chain state.",
        nest,
        READ,
        [bound(nest, by_hand(tp_cids(nest)[0], caveat_key("nest"), [expiry, bad_inner]))],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )

    # the verification id (step 5: the token is assembled wrongly)
    def with_caveat(section: _wire.RawCaveat) -> _wire.RawMacaroon:
        return appended(r, section)

    wrong_state = tp_caveat(labelled("not the chain state"), "approval-service", "bad vid", "x")
    case(
        "vid_does_not_open",
        "A third-party caveat whose VID was sealed under something other than the chain state"
        " before it.",
        with_caveat(wrong_state),
        READ,
        [],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "vid_wrong_length",
        "A third-party caveat whose VID is ten bytes.",
        with_caveat(_wire.RawCaveat(wrong_state.cid, bytes(10))),
        READ,
        [],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    good = tp_caveat(r.raw.signature, "notary", "bad purpose", token_id(r))
    bad_purpose = canonical({**cbor2.loads(good.cid), 2: 2})
    case(
        "third_party_caveat_unknown_purpose",
        "A third-party caveat of purpose 2, which does not exist (its VID opens).",
        with_caveat(_wire.RawCaveat(bad_purpose, good.vid)),
        READ,
        [],
        [Code.MALFORMED],
        signer="orchestrator",
    )
    return f
