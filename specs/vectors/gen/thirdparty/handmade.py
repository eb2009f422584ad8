"""``thirdparty.json``, approval discharges MACed by hand with the caveat root key sealed in the
issuer's caveat, as a hostile third party could: without expiry, call or approved_for (or with
approved_for after the call), not yet valid, with caveats a discharge may not carry, a caveat
dropped or added."""

from __future__ import annotations

from delegation import Code, _wire
from delegation.caveats import Delegatees, MaxDepth, MaxUses, Validity

from gen.fixtures import (
    NOW,
    UPDATE,
    appended,
    bound,
    by_hand,
    cav,
    discharge_raw,
    pop,
    replaced,
    signed_hop,
    tstr,
)
from gen.render import Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    issuer_cid = story.issuer_cid
    issuer_key = story.issuer_key
    w = story.w
    writer = story.writer
    approval = story.approval
    expiry = story.expiry
    asked = story.for_writer
    exact = story.exact
    case(
        "approval_discharge_built_by_hand",
        "A discharge MACed here with the caveat root key: an expiry, the writer's chain and the"
        " call. Allowed, which shows the hand-built discharges below fail only for what they"
        " change.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, asked, exact]))],
        [],
        chain=writer,
    )
    case(
        "discharge_without_expiry",
        "An approval discharge with the chain that asked and the call but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [asked, exact]))],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "discharge_with_not_before_only",
        "An approval discharge with a not-before time but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [Validity(NOW - 10, None), asked, exact]))],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "approval_discharge_without_call",
        "An approval discharge with an expiry and the chain that asked but no call caveat: it"
        " would approve any call.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, asked]))],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "approval_discharge_without_approved_for",
        "An approval discharge with an expiry and the call but no approved_for caveat: it would"
        " approve the call for any chain that carries the caveat.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact]))],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "approval_discharge_approved_for_after_call",
        "An approval discharge whose approved_for caveat comes after its call caveat: outside"
        " the spend key, where any holder could have appended it.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact, asked]))],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "discharge_not_yet_valid",
        "An approval discharge valid from ten minutes from now.",
        w,
        UPDATE,
        [
            bound(
                w,
                by_hand(issuer_cid, issuer_key, [Validity(NOW + 600, NOW + 900), asked, exact]),
            )
        ],
        [first_tp(Code.NOT_YET_VALID)],
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
            [bound(w, by_hand(issuer_cid, issuer_key, [expiry, asked, exact, forbidden]))],
            [first_tp(Code.BAD_DISCHARGE)],
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
                    [expiry, asked, exact, _wire.RawCaveat(signed_hop(w, "writer", "alice"))],
                ),
            )
        ],
        [first_tp(Code.BAD_DISCHARGE)],
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
                    issuer_cid,
                    issuer_key,
                    [expiry, asked, exact, _wire.RawCaveat(cav(1024, tstr("x")))],
                ),
            )
        ],
        [first_tp(Code.UNKNOWN_CAVEAT)],
    )
    case(
        "discharge_caveat_dropped",
        "The approval with its call caveat removed and its signature kept.",
        w,
        UPDATE,
        [bound(w, replaced(discharge_raw(approval), caveats=discharge_raw(approval).caveats[:2]))],
        [first_tp(Code.BAD_DISCHARGE)],
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
                codes=[first_tp(Code.EXPIRED)],
                discharges=[bound(w, narrowed)],
            )
        ],
    )
