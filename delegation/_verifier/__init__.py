"""Verification: token -> :class:`VerifiedChain` -> :meth:`Verifier.authorize` -> Decision.

:mod:`._chain` is steps 1-5 (the token alone), :mod:`._request` steps 6-9 (the request, the
clock, the state); :class:`Verifier` ties them together and never raises for bad input.

Order of checks (``specs/verification.md``):

1. decode the text form and the framing (``malformed``, ``too_large``);
2. find the root key by key id (``unknown_key``); the location field plays no part;
3. recompute the HMAC chain over the received bytes, compare in constant time
   (``bad_signature``; deliberately says nothing about where);
4. parse every caveat (``malformed``); more than ``MAX_HOPS`` hops is ``too_large``;
5. walk the caveats in order: each hop signed by the holder in force over the chain so far,
   no key twice (``bad_hop``); each third-party caveat's verification id opens under the
   chain state before it (``bad_discharge``); then require an audience and an expiry
   (``missing_caveat``);
6. look up every chain prefix, the task, every agent key and the root key id among the
   revocations (``revoked``);
7. check every first-party caveat against the request and the verifier's clock, and every
   third-party caveat against its discharge, collecting every failure (caveat codes,
   ``approval_required``, ``discharge_required``, ``bad_discharge``). A discharge must verify
   under its caveat's key bound to this token, carry an expiry, and for an approval name the
   exact call;
8. check the holder's proof of possession (``pop_required``, ``pop_invalid``) and claim its
   nonce (``replay``);
8a. on a verifier with a policy, only if steps 7-8 found nothing: ask the policy
   (``policy_denied``, ``policy_unavailable``); it can only deny;
9. only if nothing failed, all or nothing, count one use against every ``max_uses`` caveat
   (``uses_exhausted``) and spend each approval discharge used (an approval is for one call;
   ``replay`` if already spent).

What steps 6, 8 and 9 need from shared state is one question, :meth:`State.check`, asked once
per call after every signature (the proof's included) has checked out. A state that cannot
answer yields ``store_unavailable``; a verifier without state (``state=None``) knows no
revocation, cannot remember a nonce, and denies with ``state_required`` a call it would have to
count or spend.

Two caches hold what is a pure function of the token bytes, the keyring and the registry, never
a decision: verified chains (steps 1-5, keyed by the exact token; bounded in entries and in
estimated bytes, :func:`entry_cost`) and hop signatures (keyed by chain digest, for new tokens
that share a prefix). The keyring cannot change under a verifier (a
:class:`~delegation.Keyring` is immutable: a retired key means a new verifier); registering a
caveat family empties the chain cache.
Revocation, expiry, scope, discharges, the proof, replay, uses and approvals are decided afresh
on every call.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from delegation import _crypto
from delegation._decision import Balance, Decision, Reason
from delegation._keys import Keyring
from delegation._request import Request
from delegation._task import Link
from delegation._token import UnverifiedToken, decode
from delegation._verifier import _request
from delegation._verifier._chain import ChainDenied, VerifiedChain, check_chain
from delegation.caveats import Hop, Registry, default_registry
from delegation.errors import Code, Denied, MisuseError, TokenError
from delegation.limits import MAX_DISCHARGES, MAX_TIME
from delegation.policy._model import Policy
from delegation.stores import (
    SettledCharge,
    SettleReason,
    SettleRefused,
    State,
    StoreUnavailable,
    UnavailableReason,
)

log = logging.getLogger("delegation")

__all__ = ["VerifiedChain", "Verifier"]


class Verifier:
    """Checks tokens minted under ``keyring``. Holds no per-request state, only its caches:
    ``chain_cache_size`` verified chains within ``chain_cache_bytes`` (estimated memory, 32 MiB
    by default) and ``hop_cache_size`` hop signatures; 0 turns either off.

    ``state`` is required, and says where revocations, proof nonces, use counts and spent
    approvals live: a :class:`delegation.stores.SQLiteState` shared by every verifier of a
    host, a networked store for several hosts, a :class:`delegation.stores.MemoryState` for
    this process alone. Verifiers that must agree (replicas of one tool server) MUST share it:
    with one each, a proof replays once per replica and a single-use token is used once per
    replica.

    ``state=None`` is a stateless verifier, and only that: it knows no revocation (nothing is
    ever revoked to it), cannot remember a proof (one is accepted again and again for as long
    as it is fresh, up to 90 seconds), and denies with ``state_required`` every call that would
    count a ``max_uses`` caveat or spend an approval. It alone may answer :meth:`verify_at`.

    ``clock`` returns Unix seconds and is the only source of time for :meth:`verify`.

    ``policy`` (:mod:`delegation.policy`) is asked about every call that every caveat,
    discharge and the proof allow, before anything is spent; it can only deny
    (``policy_denied``, or ``policy_unavailable`` when it cannot answer). The decision names
    its revision and the policies that decided.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        state: State | None,
        policy: Policy | None = None,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
        hop_cache_size: int = 4096,
        chain_cache_size: int = 1024,
        chain_cache_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self._keyring = keyring
        self._registry = registry if registry is not None else default_registry()
        self._state = state
        if policy is not None and not isinstance(policy, Policy):
            raise MisuseError("a policy has an evaluate(document) method (delegation.policy)")
        self._policy = policy
        self._clock = clock
        self._issued: weakref.WeakSet[VerifiedChain] = weakref.WeakSet()  # by identity
        self._issued_lock = threading.Lock()
        self._hop_cache: dict[tuple[bytes, bytes], None] = {}
        self._hop_cache_size = hop_cache_size
        self._hop_cache_lock = threading.Lock()
        self._chains: dict[str, VerifiedChain] = {}  # by the token's text form
        self._chains_bytes = 0
        self._chains_generation = self._registry._generation
        self._chain_cache_size = chain_cache_size
        self._chain_cache_bytes = chain_cache_bytes
        self._chains_lock = threading.Lock()

    def verify(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        reserve: bool = False,
    ) -> Decision:
        """The whole check, at the verifier's clock, spending what the call spends.

        With ``reserve``, an allowed call's budget charges are a reservation: the decision's
        ``reservation`` id settles them at the call's actual cost (:meth:`settle`) or releases
        them (:meth:`release`) within ``RESERVATION_SECONDS``; after that they stand in full.

        Never raises for bad input: every failure (a missing or mistyped token, proof or
        discharge included) is a denying Decision with its reason codes.
        """
        return self._verify(token, request, proof, discharges, self._now(), reserve is True)

    def verify_at(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        at: float,
    ) -> Decision:
        """Offline analysis: what a verifier would have decided at Unix time ``at``.

        Only a stateless verifier (``state=None``) answers it, so an analysis can never spend
        a nonce, a use or an approval in shared state; otherwise raises MisuseError.
        """
        if self._state is not None:
            raise MisuseError(
                "verify_at is offline analysis and spends nothing: use a Verifier(state=None)"
            )
        try:
            when = _whole_seconds(at)
        except ValueError as exc:
            raise MisuseError(f"verify_at: {exc}") from exc
        return self._verify(token, request, proof, discharges, when, False)

    def settle(self, reservation: str, costs: Mapping[str, int]) -> list[SettledCharge]:
        """Settle a reservation (:attr:`Decision.reservation`) at the call's actual costs, by
        unit: ``{"llm-tokens": 812}``. Each charge of a unit given drops to its actual cost (at
        most what was reserved) and the difference goes back to its budget; a unit not given
        stands as reserved. Once settled, a reservation is gone.

        Raises SettleRefused (``reason``: unknown_reservation, reservation_expired,
        over_reservation, unknown_unit, invalid_cost) or StoreUnavailable, changing nothing;
        MisuseError on a verifier without state.
        """
        return self._settle(reservation, costs)

    def release(self, reservation: str) -> list[SettledCharge]:
        """Give a reservation's charges back in full: the call did not happen, or cost
        nothing. Raises as :meth:`settle` does."""
        return self._settle(reservation, None)

    def _settle(self, reservation: str, costs: Mapping[str, int] | None) -> list[SettledCharge]:
        if self._state is None:
            raise MisuseError("settling a reservation needs the verifier's state")
        return settle(self._state, reservation, costs, self._now())

    def balances(self, token: str | UnverifiedToken) -> tuple[Balance, ...]:
        """Each budget of ``token``'s chain, in token order, as the state holds it now
        (``charged`` 0). The token is checked first (steps 1-5); no request, proof or
        revocation is looked at and nothing is spent.

        Raises TokenError or Denied for a token that does not check out, StoreUnavailable,
        and MisuseError on a verifier without state.
        """
        if self._state is None:
            raise MisuseError("a budget's balance lives in the verifier's state")
        chain = self._check_chain(token)
        now = self._now()
        if now is None:
            raise StoreUnavailable(UnavailableReason.ERROR, "the verifier's clock failed")
        out = []
        for place in chain.budgets:
            key = chain.prefix_digests[place.caveat + 1]
            spent = self._state.spent(key, now)
            budget = place.budget
            out.append(Balance(budget.unit, budget.total, 0, spent, place.segment, place.caveat))
        return tuple(out)

    def check_chain(self, token: str | UnverifiedToken) -> VerifiedChain:
        """Steps 1-5. Raises TokenError (``malformed``, ``too_large``) or Denied.

        The chain it returns is the one object :meth:`authorize` accepts from this verifier.
        """
        chain = self._check_chain(token)
        with self._issued_lock:
            self._issued.add(chain)
        return chain

    def _check_chain(self, token: str | UnverifiedToken) -> VerifiedChain:
        if type(token) is str:
            key = token
        elif isinstance(token, str):  # an exact copy: a subclass's equality never finds a chain
            token = key = str.__str__(token)
        elif isinstance(token, UnverifiedToken):
            key = token.encode()  # one entry, either form
        else:
            raise Denied([_token_problem(token)])
        cached = self._chains.get(key)
        if cached is not None and self._chains_generation == self._registry._generation:
            return cached
        tok = decode(token) if isinstance(token, str) else token
        try:
            chain = check_chain(tok, self._keyring, self._registry, self._hop_signed)
        except (TokenError, Denied):
            raise
        except Exception as exc:  # a bug past the MAC check: deny, still naming the task
            log.exception("unexpected error while checking a token chain")
            reason = Reason(Code.INTERNAL_ERROR, "internal error while verifying")
            holder = tok.identifier.holder
            raise ChainDenied([reason], tok, (Link(holder.agent_id, holder.public_key),)) from exc
        self._remember(key, chain)
        return chain

    def _remember(self, key: str, chain: VerifiedChain) -> None:
        """Keep ``chain`` for its exact token; oldest first out, within entries and bytes."""
        size = entry_cost(key, chain)
        if self._chain_cache_size <= 0 or size > self._chain_cache_bytes:
            return
        with self._chains_lock:
            if self._chains_generation != self._registry._generation:
                self._chains.clear()
                self._chains_bytes = 0
                self._chains_generation = self._registry._generation
            if key in self._chains:
                return
            while self._chains and (
                len(self._chains) >= self._chain_cache_size
                or self._chains_bytes + size > self._chain_cache_bytes
            ):
                oldest = next(iter(self._chains))
                self._chains_bytes -= entry_cost(oldest, self._chains.pop(oldest))
            self._chains[key] = chain
            self._chains_bytes += size

    def authorize(
        self,
        chain: VerifiedChain,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        reserve: bool = False,
    ) -> Decision:
        """Steps 6-9 at the verifier's clock on a chain this verifier checked (``reserve`` as
        for :meth:`verify`).

        Raises MisuseError for a chain another verifier checked, or one built by hand: it was
        checked under other keys (or not at all). Never raises for bad request-time input.
        """
        with self._issued_lock:
            ours = isinstance(chain, VerifiedChain) and chain in self._issued
        if not ours:
            raise MisuseError("this chain was not verified by this verifier: call its verify()")
        return self._authorize(chain, request, proof, discharges, self._now(), reserve is True)

    def _verify(
        self,
        token: object,
        request: object,
        proof: object,
        discharges: object,
        at: int | None,
        reserve: bool,
    ) -> Decision:
        if type(token) is not str and not isinstance(token, UnverifiedToken | str):
            return Decision(False, (_token_problem(token),), at=at)
        try:
            chain = self._check_chain(token)  # made and used here: nothing to remember
        except TokenError as exc:
            return Decision(False, (Reason(exc.code, exc.detail),), at=at)
        except ChainDenied as exc:
            return exc.decision(at)
        except Denied as exc:
            return Decision(False, exc.reasons, at=at)
        except Exception:  # fail closed on a bug, and make it visible
            log.exception("unexpected error while checking a token chain")
            reason = Reason(Code.INTERNAL_ERROR, "internal error while verifying")
            return Decision(False, (reason,), at=at)
        return self._authorize(chain, request, proof, discharges, at, reserve)

    def _authorize(
        self,
        chain: VerifiedChain,
        request: object,
        proof: object,
        discharges: object,
        at: int | None,
        reserve: bool,
    ) -> Decision:
        # The common case (a Request, a proof text, no discharges) has nothing to ask of types.
        if not (
            type(request) is Request
            and type(proof) is str
            and type(discharges) is tuple
            and not discharges
        ):
            problem = _input_problem(request, proof, discharges)
            if problem is not None:
                return chain.decision((problem,), at)
        if at is None:
            reason = Reason(Code.INTERNAL_ERROR, "the verifier's clock gives no usable time")
            return chain.decision((reason,), at)
        try:
            outcome = _request.authorize(
                chain,
                self._registry,
                self._state,
                cast(Request, request),
                cast(str | None, proof),
                cast(Sequence[str], discharges),
                at,
                reserve,
                self._policy,
            )
        except Exception:  # fail closed on a bug, and make it visible
            log.exception("unexpected error while authorizing a request")
            reason = Reason(Code.INTERNAL_ERROR, "internal error while verifying")
            return chain.decision((reason,), at)
        return chain.decision(
            outcome.reasons, at, outcome.budgets, outcome.reservation, outcome.policy
        )

    def _now(self) -> int | None:
        try:
            when = self._clock()
            if (type(when) is float or type(when) is int) and 0 <= when < MAX_TIME:  # NaN fails
                return int(when)
            return _whole_seconds(when)
        except Exception:  # a broken clock denies (internal_error), it never guesses a time
            log.exception("the verifier's clock failed")
            return None

    def _hop_signed(self, prefix: bytes, cid: bytes, signer: bytes, hop: Hop) -> bool:
        # The prefix digest fixes the whole chain before the hop, hence the signer too, so
        # (prefix, hop bytes) fully determines the outcome: a sound cache key.
        cache_key = (prefix, cid)
        if cache_key in self._hop_cache:
            return True
        message = _crypto.hop_message(prefix, hop.agent_id, hop.public_key)
        if not _crypto.ed25519_verify(signer, hop.signature, message):
            return False
        if self._hop_cache_size > 0:
            with self._hop_cache_lock:
                if len(self._hop_cache) >= self._hop_cache_size:
                    self._hop_cache.pop(next(iter(self._hop_cache)))
                self._hop_cache[cache_key] = None
        return True


_RESERVATION = re.compile(r"[0-9a-f]{32}")


def settle(
    state: State, reservation: str, costs: Mapping[str, int] | None, now: int | None
) -> list[SettledCharge]:
    """:meth:`Verifier.settle` on ``state`` at ``now`` (None: a clock that failed)."""
    if not isinstance(reservation, str) or not _RESERVATION.fullmatch(reservation):
        raise SettleRefused(
            SettleReason.UNKNOWN_RESERVATION, "a reservation id is 32 lowercase hex digits"
        )
    if now is None:
        raise StoreUnavailable(UnavailableReason.ERROR, "the verifier's clock failed")
    return state.settle(bytes.fromhex(reservation), costs, now)


_ENTRY_BASE = 1024
_ENTRY_PER_CAVEAT = 800
_ENTRY_PER_CHAR = 2


def entry_cost(text: str, chain: VerifiedChain) -> int:
    """What one verified chain is charged against ``chain_cache_bytes``: an estimate of the
    memory it holds (its text key, the decoded token, and per caveat its parse, place, chain
    digest, revocation candidate and check), kept above what the benchmark measures with
    tracemalloc (``benchmarks/``: about 0.8 KB per caveat and twice the text)."""
    return _ENTRY_BASE + _ENTRY_PER_CHAR * len(text) + _ENTRY_PER_CAVEAT * len(chain.caveats)


def _whole_seconds(when: float) -> int:
    """Unix seconds as the verifier uses them. Raises ValueError for a time it cannot use."""
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise ValueError("a time is a finite number of Unix seconds")
    if not 0 <= when < MAX_TIME:
        raise ValueError(f"a time is within [0, {MAX_TIME})")
    return int(when)


def _token_problem(token: object) -> Reason:
    if token is None:
        return Reason(Code.TOKEN_REQUIRED, "no token was presented")
    return Reason(
        Code.MALFORMED, f"a token is text (its base64url form), not {type(token).__name__}"
    )


def _input_problem(request: object, proof: object, discharges: object) -> Reason | None:
    """A request-time input of the wrong type: the caller's bug, or a hostile one; denied."""
    if not isinstance(request, Request):
        return Reason(
            Code.MALFORMED, f"the request is a delegation.Request, not {type(request).__name__}"
        )
    if proof is not None and not isinstance(proof, str):
        return Reason(Code.POP_INVALID, f"a proof is text, not {type(proof).__name__}")
    if isinstance(discharges, str | bytes) or not isinstance(discharges, Sequence):
        return Reason(Code.BAD_DISCHARGE, "discharges are a list of texts, not one text")
    if len(discharges) <= MAX_DISCHARGES and not all(isinstance(d, str) for d in discharges):
        return Reason(Code.BAD_DISCHARGE, "every discharge is text (its base64url form)")
    return None
