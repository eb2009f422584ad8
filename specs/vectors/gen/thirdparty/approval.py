"""``thirdparty.json``, an approval: when a call needs one, for the exact call, until its expiry,
spent by one call and only by a call that is allowed, and not reusable through an attenuated
token or discharge."""

from __future__ import annotations

from delegation import Code, attenuate
from delegation.caveats import MaxUses, Validity

from gen.fixtures import NOW, READ, UPDATE, appended, bound, discharge_raw, pop, req
from gen.render import At, Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    ra = story.ra
    w = story.w
    writer = story.writer
    other_call = story.other_call
    approval = story.approval
    approved = story.approved
    root_approval = story.root_approval
    case(
        "approval_required_for_matching_call",
        "The issuer's rule crm.update:write matches the call and no approval comes with it.",
        w,
        UPDATE,
        [],
        [first_tp(Code.APPROVAL_REQUIRED)],
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
        "The writer asks the approval service, with its token and a signed approval request,"
        " to approve this exact call; the discharge, bound to the writer's token, is used by"
        " the chain that asked.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        approval_request=story.asked(w, "writer", UPDATE, "writer"),
    )
    case(
        "approval_for_other_call",
        "The same approval presented for a call with other arguments: its call caveat fails.",
        w,
        other_call,
        [approved],
        [first_tp(Code.APPROVAL_REQUIRED)],
    )
    case(
        "approval_for_other_resource",
        "The same approval presented for the same update of another note.",
        w,
        req(**{**UPDATE, "resource": "crm://accounts/42/tasks"}),
        [approved],
        [first_tp(Code.APPROVAL_REQUIRED)],
    )
    case(
        "approval_root_holder",
        "The root holder's own update, asked for with the root token, approved and bound to it.",
        ra,
        UPDATE,
        [bound(ra, root_approval)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        approval_request=story.asked(ra, "orchestrator", UPDATE, "orchestrator"),
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
        [first_tp(Code.EXPIRED)],
        now=NOW + 300,
    )
    old = bound(w, story.approval_of(w, "writer", UPDATE, "expired", at=NOW - 400))
    case(
        "approval_expired",
        "An approval minted 400 seconds ago for five minutes.",
        w,
        UPDATE,
        [old],
        [first_tp(Code.EXPIRED)],
    )

    # an approval is for one call
    case(
        "approval_used_twice",
        "An approval allows its call once; the same call again (fresh proof) is a replay; a"
        " new approval of the same call allows it once more.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/2"),
                codes=[first_tp(Code.REPLAY)],
                discharges=[approved],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/3"),
                chain=writer,
                discharges=[bound(w, story.approval_of(w, "writer", UPDATE, "used twice/3"))],
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
                codes=[first_tp(Code.APPROVAL_REQUIRED)],
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

    # Fixed bug: delegation/verifier.py _check_discharge noted the spend key
    # b"approval\0" + discharge.signature, the *bound* signature. A holder can bind the same
    # unbound approval to an attenuated copy of its token (or append a caveat to the discharge,
    # which changes even the unbound signature, and bind that): each was a new spend key, so
    # one approval allowed its call again and again until it expired. Expected (an approval is
    # for one call, third-party.md "Approvals"): replay. The attenuated copy is the writer's
    # own narrowing, so the approval's approved_for holds for it.
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
                codes=[first_tp(Code.REPLAY)],
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
                codes=[first_tp(Code.REPLAY)],
                discharges=[bound(w, reworded)],
            )
        ],
    )
    limited = attenuate(ra, [MaxUses(1)], now=NOW)
    case(
        "approval_not_spent_when_uses_exhausted",
        "A single-use copy of the root token is spent by a read; the update with it and the"
        " orchestrator's approval is refused for its uses, so the approval stays unspent and"
        " works with the root token.",
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
                codes=[At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
                discharges=[bound(limited, root_approval)],
            ),
            Step(
                UPDATE,
                pop(ra, "orchestrator", UPDATE, "approval_not_spent_when_uses_exhausted/3"),
                chain=["orchestrator"],
                token=ra,
                discharges=[bound(ra, root_approval)],
            ),
        ],
    )
    case(
        "approval_two_for_one_caveat",
        "Two approvals for the same caveat (for two calls) sent together.",
        w,
        UPDATE,
        [approved, bound(w, story.approval_of(w, "writer", other_call, "other call"))],
        [Code.BAD_DISCHARGE],
    )
