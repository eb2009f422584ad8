"""Law: MemoryState and SQLiteState are the same State. For any sequence of revocations and
checks (revocation candidates, nonces, spends), at non-decreasing times, they give the same
answers, list the same revocations and hold the same live counts; and both agree with a
model written from specs/state.md. The SQLite side alternates between two handles on one file,
as two verifier processes would.

Times only move forward: both stores may delete a record once it has expired, so a clock that
went backwards could find it gone in one and not yet swept in the other.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation._keys import encode_public_key
from delegation.stores import (
    MemoryState,
    NonceClaim,
    Revocation,
    RevocationKind,
    SQLiteState,
    StateAnswer,
    StateQuery,
    UseLimit,
)
from tests.conftest import NOW

POOL = [
    Revocation(RevocationKind.TOKEN, "0" * 32),
    Revocation(RevocationKind.TOKEN, "f" * 32),
    Revocation(RevocationKind.TASK, "task-42"),
    Revocation(RevocationKind.TASK, "token"),
    Revocation(RevocationKind.AGENT, encode_public_key(bytes(32))),
    Revocation(RevocationKind.KEY, "task-42"),
]
KEYS = [b"a", b"b", b"c", b"\x00" * 32]

revocations = st.sampled_from(POOL)
offsets = st.integers(0, 400)
nonces = st.builds(NonceClaim, st.sampled_from(KEYS), offsets.map(lambda d: NOW + d))
limits = st.builds(
    UseLimit, st.sampled_from(KEYS), st.integers(1, 3), offsets.map(lambda d: NOW + d)
)
queries = st.builds(
    StateQuery,
    st.lists(revocations, max_size=4),
    st.none() | nonces,
    st.lists(limits, max_size=3),
)
operations = st.lists(
    st.tuples(st.integers(0, 60), st.sampled_from(["check", "check", "check", "revoke"]),
              queries, revocations),
    min_size=1,
    max_size=40,
)  # fmt: skip


@dataclass
class Model:
    """specs/state.md, read literally: records live while ``now`` < their keep-until."""

    revoked: dict[Revocation, int] = field(default_factory=dict)
    nonces: dict[bytes, int] = field(default_factory=dict)
    counts: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        hit = next((c for c in query.revocations if c in self.revoked), None)
        replayed = False
        if query.nonce is not None:
            replayed = self.nonces.get(query.nonce.key, now) > now
            if not replayed:
                self.nonces[query.nonce.key] = query.nonce.expires_at
        if hit is not None or replayed or not query.spend:
            return StateAnswer(hit, replayed, None)
        live = []
        for index, limit in enumerate(query.spend):
            used, keep = self.counts.get(limit.key, (0, 0))
            used = used if keep > now else 0
            if used >= limit.limit:
                return StateAnswer(None, False, index)
            live.append((used, keep))
        for limit, (used, _) in zip(query.spend, live, strict=True):
            keep = self.counts.get(limit.key, (0, 0))[1]  # a key named twice: the later write
            self.counts[limit.key] = (used + 1, max(keep, limit.keep_until))
        return StateAnswer(None, False, None)

    def count(self, key: bytes, now: int) -> int:
        used, keep = self.counts.get(key, (0, 0))
        return used if keep > now else 0


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_memory_and_sqlite_give_the_same_answers(
    ops: list[tuple[int, str, StateQuery, Revocation]],
) -> None:
    model, memory = Model(), MemoryState()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        handles = [SQLiteState.create(path, durable=False), SQLiteState(path, durable=False)]
        try:
            now = NOW
            for step, (dt, op, query, revocation) in enumerate(ops):
                now += dt
                sqlite = handles[step % 2]
                if op == "revoke":
                    model.revoked.setdefault(revocation, now)
                    memory.revoke(revocation, now)
                    sqlite.revoke(revocation, now)
                    assert memory.revocations() == sqlite.revocations()
                    continue
                expected = model.check(query, now)
                assert memory.check(query, now) == expected, (step, query)
                assert sqlite.check(query, now) == expected, (step, query)
                event("revoked" if expected.revoked else "replayed" if expected.replayed else
                      "exhausted" if expected.exhausted is not None else "clear")  # fmt: skip
            assert memory.revocations() == handles[0].revocations()
            assert [r for r, _ in memory.revocations()] == sorted(
                model.revoked, key=lambda r: (model.revoked[r], r.kind, r.value)
            )
            for key in KEYS:
                expected_count = model.count(key, now)
                assert memory.count(key, now) == expected_count
                assert handles[1].count(key, now) == expected_count
        finally:
            for handle in handles:
                handle.close()
