"""Verification: token -> :class:`VerifiedChain` -> :meth:`Verifier.authorize` -> Decision.

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
9. only if nothing failed, all or nothing, count one use against every ``max_uses`` caveat
   (``uses_exhausted``) and spend each approval discharge used (an approval is for one call;
   ``replay`` if already spent).

What steps 6, 8 and 9 need from shared state is one question, :meth:`State.check`, asked once
per call after every signature (the proof's included) has checked out. A state that cannot
answer yields ``store_unavailable``; a verifier without state (``state=None``) knows no
revocation, cannot remember a nonce, and denies with ``state_required`` a call it would have to
count or spend. Only step 5's hop signatures are cached, keyed by chain state; revocation,
expiry, approvals, uses and replay are decided afresh on every call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from delegation import _crypto
from delegation.caveats import (
    Audience,
    Caveat,
    Hop,
    MaxUses,
    Registry,
    Validity,
    default_registry,
)
from delegation.caveats.registry import CheckContext, Placed, check_caveat
from delegation.decision import Decision, Reason
from delegation.errors import BadDischarge, Code, Denied, TokenError
from delegation.keys import Keyring, encode_public_key
from delegation.limits import (
    CLOCK_SKEW_SECONDS,
    MAX_HOPS,
    MAX_TIME,
    POP_MAX_AGE_SECONDS,
)
from delegation.proof import Proof
from delegation.request import Request
from delegation.stores import (
    NonceClaim,
    Revocation,
    RevocationKind,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
    UseLimit,
)
from delegation.task import Link, TaskRecord
from delegation.thirdparty.caveat import (
    ThirdPartyCaveat,
    open_vid,
)
from delegation.thirdparty.discharges import Approval, ThirdPartyPlace, check_discharges
from delegation.token import ID_BYTES, UnverifiedToken, decode, parse_caveat

log = logging.getLogger("delegation")

_INTEGRITY = "the token failed its integrity check"


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A token whose HMAC chain, encoding, hop signatures and holder continuity checked out.

    Only this type hands out caveats as trustworthy. Request-time checks (revocation, expiry,
    scope, discharges, proof, replay, uses) are still ahead: see :meth:`Verifier.authorize`.
    """

    token: UnverifiedToken
    task: TaskRecord
    links: tuple[Link, ...]
    caveats: tuple[Placed, ...]
    prefix_digests: tuple[bytes, ...]
    """Chain digest of the identifier, then after each caveat."""
    third_party: tuple[ThirdPartyPlace, ...]
    expires: int
    """The earliest expiry among the token's caveats."""
    use_limits: tuple[tuple[int, int, int, int], ...]
    """(caveat index, segment, uses, keep count until) of each max_uses caveat."""

    @property
    def holder(self) -> Link:
        return self.links[-1]

    @property
    def token_id(self) -> str:
        return self.token.token_id

    def revocation_candidates(self) -> list[Revocation]:
        """Everything whose revocation kills this token, broadest first."""
        # Spelled right by construction (a keyring's key id, a decoded task id, encoded keys,
        # hex digests), so built without the constructor's checks: they cost every verify.
        make = Revocation._trusted
        out = [
            make(RevocationKind.KEY, self.token.identifier.key_id),
            make(RevocationKind.TASK, self.task.task_id),
        ]
        agent = RevocationKind.AGENT
        out += [make(agent, encode_public_key(link.public_key)) for link in self.links]
        token = RevocationKind.TOKEN
        out += [make(token, d[:ID_BYTES].hex()) for d in self.prefix_digests]
        return out


class Verifier:
    """Checks tokens minted under ``keyring``. Holds no per-request state but the hop cache.

    ``state`` is required, and says where revocations, proof nonces, use counts and spent
    approvals live: a :class:`delegation.stores.SQLiteState` shared by every verifier of a
    host, a networked store for several hosts, a :class:`delegation.stores.MemoryState` for
    this process alone. Verifiers that must agree (replicas of one tool server) MUST share it:
    with one each, a proof replays once per replica and a single-use token is used once per
    replica.

    ``state=None`` is a stateless verifier, and only that: it knows no revocation (nothing is
    ever revoked to it), cannot remember a proof (one is accepted again and again for as long
    as it is fresh, up to 90 seconds), and denies with ``state_required`` every call that would
    count a ``max_uses`` caveat or spend an approval.

    ``clock`` returns Unix seconds; it is the only source of time unless a call passes ``now``.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        state: State | None,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
        hop_cache_size: int = 4096,
    ) -> None:
        self._keyring = keyring
        self._registry = registry if registry is not None else default_registry()
        self._state = state
        self._clock = clock
        self._hop_cache: dict[tuple[bytes, bytes], None] = {}
        self._hop_cache_size = hop_cache_size
        self._hop_cache_lock = threading.Lock()

    def verify(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        now: float | None = None,
    ) -> Decision:
        """The whole check. Never raises for bad input: every failure is a denying Decision."""
        try:
            chain = self.check_chain(token)
        except TokenError as exc:
            return Decision(False, (Reason(exc.code, exc.detail),))
        except _ChainDenied as exc:
            return Decision(False, exc.reasons, exc.task, exc.links, exc.token_id)
        except Denied as exc:
            return Decision(False, exc.reasons)
        except Exception:  # fail closed on a bug, and make it visible
            log.exception("unexpected error while checking a token chain")
            return Decision(False, (Reason(Code.MALFORMED, "internal error while verifying"),))
        try:
            return self.authorize(chain, request, proof, discharges=discharges, now=now)
        except Exception:  # fail closed on a bug, and make it visible
            log.exception("unexpected error while authorizing a request")
            reason = Reason(Code.MALFORMED, "internal error while verifying")
            return Decision(False, (reason,), chain.task, chain.links, chain.token_id)

    def check_chain(self, token: str | UnverifiedToken) -> VerifiedChain:
        """Steps 1-5. Raises TokenError (``malformed``, ``too_large``) or Denied."""
        tok = decode(token) if isinstance(token, str) else token
        raw = tok.raw
        key = self._keyring.get(tok.identifier.key_id)
        if key is None:
            raise Denied([Reason(Code.UNKNOWN_KEY, "the token's root key is not known here")])
        states = _crypto.chain_states_derived(key.derived, raw.identifier, raw.caveats)
        if not _crypto.macs_equal(states[-1], raw.signature):
            raise Denied([Reason(Code.BAD_SIGNATURE, _INTEGRITY)])
        try:
            return self._walk_chain(tok, states)
        except (TokenError, Denied):
            raise
        except Exception as exc:  # a bug past the MAC check: deny, still naming the task
            log.exception("unexpected error while walking a token chain")
            holder = tok.identifier.holder
            reason = Reason(Code.MALFORMED, "internal error while verifying")
            links = (Link(holder.agent_id, holder.public_key),)
            raise _ChainDenied([reason], tok.task, links, tok.token_id) from exc

    def _walk_chain(self, tok: UnverifiedToken, states: list[bytes]) -> VerifiedChain:
        """Step 4 and 5 on a token whose HMAC chain checked out."""
        raw = tok.raw
        task, token_id = tok.task, tok.token_id
        holder = tok.identifier.holder
        links = [Link(holder.agent_id, holder.public_key)]

        def deny(reason: Reason) -> _ChainDenied:
            return _ChainDenied([reason], task, tuple(links), token_id)

        caveats: list[Caveat] = []
        hops = 0
        for index, raw_cav in enumerate(raw.caveats):
            try:
                cav = parse_caveat(self._registry, raw_cav)
            except TokenError as exc:
                raise deny(Reason(exc.code, exc.detail, hops, index)) from exc
            if type(cav) is Hop:
                hops += 1
                if hops > MAX_HOPS:
                    detail = f"the token has more than {MAX_HOPS} hops"
                    raise deny(Reason(Code.TOO_LARGE, detail, hops, index))
            caveats.append(cav)

        # One pass in token order. Classification uses type() identity: the core families are
        # final, and isinstance() against an ABC costs more than the rest of this loop.
        placed: list[Placed] = []
        third_party: list[ThirdPartyPlace] = []
        use_limits: list[tuple[int, int, int, int]] = []
        seen = {holder.public_key}
        digests = _crypto.chain_digests(raw.identifier, raw.caveats)
        has_audience = False
        expires: int | None = None
        for index, cav in enumerate(caveats):
            raw_cav = raw.caveats[index]
            before = digests[index]
            segment = len(links) - 1
            placed.append(Placed(segment, cav))
            kind = type(cav)
            if kind is Validity:
                exp = cav.expires  # type: ignore[attr-defined]
                if exp is not None and (expires is None or exp < expires):
                    expires = exp
            elif kind is Audience:
                has_audience = True
            elif kind is MaxUses:
                # Every token sharing this counter shares this prefix, so none outlives the
                # prefix's expiry: keep the count until then (or for good if it has none yet).
                keep = MAX_TIME if expires is None else expires + CLOCK_SKEW_SECONDS
                use_limits.append((index, segment, cav.uses, keep))  # type: ignore[attr-defined]
            elif kind is ThirdPartyCaveat:
                assert isinstance(cav, ThirdPartyCaveat)
                try:
                    caveat_key = open_vid(states[index], raw_cav.vid or b"")
                except BadDischarge as exc:
                    raise deny(Reason(exc.code, exc.detail, segment, index)) from exc
                third_party.append(ThirdPartyPlace(index, segment, raw_cav.cid, cav, caveat_key))
            elif kind is Hop:
                assert isinstance(cav, Hop)
                hop_no = len(links)
                problem = None
                if cav.public_key in seen:
                    problem = "a key appears twice in the chain"
                elif not self._hop_signed(before, raw_cav.cid, links[-1].public_key, cav):
                    problem = f"hop {hop_no} is not signed by the holder in force"
                if problem:
                    raise deny(Reason(Code.BAD_HOP, problem, hop_no, index))
                seen.add(cav.public_key)
                links.append(
                    Link(cav.agent_id, cav.public_key, digests[index + 1][:ID_BYTES].hex())
                )

        missing = []
        if not has_audience:
            missing.append("audience")
        if expires is None:
            missing.append("expiry")
        if missing or expires is None:
            detail = f"the token has no {' and no '.join(missing)} caveat"
            raise deny(Reason(Code.MISSING_CAVEAT, detail))
        return VerifiedChain(
            tok,
            task,
            tuple(links),
            tuple(placed),
            tuple(digests),
            tuple(third_party),
            expires,
            tuple(use_limits),
        )

    def authorize(
        self,
        chain: VerifiedChain,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        now: float | None = None,
    ) -> Decision:
        """Steps 6-9: revocation, caveats and discharges, the proof, then use limits.

        Steps 6, 8 and 9 are one :meth:`State.check`, made once everything that needs no state
        has been checked: the nonce is claimed only for a proof whose signature verified, uses
        are counted and approvals spent only when nothing else failed. Reasons keep step order.
        """
        at = int(self._clock() if now is None else now)
        reasons = self._check_caveats(chain, request, at)
        discharge_reasons, approvals = check_discharges(
            self._registry, chain.token.raw.signature, chain.third_party, request, discharges, at
        )
        reasons += discharge_reasons
        proof_reasons, nonce = self._check_proof(chain, request, proof, at)
        reasons += proof_reasons
        spend = [] if reasons else self._limits(chain, approvals)
        if self._state is None:
            if spend:
                reasons = [self._state_required(chain, approvals)]
        else:
            reasons = self._ask_state(self._state, chain, approvals, nonce, spend, reasons, at)
        return Decision(not reasons, tuple(reasons), chain.task, chain.links, chain.token_id)

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

    def _check_caveats(self, chain: VerifiedChain, request: Request, now: int) -> list[Reason]:
        agents = [link.agent_id for link in chain.links[1:]]
        contexts = [
            CheckContext(request, now, segment, tuple(agents[segment:]))
            for segment in range(len(chain.links))
        ]
        reasons = []
        for index, (segment, cav) in enumerate(chain.caveats):
            kind = type(cav)
            if kind is Hop or kind is MaxUses or kind is ThirdPartyCaveat:
                continue  # chain checks, use counting and discharges handle these
            failed = check_caveat(cav, contexts[segment])
            if failed is not None:
                reasons.append(Reason(failed.code, failed.detail, segment, index))
        return reasons

    def _check_proof(
        self, chain: VerifiedChain, request: Request, proof: str | None, now: int
    ) -> tuple[list[Reason], NonceClaim | None]:
        """Step 8 but the nonce: the reasons, or the nonce to claim for a proof that verified."""
        if proof is None:
            reason = Reason(Code.POP_REQUIRED, "a proof of possession by the holder is required")
            return [reason], None
        try:
            parsed = Proof.decode(proof)
        except TokenError:
            return [Reason(Code.POP_INVALID, "the proof of possession is malformed")], None
        if parsed.issued_at > now + CLOCK_SKEW_SECONDS:
            return [Reason(Code.POP_INVALID, "the proof is dated in the future")], None
        if now - parsed.issued_at > POP_MAX_AGE_SECONDS:
            return [Reason(Code.POP_INVALID, "the proof is too old; sign a fresh one")], None
        holder = chain.holder.public_key
        message = parsed.message(chain.token.token_bytes, request)
        if not _crypto.ed25519_verify(holder, parsed.signature, message):
            detail = "the proof is not the holder's signature over this token and request"
            return [Reason(Code.POP_INVALID, detail)], None
        expires = parsed.issued_at + POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
        return [], NonceClaim(parsed.replay_key(holder), expires)

    @staticmethod
    def _limits(chain: VerifiedChain, approvals: list[Approval]) -> list[UseLimit]:
        """Step 9's limits: every max_uses caveat in token order, then every approval used."""
        limits = [
            UseLimit(chain.prefix_digests[index + 1], uses, keep)
            for index, _, uses, keep in chain.use_limits
        ]
        limits += [UseLimit(a.key, 1, a.keep_until) for a in approvals]
        return limits

    def _ask_state(
        self,
        state: State,
        chain: VerifiedChain,
        approvals: list[Approval],
        nonce: NonceClaim | None,
        spend: list[UseLimit],
        reasons: list[Reason],
        now: int,
    ) -> list[Reason]:
        """Steps 6, 8 (the nonce) and 9 in one question; ``reasons`` are steps 7-8's."""
        query = StateQuery(chain.revocation_candidates(), nonce, spend)
        try:
            answer = state.check(query, now)
            if not isinstance(answer, StateAnswer) or not (
                answer.exhausted is None or 0 <= answer.exhausted < len(spend)
            ):
                raise TypeError("the state answered something that is not a StateAnswer")
        except Exception as exc:  # any store failure denies; it takes step 6's place
            return [_store_failure(exc), *reasons]
        out = []
        if answer.revoked is not None:
            hit = answer.revoked
            out.append(Reason(Code.REVOKED, f"the token was revoked ({hit.kind} {hit.value})"))
        out += reasons
        if answer.replayed:
            out.append(Reason(Code.REPLAY, "this proof has been used before"))
        if not out and answer.exhausted is not None:
            out.append(self._exhausted(chain, approvals, answer.exhausted))
        return out

    @staticmethod
    def _exhausted(chain: VerifiedChain, approvals: list[Approval], exhausted: int) -> Reason:
        if exhausted < len(chain.use_limits):
            index, segment, uses, _ = chain.use_limits[exhausted]
            detail = (
                "the token's single use is spent" if uses == 1 else f"all {uses} uses are spent"
            )
            return Reason(Code.USES_EXHAUSTED, detail, segment, index)
        spent = approvals[exhausted - len(chain.use_limits)]
        detail = "this approval has already been used for a call"
        return Reason(Code.REPLAY, detail, spent.segment, spent.caveat)

    @staticmethod
    def _state_required(chain: VerifiedChain, approvals: list[Approval]) -> Reason:
        """Step 9 at a verifier without state: at the first limit it cannot count."""
        if chain.use_limits:
            index, segment, _, _ = chain.use_limits[0]
            detail = (
                "the token limits its uses (max_uses): counting them needs shared state, and "
                "this verifier has none"
            )
            return Reason(Code.STATE_REQUIRED, detail, segment, index)
        first = approvals[0]
        detail = (
            "the call spends an approval, which is good for one call: recording that needs "
            "shared state, and this verifier has none"
        )
        return Reason(Code.STATE_REQUIRED, detail, first.segment, first.caveat)


def _store_failure(exc: Exception) -> Reason:
    """The reason for a state that did not answer: its category, never its message (which a
    third-party store may fill with a host name or worse)."""
    if isinstance(exc, StoreUnavailable) and isinstance(exc.reason, UnavailableReason):
        why = exc.reason.value
    else:
        log.exception("the state store failed")
        why = "error"
    return Reason(Code.STORE_UNAVAILABLE, f"the state store cannot answer ({why})")


class _ChainDenied(Denied):
    """A denial of a token whose signature checked out: it can still name task and agents."""

    def __init__(
        self, reasons: list[Reason], task: TaskRecord, links: tuple[Link, ...], token_id: str
    ) -> None:
        super().__init__(reasons)
        self.task = task
        self.links = links
        self.token_id = token_id
