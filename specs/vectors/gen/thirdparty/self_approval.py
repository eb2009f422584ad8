"""``thirdparty.json``, a sub-agent cannot approve its own calls: its own approval caveat, a
copied caveat id, discharges MACed with keys of its choosing."""

from __future__ import annotations

from delegation import Code, _wire
from delegation._thirdparty.caveat import seal_vid
from delegation.testing.fixtures import labelled

from gen.fixtures import (
    UPDATE,
    appended,
    approval_discharge,
    bound,
    by_hand,
    caveat_key,
    needs,
    pop,
    tp_cids,
)
from gen.render import THIRD_PARTY, At, Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    issuer_cid = story.issuer_cid
    w = story.w
    writer = story.writer
    approval = story.approval
    expiry = story.expiry
    asked = story.for_writer
    exact = story.exact
    selfish = needs(
        w,
        "mallory-approver",
        "self approval",
        rules=["crm.update:write"],
        location="https://writer.example/approve",
    )
    own_cid, own_key = tp_cids(selfish)[1], caveat_key("self approval")
    own = bound(selfish, approval_discharge(selfish, "writer", UPDATE, own_cid, own_key, "own"))
    case(
        "self_approval_does_not_satisfy_issuer",
        "The writer adds an approval caveat for a service it runs and approves its own call:"
        " the issuer's approval caveat is still undischarged.",
        selfish,
        UPDATE,
        [own],
        [first_tp(Code.APPROVAL_REQUIRED)],
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
    fresh_issuer = bound(selfish, story.approval_of(selfish, "writer", UPDATE, "fresh issuer"))
    fresh_own = bound(
        selfish, approval_discharge(selfish, "writer", UPDATE, own_cid, own_key, "fresh own")
    )
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
                codes=[At(Code.REPLAY, family=THIRD_PARTY, nth=-1)],
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
        [bound(copied, by_hand(issuer_cid, copy_key, [expiry, asked, exact]))],
        [
            first_tp(Code.BAD_DISCHARGE),
            At(Code.APPROVAL_REQUIRED, family=THIRD_PARTY, nth=-1),
        ],
    )
    case(
        "self_approval_forged_for_issuer_caveat",
        "The writer MACs a discharge for the issuer's caveat with a key of its own choosing.",
        w,
        UPDATE,
        [
            bound(
                w, by_hand(issuer_cid, labelled("a key the writer made up"), [expiry, asked, exact])
            )
        ],
        [first_tp(Code.BAD_DISCHARGE)],
    )
    case(
        "self_approval_with_own_caveat_key",
        "The writer MACs a discharge for the issuer's caveat with the caveat root key of the"
        " approval caveat it added itself.",
        selfish,
        UPDATE,
        [bound(selfish, by_hand(issuer_cid, own_key, [expiry, asked, exact])), own],
        [first_tp(Code.BAD_DISCHARGE)],
    )
