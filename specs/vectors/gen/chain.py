"""``chain.json``: signed hops. Hop signatures, key cycles, spliced hops, the hop limit, depth
caps and delegatee lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cbor2

from delegation import Code, Scope, UnverifiedToken, _wire, attenuate
from delegation._thirdparty.caveat import PURPOSE_THIRD_PARTY
from delegation.caveats import Delegatees, Hop, MaxDepth, Tool, Validity
from delegation.limits import MAX_HOPS

from gen.fixtures import (
    EXPIRES,
    NOW,
    READ,
    Json,
    K,
    Tokenish,
    appended,
    arr,
    cav,
    flip,
    hop,
    needs,
    pop,
    req,
    resigned,
    root,
    scope,
    signed_hop,
)
from gen.render import At, Reason, Step, VectorFile


def build() -> VectorFile:
    f = VectorFile(
        "chain.json",
        "Signed hops: holder continuity, no key twice, depth caps and delegatee lists.",
    )
    r = root("root")
    one = hop(r, "orchestrator", "researcher")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        signer: str,
        codes: Sequence[Reason],
        *,
        chain: Sequence[str] | None = None,
        request: Json = READ,
    ) -> None:
        f.add(
            name,
            description,
            tok,
            request,
            pop(tok, signer, request, name),
            codes=codes,
            chain=chain,
        )

    case(
        "one_hop_valid",
        "A genuine hop; the researcher presents.",
        one,
        "researcher",
        [],
        chain=["orchestrator", "researcher"],
    )
    narrowed = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    update = req(tool="crm.update", action="write", intent="update-notes")
    case(
        "hop_scope_binds_delegatee",
        "The hop narrowed tools to 'crm.read'; the researcher tries 'crm.update'.",
        narrowed,
        "researcher",
        [At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id, nth=-1)],
        request=update,
    )

    # bad hops
    case(
        "hop_signature_corrupted",
        "One bit of the hop signature flipped (the HMAC chain is intact).",
        appended(r, signed_hop(r, "orchestrator", "researcher", corrupt=True)),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "hop_signed_by_stranger",
        "Mallory signs the hop to the researcher instead of the holder.",
        appended(r, signed_hop(r, "mallory", "researcher")),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "hop_signed_by_delegatee",
        "The researcher signs its own hop.",
        appended(r, signed_hop(r, "researcher", "researcher")),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "second_hop_signed_by_previous_holder",
        "After orchestrator -> researcher, the orchestrator (no longer the holder) signs a hop"
        " to the writer.",
        appended(one, signed_hop(one, "orchestrator", "writer")),
        "writer",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "hop_key_cycle_back_to_root_holder",
        "The researcher delegates, properly signed, to the orchestrator's key under another"
        " agent id.",
        appended(one, signed_hop(one, "researcher", "orchestrator-2", key_of="orchestrator")),
        "orchestrator",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "hop_self_delegation",
        "The orchestrator delegates to its own key.",
        appended(r, signed_hop(r, "orchestrator", "orchestrator")),
        "orchestrator",
        [At(Code.BAD_HOP, -1)],
    )
    two = hop(one, "researcher", "writer")
    case(
        "hop_key_cycle_later",
        "orchestrator -> researcher -> writer -> researcher's key again.",
        appended(two, signed_hop(two, "writer", "researcher-2", key_of="researcher")),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    other = root("other")
    other_hop = signed_hop(other, "orchestrator", "researcher")
    spliced = appended(r, other_hop)
    case(
        "hop_spliced_from_other_token",
        "A genuine hop from another token of the same orchestrator, appended here: it signs"
        " another chain.",
        spliced,
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    attenuated = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "hop_signed_over_shorter_prefix",
        "The orchestrator signed the hop before appending a caveat, then appended the hop"
        " after it.",
        appended(attenuated, signed_hop(r, "orchestrator", "researcher")),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    genuine = Hop.from_body(cbor2.loads(signed_hop(r, "orchestrator", "researcher"))[1])
    case(
        "hop_retargeted_public_key",
        "A genuine hop's public key swapped for Mallory's, appended with the HMAC extended.",
        appended(r, Hop("researcher", K["mallory"].public_key, genuine.signature).encode()),
        "mallory",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "hop_retargeted_agent_id",
        "A genuine hop's agent id changed from 'researcher' to 'researcher2'.",
        appended(r, Hop("researcher2", genuine.public_key, genuine.signature).encode()),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    other_one = hop(other, "orchestrator", "researcher")
    f.add(
        "hop_cache_does_not_bless_spliced_hop",
        "The verifier first accepts the hop in its own token, then sees the same hop bytes"
        " spliced onto another token: a hop-signature cache must key on the chain before the hop.",
        other_one,
        READ,
        pop(other_one, "researcher", READ, "hop_cache_does_not_bless_spliced_hop/1"),
        chain=["orchestrator", "researcher"],
        then=[
            Step(
                READ,
                pop(spliced, "researcher", READ, "hop_cache_does_not_bless_spliced_hop/2"),
                codes=[At(Code.BAD_HOP, -1)],
                token=spliced,
            )
        ],
    )
    forged = appended(r, signed_hop(r, "mallory", "mallory"))
    f.add(
        "hop_cache_keys_on_the_hop",
        "The verifier first accepts the hop orchestrator -> researcher, then sees, after the"
        " same chain state, a hop to Mallory that Mallory signed herself: a hop-signature cache"
        " must key on the hop's bytes as well as on the chain before it.",
        one,
        READ,
        pop(one, "researcher", READ, "hop_cache_keys_on_the_hop/1"),
        chain=["orchestrator", "researcher"],
        then=[
            Step(
                READ,
                pop(forged, "mallory", READ, "hop_cache_keys_on_the_hop/2"),
                codes=[At(Code.BAD_HOP, -1)],
                token=forged,
            )
        ],
    )

    # the hop limit
    free = root("long-chain", scope(max_depth=None))
    names = ["orchestrator"]
    tok = free
    for i in range(1, MAX_HOPS + 1):
        tok = hop(tok, names[-1], f"agent-{i:02d}")
        names.append(f"agent-{i:02d}")
    case(
        f"{MAX_HOPS}_hops_allowed",
        f"{MAX_HOPS} genuine hops: the most a token may carry.",
        tok,
        names[-1],
        [],
        chain=names,
    )
    seventeen = appended(tok, signed_hop(tok, names[-1], f"agent-{MAX_HOPS + 1:02d}"))
    case(
        f"{MAX_HOPS + 1}_hops_too_large",
        f"{MAX_HOPS + 1} genuine hops: over the hop limit, rejected before any hop signature.",
        seventeen,
        f"agent-{MAX_HOPS + 1:02d}",
        [At(Code.TOO_LARGE, -1)],
    )

    # depth
    d1 = root("depth1", scope(max_depth=1))
    d1_one = hop(d1, "orchestrator", "researcher")
    case(
        "depth_at_cap",
        "max_depth 1 and one hop.",
        d1_one,
        "researcher",
        [],
        chain=["orchestrator", "researcher"],
    )
    case(
        "depth_exceeded_root_cap",
        "max_depth 1 and two genuinely signed hops.",
        appended(d1_one, signed_hop(d1_one, "researcher", "writer")),
        "writer",
        [At(Code.DEPTH_EXCEEDED, family=MaxDepth.type_id)],
    )
    d0 = root("depth0", scope(max_depth=0))
    case(
        "depth_exceeded_zero",
        "max_depth 0 and one genuinely signed hop.",
        appended(d0, signed_hop(d0, "orchestrator", "researcher")),
        "researcher",
        [At(Code.DEPTH_EXCEEDED, family=MaxDepth.type_id)],
    )
    capped = hop(r, "orchestrator", "researcher", Scope(max_depth=0))
    case(
        "depth_cap_set_by_hop",
        "The hop to the researcher says max_depth 0; the researcher delegates anyway.",
        appended(capped, signed_hop(capped, "researcher", "writer")),
        "writer",
        [At(Code.DEPTH_EXCEEDED, family=MaxDepth.type_id, nth=-1)],
    )
    raised = appended(d1_one, MaxDepth(5).encode())
    raised = appended(raised, signed_hop(raised, "researcher", "writer"))
    raised = appended(raised, signed_hop(raised, "writer", "summariser"))
    case(
        "later_max_depth_cannot_raise",
        "Under the root's max_depth 1 the researcher appends max_depth 5 and delegates twice.",
        raised,
        "summariser",
        [At(Code.DEPTH_EXCEEDED, family=MaxDepth.type_id)],
    )

    # delegatees
    only_researcher = root("delegatees-researcher", scope(delegatees=["researcher"]))
    case(
        "delegatee_not_allowed",
        "Delegatees ['researcher']; a genuine hop to the writer.",
        appended(only_researcher, signed_hop(only_researcher, "orchestrator", "writer")),
        "writer",
        [At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id)],
    )
    alice = root("delegatees-alice", scope(delegatees=["alice"]))
    case(
        "delegatee_exact",
        "Delegatees ['alice']; a hop to 'alice'.",
        hop(alice, "orchestrator", "alice"),
        "alice",
        [],
        chain=["orchestrator", "alice"],
    )
    case(
        "delegatee_prefix_confusion",
        "Delegatees ['alice']; a genuine hop to 'alice2' is not 'alice'.",
        appended(alice, signed_hop(alice, "orchestrator", "alice2")),
        "alice2",
        [At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id)],
    )
    alice_star = root("delegatees-alice-star", scope(delegatees=["alice*"]))
    case(
        "delegatee_prefix_pattern",
        "Delegatees ['alice*'] explicitly allows 'alice2'.",
        hop(alice_star, "orchestrator", "alice2"),
        "alice2",
        [],
        chain=["orchestrator", "alice2"],
    )
    pair = root("delegatees-pair", scope(delegatees=["researcher", "writer"]))
    pair2 = hop(hop(pair, "orchestrator", "researcher"), "researcher", "writer")
    case(
        "delegatees_bind_every_later_hop",
        "Delegatees ['researcher', 'writer'] also bind the writer's own hop to Mallory.",
        appended(pair2, signed_hop(pair2, "writer", "mallory")),
        "mallory",
        [At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id)],
    )
    case(
        "delegatees_pair_valid",
        "Both hops are to allowed delegatees.",
        pair2,
        "writer",
        [],
        chain=["orchestrator", "researcher", "writer"],
    )
    r1 = hop(only_researcher, "orchestrator", "researcher")
    widened = appended(r1, Delegatees(("*",)).encode())
    case(
        "later_delegatees_cannot_widen",
        "Under delegatees ['researcher'] the researcher appends ['*'] and delegates to Mallory.",
        appended(widened, signed_hop(widened, "researcher", "mallory")),
        "mallory",
        [At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id)],
    )
    by_hop = hop(r, "orchestrator", "researcher", Scope(delegatees=["writer"]))
    case(
        "delegatees_set_by_hop",
        "The hop to the researcher allows only the writer next; the researcher picks Mallory.",
        appended(by_hop, signed_hop(by_hop, "researcher", "mallory")),
        "mallory",
        [At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id)],
    )
    both = root("depth0-delegatees", scope(max_depth=0, delegatees=["researcher"]))
    case(
        "depth_and_delegatee_both_reported",
        "max_depth 0 and delegatees ['researcher']; a genuine hop to the writer breaks both.",
        appended(both, signed_hop(both, "orchestrator", "writer")),
        "writer",
        [
            At(Code.DEPTH_EXCEEDED, family=MaxDepth.type_id),
            At(Code.DELEGATEE_NOT_ALLOWED, family=Delegatees.type_id),
        ],
    )
    _order(case, r)
    return f


def _order(case: Callable[..., None], r: UnverifiedToken) -> None:
    """Step 4 (parse every caveat) runs wholly before step 5 (walk the chain), and the
    mandatory caveats are required only after the walk: the reason is the earlier step's."""
    bad_hop = signed_hop(r, "orchestrator", "researcher", corrupt=True)
    empty_tools = cav(3, arr())
    case(
        "order_parse_before_walk_bad_hop",
        "A hop whose signature is corrupted, then an empty tool list: malformed (step 4 parses"
        " every caveat before step 5 checks the hop), not bad_hop.",
        appended(r, bad_hop, empty_tools),
        "researcher",
        [At(Code.MALFORMED, -1)],
    )
    notary = needs(r, "notary", "order vid", purpose=PURPOSE_THIRD_PARTY, location=None)
    section = notary.raw.caveats[-1]
    assert section.vid is not None
    spoiled = _wire.RawCaveat(section.cid, flip(section.vid, 20))
    case(
        "order_parse_before_walk_bad_vid",
        "A third-party caveat whose VID does not open, then an empty tool list: malformed, not"
        " bad_discharge.",
        appended(r, spoiled, empty_tools),
        "orchestrator",
        [At(Code.MALFORMED, -1)],
    )
    hops = [
        Hop(f"agent-{i:02d}", K[f"agent-{i:02d}"].public_key, bytes(64)).encode()
        for i in range(1, MAX_HOPS + 2)
    ]
    case(
        "order_seventeenth_hop_before_walk",
        f"{MAX_HOPS + 1} hops, none validly signed: too_large at the 17th hop (step 4), not"
        " bad_hop at the first (step 5).",
        appended(r, *hops),
        "agent-17",
        [At(Code.TOO_LARGE, -1)],
    )
    validity = Validity(None, EXPIRES).encode()
    unsigned = resigned(r.raw.identifier, [validity])
    case(
        "order_missing_caveat_after_walk_bad_hop",
        "No audience caveat, and a hop whose signature is corrupted: bad_hop (the walk), not"
        " missing_caveat, which is required only after the walk.",
        resigned(
            r.raw.identifier,
            [validity, signed_hop(unsigned, "orchestrator", "researcher", corrupt=True)],
        ),
        "researcher",
        [At(Code.BAD_HOP, -1)],
    )
    case(
        "order_missing_caveat_after_walk_bad_vid",
        "No audience caveat, and a third-party caveat whose VID does not open: bad_discharge,"
        " not missing_caveat.",
        resigned(r.raw.identifier, [validity, spoiled]),
        "orchestrator",
        [At(Code.BAD_DISCHARGE, -1, vid=True)],
    )
