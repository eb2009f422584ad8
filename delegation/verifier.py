"""Verification: token -> :class:`VerifiedChain` -> :meth:`Verifier.authorize` -> Decision.

Order of checks (``specs/verification.md``):

1. decode the text form and the framing (``malformed``, ``too_large``);
2. find the root key by key id (``unknown_key``); the location field plays no part;
3. recompute the HMAC chain over the received bytes, compare in constant time
   (``bad_signature``; deliberately says nothing about where);
4. parse every caveat (``malformed``); more than ``MAX_HOPS`` hops is ``too_large``;
5. walk the hops: each signed by the holder in force over the chain so far, no key twice
   (``bad_hop``); require an audience and an expiry (``missing_caveat``);
6. check every caveat against the request and the verifier's clock, collecting every failure;
7. check the holder's proof of possession (``pop_required``, ``pop_invalid``) and claim its
   nonce (``replay``; ``store_unavailable`` if the store cannot answer).

Only step 5's hop signatures are cached, keyed by chain state; nothing else is, so expiry and
replay are decided afresh on every call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from delegation import _crypto, _wire
from delegation.caveats import Audience, Caveat, Hop, Registry, Validity, default_registry
from delegation.caveats.registry import CheckContext, Placed
from delegation.decision import Decision, Reason
from delegation.errors import CaveatFailed, Code, Denied, MalformedToken, TokenError
from delegation.keys import Keyring
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_HOPS, POP_MAX_AGE_SECONDS
from delegation.proof import Proof
from delegation.request import Request
from delegation.stores import MemoryNonceStore, NonceStore, StoreUnavailable
from delegation.task import Link, TaskRecord
from delegation.token import ID_BYTES, UnverifiedToken, decode

log = logging.getLogger("delegation")

_INTEGRITY = "the token failed its integrity check"


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A token whose HMAC chain, encoding, hop signatures and holder continuity checked out.

    Only this type hands out caveats as trustworthy. Request-time checks (expiry, scope,
    proof, replay) are still ahead: see :meth:`Verifier.authorize`.
    """

    token: UnverifiedToken
    task: TaskRecord
    links: tuple[Link, ...]
    caveats: tuple[Placed, ...]

    @property
    def holder(self) -> Link:
        return self.links[-1]

    @property
    def token_id(self) -> str:
        return self.token.token_id


class Verifier:
    """Checks tokens minted under ``keyring``. Holds no per-request state but the hop cache.

    ``clock`` returns Unix seconds; it is the only source of time unless a call passes ``now``.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        registry: Registry | None = None,
        nonce_store: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
        hop_cache_size: int = 4096,
    ) -> None:
        self._keyring = keyring
        self._registry = registry if registry is not None else default_registry()
        self._nonces: NonceStore = nonce_store if nonce_store is not None else MemoryNonceStore()
        self._clock = clock
        self._hop_cache: dict[tuple[bytes, bytes], None] = {}
        self._hop_cache_size = hop_cache_size

    def verify(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str | None,
        *,
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
        return self.authorize(chain, request, proof, now=now)

    def check_chain(self, token: str | UnverifiedToken) -> VerifiedChain:
        """Steps 1-5. Raises TokenError (``malformed``, ``too_large``) or Denied."""
        tok = decode(token) if isinstance(token, str) else token
        raw = tok.raw
        key = self._keyring.get(tok.identifier.key_id)
        if key is None:
            raise Denied([Reason(Code.UNKNOWN_KEY, "the token's root key is not known here")])
        signature = _crypto.chain_signature(key.secret, raw.identifier, raw.caveats)
        if not _crypto.macs_equal(signature, raw.signature):
            raise Denied([Reason(Code.BAD_SIGNATURE, _INTEGRITY)])

        task, token_id = tok.task, tok.token_id
        holder = tok.identifier.holder
        links = [Link(holder.agent_id, holder.public_key)]
        try:
            caveats = tuple(self._parse(c) for c in raw.caveats)
        except TokenError as exc:
            raise _ChainDenied(
                [Reason(exc.code, exc.detail)], task, tuple(links), token_id
            ) from exc
        if sum(isinstance(c, Hop) for c in caveats) > MAX_HOPS:
            reason = Reason(Code.TOO_LARGE, f"the token has more than {MAX_HOPS} hops")
            raise _ChainDenied([reason], task, tuple(links), token_id)

        placed: list[Placed] = []
        seen = {holder.public_key}
        digest = _crypto.digest_start(raw.identifier)
        for index, (raw_cav, cav) in enumerate(zip(raw.caveats, caveats, strict=True)):
            before = digest
            digest = _crypto.digest_step(digest, raw_cav)
            placed.append(Placed(len(links) - 1, cav))
            if not isinstance(cav, Hop):
                continue
            hop_no = len(links)
            problem = None
            if cav.public_key in seen:
                problem = "a key appears twice in the chain"
            elif not self._hop_signed(before, raw_cav.cid, links[-1].public_key, cav):
                problem = f"hop {hop_no} is not signed by the holder in force"
            if problem:
                reason = Reason(Code.BAD_HOP, problem, hop_no, index)
                raise _ChainDenied([reason], task, tuple(links), token_id)
            seen.add(cav.public_key)
            links.append(Link(cav.agent_id, cav.public_key, digest[:ID_BYTES].hex()))

        missing = []
        if not any(isinstance(c, Audience) for c in caveats):
            missing.append("an audience")
        if not any(isinstance(c, Validity) and c.expires is not None for c in caveats):
            missing.append("an expiry")
        if missing:
            reason = Reason(Code.MISSING_CAVEAT, f"the token has no {' or '.join(missing)}")
            raise _ChainDenied([reason], task, tuple(links), token_id)
        return VerifiedChain(tok, task, tuple(links), tuple(placed))

    def authorize(
        self,
        chain: VerifiedChain,
        request: Request,
        proof: str | None,
        *,
        now: float | None = None,
    ) -> Decision:
        """Steps 6-7: every caveat against ``request`` at ``now``, then the proof of possession."""
        at = int(self._clock() if now is None else now)
        reasons = self._check_caveats(chain, request, at)
        reasons.extend(self._check_proof(chain, request, proof, at))
        return Decision(not reasons, tuple(reasons), chain.task, chain.links, chain.token_id)

    def _parse(self, raw: _wire.RawCaveat) -> Caveat:
        if raw.vid is not None:
            raise MalformedToken("third-party caveats are not supported by this verifier")
        return self._registry.decode(raw.cid)

    def _hop_signed(self, prefix: bytes, cid: bytes, signer: bytes, hop: Hop) -> bool:
        # The prefix digest fixes the whole chain before the hop, hence the signer too, so
        # (prefix, hop bytes) fully determines the outcome: a sound cache key.
        cache_key = (prefix, cid)
        if cache_key in self._hop_cache:
            return True
        message = _crypto.hop_message(prefix, hop.agent_id, hop.public_key)
        if not _crypto.ed25519_verify(signer, hop.signature, message):
            return False
        if len(self._hop_cache) >= self._hop_cache_size:
            self._hop_cache.pop(next(iter(self._hop_cache)))
        self._hop_cache[cache_key] = None
        return True

    def _check_caveats(self, chain: VerifiedChain, request: Request, now: int) -> list[Reason]:
        agents = [link.agent_id for link in chain.links[1:]]
        reasons = []
        for index, placed in enumerate(chain.caveats):
            cav = placed.caveat
            segment = placed.hops_before + isinstance(cav, Hop)  # a hop opens its own segment
            later = tuple(agents[segment:])
            try:
                cav.check(CheckContext(request, now, placed.hops_before, later))
            except CaveatFailed as failed:
                reasons.append(Reason(failed.code, failed.detail, segment, index))
            except Exception:  # an application caveat with a bug denies; it never allows
                log.exception("caveat %s raised while checking", cav.name)
                detail = f"the {cav.name} caveat could not be evaluated"
                reasons.append(Reason(Code.MALFORMED, detail, segment, index))
        return reasons

    def _check_proof(
        self, chain: VerifiedChain, request: Request, proof: str | None, now: int
    ) -> list[Reason]:
        if proof is None:
            return [Reason(Code.POP_REQUIRED, "a proof of possession by the holder is required")]
        try:
            parsed = Proof.decode(proof)
        except TokenError:
            return [Reason(Code.POP_INVALID, "the proof of possession is malformed")]
        if parsed.issued_at > now + CLOCK_SKEW_SECONDS:
            return [Reason(Code.POP_INVALID, "the proof is dated in the future")]
        if now - parsed.issued_at > POP_MAX_AGE_SECONDS:
            return [Reason(Code.POP_INVALID, "the proof is too old; sign a fresh one")]
        holder = chain.holder.public_key
        message = parsed.message(chain.token.token_bytes, request)
        if not _crypto.ed25519_verify(holder, parsed.signature, message):
            detail = "the proof is not the holder's signature over this token and request"
            return [Reason(Code.POP_INVALID, detail)]
        expires = parsed.issued_at + POP_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
        try:
            fresh = self._nonces.claim(parsed.replay_key(holder), expires, now)
        except Exception as exc:  # any store failure denies
            if not isinstance(exc, StoreUnavailable):
                log.exception("nonce store failed")
            return [Reason(Code.STORE_UNAVAILABLE, "the replay store cannot answer")]
        if not fresh:
            return [Reason(Code.REPLAY, "this proof has been used before")]
        return []


class _ChainDenied(Denied):
    """A denial of a token whose signature checked out: it can still name task and agents."""

    def __init__(
        self, reasons: list[Reason], task: TaskRecord, links: tuple[Link, ...], token_id: str
    ) -> None:
        super().__init__(reasons)
        self.task = task
        self.links = links
        self.token_id = token_id
