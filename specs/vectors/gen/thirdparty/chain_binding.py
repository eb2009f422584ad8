"""``thirdparty.json``, an approval holds for the chain that asked: the token the approver was
shown, and that token narrowed by the same holder; never a sibling, the parent, a child, or
another branch that reaches the same key (``wrong_chain``). Two approvals of one call are two
approvals, each good for one call."""

from __future__ import annotations

from delegation import Code, attenuate
from delegation.caveats import Validity

from gen.fixtures import NOW, UPDATE, ask, bound, hop, pop
from gen.render import Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    ra = story.ra
    w = story.w
    sibling = story.sibling
    writer = story.writer
    approval = story.approval
    approved = story.approved
    root_approval = story.root_approval

    # the writer's own narrowing: attenuate adds caveats, no hop, so the holder and the prefix
    # the approver saw are both still there
    narrowed = attenuate(w, [Validity(None, NOW + 1800)], now=NOW)
    case(
        "approval_used_by_narrowed_token",
        "The writer asked with its token; it narrows that token itself and presents the"
        " approval bound to the narrowed copy: the same holder, the same chain prefix.",
        narrowed,
        UPDATE,
        [bound(narrowed, approval)],
        [],
        chain=writer,
    )
    case(
        "approval_used_by_sibling",
        "The writer's approval, bound correctly to the summariser's token (a sibling with the"
        " same caveat), presented by the summariser: approved for another chain. The"
        " writer's approval is not spent by that denial.",
        sibling,
        UPDATE,
        [bound(sibling, approval)],
        [first_tp(Code.WRONG_CHAIN)],
        signer="summariser",
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_by_sibling/2"),
                chain=writer,
                token=w,
                discharges=[approved],
            )
        ],
    )
    case(
        "approval_used_by_parent",
        "The writer's approval, bound correctly to the root token, presented by the"
        " orchestrator: the root token does not reach the chain the writer showed.",
        ra,
        UPDATE,
        [bound(ra, approval)],
        [first_tp(Code.WRONG_CHAIN)],
        signer="orchestrator",
    )
    child = hop(w, "writer", "alice")
    case(
        "approval_used_by_child",
        "The writer delegates to alice; the writer's approval, bound to alice's token, is"
        " presented by alice: alice's chain extends the writer's, but alice did not ask.",
        child,
        UPDATE,
        [bound(child, approval)],
        [first_tp(Code.WRONG_CHAIN)],
        signer="alice",
    )
    case(
        "approval_of_parent_used_by_child",
        "The orchestrator's approval, asked with the root token, bound to the writer's token"
        " (which extends it) and presented by the writer: another holder.",
        w,
        UPDATE,
        [bound(w, root_approval)],
        [first_tp(Code.WRONG_CHAIN)],
    )
    # The writer's key reached through another branch: orchestrator -> summariser -> writer.
    # A key appears once per chain, but it may appear in two chains.
    other_branch = hop(sibling, "summariser", "writer")
    case(
        "approval_used_by_other_branch_same_key",
        "The writer's approval, bound to a token that reaches the writer's key through the"
        " summariser, presented by the writer: the same holder, another chain.",
        other_branch,
        UPDATE,
        [bound(other_branch, approval)],
        [first_tp(Code.WRONG_CHAIN)],
    )
    asked_narrowed = story.approval_of(narrowed, "writer", UPDATE, "narrowed")
    case(
        "approval_of_narrowed_token_used_with_wider",
        "The writer asks with a narrowed copy of its token, then presents the approval with"
        " the wider token it narrowed: the chain the approver saw is longer than this one.",
        w,
        UPDATE,
        [bound(w, asked_narrowed)],
        [first_tp(Code.WRONG_CHAIN)],
        approval_request=story.asked(narrowed, "writer", UPDATE, "narrowed"),
    )
    case(
        "approval_used_by_sibling_after_expiry",
        "The writer's approval presented by the summariser after its expiry: each of the"
        " discharge's failing caveats gives its reason, in the discharge's order.",
        sibling,
        UPDATE,
        [bound(sibling, approval)],
        [first_tp(Code.EXPIRED), first_tp(Code.WRONG_CHAIN)],
        signer="summariser",
        now=NOW + 300,
    )
    first = story.approval_of(w, "writer", UPDATE, "twice/1")
    second = story.approval_of(w, "writer", UPDATE, "twice/2")
    case(
        "approval_two_approvals_same_call",
        "The writer asks twice for the same call and a human says yes twice, in the same"
        " second with the same TTL: two approvals (two approval ids, two spend keys), each"
        " good for one call.",
        w,
        UPDATE,
        [bound(w, first)],
        [],
        chain=writer,
        approval_request=story.asked(w, "writer", UPDATE, "twice/1"),
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_two_approvals_same_call/2"),
                chain=writer,
                discharges=[bound(w, second)],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_two_approvals_same_call/3"),
                codes=[first_tp(Code.REPLAY)],
                discharges=[bound(w, first)],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_two_approvals_same_call/4"),
                codes=[first_tp(Code.REPLAY)],
                discharges=[bound(w, second)],
            ),
        ],
    )
    case(
        "approval_request_as_call_proof",
        "The writer sends its signed approval request as the proof of the call: another"
        " domain, so it is no proof; the approval is not spent, and a real proof then works.",
        w,
        UPDATE,
        [approved],
        [Code.POP_INVALID],
        proof=ask(w, "writer", UPDATE, "approval_request_as_call_proof"),
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_request_as_call_proof/2"),
                chain=writer,
                discharges=[approved],
            )
        ],
    )
