"""Revocation of each kind, failing state, ``max_uses`` counting at the verifier, and the
verifier without state.

Every test with state runs on MemoryState, SQLiteState and PostgresState. Keys are TEST
FIXTURES ONLY.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Decision,
    Keyring,
    MemoryState,
    NotNarrowing,
    Request,
    Scope,
    StoreUnavailable,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    attenuate,
    delegate,
    encode_public_key,
    mint,
    prove,
    prove_for_approval,
)
from delegation._proof import Proof
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._token import _mint
from delegation.caveats import MaxUses, Tool
from delegation.stores import (
    InvalidRevocation,
    Revocation,
    RevocationKind,
    SQLiteState,
    StateAnswer,
    StateQuery,
    UnavailableReason,
)
from delegation.stores.postgres import PostgresState
from delegation.testing import fixtures
from tests.conftest import NOW, STATE_KINDS, make_state, seeded_agent

READ = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://accounts/42/notes",
    intent="summarise",
)
WRITE = Request(
    audience="crm",
    tool="crm.update",
    action="write",
    resource="crm://accounts/42/notes",
    intent="update-notes",
)


class Clock:
    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@dataclass
class Bench:
    """A verifier over one state, with a clock the test moves."""

    verifier: Verifier
    state: MemoryState | SQLiteState | PostgresState
    clock: Clock

    def check(self, token: UnverifiedToken, key: AgentKey, request: Request = READ) -> Decision:
        proof = prove(token, key, request, now=self.clock.at)
        return self.verifier.verify(token, request, proof)

    def revoke(self, kind: RevocationKind, value: str) -> None:
        self.state.revoke(Revocation(kind, value), self.clock.at)


@pytest.fixture(params=STATE_KINDS)
def bench(request: pytest.FixtureRequest, keyring: Keyring, tmp_path: Path) -> Iterator[Bench]:
    clock = Clock(NOW)
    state = make_state(request.param, request, tmp_path)
    assert isinstance(state, MemoryState | SQLiteState | PostgresState)
    yield Bench(Verifier(keyring, state=state, clock=clock), state, clock)
    state.close()


def codes(decision: Decision) -> list[Code]:
    return [r.code for r in decision.reasons]


@dataclass
class Tree:
    """root -> narrowed (attenuated) -> {one (researcher) -> deep (agent 4), two (writer)}."""

    root: UnverifiedToken
    narrowed: UnverifiedToken
    one: UnverifiedToken
    two: UnverifiedToken
    deep: UnverifiedToken
    keys: dict[str, AgentKey]

    def tokens(self) -> dict[str, UnverifiedToken]:
        return {
            "root": self.root,
            "narrowed": self.narrowed,
            "one": self.one,
            "two": self.two,
            "deep": self.deep,
        }


@pytest.fixture
def tree(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey, writer: AgentKey
) -> Tree:
    fourth = seeded_agent(4)
    narrowed = attenuate(root_token, [Tool(("crm.read",))], now=NOW)
    one = delegate(narrowed, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    two = delegate(narrowed, orchestrator, Agent("writer", writer.public_key), now=NOW)
    deep = delegate(one, researcher, Agent("agent-4", fourth.public_key), now=NOW)
    keys = {
        "root": orchestrator,
        "narrowed": orchestrator,
        "one": researcher,
        "two": writer,
        "deep": fourth,
    }
    return Tree(root_token, narrowed, one, two, deep, keys)


def final_prefix(verifier: Verifier, token: UnverifiedToken) -> str:
    """The id naming this token's whole chain (what revoking "this token" revokes)."""
    candidates = verifier.check_chain(token).revocation_candidates()
    assert candidates[-1].kind is RevocationKind.TOKEN
    return candidates[-1].value


def assert_revoked_exactly(bench: Bench, tree: Tree, revoked: set[str]) -> None:
    for name, token in tree.tokens().items():
        decision = bench.check(token, tree.keys[name])
        if name in revoked:
            assert codes(decision) == [Code.REVOKED], name
        else:
            assert decision.allowed, (name, decision.reasons)


# --- revocation ------------------------------------------------------------------------------


def test_every_candidate_is_a_revocation_one_could_record(bench: Bench, tree: Tree) -> None:
    """The verifier builds its candidates without the constructor's checks (they cost every
    verify): each must pass them, or revoking what a verify looks up would be impossible."""
    for token in tree.tokens().values():
        candidates = bench.verifier.check_chain(token).revocation_candidates()
        assert [c.checked() for c in candidates] == candidates
        assert all(type(c.kind) is RevocationKind for c in candidates)


def test_nothing_revoked_everything_verifies(bench: Bench, tree: Tree) -> None:
    assert_revoked_exactly(bench, tree, set())


def test_revoking_the_token_id_kills_every_descendant(bench: Bench, tree: Tree) -> None:
    assert tree.root.root_id == tree.deep.root_id
    bench.revoke(RevocationKind.TOKEN, tree.root.root_id)
    assert_revoked_exactly(bench, tree, {"root", "narrowed", "one", "two", "deep"})


def test_revoking_an_attenuated_token_spares_its_parent(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.TOKEN, final_prefix(bench.verifier, tree.narrowed))
    assert_revoked_exactly(bench, tree, {"narrowed", "one", "two", "deep"})


def test_revoking_a_leaf_token_kills_only_it(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.TOKEN, final_prefix(bench.verifier, tree.deep))
    assert_revoked_exactly(bench, tree, {"deep"})


def test_revoking_a_hop_kills_its_branch_only(bench: Bench, tree: Tree) -> None:
    hop_id = tree.one.agents()[-1].hop_id
    assert hop_id is not None
    assert tree.deep.agents()[1].hop_id == hop_id
    bench.revoke(RevocationKind.TOKEN, hop_id)
    assert_revoked_exactly(bench, tree, {"one", "deep"})


def test_revoking_the_deepest_hop_spares_its_parent(bench: Bench, tree: Tree) -> None:
    hop_id = tree.deep.agents()[-1].hop_id
    assert hop_id is not None
    bench.revoke(RevocationKind.TOKEN, hop_id)
    assert_revoked_exactly(bench, tree, {"deep"})


def test_revoking_the_task_kills_its_tokens_only(
    bench: Bench, tree: Tree, keyring: Keyring, root_scope: Scope
) -> None:
    holder = seeded_agent(5)
    other_task = TaskRecord(
        task_id="task-43",
        approved_by="alice@example.com",
        approved_at=NOW - 60,
        statement="Another task",
    )
    other = mint(keyring, other_task, Agent("other", holder.public_key), root_scope, now=NOW)
    bench.revoke(RevocationKind.TASK, "task-42")
    assert_revoked_exactly(bench, tree, {"root", "narrowed", "one", "two", "deep"})
    assert bench.check(other, holder).allowed


def test_revoking_an_agent_key_kills_every_chain_through_it(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.AGENT, encode_public_key(tree.keys["one"].public_key))
    assert_revoked_exactly(bench, tree, {"one", "deep"})


def test_revoking_the_root_holder_key_kills_everything(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.AGENT, encode_public_key(tree.keys["root"].public_key))
    assert_revoked_exactly(bench, tree, {"root", "narrowed", "one", "two", "deep"})


def test_revoking_an_agent_by_id_or_raw_bytes_is_refused(bench: Bench, tree: Tree) -> None:
    # Guards against: these being recorded and matching nothing, so that an operator believes
    # the agent revoked while every chain through it lives on.
    for value in ("researcher", tree.keys["one"].public_key.hex()):
        with pytest.raises(InvalidRevocation):
            bench.revoke(RevocationKind.AGENT, value)
    bench.revoke(RevocationKind.TASK, encode_public_key(tree.keys["one"].public_key))
    assert_revoked_exactly(bench, tree, set())
    assert bench.state.revocations()[0].revocation.kind is RevocationKind.TASK


def test_a_misspelled_kind_is_refused_not_recorded(bench: Bench, tree: Tree) -> None:
    """Fails on the old code, which recorded ("chian", id) and matched nothing with it."""
    for kind in ("chian", "chain", "Task", "hop"):
        with pytest.raises(InvalidRevocation):
            bench.state.revoke(Revocation(kind, tree.root.root_id), NOW)  # type: ignore[arg-type]
    assert bench.state.revocations() == []


def test_revoking_a_key_id_kills_its_tokens_only(
    tree: Tree, task: TaskRecord, root_scope: Scope, tmp_path: Path
) -> None:
    both = Keyring(
        [fixtures.root_key(1, created=NOW), fixtures.root_key(2, created=NOW)],
        current="test-k2",
    )
    store = MemoryState()
    verifier = Verifier(both, state=store, clock=lambda: NOW)
    holder = seeded_agent(5)
    newer = mint(both, task, Agent("other", holder.public_key), root_scope, now=NOW)
    assert newer.identifier.key_id == "test-k2"
    store.revoke(Revocation(RevocationKind.KEY, "test-k1"), NOW)
    for name, token in tree.tokens().items():
        key = tree.keys[name]
        decision = verifier.verify(token, READ, prove(token, key, READ, now=NOW))
        assert codes(decision) == [Code.REVOKED], name
    assert verifier.verify(newer, READ, prove(newer, holder, READ, now=NOW)).allowed


def test_revocation_prefix_lookalikes_do_not_match(bench: Bench, tree: Tree) -> None:
    token_id = tree.root.root_id
    near = token_id[:-1] + ("0" if token_id[-1] != "0" else "1")
    bench.revoke(RevocationKind.TOKEN, near)
    for value in (token_id[:-1], token_id + "0", token_id.upper(), "task-4", "task-42 "):
        bench.revoke(RevocationKind.TASK, value)
    bench.revoke(RevocationKind.KEY, "test-k")
    bench.revoke(RevocationKind.KEY, "task-42")  # right value, wrong kind
    assert_revoked_exactly(bench, tree, set())


def test_revocation_is_checked_on_every_call(bench: Bench, tree: Tree) -> None:
    assert bench.check(tree.two, tree.keys["two"]).allowed
    bench.revoke(RevocationKind.TASK, "task-42")
    assert codes(bench.check(tree.two, tree.keys["two"])) == [Code.REVOKED]


def test_revoked_call_uses_nothing(bench: Bench, tree: Tree) -> None:
    limited = attenuate(tree.two, [MaxUses(1)], now=NOW)
    bench.revoke(RevocationKind.TOKEN, final_prefix(bench.verifier, limited))
    assert codes(bench.check(limited, tree.keys["two"])) == [Code.REVOKED]
    key = bench.verifier.check_chain(limited).prefix_digests[-1]
    assert bench.state.count(key) == 0


# --- failing state ----------------------------------------------------------------------------


class Broken(MemoryState):
    """State whose checks fail when ``when`` says so; otherwise it answers from memory."""

    def __init__(self, exc: Exception, when: str = "always") -> None:
        super().__init__()
        self.exc, self.when = exc, when
        self.queries: list[StateQuery] = []

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        self.queries.append(query)
        if self.when == "always" or (self.when == "spend" and query.spend):
            raise self.exc
        return super().check(query, now)


FAILURES = [
    StoreUnavailable(UnavailableReason.LOCKED, "down"),
    RuntimeError("bug"),
    OSError("disk"),
    TimeoutError(),
]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_broken_state_denies(
    keyring: Keyring, tree: Tree, exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = Verifier(keyring, state=Broken(exc), clock=lambda: NOW)
    for name, token in tree.tokens().items():
        key = tree.keys[name]
        with caplog.at_level(logging.ERROR, logger="delegation"):
            decision = verifier.verify(token, READ, prove(token, key, READ, now=NOW))
        assert codes(decision) == [Code.STORE_UNAVAILABLE], name
        assert (decision.reasons[0].hop, decision.reasons[0].caveat) == (None, None)


@pytest.mark.parametrize("reason", list(UnavailableReason))
def test_store_unavailable_details_carry_the_reason_category(
    keyring: Keyring, tree: Tree, reason: UnavailableReason
) -> None:
    """Fails on the old code, whose detail named the store but never the cause."""
    secret = "postgres://admin:hunter2@db.internal"
    verifier = Verifier(keyring, state=Broken(StoreUnavailable(reason, secret)), clock=lambda: NOW)
    decision = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    detail = decision.reasons[0].detail
    assert f"({reason})" in detail
    assert "hunter2" not in detail
    assert "db.internal" not in detail


def test_a_bug_in_the_state_is_logged_and_denies_as_error(
    keyring: Keyring, tree: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = Verifier(keyring, state=Broken(RuntimeError("bug")), clock=lambda: NOW)
    with caplog.at_level(logging.ERROR, logger="delegation"):
        decision = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert decision.reasons[0].detail == "the state store cannot answer (error)"
    assert "state store failed" in caplog.text


def test_a_failing_state_goes_first_and_other_reasons_still_show(
    keyring: Keyring, tree: Tree
) -> None:
    verifier = Verifier(keyring, state=Broken(RuntimeError("bug")), clock=lambda: NOW)
    proof = prove(tree.two, tree.keys["two"], WRITE, now=NOW)
    decision = verifier.verify(tree.two, WRITE, proof)
    assert codes(decision) == [Code.STORE_UNAVAILABLE, Code.TOOL_NOT_ALLOWED]


class _Answers(MemoryState):
    def __init__(self, answer: object) -> None:
        super().__init__()
        self.answer = answer

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        return self.answer  # type: ignore[return-value]


@pytest.mark.parametrize(
    "answer",
    [None, True, (None, False, None), StateAnswer(None, False, 5), StateAnswer(None, False, -1)],
)
def test_a_nonsense_answer_denies(keyring: Keyring, tree: Tree, answer: object) -> None:
    verifier = Verifier(keyring, state=_Answers(answer), clock=lambda: NOW)
    limited = attenuate(tree.two, [MaxUses(5)], now=NOW)
    decision = verifier.verify(limited, READ, prove(limited, tree.keys["two"], READ, now=NOW))
    assert codes(decision) == [Code.STORE_UNAVAILABLE]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_a_state_that_cannot_spend_denies(keyring: Keyring, tree: Tree, exc: Exception) -> None:
    verifier = Verifier(keyring, state=Broken(exc, "spend"), clock=lambda: NOW)
    limited = attenuate(tree.two, [MaxUses(5)], now=NOW)
    decision = verifier.verify(limited, READ, prove(limited, tree.keys["two"], READ, now=NOW))
    assert codes(decision) == [Code.STORE_UNAVAILABLE]
    # A token without max_uses spends nothing.
    plain = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert plain.allowed


def test_one_question_per_verify(keyring: Keyring, tree: Tree) -> None:
    """Revocations, the nonce and the spend are one check: one round trip to the store."""
    state = Broken(RuntimeError(), "never")
    verifier = Verifier(keyring, state=state, clock=lambda: NOW)
    limited = attenuate(tree.two, [MaxUses(5)], now=NOW)
    chain = verifier.check_chain(limited)
    assert verifier.verify(limited, READ, prove(limited, tree.keys["two"], READ, now=NOW))
    (query,) = state.queries
    assert list(query.revocations) == chain.revocation_candidates()
    assert query.nonce is not None
    assert [u.limit for u in query.spend] == [5]
    # A denied call asks for revocations and the nonce, never for a spend.
    state.queries.clear()
    verifier.verify(limited, WRITE, prove(limited, tree.keys["two"], WRITE, now=NOW))
    (query,) = state.queries
    assert query.nonce is not None
    assert list(query.spend) == []
    # A proof that does not verify has no nonce to claim.
    state.queries.clear()
    forged = Proof(NOW, b"\x01" * 16, b"\x02" * 64).encode()
    assert codes(verifier.verify(limited, READ, forged)) == [Code.POP_INVALID]
    (query,) = state.queries
    assert query.nonce is None


def test_closed_sqlite_state_denies(keyring: Keyring, tree: Tree, tmp_path: Path) -> None:
    state = SQLiteState.create(tmp_path / "state.db")
    verifier = Verifier(keyring, state=state, clock=lambda: NOW)
    state.close()
    decision = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert codes(decision) == [Code.STORE_UNAVAILABLE]
    assert decision.reasons[0].detail == "the state store cannot answer (unreachable)"


# --- the verifier's state is explicit ---------------------------------------------------------


def test_a_verifier_must_be_told_its_state(keyring: Keyring) -> None:
    """Fails on the old code, where Verifier(keyring) silently kept its own memory."""
    with pytest.raises(TypeError):
        Verifier(keyring)  # type: ignore[call-arg]


def test_replicas_sharing_a_memory_state_catch_each_others_replays(
    keyring: Keyring, tree: Tree
) -> None:
    shared = MemoryState()
    one = Verifier(keyring, state=shared, clock=lambda: NOW)
    two = Verifier(keyring, state=shared, clock=lambda: NOW)
    limited = attenuate(tree.two, [MaxUses(1)], now=NOW)
    proof = prove(limited, tree.keys["two"], READ, now=NOW)
    assert one.verify(limited, READ, proof).allowed
    assert codes(two.verify(limited, READ, proof)) == [Code.REPLAY]
    fresh = prove(limited, tree.keys["two"], READ, now=NOW)
    assert codes(two.verify(limited, READ, fresh)) == [Code.USES_EXHAUSTED]


# --- a verifier without state -----------------------------------------------------------------


@pytest.fixture
def stateless(keyring: Keyring) -> Verifier:
    return Verifier(keyring, state=None, clock=lambda: NOW)


def test_a_stateless_verifier_allows_plain_tokens_and_cannot_see_replays(
    stateless: Verifier, tree: Tree
) -> None:
    for name, token in tree.tokens().items():
        proof = prove(token, tree.keys[name], READ, now=NOW)
        assert stateless.verify(token, READ, proof).allowed, name
        assert stateless.verify(token, READ, proof).allowed, name  # as documented


@pytest.mark.parametrize("uses", [1, 5])
def test_a_stateless_verifier_denies_a_use_limit_with_state_required(
    stateless: Verifier, tree: Tree, uses: int
) -> None:
    """Fails on the old code, where a single-use token was allowed on every run."""
    limited = attenuate(tree.two, [MaxUses(uses)], now=NOW)
    for _ in range(2):
        decision = stateless.verify(limited, READ, prove(limited, tree.keys["two"], READ, now=NOW))
        assert codes(decision) == [Code.STATE_REQUIRED]
        reason = decision.reasons[0]
        assert (reason.hop, reason.caveat) == (1, len(limited.raw.caveats) - 1)
        assert "shared state" in reason.detail


def test_a_stateless_verifier_reports_other_failures_first(stateless: Verifier, tree: Tree) -> None:
    limited = attenuate(tree.two, [MaxUses(1)], now=NOW)
    decision = stateless.verify(limited, WRITE, prove(limited, tree.keys["two"], WRITE, now=NOW))
    assert codes(decision) == [Code.TOOL_NOT_ALLOWED]
    assert codes(stateless.verify(limited, READ, None)) == [Code.POP_REQUIRED]


def test_a_stateless_verifier_denies_spending_an_approval_with_state_required(
    keyring: Keyring, stateless: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    approver_key = fixtures.approver_key(0x31)  # TEST FIXTURE ONLY
    approver = Approver(approver_key)
    gated = require_approval(root_token, approver_key.public_key, rules=["crm.read"])
    asked = prove_for_approval(gated, orchestrator, READ, now=NOW)
    (pending,) = approver.pending(gated, READ, asked, now=NOW)
    discharge = bind_discharge(gated, approver.approve(pending, now=NOW))
    proof = prove(gated, orchestrator, READ, now=NOW)
    decision = stateless.verify(gated, READ, proof, discharges=[discharge])
    assert codes(decision) == [Code.STATE_REQUIRED]
    assert "approval" in decision.reasons[0].detail
    with_state = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert with_state.verify(gated, READ, proof, discharges=[discharge]).allowed


def test_a_stateless_verifier_knows_no_revocation(stateless: Verifier, tree: Tree) -> None:
    decision = stateless.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert decision.allowed


# --- max_uses --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3])
def test_exactly_n_uses_then_exhausted(bench: Bench, tree: Tree, n: int) -> None:
    limited = attenuate(tree.two, [MaxUses(n)], now=NOW)
    for _ in range(n):
        assert bench.check(limited, tree.keys["two"]).allowed
    decision = bench.check(limited, tree.keys["two"])
    assert codes(decision) == [Code.USES_EXHAUSTED]
    index = len(limited.raw.caveats) - 1
    assert (decision.reasons[0].hop, decision.reasons[0].caveat) == (1, index)
    assert codes(bench.check(limited, tree.keys["two"])) == [Code.USES_EXHAUSTED]


def test_denied_calls_use_nothing(bench: Bench, tree: Tree) -> None:
    limited = attenuate(tree.two, [MaxUses(1)], now=NOW)
    key = tree.keys["two"]
    wrong_tool = prove(limited, key, WRITE, now=NOW)
    assert codes(bench.verifier.verify(limited, WRITE, wrong_tool)) == [Code.TOOL_NOT_ALLOWED]
    assert codes(bench.verifier.verify(limited, READ, None)) == [Code.POP_REQUIRED]
    stale = prove(limited, key, READ, now=NOW - 3600)
    assert codes(bench.verifier.verify(limited, READ, stale)) == [Code.POP_INVALID]
    bench.clock.at = NOW + 4000  # past the token's expiry
    assert codes(bench.check(limited, key)) == [Code.EXPIRED]
    bench.clock.at = NOW
    proof = prove(limited, key, READ, now=NOW)
    assert bench.verifier.verify(limited, READ, proof).allowed
    assert codes(bench.verifier.verify(limited, READ, proof)) == [Code.REPLAY]
    assert codes(bench.check(limited, key)) == [Code.USES_EXHAUSTED]


def test_child_limit_and_parent_limit_are_both_enforced(bench: Bench, tree: Tree) -> None:
    parent = attenuate(tree.narrowed, [MaxUses(3)], now=NOW)
    key = tree.keys["narrowed"]
    child = attenuate(parent, [MaxUses(2)], now=NOW)
    parent_index = len(parent.raw.caveats) - 1
    child_index = len(child.raw.caveats) - 1
    assert bench.check(child, key).allowed
    assert bench.check(child, key).allowed
    decision = bench.check(child, key)
    assert codes(decision) == [Code.USES_EXHAUSTED]
    assert decision.reasons[0].caveat == child_index
    # The child's uses counted against the parent's limit too: one left.
    assert bench.check(parent, key).allowed
    decision = bench.check(parent, key)
    assert codes(decision) == [Code.USES_EXHAUSTED]
    assert decision.reasons[0].caveat == parent_index


def test_siblings_share_their_parents_counter(
    bench: Bench, tree: Tree, orchestrator: AgentKey, researcher: AgentKey, writer: AgentKey
) -> None:
    parent = attenuate(tree.narrowed, [MaxUses(3)], now=NOW)
    parent_index = len(parent.raw.caveats) - 1
    one = delegate(parent, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    two = delegate(
        parent,
        orchestrator,
        Agent("writer", writer.public_key),
        Scope(extra=[MaxUses(2)]),
        now=NOW,
    )
    assert bench.check(one, researcher).allowed
    assert bench.check(two, writer).allowed
    assert bench.check(one, researcher).allowed
    for token, key in ((one, researcher), (two, writer), (parent, orchestrator)):
        decision = bench.check(token, key)
        assert codes(decision) == [Code.USES_EXHAUSTED]
        assert decision.reasons[0].caveat == parent_index
    counter = bench.verifier.check_chain(parent).prefix_digests[-1]
    assert bench.state.count(counter) == 3


def test_exhausted_child_limit_leaves_the_parent_counter_untouched(
    bench: Bench, tree: Tree
) -> None:
    parent = attenuate(tree.narrowed, [MaxUses(5)], now=NOW)
    child = attenuate(parent, [MaxUses(1)], now=NOW)
    key = tree.keys["narrowed"]
    assert bench.check(child, key).allowed
    assert codes(bench.check(child, key)) == [Code.USES_EXHAUSTED]
    assert codes(bench.check(child, key)) == [Code.USES_EXHAUSTED]
    counter = bench.verifier.check_chain(parent).prefix_digests[-1]
    assert bench.state.count(counter) == 1


def test_attenuations_after_the_limit_share_it(bench: Bench, tree: Tree) -> None:
    # The counter sits at the max_uses caveat: narrowing later does not open a new count.
    limited = attenuate(tree.narrowed, [MaxUses(2)], now=NOW)
    key = tree.keys["narrowed"]
    later = attenuate(limited, Scope(expires=NOW + 1800), now=NOW)
    assert bench.check(limited, key).allowed
    assert bench.check(later, key).allowed
    assert codes(bench.check(later, key)) == [Code.USES_EXHAUSTED]
    assert codes(bench.check(limited, key)) == [Code.USES_EXHAUSTED]


def test_same_limit_minted_twice_counts_separately(
    bench: Bench, keyring: Keyring, task: TaskRecord, orchestrator: AgentKey
) -> None:
    scope = Scope(audiences=["crm"], expires=NOW + 3600, extra=[MaxUses(1)])
    holder = Agent("orchestrator", orchestrator.public_key)
    first = _mint(keyring, task, holder, scope, now=NOW, nonce=b"\x01" * 16, location=None)
    second = _mint(keyring, task, holder, scope, now=NOW, nonce=b"\x02" * 16, location=None)
    assert bench.check(first, orchestrator).allowed
    assert bench.check(second, orchestrator).allowed
    assert codes(bench.check(first, orchestrator)) == [Code.USES_EXHAUSTED]


def test_attenuate_and_delegate_refuse_a_larger_limit(
    tree: Tree, orchestrator: AgentKey, writer: AgentKey
) -> None:
    limited = attenuate(tree.narrowed, [MaxUses(3)], now=NOW)
    with pytest.raises(NotNarrowing):
        attenuate(limited, [MaxUses(4)], now=NOW)
    with pytest.raises(NotNarrowing):
        delegate(
            limited,
            orchestrator,
            Agent("writer", writer.public_key),
            Scope(extra=[MaxUses(4)]),
            now=NOW,
        )
    attenuate(limited, [MaxUses(3)], now=NOW)  # equal is allowed: it only adds a counter
    attenuate(limited, [MaxUses(1)], now=NOW)


# Guards against: a use count forgotten when the *presenting* token expires, not when the last
# token sharing the counter does: a limit's keep_until taken as the minimum expiry over the
# whole presented chain (+ skew). A child with a shorter expiry that spends its parent's
# max_uses(2) would store keep_until = child expiry; once that passes, the state treats the
# count as 0 and the still-valid parent gets 2 more uses (4 in all). keep_until comes from the
# expiries at or before the max_uses caveat (the prefix that every sharer carries).
def test_short_lived_child_cannot_reset_its_parents_count(bench: Bench, tree: Tree) -> None:
    key = tree.keys["narrowed"]
    parent = attenuate(tree.narrowed, [MaxUses(2)], now=NOW)
    child = attenuate(parent, Scope(expires=NOW + 100), now=NOW)
    assert bench.check(child, key).allowed
    assert bench.check(child, key).allowed
    assert codes(bench.check(child, key)) == [Code.USES_EXHAUSTED]
    bench.clock.at = NOW + 1000  # child expired, parent (NOW + 3600) still valid
    assert codes(bench.check(child, key)) == [Code.EXPIRED]
    assert codes(bench.check(parent, key)) == [Code.USES_EXHAUSTED]
