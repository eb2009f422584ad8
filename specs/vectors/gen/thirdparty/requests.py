"""``thirdparty.json``, the approval service's side: the holder's signed approval request. The
approver accepts one from the token's holder over this token and call, dated from 60 s ago to
30 s ahead; it refuses (``pop_invalid``) a call proof, a request signed by another agent, for
another call or another token, stale, dated ahead, or missing. Refused, the holder has no
approval: each vector's presentation is the call without one."""

from __future__ import annotations

from delegation import Code, attenuate
from delegation.caveats import Validity

from gen.fixtures import NOW, UPDATE, ask, bound, pop
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    w = story.w
    writer = story.writer
    other_call = story.other_call

    for name, proof_at, description in (
        ("approval_request_at_max_age", NOW - 60, "signed 60 seconds before the approver's clock"),
        ("approval_request_within_skew", NOW + 30, "dated 30 seconds ahead of the approver"),
    ):
        asked = story.asked(w, "writer", UPDATE, name, proof_at=proof_at)
        case(
            name,
            f"An approval request {description}: still accepted; the approval it gives is used.",
            w,
            UPDATE,
            [bound(w, story.approval_of(w, "writer", UPDATE, name))],
            [],
            chain=writer,
            approval_request=asked,
        )

    narrowed = attenuate(w, [Validity(None, NOW + 1800)], now=NOW)
    for name, proof, description in (
        (
            "approval_request_stale",
            ask(w, "writer", UPDATE, "approval_request_stale", at=NOW - 61),
            "signed 61 seconds before the approver's clock",
        ),
        (
            "approval_request_future",
            ask(w, "writer", UPDATE, "approval_request_future", at=NOW + 31),
            "dated 31 seconds ahead of the approver",
        ),
        (
            "approval_request_is_a_call_proof",
            pop(w, "writer", UPDATE, "approval_request_is_a_call_proof"),
            "that is the writer's proof for the call itself (the call domain, not the ask domain)",
        ),
        (
            "approval_request_signed_by_parent",
            ask(w, "orchestrator", UPDATE, "approval_request_signed_by_parent"),
            "for the writer's token signed by the orchestrator, not the token's holder",
        ),
        (
            "approval_request_for_other_call",
            ask(w, "writer", other_call, "approval_request_for_other_call"),
            "signed by the writer over another call than the one it asks to approve",
        ),
        (
            "approval_request_over_other_token",
            ask(narrowed, "writer", UPDATE, "approval_request_over_other_token"),
            "signed by the writer over a narrowed copy of the token it sends",
        ),
        ("approval_request_without_proof", None, "without a proof"),
    ):
        case(
            name,
            f"An approval request {description}: the approver refuses it (pop_invalid), so the"
            " call has no approval.",
            w,
            UPDATE,
            [],
            [first_tp(Code.APPROVAL_REQUIRED)],
            approval_request=story.refused(w, UPDATE, proof, name),
        )
