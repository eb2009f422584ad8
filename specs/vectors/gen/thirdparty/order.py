"""``thirdparty.json``, the order of reasons where first-party caveats, discharges and step 9
meet: first-party reasons before every discharge reason, whatever the token order; max_uses
before approvals at step 9; "too many discharges" before any is decoded; a discharge's checks
1-5 stop before its caveats (6) are checked, and nested caveats queued before its error stay
queued."""

from __future__ import annotations

from delegation import Code, _crypto, _wire, attenuate
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY
from delegation.caveats import MaxUses, Tool, Validity
from delegation.limits import MAX_DISCHARGES

from gen.fixtures import (
    NOW,
    READ,
    UPDATE,
    bound,
    by_hand,
    caveat_key,
    needs,
    pop,
    root_id,
    tp_caveat,
    tp_cids,
)
from gen.render import At, Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case, r, ra = story.case, story.r, story.ra

    # The approval caveat comes before the tool caveat in the token; the tool reason still
    # comes first, since every first-party caveat is checked before any third-party one.
    later_tool = attenuate(ra, [Tool(("crm.read",))], now=NOW)
    case(
        "order_first_party_before_discharge_reasons",
        "A token whose approval caveat (caveat 7) precedes a tool caveat (caveat 8) that"
        " UPDATE fails, presented without approval: tool_not_allowed, then approval_required.",
        later_tool,
        UPDATE,
        [],
        [
            At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id, nth=-1),
            first_tp(Code.APPROVAL_REQUIRED),
        ],
        signer="orchestrator",
    )

    # max_uses 1 and one approval: the second call reuses the approval too; both limits are
    # spent, and only the first, the max_uses counter, is reported.
    single = attenuate(ra, [MaxUses(1)], now=NOW)
    approval = bound(single, story.approval_of(single, "orchestrator", UPDATE, "order single"))
    case(
        "order_max_uses_before_approval_at_step_9",
        "max_uses 1 and an approval: the call is allowed; the same call again, with the same"
        " approval, has its use counter and its approval both spent: uses_exhausted alone,"
        " since max_uses limits come first and only the first exhausted one is reported.",
        single,
        UPDATE,
        [approval],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                UPDATE,
                pop(single, "orchestrator", UPDATE, "order single/2"),
                [At(Code.USES_EXHAUSTED, family=MaxUses.type_id)],
                discharges=[approval],
            )
        ],
    )

    # max_uses 2 and one approval: the second call has room in its count, and its approval
    # is spent: replay at the approval's caveat (the limits after the max_uses ones).
    two = attenuate(ra, [MaxUses(2)], now=NOW)
    approval_two = bound(two, story.approval_of(two, "orchestrator", UPDATE, "order two"))
    case(
        "order_approval_spent_under_max_uses_with_room",
        "max_uses 2 and an approval: the call is allowed; the same call again, with the same"
        " approval, has room in its use count, and its approval is spent: replay, positioned at"
        " the approval caveat.",
        two,
        UPDATE,
        [approval_two],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                UPDATE,
                pop(two, "orchestrator", UPDATE, "order two/2"),
                [first_tp(Code.REPLAY)],
                discharges=[approval_two],
            )
        ],
    )

    case(
        "order_too_many_discharges_before_decoding",
        f"{MAX_DISCHARGES + 1} discharges, none of them decodable: too_large, counted before"
        " any is decoded (not bad_discharge).",
        ra,
        READ,
        ["!"] * (MAX_DISCHARGES + 1),
        [Code.TOO_LARGE],
        signer="orchestrator",
    )

    # A generic caveat whose discharge breaks a check of 1-5 and also fails a caveat (6).
    gen = needs(r, "notary", "order generic", purpose=PURPOSE_THIRD_PARTY, location=None)
    cid, key = tp_cids(gen)[0], caveat_key("order generic")
    no_expiry_wrong_tool = by_hand(cid, key, [Tool(("crm.update",))])
    case(
        "order_discharge_checks_stop_before_its_caveats",
        "A notary discharge without an expiry (check 4) whose tool caveat the read also fails"
        " (check 6): bad_discharge alone, its caveats are not checked.",
        gen,
        READ,
        [bound(gen, no_expiry_wrong_tool)],
        [first_tp(Code.BAD_DISCHARGE)],
        signer="orchestrator",
    )

    # A discharge that carries a nested caveat, then a forbidden max_uses caveat: it is
    # bad_discharge, but the nested caveat, queued before the error, is still checked.
    expiry = Validity(None, NOW + 300).encode()
    state = _crypto.chain_signature(key, cid, [_raw(expiry)])
    inner_label = "order generic/nested"
    nested_section = tp_caveat(state, "notary", inner_label, root_id(gen))
    outer = by_hand(cid, key, [_raw(expiry), nested_section, _raw(MaxUses(1).encode())])
    inner = by_hand(nested_section.cid, caveat_key(inner_label), [_raw(expiry)])
    case(
        "order_nested_caveat_queued_before_error_missing",
        "A notary discharge with a nested caveat and then a forbidden max_uses caveat, without"
        " the nested discharge: bad_discharge, then discharge_required for the nested caveat,"
        " which was queued before the error.",
        gen,
        READ,
        [bound(gen, outer)],
        [first_tp(Code.BAD_DISCHARGE), first_tp(Code.DISCHARGE_REQUIRED)],
        signer="orchestrator",
    )
    case(
        "order_nested_caveat_queued_before_error_present",
        "The same, with the nested discharge sent: it is used by the queued caveat (so not"
        " 'matches no caveat'), and holds: bad_discharge alone.",
        gen,
        READ,
        [bound(gen, outer), bound(gen, inner)],
        [first_tp(Code.BAD_DISCHARGE)],
        signer="orchestrator",
    )


def _raw(cid: bytes) -> _wire.RawCaveat:
    return _wire.RawCaveat(cid)
