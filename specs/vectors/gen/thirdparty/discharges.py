"""``thirdparty.json``, binding (a discharge works with the token it is bound to and no other)
and the set of discharges: duplicates, extras, garbage, size and count limits."""

from __future__ import annotations

from delegation import Code, _wire
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY
from delegation.caveats import Validity
from delegation.limits import MAX_CAVEATS, MAX_DISCHARGES, MAX_TOKEN_CHARS
from delegation.testing.fixtures import labelled

from gen.fixtures import (
    NOW,
    READ,
    UPDATE,
    approval_discharge,
    bound,
    by_hand,
    caveat_key,
    discharged,
    needs,
    root,
    text,
    tp_cids,
)
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    r = story.r
    ra = story.ra
    issuer_cid = story.issuer_cid
    issuer_key = story.issuer_key
    w = story.w
    sibling = story.sibling
    approval = story.approval
    approved = story.approved
    case(
        "discharge_unbound",
        "The approval as the approval service returned it, not bound to any token.",
        w,
        UPDATE,
        [approval],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "discharge_bound_to_parent",
        "The approval bound to the writer's parent (the root token), presented with the"
        " writer's token.",
        w,
        UPDATE,
        [bound(ra, approval)],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "discharge_bound_to_child_used_with_parent",
        "The approval bound to the writer's token, presented by the orchestrator with the"
        " root token it was derived from.",
        ra,
        UPDATE,
        [approved],
        [first_tp(Code.BAD_DISCHARGE)],
        signer="orchestrator",
    )
    case(
        "discharge_bound_to_sibling",
        "The approval bound to the summariser's token (a sibling with the same caveat),"
        " presented with the writer's token.",
        w,
        UPDATE,
        [bound(sibling, approval)],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "discharge_bound_to_writer_used_by_sibling",
        "The writer's bound approval presented by the summariser with its own token.",
        sibling,
        UPDATE,
        [approved],
        [first_tp(Code.BAD_DISCHARGE)],
        signer="summariser",
    )
    case(
        "discharge_bound_twice",
        "The writer's bound approval bound once more to the writer's token.",
        w,
        UPDATE,
        [bound(w, approved)],
        [first_tp(Code.BAD_DISCHARGE)],
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
    stranger_cid, stranger_key = tp_cids(stranger)[0], caveat_key("stranger approval")
    extra = bound(
        w,
        approval_discharge(
            stranger, "orchestrator", UPDATE, stranger_cid, stranger_key, "stranger"
        ),
    )
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
        "discharge_for_token_without_third_party_caveats",
        "A genuine approval, bound to a token that has no third-party caveat at all: it matches"
        " no caveat (bad_discharge), even though the token asks for nothing.",
        r,
        READ,
        [bound(r, approval)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
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
        [first_tp(Code.APPROVAL_REQUIRED)],
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
