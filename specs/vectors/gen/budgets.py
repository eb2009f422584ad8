"""``budgets.json``: the budget caveat (budgets.md). Costs from an argument and fixed costs, the
per-call maximum, nested budgets, siblings sharing their parent's budget, the order of step 9's
denials, a verifier without state, a budget store that cannot answer, body rules, and
reservations: settle, release, refusals and expiry.

The root scope is SCOPE plus budgets, so its caveats are validity 0, audience 1, tool 2,
action 3, intent 4, resource 5, max_depth 6, then the budgets from 7; a delegation appends
its hop, then its own budgets. Every balance below is worked out by hand from budgets.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from delegation import Budget, Code, Scope, UnverifiedToken
from delegation.limits import RESERVATION_SECONDS

from gen.fixtures import NOW, Json, appended, cav, cmap, hop, pop, req, root, scope, tstr, uint
from gen.render import At, Reason, Settle, Spent, Step, VectorFile

USD = "usd-cents"


def pay(amount: object) -> Json:
    return req(args={"amount": amount})


def build() -> VectorFile:
    f = VectorFile(
        "budgets.json",
        "Budgets: costs, per-call maxima, nested and shared budgets, what a decision reports,"
        " and reservations settled, released, refused and expired.",
    )
    usd = Budget(USD, 2000, "amount", max_per_call=800)
    r = root("budgets", scope(budgets=[usd]))
    a = hop(r, "orchestrator", "researcher", Scope(budgets=[Budget(USD, 1200, "amount")]))
    b = hop(r, "orchestrator", "writer", Scope(budgets=[Budget(USD, 1200, "amount")]))
    orch, via_a, via_b = (
        ["orchestrator"],
        ["orchestrator", "researcher"],
        ["orchestrator", "writer"],
    )

    def root_spent(charged: int, spent: int) -> Spent:
        return Spent(USD, 2000, charged, spent, 0, 7)

    def own(charged: int, spent: int) -> Spent:
        return Spent(USD, 1200, charged, spent, 1, 9)

    def step(
        tok: UnverifiedToken,
        signer: str,
        label: str,
        amount: object,
        codes: Sequence[Reason] = (),
        chain: Sequence[str] | None = None,
        budgets: Sequence[Spent] = (),
        *,
        now: int = NOW,
        reserve: bool = False,
    ) -> Step:
        request = pay(amount)
        proof = pop(tok, signer, request, label, at=now)
        return Step(request, proof, codes, chain, now, tok, budgets=budgets, reserve=reserve)

    def first(
        name: str,
        description: str,
        tok: UnverifiedToken,
        signer: str,
        amount: object,
        codes: Sequence[Reason] = (),
        chain: Sequence[str] | None = None,
        budgets: Sequence[Spent] = (),
        then: Sequence[Step | Settle] = (),
        *,
        reserve: bool = False,
        store_failure: str | None = None,
        stateless: bool = False,
    ) -> None:
        request = pay(amount)
        f.add(
            name,
            description,
            tok,
            request,
            pop(tok, signer, request, name),
            codes=codes,
            chain=chain,
            budgets=budgets,
            reserve=reserve,
            then=then,
            store_failure=store_failure,
            stateless=stateless,
        )

    # --- the cost, and the per-call rules of step 7 ----------------------------------------
    first(
        "budget_cost_from_argument",
        "Each call is charged its amount argument; the decision reports what is left; a call"
        " of 0 passes a spent budget.",
        r,
        "orchestrator",
        700,
        chain=orch,
        budgets=[root_spent(700, 700)],
        then=[
            step(r, "orchestrator", "arg/2", 800, chain=orch, budgets=[root_spent(800, 1500)]),
            step(r, "orchestrator", "arg/3", 500, chain=orch, budgets=[root_spent(500, 2000)]),
            step(
                r,
                "orchestrator",
                "arg/4",
                1,
                [At(Code.BUDGET_EXCEEDED, 7)],
                None,
                [root_spent(0, 2000)],
            ),
            step(r, "orchestrator", "arg/5", 0, chain=orch, budgets=[root_spent(0, 2000)]),
        ],
    )
    calls = root("budgets fixed", scope(budgets=[Budget("calls", 2, 1)]))
    first(
        "budget_fixed_cost",
        "A fixed cost of 1 counts calls, whatever the arguments: two calls, then none.",
        calls,
        "orchestrator",
        "not a number",
        chain=orch,
        budgets=[Spent("calls", 2, 1, 1, 0, 7)],
        then=[
            step(calls, "orchestrator", "fixed/2", 10**6, chain=orch,
                 budgets=[Spent("calls", 2, 1, 2, 0, 7)]),
            step(calls, "orchestrator", "fixed/3", 0, [At(Code.BUDGET_EXCEEDED, 7)], None,
                 [Spent("calls", 2, 0, 2, 0, 7)]),
        ],
    )  # fmt: skip
    first(
        "budget_per_call_maximum_inclusive",
        "max_per_call 800 allows a call of 800 and refuses 801 at step 7, charging nothing.",
        r,
        "orchestrator",
        800,
        chain=orch,
        budgets=[root_spent(800, 800)],
        then=[step(r, "orchestrator", "cap/2", 801, [At(Code.COST_TOO_HIGH, 7)])],
    )
    for label, amount, what in (
        ("missing", None, "no amount argument"),
        ("text", "5", "the amount as text"),
        ("boolean", True, "the amount as a boolean"),
        ("float", 5.5, "the amount as a float"),
        ("negative", -1, "a negative amount"),
    ):
        request = req(args={} if amount is None else {"amount": amount})
        f.add(
            f"budget_cost_invalid_{label}",
            f"A call with {what} cannot be priced: cost_invalid, nothing charged.",
            r,
            request,
            pop(r, "orchestrator", request, f"invalid {label}"),
            codes=[At(Code.COST_INVALID, 7)],
        )
    first(
        "budget_cost_invalid_every_budget",
        "Without the argument, each budget that reads it fails on its own: the root's and the"
        " researcher's.",
        a,
        "researcher",
        "none",
        [At(Code.COST_INVALID, 7), At(Code.COST_INVALID, 9)],
    )

    # --- nested and shared budgets -------------------------------------------------------------
    first(
        "budget_child_within_its_own",
        "The researcher's 1200 and the root's 2000 are both charged; the researcher's runs out"
        " first.",
        a,
        "researcher",
        700,
        chain=via_a,
        budgets=[root_spent(700, 700), own(700, 700)],
        then=[
            step(a, "researcher", "own/2", 501, [At(Code.BUDGET_EXCEEDED, 9)], None,
                 [root_spent(0, 700), own(0, 700)]),
            step(a, "researcher", "own/3", 500, chain=via_a,
                 budgets=[root_spent(500, 1200), own(500, 1200)]),
        ],
    )  # fmt: skip
    first(
        "budget_siblings_share_the_parents",
        "Two siblings with 1200 each under the root's 2000 spend 2000 together at most: the"
        " second is refused at the root's budget.",
        a,
        "researcher",
        800,
        chain=via_a,
        budgets=[root_spent(800, 800), own(800, 800)],
        then=[
            step(b, "writer", "siblings/2", 800, chain=via_b,
                 budgets=[root_spent(800, 1600), own(800, 800)]),
            step(b, "writer", "siblings/3", 401, [At(Code.BUDGET_EXCEEDED, 7)], None,
                 [root_spent(0, 1600), own(0, 800)]),
            step(b, "writer", "siblings/4", 400, chain=via_b,
                 budgets=[root_spent(400, 2000), own(400, 1200)]),
            step(a, "researcher", "siblings/5", 1, [At(Code.BUDGET_EXCEEDED, 7)], None,
                 [root_spent(0, 2000), own(0, 800)]),
            step(r, "orchestrator", "siblings/6", 0, chain=orch, budgets=[root_spent(0, 2000)]),
        ],
    )  # fmt: skip
    two = root("budgets two", scope(budgets=[Budget(USD, 100, "amount"), Budget("calls", 1, 1)]))
    first(
        "budget_two_units_all_or_nothing",
        "Two budgets in two units: the second call fits the money but not the call count, so"
        " neither is charged.",
        two,
        "orchestrator",
        30,
        chain=orch,
        budgets=[Spent(USD, 100, 30, 30, 0, 7), Spent("calls", 1, 1, 1, 0, 8)],
        then=[
            step(two, "orchestrator", "two/2", 30, [At(Code.BUDGET_EXCEEDED, 8)], None,
                 [Spent(USD, 100, 0, 30, 0, 7), Spent("calls", 1, 0, 1, 0, 8)]),
        ],
    )  # fmt: skip
    limited = root("budgets uses", scope(max_uses=1, budgets=[Budget(USD, 100, "amount")]))
    first(
        "budget_uses_exhausted_reported_first",
        "max_uses 1 and a budget: the second call is uses_exhausted, charges nothing, and the"
        " decision still shows the balance (max_uses is caveat 7, the budget 8).",
        limited,
        "orchestrator",
        10,
        chain=orch,
        budgets=[Spent(USD, 100, 10, 10, 0, 8)],
        then=[
            step(limited, "orchestrator", "uses/2", 10, [At(Code.USES_EXHAUSTED, 7)], None,
                 [Spent(USD, 100, 0, 10, 0, 8)]),
        ],
    )  # fmt: skip
    first(
        "budget_denied_call_charges_nothing",
        "A call refused at step 7 (another tool) reports no budgets and charges nothing.",
        r,
        "orchestrator",
        0,
        chain=orch,
        budgets=[root_spent(0, 0)],
        then=[
            Step(
                req(tool="crm.delete", args={"amount": 900}),
                pop(r, "orchestrator", req(tool="crm.delete", args={"amount": 900}), "denied/2"),
                [At(Code.TOOL_NOT_ALLOWED, 2), At(Code.COST_TOO_HIGH, 7)],
            ),
            step(r, "orchestrator", "denied/3", 800, chain=orch, budgets=[root_spent(800, 800)]),
        ],
    )
    first(
        "budget_stateless_state_required",
        "A verifier without state denies a budgeted chain, whatever the cost, at the first"
        " budget caveat.",
        a,
        "researcher",
        0,
        [At(Code.STATE_REQUIRED, 7)],
        stateless=True,
    )
    first(
        "budget_store_unavailable",
        "The budget store cannot answer: store_unavailable, and nothing is reported.",
        r,
        "orchestrator",
        5,
        [Code.STORE_UNAVAILABLE],
        store_failure="budgets",
    )

    # --- body rules --------------------------------------------------------------------------
    base = root("budgets body")
    for label, body, what in (
        ("both_costs", cmap((uint(1), tstr(USD)), (uint(2), uint(10)), (uint(4), uint(1)),
                            (uint(5), tstr("amount"))), "both a fixed cost and a cost argument"),
        ("no_cost", cmap((uint(1), tstr(USD)), (uint(2), uint(10))), "no cost at all"),
        ("no_total", cmap((uint(1), tstr(USD)), (uint(4), uint(1))), "no total"),
        ("unknown_field", cmap((uint(1), tstr(USD)), (uint(2), uint(10)), (uint(4), uint(1)),
                               (uint(6), uint(0))), "an unknown field 6"),
        ("total_true", cmap((uint(1), tstr(USD)), (uint(2), b"\xf5"), (uint(4), uint(1))),
         "a total of true"),
        ("unordered", cmap((uint(2), uint(10)), (uint(1), tstr(USD)), (uint(4), uint(1))),
         "keys out of order (a second spelling)"),
    ):  # fmt: skip
        tok = appended(base, cav(15, body))
        f.add(
            f"budget_body_{label}",
            f"A budget with {what} is malformed, at its position.",
            tok,
            pay(1),
            pop(tok, "orchestrator", pay(1), f"body {label}"),
            codes=[At(Code.MALFORMED, 7)],
        )

    # --- reservations --------------------------------------------------------------------------
    late = NOW + RESERVATION_SECONDS
    first(
        "budget_reserve_then_settle",
        "A reservation of 800 settles at 120: 680 go back to both budgets; a second settle"
        " finds nothing.",
        a,
        "researcher",
        800,
        chain=via_a,
        budgets=[root_spent(800, 800), own(800, 800)],
        reserve=True,
        then=[
            Settle(0, {USD: 120}, NOW + 5,
                   [(USD, 2000, 800, 120, 120), (USD, 1200, 800, 120, 120)]),
            step(a, "researcher", "settle/3", 800, chain=via_a,
                 budgets=[root_spent(800, 920), own(800, 920)], now=NOW + 6),
            Settle(0, {USD: 1}, NOW + 7, refused="unknown_reservation"),
        ],
    )  # fmt: skip
    first(
        "budget_reserve_then_release",
        "A released reservation gives everything back; then the whole budget is there.",
        r,
        "orchestrator",
        800,
        chain=orch,
        budgets=[root_spent(800, 800)],
        reserve=True,
        then=[
            Settle(0, None, NOW + 1, [(USD, 2000, 800, 0, 0)]),
            Settle(0, None, NOW + 2, refused="unknown_reservation"),
        ],
    )
    first(
        "budget_reservation_expires_spent",
        "At 900 s a reservation can no longer be settled: its charge stands in full; at 899 s"
        " it still could have been.",
        r,
        "orchestrator",
        600,
        chain=orch,
        budgets=[root_spent(600, 600)],
        reserve=True,
        then=[
            Settle(0, {USD: 0}, late, refused="reservation_expired"),
            step(r, "orchestrator", "expiry/3", 0, chain=orch, budgets=[root_spent(0, 600)],
                 now=late),
            step(r, "orchestrator", "expiry/4", 500, chain=orch, budgets=[root_spent(500, 1100)],
                 now=late, reserve=True),
            Settle(3, {USD: 1}, late + RESERVATION_SECONDS - 1, [(USD, 2000, 500, 1, 601)]),
        ],
    )  # fmt: skip
    first(
        "budget_settle_refusals",
        "A settle above the reservation, in another unit or with a cost that is not a whole"
        " number changes nothing; then a good one settles.",
        r,
        "orchestrator",
        300,
        chain=orch,
        budgets=[root_spent(300, 300)],
        reserve=True,
        then=[
            Settle(0, {USD: 301}, NOW + 1, refused="over_reservation"),
            Settle(0, {"usd": 1}, NOW + 1, refused="unknown_unit"),
            Settle(0, {USD: -1}, NOW + 1, refused="invalid_cost"),
            Settle(0, {}, NOW + 2, [(USD, 2000, 300, 300, 300)]),
        ],
    )
    first(
        "budget_no_reservation_without_reserve",
        "Without reserve there is nothing to settle: the charge is final.",
        r,
        "orchestrator",
        300,
        chain=orch,
        budgets=[root_spent(300, 300)],
        then=[step(r, "orchestrator", "final/2", 800, chain=orch, budgets=[root_spent(800, 1100)])],
    )
    return f
