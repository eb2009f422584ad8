"""The Redis fast path for nonces (``delegation.stores.redis``) on real servers: the machine's
PostgreSQL, and a Redis server of the test's own (so that it can be stopped, restarted and
flushed without touching anyone else's keys), with nothing kept on disk, as in production here.

The property that matters: a nonce is accepted at most once, across verifiers, across Redis
restarts, flushes and outages; what a restart costs is only that proofs issued before the new
epoch's guard are refused."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delegation.limits import CLOCK_SKEW_SECONDS, POP_MAX_AGE_SECONDS
from delegation.stores import (
    NonceClaim,
    Revocation,
    RevocationKind,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.stores.postgres import PostgresState
from delegation.stores.redis import LEASE_SECONDS, RedisState
from tests.conftest import NOW, POSTGRES_DSN

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")

R = UnavailableReason
LIFE = POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process on a port of its own, in ``tmp``; keeps nothing on disk."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp, self._extra = tmp, extra
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self._proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._tmp), *self._extra],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    made = RedisServer(tmp_path)
    yield made
    made.stop()


@pytest.fixture
def durable(pg_schema: str) -> Iterator[PostgresState]:
    made = PostgresState.create(POSTGRES_DSN, schema=pg_schema)
    yield made
    made.close()


def fast(server: RedisServer, pg_schema: str, prefix: str = "t") -> RedisState:
    return RedisState(PostgresState(POSTGRES_DSN, schema=pg_schema), server.url, prefix=prefix)


def claim(issued_at: int, key: bytes | None = None) -> StateQuery:
    nonce = NonceClaim(key or secrets.token_bytes(32), issued_at + LIFE)
    return StateQuery((), nonce)


def test_a_nonce_is_fresh_once(server: RedisServer, durable: PostgresState, pg_schema: str) -> None:
    state = fast(server, pg_schema)
    query = claim(NOW)
    assert state.check(query, NOW).replayed is False
    assert state.check(query, NOW + 1).replayed is True
    assert state.check(claim(NOW), NOW).replayed is False  # another nonce
    state.close()


def test_revocations_and_uses_are_the_durable_states(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    state = fast(server, pg_schema)
    durable.revoke(Revocation(RevocationKind.TASK, "t1"), NOW)
    revoked = Revocation(RevocationKind.TASK, "t1")
    nonce = NonceClaim(secrets.token_bytes(32), NOW + LIFE)
    answer = state.check(StateQuery((revoked,), nonce), NOW)
    assert (answer.revoked, answer.replayed) == (revoked, False)
    limit = UseLimit(b"u" * 32, 1, NOW + 3600)
    first = state.check(StateQuery((), claim(NOW).nonce, (limit,)), NOW)
    second = state.check(StateQuery((), claim(NOW).nonce, (limit,)), NOW)
    assert (first.exhausted, second.exhausted) == (None, 0)
    assert durable.count(limit.key) == 1
    # a replayed nonce spends nothing
    again = claim(NOW)
    state.check(again, NOW)
    replay = state.check(StateQuery((), again.nonce, (UseLimit(b"v" * 32, 5, NOW + 60),)), NOW)
    assert replay.replayed
    assert durable.count(b"v" * 32) == 0
    state.close()


def test_concurrent_verifiers_find_one_nonce_fresh_exactly_once(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    states = [fast(server, pg_schema) for _ in range(4)]
    query = claim(NOW)
    fresh: list[bool] = []
    gate = threading.Barrier(len(states) * 4)

    def go(state: RedisState) -> None:
        gate.wait()
        fresh.append(not state.check(query, NOW).replayed)

    threads = [threading.Thread(target=go, args=(s,)) for s in states for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fresh) == [False] * 15 + [True]
    for state in states:
        state.close()


def test_a_redis_restart_refuses_every_proof_its_lost_nonces_could_belong_to(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    state = fast(server, pg_schema)
    used = claim(NOW)
    assert state.check(used, NOW).replayed is False  # lease to NOW + LEASE_SECONDS
    server.restart()  # every nonce forgotten
    # the same proof, still within its life: refused, not accepted as fresh
    with pytest.raises(StoreUnavailable) as caught:
        state.check(used, NOW + 2)
    assert "epoch" in caught.value.detail
    # so is any proof issued up to the guard (the lease horizon plus the skew)...
    guard = NOW + LEASE_SECONDS + CLOCK_SKEW_SECONDS
    with pytest.raises(StoreUnavailable):
        state.check(claim(guard), guard)
    # ...and a proof issued after it is accepted once
    after = claim(guard + 1)
    assert state.check(after, guard + 1).replayed is False
    assert state.check(after, guard + 2).replayed is True
    state.close()


def test_a_flush_is_a_new_epoch_too(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    import redis

    state = fast(server, pg_schema)
    used = claim(NOW)
    state.check(used, NOW)
    redis.Redis.from_url(server.url).flushall()
    with pytest.raises(StoreUnavailable):
        state.check(used, NOW + 1)
    state.close()


def test_a_verifier_started_after_the_restart_is_bound_by_the_others_lease(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    first = fast(server, pg_schema)
    used = claim(NOW)
    first.check(used, NOW)
    first.close()
    server.restart()
    late = fast(server, pg_schema)  # knows nothing of the first verifier but its lease
    with pytest.raises(StoreUnavailable):
        late.check(used, NOW + 1)
    late.close()


def test_redis_down_denies_and_recovers_by_itself(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    state = fast(server, pg_schema)
    state.check(claim(NOW), NOW)
    server.stop()
    with pytest.raises(StoreUnavailable) as caught:
        state.check(claim(NOW), NOW)
    assert caught.value.reason is R.UNREACHABLE
    assert str(server.port) not in caught.value.detail
    with pytest.raises(StoreUnavailable):
        state.ping()
    server.start()
    later = NOW + LEASE_SECONDS + CLOCK_SKEW_SECONDS + 1
    assert state.check(claim(later), later).replayed is False
    state.ping()
    state.close()


def test_a_failed_durable_check_gives_the_nonce_back(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    state = fast(server, pg_schema)
    state.check(claim(NOW), NOW)  # lease taken, epoch open
    query = claim(NOW)
    spend = StateQuery((), query.nonce, (UseLimit(b"u" * 32, 1, NOW + 60),))
    with durable._session() as cur:  # the durable check fails after the nonce was claimed
        cur.execute("ALTER TABLE uses RENAME TO uses_gone")
    with pytest.raises(StoreUnavailable):
        state.check(spend, NOW)
    with durable._session() as cur:
        cur.execute("ALTER TABLE uses_gone RENAME TO uses")
    # the same nonce is fresh: the failed check changed nothing
    assert state.check(query, NOW).replayed is False
    assert state.check(query, NOW).replayed is True
    state.close()


def test_an_epoch_left_half_open_does_not_block_the_others(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    run = client.info("server")["run_id"]
    client.set("t:epoch", f"{run} pending:dead", px=300)  # a verifier died while opening
    with fast(server, pg_schema) as state:
        started = time.monotonic()
        # Nothing is claimed, and no lease taken, while the mark stands: the check waits for
        # it to expire, then opens the epoch itself with nothing to guard (no lease was ever
        # recorded), so this proof is claimed, once.
        proof = claim(NOW)
        assert state.check(proof, NOW).replayed is False
        assert time.monotonic() - started >= 0.25
        assert state.check(proof, NOW + 1).replayed is True


def test_a_lease_taken_while_another_verifier_opens_the_epoch_does_not_push_its_guard(
    server: RedisServer, durable: PostgresState, pg_schema: str
) -> None:
    # Two verifiers start together on an empty Redis. The first marks the epoch; the second,
    # finding it marked, must not record its lease before the first has read the horizon, or
    # the guard lands about 40 s ahead and every proof until then is refused.
    opener, other = fast(server, pg_schema), fast(server, pg_schema)
    real_horizon = opener._durable.lease_horizon
    seen: list[BaseException | bool] = []

    def the_other_arrives_meanwhile() -> int:
        def go() -> None:
            try:
                seen.append(other.check(claim(NOW), NOW).replayed)
            except BaseException as exc:
                seen.append(exc)

        thread = threading.Thread(target=go)
        thread.start()
        thread.join(timeout=0.5)  # old behaviour: its lease is recorded by now
        return real_horizon()

    opener._durable.lease_horizon = the_other_arrives_meanwhile  # type: ignore[method-assign]
    assert opener.check(claim(NOW), NOW).replayed is False  # guard: nothing to guard, + skew
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [False]  # the other claimed a proof of NOW too, once the epoch was open
    opener.close()
    other.close()


def test_a_redis_that_may_evict_keys_is_refused(tmp_path: Path, pg_schema: str) -> None:
    evicting = RedisServer(tmp_path, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    try:
        PostgresState.create(POSTGRES_DSN, schema=pg_schema).close()
        with pytest.raises(StoreUnavailable) as caught:
            fast(evicting, pg_schema)
        assert "noeviction" in caught.value.detail
    finally:
        evicting.stop()


def test_an_unreachable_redis_at_start_is_unreachable(pg_schema: str) -> None:
    PostgresState.create(POSTGRES_DSN, schema=pg_schema).close()
    url = f"redis://:hunter2@127.0.0.1:{_free_port()}/0"
    with pytest.raises(StoreUnavailable) as caught:
        RedisState(PostgresState(POSTGRES_DSN, schema=pg_schema), url, timeout=0.5)
    assert caught.value.reason is R.UNREACHABLE
    assert "hunter2" not in str(caught.value)


# Steps of a history: claim nonce i (issued at the clock), advance the clock, lose every nonce.
_STEP = st.one_of(
    st.tuples(st.just("claim"), st.integers(0, 5), st.integers(-CLOCK_SKEW_SECONDS, 0)),
    st.tuples(st.just("tick"), st.integers(1, 40), st.just(0)),
    st.tuples(st.just("flush"), st.just(0), st.just(0)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_STEP, min_size=1, max_size=30))
def test_no_history_of_claims_clock_and_losses_accepts_a_nonce_twice(
    server: RedisServer, durable: PostgresState, pg_schema: str, steps: list[tuple[str, int, int]]
) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    client.flushall()
    with durable._session() as cur:
        cur.execute("DELETE FROM leases")
    with fast(server, pg_schema, prefix=f"p{secrets.token_hex(4)}") as state:
        _history(state, client, steps)


def _history(state: RedisState, client: Any, steps: list[tuple[str, int, int]]) -> None:
    clock = NOW
    issued: dict[int, int] = {}  # nonce i -> its proof's issued_at (one proof per nonce)
    accepted: dict[int, int] = {}
    keys = {i: secrets.token_bytes(32) for i in range(6)}
    for op, i, offset in steps:
        if op == "tick":
            clock += i
        elif op == "flush":
            client.flushall()
        else:
            at = issued.setdefault(i, clock + offset)
            if not at <= clock + CLOCK_SKEW_SECONDS or clock - at > POP_MAX_AGE_SECONDS:
                continue  # the verifier refuses a stale proof before asking state
            try:
                fresh = not state.check(claim(at, keys[i]), clock).replayed
            except StoreUnavailable:
                continue
            if fresh:
                assert i not in accepted, f"nonce {i} accepted at {accepted[i]} and at {clock}"
                accepted[i] = clock
