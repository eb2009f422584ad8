"""The budget caveat (type 15): its body, the per-call rules and what counts as narrowing.

The total is charged in shared state by the verifier (tests/unit/verifier/test_budgets.py);
here is everything a budget decides from the request alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from delegation import Budget, Code, MalformedToken, NotNarrowing, Request
from delegation._cbor import dumps, loads
from delegation.caveats import default_registry
from delegation.caveats.budget import MAX_AMOUNT
from delegation.caveats.registry import ParentView, Placed
from delegation.errors import CaveatFailed


def request(**args: Any) -> Request:
    return Request(audience="pay", tool="pay.send", action="write", args=args)


def failure(budget: Budget, req: Request) -> CaveatFailed:
    with pytest.raises(CaveatFailed) as caught:
        budget.cost_of(req.args)
    return caught.value


@pytest.mark.parametrize(
    ("budget", "body"),
    [
        (Budget("usd-cents", 2000, "amount"), {1: "usd-cents", 2: 2000, 5: "amount"}),
        (Budget("calls", 10, 1), {1: "calls", 2: 10, 4: 1}),
        (Budget("u", 0, 0, max_per_call=0), {1: "u", 2: 0, 3: 0, 4: 0}),
        (
            Budget("llm-tokens", MAX_AMOUNT, "max_tokens", max_per_call=4096),
            {1: "llm-tokens", 2: MAX_AMOUNT, 3: 4096, 5: "max_tokens"},
        ),
    ],
)
def test_the_body_is_an_integer_keyed_map_and_round_trips(budget: Budget, body: Any) -> None:
    assert budget.to_body() == body
    assert Budget.from_body(body) == budget
    assert default_registry().decode(budget.encode()) == budget
    assert loads(budget.encode(), "caveat") == [15, body]


def test_describe_names_where_the_cost_comes_from() -> None:
    assert Budget("usd-cents", 2000, "amount", max_per_call=500).describe() == {
        "unit": "usd-cents",
        "total": 2000,
        "max_per_call": 500,
        "cost_arg": "amount",
    }
    assert Budget("calls", 10, 1).describe() == {"unit": "calls", "total": 10, "cost": 1}


@pytest.mark.parametrize(
    "body",
    [
        [],
        ["usd", 1, None, 1],
        {},
        {2: 10, 4: 1},  # no unit
        {1: "usd", 4: 1},  # no total
        {1: "usd", 2: 10},  # no cost
        {1: "usd", 2: 10, 4: 1, 5: "amount"},  # two costs
        {1: "usd", 2: 10, 4: 1, 6: 0},  # unknown field
        {1: "", 2: 10, 4: 1},
        {1: "u\x00", 2: 10, 4: 1},
        {1: "u" * 257, 2: 10, 4: 1},
        {1: 7, 2: 10, 4: 1},
        {1: "usd", 2: -1, 4: 1},
        {1: "usd", 2: MAX_AMOUNT + 1, 4: 1},
        {1: "usd", 2: True, 4: 1},
        {1: "usd", 2: "10", 4: 1},
        {1: "usd", 2: 10, 3: -1, 4: 1},
        {1: "usd", 2: 10, 3: False, 4: 1},
        {1: "usd", 2: 10, 4: -1},
        {1: "usd", 2: 10, 4: True},
        {1: "usd", 2: 10, 4: MAX_AMOUNT + 1},
        {1: "usd", 2: 10, 5: ""},
        {1: "usd", 2: 10, 5: 3},
        {1: "usd", 2: 10, 5: ["amount"]},
    ],
)
def test_bad_bodies_are_malformed(body: Any) -> None:
    with pytest.raises(MalformedToken):
        Budget.from_body(body)
    try:
        encoded = dumps([15, body])
    except MalformedToken:  # outside the CBOR profile: no token can carry it at all
        return
    with pytest.raises(MalformedToken):
        default_registry().decode(encoded)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unit": "", "total": 1, "cost": 1},
        {"unit": "usd", "total": -1, "cost": 1},
        {"unit": "usd", "total": 1, "cost": True},
        {"unit": "usd", "total": 1, "cost": 1.0},
        {"unit": "usd", "total": 1, "cost": ""},
        {"unit": "usd", "total": 1, "cost": 1, "max_per_call": -2},
    ],
)
def test_the_constructor_refuses_what_the_decoder_would(kwargs: Any) -> None:
    with pytest.raises(MalformedToken):
        Budget(**kwargs)


def test_a_fixed_cost_ignores_the_arguments() -> None:
    assert Budget("calls", 10, 3).cost_of(request(amount=999)) == 3
    assert Budget("calls", 10, 0).cost_of({}) == 0


@pytest.mark.parametrize("amount", [0, 1, 500, MAX_AMOUNT])
def test_the_cost_argument_is_read_exactly(amount: int) -> None:
    assert Budget("usd", MAX_AMOUNT, "amount").cost_of(request(amount=amount).args) == amount


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ({}, "has no 'amount' argument"),
        ({"other": 5}, "has no 'amount' argument"),
        ({"amount": "5"}, "is a str"),
        ({"amount": True}, "is a bool"),
        ({"amount": 5.0}, "is a float"),
        ({"amount": None}, "has no 'amount' argument"),
        ({"amount": [5]}, "is a list"),
        ({"amount": -1}, "is -1"),
    ],
)
def test_an_unreadable_cost_is_cost_invalid(args: dict[str, Any], shown: str) -> None:
    failed = failure(Budget("usd", 100, "amount"), request(**args))
    assert failed.code is Code.COST_INVALID
    assert shown in failed.detail


def test_a_cost_argument_out_of_range_is_cost_invalid() -> None:
    # Requests keep integers within (-2^53, 2^53), so 2^53 - 1 is the largest that arrives;
    # the caveat still refuses anything above its own range, however it got there.
    failed = failure(Budget("usd", 100, "amount"), request(amount=-(2**53) + 1))
    assert failed.code is Code.COST_INVALID
    assert Budget("usd", 100, "amount").cost_of({"amount": MAX_AMOUNT}) == MAX_AMOUNT
    with pytest.raises(CaveatFailed):
        Budget("usd", 100, "amount").cost_of({"amount": MAX_AMOUNT + 1})


def test_the_per_call_maximum_is_inclusive() -> None:
    budget = Budget("usd", 1000, "amount", max_per_call=300)
    assert budget.cost_of(request(amount=300).args) == 300
    failed = failure(budget, request(amount=301))
    assert failed.code is Code.COST_TOO_HIGH
    assert "301 usd" in failed.detail
    assert "300 per call" in failed.detail
    fixed = Budget("usd", 1000, 400, max_per_call=300)
    assert failure(fixed, request()).code is Code.COST_TOO_HIGH


def parent(*budgets: Budget) -> ParentView:
    return ParentView(tuple(Placed(0, b) for b in budgets), 0)


def test_a_smaller_or_equal_budget_in_the_same_unit_narrows() -> None:
    view = parent(Budget("usd", 2000, "amount", max_per_call=500))
    Budget("usd", 2000, "amount", max_per_call=500).check_narrows(view)
    Budget("usd", 1200, "amount").check_narrows(view)  # the parent's cap still applies
    Budget("usd", 0, "amount", max_per_call=0).check_narrows(view)


def test_a_larger_total_or_cap_is_not_narrowing() -> None:
    view = parent(Budget("usd", 2000, "amount", max_per_call=500))
    with pytest.raises(NotNarrowing, match="2001 usd is above the token's 2000"):
        Budget("usd", 2001, "amount").check_narrows(view)
    with pytest.raises(NotNarrowing, match="max_per_call 501"):
        Budget("usd", 100, "amount", max_per_call=501).check_narrows(view)


def test_one_unit_takes_its_cost_from_one_place() -> None:
    view = parent(Budget("usd", 2000, "amount"))
    with pytest.raises(NotNarrowing, match="one unit, one cost"):
        Budget("usd", 100, 1).check_narrows(view)
    with pytest.raises(NotNarrowing, match="one unit, one cost"):
        Budget("usd", 100, "price").check_narrows(view)


def test_budgets_in_other_units_are_independent() -> None:
    view = parent(Budget("usd", 20, "amount"))
    Budget("search-calls", 10_000, 1).check_narrows(view)
    Budget("usd", 20, "amount").check_narrows(parent())


def test_every_budget_of_the_parent_in_the_unit_is_compared() -> None:
    view = parent(Budget("usd", 2000, "amount"), Budget("usd", 1200, "amount"))
    Budget("usd", 1200, "amount").check_narrows(view)
    with pytest.raises(NotNarrowing, match="above the token's 1200"):
        Budget("usd", 1500, "amount").check_narrows(view)
