"""Budgets at verification (``specs/budgets.md``): every budget of the chain is charged at once
at step 9, siblings draw on their parent's budget, the decision shows what remains, and a
reservation settles at the call's actual cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    Budget,
    Code,
    Decision,
    Keyring,
    MemoryState,
    MisuseError,
    NotNarrowing,
    Request,
    Scope,
    SettleReason,
    SettleRefused,
    State,
    StoreUnavailable,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    attenuate,
    delegate,
)
from delegation._proof import _prove
from delegation._token import _mint
from delegation.caveats import MaxUses
from delegation.limits import RESERVATION_SECONDS
from tests.conftest import NOW, STATE_KINDS, make_state, seeded_agent

ORCH, A, B = seeded_agent(11), seeded_agent(12), seeded_agent(13)
_nonces = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=STATE_KINDS)
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    made = make_state(request.param, request, tmp_path)
    yield made
    made.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(keyring: Keyring, state: State, clock: Clock) -> Verifier:
    return Verifier(keyring, state=state, clock=clock)


@pytest.fixture
def root(keyring: Keyring, task: TaskRecord) -> UnverifiedToken:
    scope = Scope(
        audiences=["pay"],
        expires=NOW + 3600,
        budgets=[Budget("usd-cents", 2000, "amount", max_per_call=800)],
    )
    return _mint(
        keyring,
        task,
        Agent("orchestrator", ORCH.public_key),
        scope,
        now=NOW,
        nonce=b"\x01" * 16,
        location=None,
    )


def child(root: UnverifiedToken, key: AgentKey, name: str, total: int) -> UnverifiedToken:
    scope = Scope(budgets=[Budget("usd-cents", total, "amount")])
    return delegate(root, ORCH, Agent(name, key.public_key), scope, now=NOW)


def call(
    verifier: Verifier,
    token: UnverifiedToken,
    key: AgentKey,
    reserve: bool = False,
    now: int = NOW,
    **args: Any,
) -> Decision:
    req = Request(audience="pay", tool="pay.send", action="write", args=args)
    proof = _prove(token, key, req, now=now, nonce=next(_nonces).to_bytes(16, "big"))
    return verifier.verify(token, req, proof, reserve=reserve)


def balances(decision: Decision) -> list[tuple[str, int, int, int, int, int]]:
    return [(b.unit, b.charged, b.spent, b.remaining, b.hop, b.caveat) for b in decision.budgets]


def test_an_allowed_call_charges_every_budget_and_reports_what_remains(
    verifier: Verifier, root: UnverifiedToken
) -> None:
    a = child(root, A, "a", 1200)
    decision = call(verifier, a, A, amount=700)
    assert decision.allowed
    assert balances(decision) == [
        ("usd-cents", 700, 700, 1300, 0, 2),
        ("usd-cents", 700, 700, 500, 1, 4),
    ]
    assert decision.reservation is None
    assert decision.to_json()["budgets"][1] == {
        "unit": "usd-cents",
        "total": 1200,
        "charged": 700,
        "spent": 700,
        "remaining": 500,
        "hop": 1,
        "caveat": 4,
    }


def test_siblings_together_never_spend_more_than_their_parent(
    verifier: Verifier, root: UnverifiedToken
) -> None:
    a, b = child(root, A, "a", 1200), child(root, B, "b", 1200)
    assert call(verifier, a, A, amount=800).allowed
    assert call(verifier, b, B, amount=800).allowed
    denied = call(verifier, b, B, amount=401)
    assert denied.code is Code.BUDGET_EXCEEDED
    (reason,) = denied.reasons
    assert (reason.hop, reason.caveat) == (0, 2)  # the parent's budget, not b's own
    assert reason.detail == "the usd-cents budget has 400 of 2000 left; the call costs 401"
    assert balances(denied) == [
        ("usd-cents", 0, 1600, 400, 0, 2),
        ("usd-cents", 0, 800, 400, 1, 4),
    ]
    assert call(verifier, b, B, amount=400).allowed
    assert call(verifier, a, A, amount=1).code is Code.BUDGET_EXCEEDED
    assert call(verifier, a, A, amount=0).allowed


def test_a_child_never_spends_more_than_its_own_budget(
    verifier: Verifier, root: UnverifiedToken
) -> None:
    a = child(root, A, "a", 1000)
    assert call(verifier, a, A, amount=700).allowed
    denied = call(verifier, a, A, amount=301)
    assert denied.code is Code.BUDGET_EXCEEDED
    assert (denied.reasons[0].hop, denied.reasons[0].caveat) == (1, 4)
    assert "300 of 1000 left" in denied.reasons[0].detail


def test_per_call_rules_deny_at_step_7_with_every_budget_named(
    verifier: Verifier, root: UnverifiedToken
) -> None:
    a = child(root, A, "a", 1200)
    too_high = call(verifier, a, A, amount=801)
    assert [(r.code, r.hop, r.caveat) for r in too_high.reasons] == [(Code.COST_TOO_HIGH, 0, 2)]
    missing = call(verifier, a, A)
    assert [(r.code, r.hop, r.caveat) for r in missing.reasons] == [
        (Code.COST_INVALID, 0, 2),
        (Code.COST_INVALID, 1, 4),
    ]
    assert call(verifier, a, A, amount="5").code is Code.COST_INVALID
    assert too_high.budgets == missing.budgets == ()
    assert balances(call(verifier, a, A, amount=0))[0][2] == 0  # nothing was charged


def test_a_denied_call_charges_nothing(
    verifier: Verifier, root: UnverifiedToken, state: State
) -> None:
    a = child(root, A, "a", 1200)
    req = Request(audience="pay", tool="t", action="write", args={"amount": 100})
    assert verifier.verify(a, req, None).code is Code.POP_REQUIRED
    wrong = Request(audience="other", tool="t", action="write", args={"amount": 100})
    proof = _prove(a, A, wrong, now=NOW, nonce=b"w" * 16)
    assert verifier.verify(a, wrong, proof).code is Code.WRONG_AUDIENCE
    assert balances(call(verifier, a, A, amount=0))[0][2] == 0


def test_a_spent_use_limit_charges_no_budget(verifier: Verifier, root: UnverifiedToken) -> None:
    once = attenuate(child(root, A, "a", 1200), [MaxUses(1)], now=NOW)
    assert call(verifier, once, A, amount=10).allowed
    denied = call(verifier, once, A, amount=10)
    assert denied.code is Code.USES_EXHAUSTED
    assert balances(denied)[0][1:3] == (0, 10)


def test_a_verifier_without_state_denies_a_budget_it_cannot_keep(
    keyring: Keyring, root: UnverifiedToken
) -> None:
    stateless = Verifier(keyring, state=None, clock=lambda: NOW)
    denied = call(stateless, child(root, A, "a", 1200), A, amount=0)
    assert [(r.code, r.hop, r.caveat) for r in denied.reasons] == [(Code.STATE_REQUIRED, 0, 2)]
    assert "usd-cents budget" in denied.reasons[0].detail
    with pytest.raises(MisuseError):
        stateless.settle("00" * 16, {})


def test_a_failing_store_denies_and_charges_nothing(
    keyring: Keyring, root: UnverifiedToken
) -> None:
    state = MemoryState()
    verifier = Verifier(keyring, state=state, clock=lambda: NOW)
    state.close()
    denied = call(verifier, root, ORCH, amount=5)
    assert denied.code is Code.STORE_UNAVAILABLE
    assert denied.budgets == ()


def test_a_reservation_settles_at_the_actual_cost(
    verifier: Verifier, root: UnverifiedToken, clock: Clock
) -> None:
    a = child(root, A, "a", 1200)
    held = call(verifier, a, A, reserve=True, amount=800)
    assert held.allowed
    assert held.reservation is not None
    assert len(held.reservation) == 32
    assert int(held.reservation, 16) >= 0
    assert [b.remaining for b in held.budgets] == [1200, 400]
    clock.now = NOW + RESERVATION_SECONDS - 1
    settled = verifier.settle(held.reservation, {"usd-cents": 120})
    assert [(c.held, c.charged, c.spent) for c in settled] == [(800, 120, 120), (800, 120, 120)]
    assert balances(call(verifier, a, A, amount=0, now=int(clock.now)))[1][3] == 1080
    with pytest.raises(SettleRefused) as twice:
        verifier.settle(held.reservation, {"usd-cents": 1})
    assert twice.value.reason is SettleReason.UNKNOWN_RESERVATION


def test_release_gives_it_all_back_and_expiry_keeps_it_all(
    verifier: Verifier, root: UnverifiedToken, clock: Clock
) -> None:
    released = call(verifier, root, ORCH, reserve=True, amount=500)
    assert released.reservation is not None
    assert [c.charged for c in verifier.release(released.reservation)] == [0]
    kept = call(verifier, root, ORCH, reserve=True, amount=500)
    assert kept.reservation is not None
    clock.now = NOW + RESERVATION_SECONDS
    with pytest.raises(SettleRefused) as late:
        verifier.settle(kept.reservation, {"usd-cents": 0})
    assert late.value.reason is SettleReason.RESERVATION_EXPIRED
    assert balances(call(verifier, root, ORCH, amount=0, now=int(clock.now)))[0][2] == 500


def test_settle_refuses_what_it_cannot_apply(verifier: Verifier, root: UnverifiedToken) -> None:
    held = call(verifier, root, ORCH, reserve=True, amount=100)
    assert held.reservation is not None
    cases: list[tuple[object, object, SettleReason]] = [
        (held.reservation, {"usd-cents": 101}, SettleReason.OVER_RESERVATION),
        (held.reservation, {"usd": 1}, SettleReason.UNKNOWN_UNIT),
        (held.reservation, {"usd-cents": -1}, SettleReason.INVALID_COST),
        (held.reservation.upper(), {}, SettleReason.UNKNOWN_RESERVATION),
        (held.reservation[:-1], {}, SettleReason.UNKNOWN_RESERVATION),
        (bytes.fromhex(held.reservation), {}, SettleReason.UNKNOWN_RESERVATION),
        ("0" * 32, {}, SettleReason.UNKNOWN_RESERVATION),
    ]
    for reservation, costs, reason in cases:
        with pytest.raises(SettleRefused) as refused:
            verifier.settle(reservation, costs)  # type: ignore[arg-type]
        assert refused.value.reason is reason
        assert held.reservation not in str(refused.value)
    assert [c.charged for c in verifier.settle(held.reservation, {"usd-cents": 100})] == [100]


def test_no_reservation_without_reserve_or_for_a_denial(
    verifier: Verifier, root: UnverifiedToken
) -> None:
    assert call(verifier, root, ORCH, amount=1).reservation is None
    assert call(verifier, root, ORCH, reserve=True, amount=900).reservation is None
    unbudgeted = attenuate(root, [], now=NOW)
    assert call(verifier, unbudgeted, ORCH, reserve=True, amount=1).reservation is not None


def test_a_store_that_answers_nonsense_denies(keyring: Keyring, root: UnverifiedToken) -> None:
    class Liar(MemoryState):
        def check(self, query: Any, now: int) -> Any:
            answer = super().check(query, now)
            return type(answer)(answer.revoked, answer.replayed, None, 5, answer.spent)

    verifier = Verifier(keyring, state=Liar(), clock=lambda: NOW)
    denied = call(verifier, root, ORCH, amount=1)
    assert denied.code is Code.STORE_UNAVAILABLE


def test_authoring_refuses_a_child_budget_above_its_parent(root: UnverifiedToken) -> None:
    with pytest.raises(NotNarrowing, match="2001 usd-cents is above the token's 2000"):
        child(root, A, "a", 2001)
    with pytest.raises(NotNarrowing, match="one unit, one cost"):
        attenuate(root, [Budget("usd-cents", 10, 1)], now=NOW)
    attenuate(root, [Budget("search-calls", 50, 1)], now=NOW)


def test_scope_budgets_must_be_budget_caveats(root: UnverifiedToken) -> None:
    from delegation import AuthoringError

    with pytest.raises(AuthoringError):
        attenuate(root, Scope(budgets=Budget("usd-cents", 1, "amount")), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(AuthoringError):
        attenuate(root, Scope(budgets=[MaxUses(3)]), now=NOW)  # type: ignore[list-item]


def test_store_errors_while_settling_are_store_unavailable(
    keyring: Keyring, root: UnverifiedToken
) -> None:
    state = MemoryState()
    verifier = Verifier(keyring, state=state, clock=lambda: NOW)
    held = call(verifier, root, ORCH, reserve=True, amount=1)
    assert held.reservation is not None
    state.close()
    with pytest.raises(StoreUnavailable):
        verifier.settle(held.reservation, {})
