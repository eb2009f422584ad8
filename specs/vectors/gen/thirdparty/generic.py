"""``thirdparty.json``, generic third parties (purpose 0), nested discharges up to the depth
limit, and verification ids that do not open."""

from __future__ import annotations

import cbor2

from delegation import Code, _crypto, _wire
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY, seal_vid
from delegation.caveats import Tool
from delegation.limits import MAX_DISCHARGE_DEPTH
from delegation.testing.fixtures import labelled

from gen.fixtures import (
    READ,
    UPDATE,
    appended,
    bound,
    by_hand,
    canonical,
    caveat_key,
    discharged,
    dtext,
    needs,
    nested,
    pop,
    root_id,
    tp_caveat,
    tp_cids,
)
from gen.render import THIRD_PARTY, At, Step
from gen.thirdparty.story import Story, first_tp


def add(story: Story) -> None:
    """Add the vectors of this theme to ``story.f``, in file order."""
    case = story.case
    r, ra, expiry = story.r, story.ra, story.expiry
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
        [first_tp(Code.DISCHARGE_REQUIRED)],
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
        [first_tp(Code.TOOL_NOT_ALLOWED)],
        signer="orchestrator",
    )
    both = needs(ra, "notary", "generic after approval", purpose=PURPOSE_THIRD_PARTY, location=None)
    case(
        "approval_and_generic_both_missing",
        "Two third-party caveats, neither discharged: one reason each, in token order.",
        both,
        UPDATE,
        [],
        [first_tp(Code.APPROVAL_REQUIRED), At(Code.DISCHARGE_REQUIRED, family=THIRD_PARTY, nth=-1)],
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
        [first_tp(Code.BAD_DISCHARGE)],
        signer="orchestrator",
    )
    case(
        "nested_discharge_missing",
        "The notary's discharge needs another discharge, which is not sent.",
        nest,
        READ,
        [bound(nest, deep_enough[0])],
        [first_tp(Code.DISCHARGE_REQUIRED)],
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
        [first_tp(Code.BAD_DISCHARGE)],
        signer="orchestrator",
    )
    case(
        "nested_discharge_bound_to_outer",
        "The inner discharge is bound to the outer discharge instead of the token.",
        nest,
        READ,
        [bound(nest, outer), bound(outer, inner)],
        [first_tp(Code.BAD_DISCHARGE)],
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
        [first_tp(Code.DISCHARGE_REQUIRED)],
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
        [first_tp(Code.BAD_DISCHARGE)],
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
        [At(Code.BAD_DISCHARGE, -1, vid=True)],
        signer="orchestrator",
    )
    case(
        "vid_wrong_length",
        "A third-party caveat whose VID is ten bytes.",
        with_caveat(_wire.RawCaveat(wrong_state.cid, bytes(10))),
        READ,
        [],
        [At(Code.BAD_DISCHARGE, -1, vid=True)],
        signer="orchestrator",
    )
    good = tp_caveat(r.raw.signature, "notary", "bad purpose", root_id(r))
    bad_purpose = canonical({**cbor2.loads(good.cid), 2: 2})
    case(
        "third_party_caveat_unknown_purpose",
        "A third-party caveat of purpose 2, which does not exist (its VID opens).",
        with_caveat(_wire.RawCaveat(bad_purpose, good.vid)),
        READ,
        [],
        [At(Code.MALFORMED, -1)],
        signer="orchestrator",
    )
