"""A Redis fast path for proof nonces in front of a PostgreSQL state (``specs/state.md``,
"Redis fast path").

:class:`RedisState` implements the State protocol. Every proof nonce is claimed in Redis (one
script, one round trip, no disk write); everything else (revocations, use counts, budgets,
reservations) is asked of the durable :class:`~delegation.stores.postgres.PostgresState`
behind it, the source of truth. Nothing that must be remembered lives only in Redis except
nonces, and a nonce Redis loses is never accepted again, by the rule below.

**Why a Redis restart opens no replay window.** Redis keeps nothing on disk here, so a restart
forgets every nonce. A proof is accepted only within ``POP_MAX_AGE_SECONDS`` of its
``issued_at`` and at most ``CLOCK_SKEW_SECONDS`` ahead of the verifier's clock, so a nonce a
verifier claimed at its time ``A`` belongs to a proof with ``issued_at <= A + skew``.

- Each verifier claims only under a *lease* recorded in PostgreSQL beforehand: a time ``L`` by
  its own clock before which it may claim (:meth:`PostgresState.lease`; leases only grow). A
  claim at ``A`` needs ``A < L``, so every claim ever made satisfies
  ``issued_at < lease_horizon + skew``, whatever the clocks of the verifiers.
- Redis holds an *epoch* key: the Redis server's ``run_id`` (new on every start, and
  different on a promoted replica) and a guard ``G``. The claim script refuses to claim
  unless the epoch key names the running server, and refuses any proof with
  ``issued_at <= G``.
- When the epoch is missing or names another run (a restart, a flush, a failover, an
  eviction), a verifier opens a new epoch with ``G = lease_horizon + skew`` read from
  PostgreSQL *after* the loss: it is at least the bound of every claim made before it, since
  leases only grow. So no proof whose nonce Redis may have forgotten can be claimed again.

What it costs: after a loss, proofs issued before ``G`` are refused (``store_unavailable``,
"issued before the fast path's epoch") for at most ``LEASE_SECONDS + skew`` seconds; a fresh
proof is accepted once the prover's clock passes ``G``. While Redis cannot be reached every
call with a proof is refused (``store_unavailable``) rather than claimed in PostgreSQL: a nonce
claimed in one place and replayed to the other would be a hole. The first use ever (no lease
yet) opens an epoch with ``G = 0``: nothing to guard.

Redis must not evict keys (``maxmemory-policy noeviction``, or no ``maxmemory``): an evicted
nonce with its epoch still standing would be a replay. :class:`RedisState` checks this when it
is made and refuses to run otherwise.

Needs the ``redis`` extra (redis-py).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

import redis

from delegation.limits import CLOCK_SKEW_SECONDS, POP_MAX_AGE_SECONDS
from delegation.stores.base import (
    Revocation,
    RevocationRecord,
    SettledCharge,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
)

if TYPE_CHECKING:
    from delegation.stores.postgres import PostgresState

LEASE_SECONDS: Final = 10
"""How far ahead a verifier's lease runs; it is renewed once less than half is left."""

_R = UnavailableReason

# The epoch key holds "RUN_ID GUARD" (open) or "RUN_ID pending:ID" (being opened by the
# verifier that chose ID; it expires if that verifier dies before setting the guard).
_EPOCH_OF_THIS_RUN: Final = """
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local epoch = redis.call('GET', KEYS[1])
local rest = nil
if epoch then
  local sep = string.find(epoch, ' ', 1, true)
  if sep and string.sub(epoch, 1, sep - 1) == run then rest = string.sub(epoch, sep + 1) end
end
"""

# KEYS[1] epoch, KEYS[2] nonce; ARGV[1] issued_at, ARGV[2] ttl in ms, ARGV[3] claim id.
# Answers: 1 claimed, 0 replayed, 2 issued at or before the guard, 3 the epoch is being opened,
# -1 no epoch of this server run (open one, then ask again).
_CLAIM: Final = (
    _EPOCH_OF_THIS_RUN
    + """
if not rest then return -1 end
if string.sub(rest, 1, 8) == 'pending:' then return 3 end
if tonumber(ARGV[1]) <= tonumber(rest) then return 2 end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
)

# KEYS[1] epoch; ARGV[1] id, ARGV[2] ttl in ms. Marks an epoch of this server run as being
# opened by ID, unless one is open or being opened already: 1 if marked.
_OPEN: Final = (
    _EPOCH_OF_THIS_RUN
    + """
if rest then return 0 end
redis.call('SET', KEYS[1], run .. ' pending:' .. ARGV[1], 'PX', ARGV[2])
return 1
"""
)

# KEYS[1] epoch; ARGV[1] id, ARGV[2] guard. Opens the epoch ID marked, if it is still marked.
_GUARD: Final = (
    _EPOCH_OF_THIS_RUN
    + """
if rest ~= 'pending:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[1], run .. ' ' .. ARGV[2])
return 1
"""
)
# KEYS[1] epoch; ARGV[1] id. Removes the mark ID made, if it still stands.
_UNMARK: Final = (
    _EPOCH_OF_THIS_RUN
    + """
if rest ~= 'pending:' .. ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
)
# KEYS[1] epoch. 1 open, 3 being opened, -1 no epoch of this server run.
_STATE: Final = (
    _EPOCH_OF_THIS_RUN
    + """
if not rest then return -1 end
if string.sub(rest, 1, 8) == 'pending:' then return 3 end
return 1
"""
)
_PENDING_MS: Final = 5000

# KEYS[1] nonce; ARGV[1] claim id. Deletes the nonce only if this claim made it.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisState:
    """Proof nonces in Redis at ``url``, the rest in ``durable``, which it owns (closed with
    it, and if it cannot be made). Implements State.

    ``prefix`` namespaces the keys (verifiers that share nonces share a prefix and a durable
    state); ``holder`` names this verifier's lease (random unless given). ``timeout`` bounds
    each Redis command, in seconds. Raises StoreUnavailable (``error``) when Redis may evict
    keys or its eviction policy cannot be read, ``unreachable`` when it cannot be reached.
    """

    def __init__(
        self,
        durable: PostgresState,
        url: str,
        *,
        prefix: str = "delegation",
        holder: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ValueError("timeout is a positive number of seconds")
        self._durable = durable
        self._prefix = prefix
        self._holder = holder or f"redis-{secrets.token_hex(8)}"
        self._lease_until = 0
        self._lease_lock = threading.Lock()
        self._closed = False
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        except ValueError:
            durable.close()
            raise StoreUnavailable(_R.ERROR, "the Redis URL is not one redis-py reads") from None
        self._claim = self._redis.register_script(_CLAIM)
        self._open = self._redis.register_script(_OPEN)
        self._guard = self._redis.register_script(_GUARD)
        self._unmark = self._redis.register_script(_UNMARK)
        self._release = self._redis.register_script(_RELEASE)
        self._epoch_state = self._redis.register_script(_STATE)
        self._epoch_key = f"{prefix}:epoch"
        try:
            self._check_eviction()
        except BaseException:
            self.close()  # it owns the durable state: an object never handed out keeps nothing
            raise

    def _check_eviction(self) -> None:
        try:
            policy = self._redis.config_get("maxmemory-policy").get("maxmemory-policy")
            limit = self._redis.config_get("maxmemory").get("maxmemory")
        except redis.ResponseError as exc:  # CONFIG renamed or refused (a managed service)
            raise StoreUnavailable(
                _R.ERROR, "cannot read Redis's eviction policy: refusing to keep nonces there"
            ) from exc
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if policy != "noeviction" and str(limit) != "0":
            raise StoreUnavailable(
                _R.ERROR,
                f"Redis may evict keys (maxmemory-policy {policy}): an evicted nonce could be "
                "replayed; set maxmemory-policy noeviction",
            )

    def __enter__(self) -> RedisState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the protocol ---------------------------------------------------------------------

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if self._closed:
            raise StoreUnavailable(_R.UNREACHABLE, "the state is closed")
        if query.nonce is None:
            return self._durable.check(query, now)
        claim = secrets.token_hex(8)
        fresh = self._claim_nonce(query, now, claim)
        if not fresh:  # a replay: report revocation as ever, spend nothing
            answer = self._durable.check(StateQuery(query.revocations), now)
            return StateAnswer(answer.revoked, True)
        durable = StateQuery(query.revocations, None, query.spend, query.charges, query.hold)
        try:
            answer = self._durable.check(durable, now)
        except BaseException:
            # The check changed nothing durable: give the nonce back, so that it changed
            # nothing at all. If Redis cannot take it back, the proof stays spent (closed).
            with suppress(redis.RedisError):
                self._release(keys=[self._nonce_key(query)], args=[claim])
            raise
        return StateAnswer(
            answer.revoked, False, answer.exhausted, answer.over_budget, answer.spent
        )

    def _nonce_key(self, query: StateQuery) -> str:
        assert query.nonce is not None
        return f"{self._prefix}:n:{query.nonce.key.hex()}"

    def _claim_nonce(self, query: StateQuery, now: int, claim: str) -> bool:
        nonce = query.nonce
        assert nonce is not None
        issued_at = nonce.expires_at - POP_MAX_AGE_SECONDS - CLOCK_SKEW_SECONDS
        # Kept for the proof's whole life by the verifier's clock, plus the skew in case the
        # Redis server's clock runs ahead of it.
        ttl_ms = max(1, nonce.expires_at - now + CLOCK_SKEW_SECONDS) * 1000
        keys = [self._epoch_key, self._nonce_key(query)]
        deadline = time.monotonic() + 2 * _PENDING_MS / 1000  # a mark lives _PENDING_MS
        attempt = 0
        while True:
            attempt += 1
            self._keep_lease(now)
            state = self._run(self._claim, keys, [issued_at, ttl_ms, claim])
            if state == 1:
                return True
            if state == 0:
                return False
            if state == 2:
                raise StoreUnavailable(
                    _R.ERROR,
                    "the proof was issued before the nonce fast path's current epoch began "
                    "(Redis lost its nonces); sign a fresh proof",
                )
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    _R.ERROR, "the nonce fast path's epoch is still being opened"
                )
            if state == 3:  # another verifier is opening the epoch: a round trip or two
                time.sleep(min(0.005 * 2**attempt, 0.1))
            else:
                self._open_epoch()

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> int:
        try:
            return int(script(keys=keys, args=args))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def _find_open_epoch(self) -> None:
        """Return once an epoch of the running Redis server is open: opened here, or by
        another verifier while this one waits (at most twice the life of a mark). Raises
        StoreUnavailable."""
        deadline = time.monotonic() + 2 * _PENDING_MS / 1000
        attempt = 0
        while True:
            self._open_epoch()
            if self._run(self._epoch_state, [self._epoch_key], []) == 1:
                return
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    _R.ERROR, "the nonce fast path's epoch is still being opened"
                )
            attempt += 1
            time.sleep(min(0.005 * 2**attempt, 0.1))

    def _open_epoch(self) -> None:
        """Open an epoch for the running Redis server, guarding every claim made before it.

        Marked first (no claim is made in a marked epoch), then the lease horizon is read
        from PostgreSQL, then the guard is set if the mark still stands: every claim of an
        earlier epoch was made before the mark, under a lease recorded before that claim, so
        the horizon read after the mark covers it. If the mark was lost meanwhile (another
        restart or flush), nothing is set and the next attempt starts over."""
        mark = secrets.token_hex(8)
        if self._run(self._open, [self._epoch_key], [mark, _PENDING_MS]) != 1:
            return  # open, or being opened by another verifier
        try:
            guard = self._durable.lease_horizon() + CLOCK_SKEW_SECONDS
        except BaseException:
            with suppress(redis.RedisError):  # let another verifier open it at once
                self._unmark(keys=[self._epoch_key], args=[mark])
            raise
        self._run(self._guard, [self._epoch_key], [mark, guard])

    def _keep_lease(self, now: int) -> None:
        """Make sure this verifier's lease in PostgreSQL runs past ``now``: recorded there
        before any claim it covers is made. Before a lease is first taken or renewed, an
        epoch is opened if none is, so that this verifier's own new lease never delays it
        (the first start on an empty Redis opens with nothing to guard).

        While another verifier is opening the epoch, this one waits for it before recording a
        lease: a lease recorded between that verifier's mark and its horizon read would push
        the guard some 40 seconds ahead and refuse every proof until then (two replicas
        starting together did), though no claim under it could belong to the old epoch."""
        if now < self._lease_until - LEASE_SECONDS // 2:
            return
        with self._lease_lock:
            if now < self._lease_until - LEASE_SECONDS // 2:
                return
            self._find_open_epoch()
            until = now + LEASE_SECONDS
            self._durable.lease(self._holder, until)
            self._lease_until = until

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        return self._durable.settle(reservation, costs, now)

    def spent(self, key: bytes, now: int) -> int:
        return self._durable.spent(key, now)

    def revoke(self, revocation: Revocation, now: int) -> None:
        self._durable.revoke(revocation, now)

    def revocations(self) -> list[RevocationRecord]:
        return self._durable.revocations()

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers now (for a readiness probe)."""
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        self._closed = True
        self._durable.close()
        with suppress(redis.RedisError):
            self._redis.close()


def _unavailable(exc: BaseException) -> StoreUnavailable:
    """The StoreUnavailable for a redis-py error; never its message (it may name the host)."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return StoreUnavailable(
            _R.UNREACHABLE, f"the Redis fast path cannot be reached ({type(exc).__name__})"
        )
    if isinstance(exc, redis.ReadOnlyError):
        return StoreUnavailable(_R.READ_ONLY, "the Redis fast path is read-only (a replica)")
    if isinstance(exc, redis.ResponseError) and "OOM" in str(exc):
        return StoreUnavailable(_R.FULL, "the Redis fast path is out of memory")
    return StoreUnavailable(_R.ERROR, f"the Redis fast path failed ({type(exc).__name__})")
