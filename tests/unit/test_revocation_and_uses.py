"""Revocation of each kind, failing stores, and ``max_uses`` counting at the verifier.

Every store is exercised both in memory and as SQLiteState. Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Decision,
    Keyring,
    MalformedToken,
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
)
from delegation.caveats import MaxUses, Tool
from delegation.keys import RootKey
from delegation.stores import (
    MemoryRevocationStore,
    MemoryUseCounter,
    Revocation,
    RevocationKind,
    SQLiteState,
    UseLimit,
)
from delegation.token import _mint
from tests.conftest import NOW, seeded_agent

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
    """A verifier over one set of stores, with a clock the test moves."""

    verifier: Verifier
    revocations: MemoryRevocationStore | SQLiteState
    uses: MemoryUseCounter | SQLiteState
    clock: Clock

    def check(self, token: UnverifiedToken, key: AgentKey, request: Request = READ) -> Decision:
        proof = prove(token, key, request, now=self.clock.at)
        return self.verifier.verify(token, request, proof)

    def revoke(self, kind: RevocationKind, value: str) -> None:
        self.revocations.revoke(Revocation(kind, value), self.clock.at)


@pytest.fixture(params=["memory", "sqlite"])
def bench(request: pytest.FixtureRequest, keyring: Keyring, tmp_path: Path) -> Iterator[Bench]:
    clock = Clock(NOW)
    if request.param == "memory":
        revocations: MemoryRevocationStore | SQLiteState = MemoryRevocationStore()
        uses: MemoryUseCounter | SQLiteState = MemoryUseCounter()
        verifier = Verifier(keyring, revocations=revocations, uses=uses, clock=clock)
        yield Bench(verifier, revocations, uses, clock)
        return
    state = SQLiteState(tmp_path / "state.db")
    verifier = Verifier(keyring, nonce_store=state, revocations=state, uses=state, clock=clock)
    yield Bench(verifier, state, state, clock)
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
    assert candidates[-1].kind is RevocationKind.CHAIN
    return candidates[-1].value


def assert_revoked_exactly(bench: Bench, tree: Tree, revoked: set[str]) -> None:
    for name, token in tree.tokens().items():
        decision = bench.check(token, tree.keys[name])
        if name in revoked:
            assert codes(decision) == [Code.REVOKED], name
        else:
            assert decision.allowed, (name, decision.reasons)


# --- revocation ------------------------------------------------------------------------------


def test_nothing_revoked_everything_verifies(bench: Bench, tree: Tree) -> None:
    assert_revoked_exactly(bench, tree, set())


def test_revoking_the_token_id_kills_every_descendant(bench: Bench, tree: Tree) -> None:
    assert tree.root.token_id == tree.deep.token_id
    bench.revoke(RevocationKind.CHAIN, tree.root.token_id)
    assert_revoked_exactly(bench, tree, {"root", "narrowed", "one", "two", "deep"})


def test_revoking_an_attenuated_token_spares_its_parent(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.CHAIN, final_prefix(bench.verifier, tree.narrowed))
    assert_revoked_exactly(bench, tree, {"narrowed", "one", "two", "deep"})


def test_revoking_a_leaf_token_kills_only_it(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.CHAIN, final_prefix(bench.verifier, tree.deep))
    assert_revoked_exactly(bench, tree, {"deep"})


def test_revoking_a_hop_kills_its_branch_only(bench: Bench, tree: Tree) -> None:
    hop_id = tree.one.chain()[-1].hop_id
    assert hop_id is not None
    assert tree.deep.chain()[1].hop_id == hop_id
    bench.revoke(RevocationKind.CHAIN, hop_id)
    assert_revoked_exactly(bench, tree, {"one", "deep"})


def test_revoking_the_deepest_hop_spares_its_parent(bench: Bench, tree: Tree) -> None:
    hop_id = tree.deep.chain()[-1].hop_id
    assert hop_id is not None
    bench.revoke(RevocationKind.CHAIN, hop_id)
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


def test_revoking_an_agent_by_id_or_raw_bytes_is_not_a_match(bench: Bench, tree: Tree) -> None:
    bench.revoke(RevocationKind.AGENT, "researcher")
    bench.revoke(RevocationKind.AGENT, tree.keys["one"].public_key.hex())
    bench.revoke(RevocationKind.TASK, encode_public_key(tree.keys["one"].public_key))
    assert_revoked_exactly(bench, tree, set())


def test_revoking_a_key_id_kills_its_tokens_only(
    tree: Tree, task: TaskRecord, root_scope: Scope, tmp_path: Path
) -> None:
    both = Keyring(
        [RootKey("test-k1", b"\x01" * 32, NOW), RootKey("test-k2", b"\x02" * 32, NOW)],
        current="test-k2",
    )
    store = MemoryRevocationStore()
    verifier = Verifier(both, revocations=store, clock=lambda: NOW)
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
    token_id = tree.root.token_id
    for value in (token_id[:-1], token_id + "0", token_id.upper(), "task-4", "task-42 "):
        bench.revoke(RevocationKind.CHAIN, value)
        bench.revoke(RevocationKind.TASK, value)
    bench.revoke(RevocationKind.KEY, "test-k")
    bench.revoke(RevocationKind.CHAIN, "task-42")  # right value, wrong kind
    assert_revoked_exactly(bench, tree, set())


def test_revocation_is_checked_on_every_call(bench: Bench, tree: Tree) -> None:
    assert bench.check(tree.two, tree.keys["two"]).allowed
    bench.revoke(RevocationKind.TASK, "task-42")
    assert codes(bench.check(tree.two, tree.keys["two"])) == [Code.REVOKED]


def test_revoked_call_uses_nothing(bench: Bench, tree: Tree) -> None:
    limited = attenuate(tree.two, [MaxUses(1)], now=NOW)
    bench.revoke(RevocationKind.CHAIN, final_prefix(bench.verifier, limited))
    assert codes(bench.check(limited, tree.keys["two"])) == [Code.REVOKED]
    key = bench.verifier.check_chain(limited).prefix_digests[-1]
    assert bench.uses.count(key) == 0


# --- failing stores --------------------------------------------------------------------------


class BrokenRevocations:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def revoke(self, revocation: Revocation, now: int) -> None:
        raise self.exc

    def first_revoked(self, candidates: Sequence[Revocation]) -> Revocation | None:
        raise self.exc


class BrokenUses:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def consume(self, limits: Sequence[UseLimit], now: int) -> int | None:
        raise self.exc


class BrokenNonces:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def claim(self, key: bytes, expires_at: int, now: int) -> bool:
        raise self.exc


FAILURES = [StoreUnavailable("down"), RuntimeError("bug"), OSError("disk"), TimeoutError()]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_broken_revocation_store_denies(keyring: Keyring, tree: Tree, exc: Exception) -> None:
    verifier = Verifier(keyring, revocations=BrokenRevocations(exc), clock=lambda: NOW)
    for name, token in tree.tokens().items():
        key = tree.keys[name]
        decision = verifier.verify(token, READ, prove(token, key, READ, now=NOW))
        assert codes(decision) == [Code.STORE_UNAVAILABLE], name


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_broken_use_counter_denies(keyring: Keyring, tree: Tree, exc: Exception) -> None:
    verifier = Verifier(keyring, uses=BrokenUses(exc), clock=lambda: NOW)
    limited = attenuate(tree.two, [MaxUses(5)], now=NOW)
    decision = verifier.verify(limited, READ, prove(limited, tree.keys["two"], READ, now=NOW))
    assert codes(decision) == [Code.STORE_UNAVAILABLE]
    # A token without max_uses never asks the counter.
    plain = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert plain.allowed


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_broken_nonce_store_denies(keyring: Keyring, tree: Tree, exc: Exception) -> None:
    verifier = Verifier(keyring, nonce_store=BrokenNonces(exc), clock=lambda: NOW)
    decision = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert codes(decision) == [Code.STORE_UNAVAILABLE]


def test_closed_sqlite_state_denies(keyring: Keyring, tree: Tree, tmp_path: Path) -> None:
    state = SQLiteState(tmp_path / "state.db")
    verifier = Verifier(
        keyring, nonce_store=state, revocations=state, uses=state, clock=lambda: NOW
    )
    state.close()
    decision = verifier.verify(tree.two, READ, prove(tree.two, tree.keys["two"], READ, now=NOW))
    assert Code.STORE_UNAVAILABLE in codes(decision)
    assert set(codes(decision)) == {Code.STORE_UNAVAILABLE}


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
    assert bench.uses.count(counter) == 3


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
    assert bench.uses.count(counter) == 1


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


@pytest.mark.parametrize("uses", [0, -1, 2**31])
def test_max_uses_out_of_range_is_malformed(uses: int) -> None:
    with pytest.raises(MalformedToken):
        MaxUses(uses)


# Fixed bug: a use count is forgotten when the *presenting* token expires, not when the last
# token sharing the counter does. delegation/verifier.py _count_use sets every limit's
# keep_until to the minimum expiry over the whole presented chain (+ skew). A child with a
# shorter expiry that spends its parent's max_uses(2) stores keep_until = child expiry; once
# that passes, MemoryUseCounter/SQLiteState treat the count as 0 and the still-valid parent
# gets 2 more uses (4 in all). keep_until should come from the expiries at or before the
# max_uses caveat (the prefix that every sharer carries).
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
