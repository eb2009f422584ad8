"""``caveats.json``: every caveat check and its code, resource and argument tricks, several
failures at once, later caveats that try to widen, call and max_uses, unknown caveat types."""

from __future__ import annotations

from collections.abc import Sequence

from delegation import ArgConstraint, Code, Request, Scope, attenuate
from delegation.caveats import Audience as AudienceCaveat
from delegation.caveats import Call, MaxUses, ResourceCaveat, Tool, Validity
from delegation.limits import MAX_TIME

from gen.fixtures import (
    EXPIRES,
    NOW,
    READ,
    Json,
    Tokenish,
    appended,
    approved_for,
    cav,
    cids,
    cmap,
    hop,
    pop,
    req,
    resigned,
    root,
    scope,
    tstr,
    uint,
)
from gen.render import At, Reason, Step, VectorFile

# The caveat families a reason of this file is positioned at (by type id, caveats.md).
VALIDITY, AUDIENCE, TOOL, ACTION, RESOURCE, INTENT, ARGS = 1, 2, 3, 4, 5, 6, 7
CALL, MAX_USES, ARGS_ONLY, APPROVED_FOR = 11, 12, 13, 14


def build() -> VectorFile:
    f = VectorFile(
        "caveats.json",
        "Caveat checks against the request and the clock; every failure is reported, in token"
        " order, and no caveat can widen another.",
    )
    r = root("root")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        codes: Sequence[Reason],
        *,
        now: int = NOW,
        signer: str = "orchestrator",
        chain: Sequence[str] | None = None,
    ) -> None:
        proof = pop(tok, signer, request, name, at=now)
        f.add(name, description, tok, request, proof, codes=codes, now=now, chain=chain)

    # missing mandatory caveats (mint refuses these, so they are MACed by hand)
    aud = AudienceCaveat(("crm",)).encode()
    val = Validity(None, EXPIRES).encode()
    case(
        "missing_every_caveat",
        "A genuine token with no caveats at all.",
        resigned(r.raw.identifier, []),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_audience",
        "A genuine token with an expiry but no audience.",
        resigned(r.raw.identifier, [c for c in cids(r) if c != aud]),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_expiry",
        "A genuine token with an audience but no expiry.",
        resigned(r.raw.identifier, [c for c in cids(r) if c != val]),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_expiry_not_before_only",
        "A validity caveat with only not_before does not count as an expiry.",
        resigned(
            r.raw.identifier,
            [Validity(NOW - 10, None).encode() if c == val else c for c in cids(r)],
        ),
        READ,
        [Code.MISSING_CAVEAT],
    )

    # validity
    case(
        "expired_at_expiry",
        "At exactly the expiry time the token is expired.",
        r,
        READ,
        [At(Code.EXPIRED, family=VALIDITY)],
        now=EXPIRES,
    )
    case(
        "expired_long_after",
        "A day after the expiry.",
        r,
        READ,
        [At(Code.EXPIRED, family=VALIDITY)],
        now=EXPIRES + 86_400,
    )
    nbf = root("nbf", scope(not_before=NOW + 100))
    case(
        "not_yet_valid",
        "not_before is 100 s ahead of the verifier clock.",
        nbf,
        READ,
        [At(Code.NOT_YET_VALID, family=VALIDITY)],
    )
    nbf31 = root("nbf31", scope(not_before=NOW + 31))
    case(
        "not_yet_valid_just_past_skew",
        "not_before is 31 s ahead: one second past the skew.",
        nbf31,
        READ,
        [At(Code.NOT_YET_VALID, family=VALIDITY)],
    )
    short = attenuate(r, Scope(expires=NOW + 60), now=NOW)
    case(
        "later_expiry_narrows",
        "A holder's earlier expiry applies.",
        short,
        READ,
        [At(Code.EXPIRED, family=VALIDITY, nth=-1)],
        now=NOW + 60,
    )
    longer = appended(r, Validity(None, EXPIRES + 3600).encode())
    case(
        "later_expiry_cannot_extend",
        "A caveat appended with a later expiry does not extend the root's.",
        longer,
        READ,
        [At(Code.EXPIRED, family=VALIDITY)],
        now=EXPIRES,
    )
    not_before_only = appended(r, Validity(NOW - 10, None).encode())
    case(
        "later_validity_not_before_only",
        "A caveat appended after the root's expiry with only not_before (now - 10): it holds,"
        " and the earliest expiry is still the root's: the read allowed.",
        not_before_only,
        READ,
        [],
        chain=["orchestrator"],
    )

    # names
    case(
        "wrong_audience",
        "The token is for 'crm' and is presented at 'hr'.",
        r,
        req(audience="hr"),
        [At(Code.WRONG_AUDIENCE, family=AUDIENCE)],
    )
    case(
        "wrong_audience_prefix",
        "'crm2' is not 'crm'.",
        r,
        req(audience="crm2"),
        [At(Code.WRONG_AUDIENCE, family=AUDIENCE)],
    )
    case(
        "wrong_audience_case",
        "'CRM' is not 'crm'.",
        r,
        req(audience="CRM"),
        [At(Code.WRONG_AUDIENCE, family=AUDIENCE)],
    )
    case(
        "tool_not_allowed",
        "'crm.delete' is not an approved tool.",
        r,
        req(tool="crm.delete"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
    )
    case(
        "tool_not_allowed_prefix",
        "'crm.read.all' is not 'crm.read'.",
        r,
        req(tool="crm.read.all"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
    )
    case(
        "tool_not_allowed_truncated",
        "'crm.rea' is not 'crm.read'.",
        r,
        req(tool="crm.rea"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
    )
    case(
        "action_not_allowed",
        "'delete' is not an approved action.",
        r,
        req(action="delete"),
        [At(Code.ACTION_NOT_ALLOWED, family=ACTION)],
    )
    case(
        "intent_not_allowed",
        "'exfiltrate' is not an approved intent.",
        r,
        req(intent="exfiltrate"),
        [At(Code.INTENT_NOT_ALLOWED, family=INTENT)],
    )
    case(
        "intent_missing",
        "A request that states no intent, under an intent caveat.",
        r,
        req(intent=None),
        [At(Code.INTENT_NOT_ALLOWED, family=INTENT)],
    )

    # resources, against 'crm://accounts/42/*'
    star = root("single-star", scope(resources=["crm://accounts/42/*"]))
    for name, resource, why in (
        ("resource_other_account", "crm://accounts/43/notes", "another account"),
        ("resource_dot_dot", "crm://accounts/42/../43", "a '..' segment"),
        ("resource_dot", "crm://accounts/42/./notes", "a '.' segment"),
        ("resource_percent_encoded_dot_dot", "crm://accounts/42/%2e%2e", "percent-encoded '..'"),
        ("resource_percent_encoded_slash", "crm://accounts/42%2Fnotes", "a percent-encoded '/'"),
        (
            "resource_percent_encoded_segment",
            "crm://accounts/42/%6eotes",
            "a percent-encoded letter",
        ),
        (
            "resource_dash_suffix",
            "crm://accounts/42-x/notes",
            "'42-x', which only starts with '42'",
        ),
        (
            "resource_longer_number",
            "crm://accounts/420/notes",
            "'420', which only starts with '42'",
        ),
        ("resource_empty_segment", "crm://accounts/42//notes", "an empty segment"),
        ("resource_trailing_slash", "crm://accounts/42/notes/", "a trailing slash"),
        ("resource_account_itself", "crm://accounts/42", "no segment where '*' needs one"),
        (
            "resource_two_segments",
            "crm://accounts/42/notes/1",
            "two segments where '*' matches one",
        ),
        ("resource_uppercase_scheme", "CRM://accounts/42/notes", "an upper-case scheme"),
        ("resource_other_scheme", "https://accounts/42/notes", "another scheme"),
        ("resource_fullwidth_digits", "crm://accounts/\uff14\uff12/notes", "fullwidth digits"),
        ("resource_query", "crm://accounts/42/notes?all=1", "a query"),
        ("resource_fragment", "crm://accounts/42/notes#x", "a fragment"),
        ("resource_backslash", "crm://accounts/42/notes\\..\\..\\43", "backslashes"),
    ):
        case(
            name,
            f"'{resource}' ({why}) does not match 'crm://accounts/42/*'.",
            star,
            req(resource=resource),
            [At(Code.RESOURCE_NOT_ALLOWED, family=RESOURCE)],
        )
    case(
        "resource_missing",
        "A request naming no resource, under a resource caveat.",
        star,
        req(resource=None),
        [At(Code.RESOURCE_NOT_ALLOWED, family=RESOURCE)],
    )

    # arguments
    args = root(
        "args",
        scope(
            args=[
                ArgConstraint.equals("account", 42),
                ArgConstraint.equals("dry_run", True),
                ArgConstraint.one_of("format", ("md", "txt")),
                ArgConstraint.at_most("limit", 50),
                ArgConstraint.at_least("limit", 1),
                ArgConstraint.resource("path", "crm://accounts/42/**"),
            ]
        ),
    )
    ok_args = {
        "account": 42,
        "dry_run": True,
        "format": "md",
        "limit": 10,
        "path": "crm://accounts/42/notes",
    }
    case(
        "args_satisfied",
        "All argument constraints hold.",
        args,
        req(args=ok_args),
        [],
        chain=["orchestrator"],
    )
    case(
        "args_limit_float_within_bounds",
        "A float within numeric bounds satisfies min/max.",
        args,
        req(args={**ok_args, "limit": 7.5}),
        [],
        chain=["orchestrator"],
    )
    for name, changes, why in (
        ("args_eq_text_for_int", {"account": "42"}, 'account "42" (text) does not equal 42'),
        ("args_eq_true_for_int", {"account": True}, "account true does not equal 42"),
        ("args_eq_float_for_int", {"account": 42.0}, "account 42.0 (float) does not equal 42"),
        ("args_eq_int_for_true", {"dry_run": 1}, "dry_run 1 does not equal true"),
        ("args_eq_other_value", {"account": 43}, "account 43 is not 42"),
        ("args_in_other_value", {"format": "pdf"}, "format 'pdf' is not one of md, txt"),
        ("args_in_prefix", {"format": "mdx"}, "format 'mdx' is not 'md'"),
        ("args_max_exceeded", {"limit": 51}, "limit 51 is over max 50"),
        ("args_max_exceeded_float", {"limit": 50.5}, "limit 50.5 is over max 50"),
        ("args_min_not_reached", {"limit": 0}, "limit 0 is under min 1"),
        ("args_limit_text", {"limit": "10"}, 'limit "10" is text, not a number'),
        ("args_limit_bool", {"limit": True}, "limit true is a boolean, not a number"),
        ("args_limit_null", {"limit": None}, "limit null is not a number"),
        (
            "args_path_other_account",
            {"path": "crm://accounts/43/notes"},
            "path is outside account 42",
        ),
        ("args_path_dot_dot", {"path": "crm://accounts/42/../43"}, "path escapes with '..'"),
        ("args_path_not_text", {"path": 42}, "path is not text"),
    ):
        case(
            name,
            f"{why}.",
            args,
            req(args={**ok_args, **changes}),
            [At(Code.ARGS_NOT_ALLOWED, family=ARGS)],
        )
    missing = {k: v for k, v in ok_args.items() if k != "format"}
    case(
        "args_missing_argument",
        "A missing argument satisfies nothing.",
        args,
        req(args=missing),
        [At(Code.ARGS_NOT_ALLOWED, family=ARGS)],
    )
    case(
        "args_none_given",
        "No arguments at all under an args caveat.",
        args,
        req(args={}),
        [At(Code.ARGS_NOT_ALLOWED, family=ARGS)],
    )

    # a closed argument list
    closed = root(
        "args_only",
        scope(args=[ArgConstraint.equals("project", "apollo")], only_args=["project"]),
    )
    case(
        "args_only_listed_arguments",
        "args_only: the call carries only listed arguments.",
        closed,
        req(args={"project": "apollo"}),
        [],
        chain=["orchestrator"],
    )
    case(
        "args_only_unlisted_argument",
        "args_only: an unconstrained argument that is not listed is denied.",
        closed,
        req(args={"project": "apollo", "path": "/etc/passwd"}),
        [At(Code.ARGS_NOT_ALLOWED, family=ARGS_ONLY)],
    )

    # several failures, reported in token order
    case(
        "several_failures_in_token_order",
        "Expired, wrong audience and wrong tool at once: every failure, in caveat order.",
        r,
        req(audience="hr", tool="crm.delete"),
        [
            At(Code.EXPIRED, family=VALIDITY),
            At(Code.WRONG_AUDIENCE, family=AUDIENCE),
            At(Code.TOOL_NOT_ALLOWED, family=TOOL),
        ],
        now=EXPIRES,
    )
    f.add(
        "caveat_failure_and_missing_proof",
        "A caveat failure and a missing proof are both reported, caveats first.",
        r,
        req(tool="crm.delete"),
        None,
        codes=[At(Code.TOOL_NOT_ALLOWED, family=TOOL), Code.POP_REQUIRED],
    )

    # later caveats only narrow
    narrowed = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "later_tool_caveat_narrows",
        "The holder's own tool caveat forbids 'crm.update'.",
        narrowed,
        req(tool="crm.update", action="write", intent="update-notes"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL, nth=-1)],
    )
    wider_tool = appended(r, Tool(("crm.delete", "crm.read", "crm.update")).encode())
    case(
        "later_tool_caveat_cannot_widen",
        "A second tool caveat listing 'crm.delete' too does not allow it: the first still denies.",
        wider_tool,
        req(tool="crm.delete"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
    )
    wider_aud = appended(r, AudienceCaveat(("crm", "hr")).encode())
    case(
        "later_audience_caveat_cannot_widen",
        "An appended audience 'hr' does not allow 'hr'.",
        wider_aud,
        req(audience="hr"),
        [At(Code.WRONG_AUDIENCE, family=AUDIENCE)],
    )
    wider_res = appended(r, ResourceCaveat(("crm://**",)).encode())
    case(
        "later_resource_caveat_cannot_widen",
        "An appended 'crm://**' does not reach account 43.",
        wider_res,
        req(resource="crm://accounts/43/notes"),
        [At(Code.RESOURCE_NOT_ALLOWED, family=RESOURCE)],
    )
    # Several caveats of one family: every one holds, whatever a verifier's shortcut through
    # them (a collapsed scope, the narrowest of the resource sets) keeps.
    notes = appended(r, ResourceCaveat(("crm://accounts/42/notes/*",)).encode())
    disjoint = appended(notes, ResourceCaveat(("crm://accounts/42/tasks/*",)).encode())
    case(
        "resource_disjoint_narrowings_both_hold",
        "The root's crm://accounts/42/**, then crm://accounts/42/notes/*, then"
        " crm://accounts/42/tasks/* (neither covers the other): a task matches the last, and"
        " the notes caveat still denies it.",
        disjoint,
        req(resource="crm://accounts/42/tasks/1"),
        [At(Code.RESOURCE_NOT_ALLOWED, family=RESOURCE, nth=1)],
    )
    repeated = appended(r, ResourceCaveat(("crm://accounts/42/**",)).encode())
    repeated = appended(repeated, ResourceCaveat(("crm://accounts/42/notes/*",)).encode())
    case(
        "resource_narrowing_after_a_repeat",
        "The root's crm://accounts/42/**, the same set again, then crm://accounts/42/notes/*:"
        " the narrowing after the repeat still denies a task.",
        repeated,
        req(resource="crm://accounts/42/tasks/1"),
        [At(Code.RESOURCE_NOT_ALLOWED, family=RESOURCE, nth=-1)],
    )
    nbf_then_expiry = appended(nbf, Validity(None, EXPIRES - 60).encode())
    case(
        "not_yet_valid_under_a_later_expiry",
        "not_before 100 s ahead, then a validity caveat with only an earlier expiry: the"
        " not_before still holds (not_yet_valid at the first).",
        nbf_then_expiry,
        READ,
        [At(Code.NOT_YET_VALID, family=VALIDITY)],
    )
    # The boundaries of validity again, beside a failing caveat: then every caveat is checked
    # on its own (a verifier may shortcut the passing calls), and each still holds.
    skew = root("nbf-skew", scope(not_before=NOW + 30))
    case(
        "not_before_within_skew_beside_a_failure",
        "not_before 30 s ahead (within the skew) and a tool the token does not allow:"
        " tool_not_allowed alone, the not_before holds.",
        skew,
        req(tool="crm.delete"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
    )
    case(
        "one_second_before_expiry_beside_a_failure",
        "One second before the expiry, with a tool the token does not allow: tool_not_allowed"
        " alone, the expiry holds.",
        r,
        req(tool="crm.delete"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
        now=EXPIRES - 1,
    )
    bounds = appended(r, Validity(0, MAX_TIME - 1).encode())
    case(
        "validity_at_the_bounds_of_time",
        "A validity caveat from 0 (the epoch) to 2^34 - 1 (the last time): in range, and the"
        " root's expiry still the earliest: the read allowed.",
        bounds,
        READ,
        [],
        chain=["orchestrator"],
    )

    approval = appended(r, cav(1024, cmap((tstr("approved"), b"\xf5"))))
    case(
        "approval_claim_grants_nothing",
        "A holder appends an application caveat {'approved': true}: unknown here, so it denies.",
        approval,
        READ,
        [At(Code.UNKNOWN_CAVEAT, -1)],
    )

    # call (type 11): the request must be exactly one call
    call = appended(r, Call(Request.from_json(READ).digest()).encode())
    case(
        "call_caveat_matches",
        "A call caveat naming this exact request.",
        call,
        READ,
        [],
        chain=["orchestrator"],
    )
    case(
        "call_caveat_other_request",
        "A call caveat naming the read of 'notes', presented for 'tasks'.",
        call,
        req(resource="crm://accounts/42/tasks"),
        [At(Code.APPROVAL_REQUIRED, family=CALL)],
    )
    case(
        "call_caveat_other_args",
        "A call caveat naming a call without arguments, presented with one.",
        call,
        req(args={"limit": 1}),
        [At(Code.APPROVAL_REQUIRED, family=CALL)],
    )

    # approved_for (type 14) in a token: it pins the token to its holder and its chain so far
    pinned = attenuate(r, [approved_for(r, "orchestrator", "pinned token")], now=NOW)
    case(
        "approved_for_in_token_own_chain",
        "The orchestrator pins its token to itself and the chain so far (an approved_for"
        " caveat); it presents the token itself.",
        pinned,
        READ,
        [],
        chain=["orchestrator"],
    )
    pinned_child = hop(pinned, "orchestrator", "researcher")
    case(
        "approved_for_in_token_delegated",
        "The pinned token delegated to the researcher, who presents it: the chain extends"
        " the pinned one, but its holder is not the one pinned.",
        pinned_child,
        READ,
        [At(Code.WRONG_CHAIN, family=APPROVED_FOR)],
        signer="researcher",
    )

    # max_uses (type 12): counted only after every other check passed
    single = attenuate(r, [MaxUses(1)], now=NOW)
    f.add(
        "max_uses_one",
        "A single-use token: the first call works, a second (with a fresh proof) is refused.",
        single,
        READ,
        pop(single, "orchestrator", READ, "max_uses_one/1"),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "max_uses_one/2"),
                codes=[At(Code.USES_EXHAUSTED, family=MAX_USES)],
            )
        ],
    )
    denied_first = req(tool="crm.delete")
    f.add(
        "max_uses_not_spent_by_denial",
        "A denied call does not use up a single-use token.",
        single,
        denied_first,
        pop(single, "orchestrator", denied_first, "max_uses_not_spent_by_denial/1"),
        codes=[At(Code.TOOL_NOT_ALLOWED, family=TOOL)],
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "max_uses_not_spent_by_denial/2"),
                chain=["orchestrator"],
            )
        ],
    )
    shared = hop(attenuate(r, [MaxUses(2)], now=NOW), "orchestrator", "researcher")
    parent_two = attenuate(r, [MaxUses(2)], now=NOW)
    f.add(
        "max_uses_shared_by_descendants",
        "max_uses 2 counts calls made with the token and with every token derived from it.",
        parent_two,
        READ,
        pop(parent_two, "orchestrator", READ, "max_uses_shared/1"),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(shared, "researcher", READ, "max_uses_shared/2"),
                chain=["orchestrator", "researcher"],
                token=shared,
            ),
            Step(
                READ,
                pop(shared, "researcher", READ, "max_uses_shared/3"),
                codes=[At(Code.USES_EXHAUSTED, family=MAX_USES)],
                token=shared,
            ),
        ],
    )

    # unknown caveat types
    for name, type_id, why in (
        ("unknown_caveat_application_type", 1024, "the first application type id"),
        ("unknown_caveat_highest_type", 2**32 - 1, "the highest type id"),
        ("unknown_caveat_reserved_type", 200, "a type id reserved for the spec"),
        ("unknown_caveat_unassigned_core_type", 127, "an unassigned core type id"),
    ):
        tok = appended(r, cav(type_id, tstr("whatever")))
        case(
            name,
            f"A caveat of {why} ({type_id}) that this verifier does not know.",
            tok,
            READ,
            [At(Code.UNKNOWN_CAVEAT, -1)],
        )
    both = appended(r, cav(1024, uint(0)))
    case(
        "unknown_caveat_and_other_failure",
        "An unknown caveat and a wrong tool: both reported in token order.",
        both,
        req(tool="crm.delete"),
        [At(Code.TOOL_NOT_ALLOWED, family=TOOL), At(Code.UNKNOWN_CAVEAT, -1)],
    )
    return f
