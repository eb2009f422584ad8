"""Steps 1-5: token bytes -> :class:`VerifiedChain`, or a denial. No request, no clock, no state.

Everything here is a pure function of the token bytes, the keyring and the registry (the hop
signature cache is keyed so that it is too), which is what makes it safe to cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from delegation import _crypto
from delegation._decision import Balance, Decision, PolicyResult, Reason
from delegation._keys import Keyring, encode_public_key
from delegation._task import Link, TaskRecord
from delegation._thirdparty.caveat import ThirdPartyCaveat, open_vid
from delegation._thirdparty.discharges import ThirdPartyPlace
from delegation._token import ID_BYTES, UnverifiedToken, parse_caveat
from delegation._verifier._scope import CollapsedScope, collapse
from delegation.caveats import Audience, Budget, Caveat, Hop, MaxUses, Registry, Validity
from delegation.caveats.registry import Placed
from delegation.errors import BadDischarge, Code, Denied, TokenError
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_HOPS, MAX_TIME
from delegation.stores import Revocation, RevocationKind

INTEGRITY = "the token failed its integrity check"

HopCheck = Callable[[bytes, bytes, bytes, Hop], bool]
"""(chain digest before the hop, hop caveat bytes, signer key, hop) -> signed by the signer?"""


class UseLimitPlace(NamedTuple):
    """One max_uses caveat of a verified chain."""

    caveat: int
    """Its index in the token."""
    segment: int
    uses: int
    keep_until: int
    """Keep the count until then: no token sharing the counter outlives it."""


class BudgetPlace(NamedTuple):
    """One budget caveat of a verified chain."""

    caveat: int
    """Its index in the token."""
    segment: int
    budget: Budget
    keep_until: int
    """Keep the balance until then: no token drawing on it outlives it."""


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class VerifiedChain:
    """A token whose HMAC chain, encoding, hop signatures and holder continuity checked out,
    under the keyring and registry of the verifier that made it. That verifier remembers the
    object it made (by identity, weakly), and its :meth:`~delegation.Verifier.authorize` accepts
    that object and no other: not one built by hand, copied with ``dataclasses.replace``, or
    made by another verifier.

    Only this type hands out caveats as trustworthy. Request-time checks (revocation, expiry,
    scope, discharges, proof, replay, uses) are still ahead.
    """

    token: UnverifiedToken
    task: TaskRecord
    agents: tuple[Link, ...]
    """The chain of agents, root holder first; the last one holds the token."""
    caveats: tuple[Placed, ...]
    prefix_digests: tuple[bytes, ...]
    """Chain digest of the identifier, then after each caveat."""
    third_party: tuple[ThirdPartyPlace, ...]
    expires: int
    """The earliest expiry among the token's caveats."""
    use_limits: tuple[UseLimitPlace, ...]
    budgets: tuple[BudgetPlace, ...]
    # Pure functions of the fields above, computed once: a chain is checked once and then
    # authorized many times (the verifier's chain cache), so per-call work stays per call.
    _revocations: tuple[Revocation, ...] = field(init=False, repr=False)
    _token_digest: bytes = field(init=False, repr=False)
    _token_id: str = field(init=False, repr=False)
    _root_id: str = field(init=False, repr=False)
    _checks: tuple[tuple[int, int, Caveat], ...] = field(init=False, repr=False)
    """(index, segment, caveat) of every caveat checked against the request one by one."""
    _later_agents: tuple[tuple[str, ...], ...] = field(init=False, repr=False)
    """Per segment: the agent ids of the hops after it."""
    _scope: CollapsedScope = field(init=False, repr=False)
    _rest: tuple[tuple[int, int, Caveat], ...] = field(init=False, repr=False)
    """The checks ``_scope`` does not collapse, checked one by one when it allows the call."""

    def __post_init__(self) -> None:
        ids = [link.agent_id for link in self.agents[1:]]
        checks = tuple(_request_checked(self.caveats))
        scope, rest = collapse(checks)
        derived = (
            ("_revocations", tuple(self._revocation_candidates())),
            ("_token_digest", _crypto.token_digest(self.token.token_bytes)),
            ("_token_id", self.prefix_digests[-1][:ID_BYTES].hex()),
            ("_root_id", self.prefix_digests[0][:ID_BYTES].hex()),
            ("_checks", checks),
            ("_later_agents", tuple(tuple(ids[s:]) for s in range(len(self.agents)))),
            ("_scope", scope),
            ("_rest", rest),
        )
        for name, value in derived:
            object.__setattr__(self, name, value)

    @property
    def holder(self) -> Link:
        return self.agents[-1]

    @property
    def token_id(self) -> str:
        return self._token_id

    @property
    def root_id(self) -> str:
        return self._root_id

    @property
    def key_id(self) -> str:
        return self.token.identifier.key_id

    def decision(
        self,
        reasons: tuple[Reason, ...],
        at: int | None,
        budgets: tuple[Balance, ...] = (),
        reservation: str | None = None,
        policy: PolicyResult | None = None,
    ) -> Decision:
        """The answer for this chain: allowed exactly when ``reasons`` is empty."""
        return Decision(
            not reasons,
            reasons,
            self.task,
            self.agents,
            self._token_id,
            self._root_id,
            self.token.identifier.key_id,
            self.expires,
            at,
            budgets,
            reservation,
            policy,
        )

    def revocation_candidates(self) -> list[Revocation]:
        """Everything whose revocation kills this token, broadest first."""
        return list(self._revocations)

    def _revocation_candidates(self) -> list[Revocation]:
        # Spelled right by construction (a keyring's key id, a decoded task id, encoded keys,
        # hex digests), so built without the constructor's checks: they cost every verify.
        make = Revocation._trusted
        out = [
            make(RevocationKind.KEY, self.token.identifier.key_id),
            make(RevocationKind.TASK, self.task.task_id),
        ]
        agent = RevocationKind.AGENT
        out += [make(agent, encode_public_key(link.public_key)) for link in self.agents]
        token = RevocationKind.TOKEN
        out += [make(token, d[:ID_BYTES].hex()) for d in self.prefix_digests]
        return out


def _request_checked(caveats: tuple[Placed, ...]) -> list[tuple[int, int, Caveat]]:
    """The caveats step 7 checks one by one: all but hops (chain checks), max_uses (counted
    at step 9) and third-party caveats (their discharges are checked instead)."""
    skip = (Hop, MaxUses, ThirdPartyCaveat)
    return [
        (index, segment, cav)
        for index, (segment, cav) in enumerate(caveats)
        if type(cav) not in skip
    ]


class ChainDenied(Denied):
    """A denial of a token whose MAC checked out: it can still name its task and agents."""

    def __init__(self, reasons: list[Reason], token: UnverifiedToken, agents: tuple[Link, ...]):
        super().__init__(reasons)
        self.token = token
        self.agents = agents

    def decision(self, at: int | None) -> Decision:
        tok = self.token
        return Decision(
            False,
            self.reasons,
            tok.task,
            self.agents,
            tok.token_id,
            tok.root_id,
            tok.identifier.key_id,
            None,
            at,
        )


def check_chain(
    tok: UnverifiedToken, keyring: Keyring, registry: Registry, hop_signed: HopCheck
) -> VerifiedChain:
    """Steps 2-5 on a decoded token. Raises Denied (or ChainDenied past the MAC check)."""
    raw = tok.raw
    key = keyring.get(tok.identifier.key_id)
    if key is None:
        raise Denied([Reason(Code.UNKNOWN_KEY, "the token's root key is not known here")])
    states = _crypto.chain_states_derived(key.derived, raw.identifier, raw.caveats)
    if not _crypto.macs_equal(states[-1], raw.signature):
        raise Denied([Reason(Code.BAD_SIGNATURE, INTEGRITY)])
    caveats = _parse(tok, registry)
    return _Walk(tok, states, hop_signed).run(caveats)


def _parse(tok: UnverifiedToken, registry: Registry) -> list[Caveat]:
    """Step 4: every caveat parsed, and no more than MAX_HOPS hops, before any hop is checked."""
    holder = tok.identifier.holder
    root = (Link(holder.agent_id, holder.public_key),)
    caveats: list[Caveat] = []
    hops = 0
    for index, raw_cav in enumerate(tok.raw.caveats):
        try:
            cav = parse_caveat(registry, raw_cav)
        except TokenError as exc:
            raise ChainDenied([Reason(exc.code, exc.detail, hops, index)], tok, root) from exc
        if type(cav) is Hop:
            hops += 1
            if hops > MAX_HOPS:
                detail = f"the token has more than {MAX_HOPS} hops"
                raise ChainDenied([Reason(Code.TOO_LARGE, detail, hops, index)], tok, root)
        caveats.append(cav)
    return caveats


class _Walk:
    """Step 5: one pass over the caveats in token order, collecting what authorize needs.

    Classification uses type() identity: the core families are final, and isinstance() against
    an ABC costs more than the rest of the loop.
    """

    def __init__(self, tok: UnverifiedToken, states: list[bytes], hop_signed: HopCheck) -> None:
        self.tok = tok
        self.states = states
        self.hop_signed = hop_signed
        holder = tok.identifier.holder
        self.agents = [Link(holder.agent_id, holder.public_key)]
        self.seen = {holder.public_key}
        self.digests = _crypto.chain_digests(tok.raw.identifier, tok.raw.caveats)
        self.placed: list[Placed] = []
        self.third_party: list[ThirdPartyPlace] = []
        self.use_limits: list[UseLimitPlace] = []
        self.budgets: list[BudgetPlace] = []
        self.has_audience = False
        self.expires: int | None = None

    def deny(self, reason: Reason) -> ChainDenied:
        return ChainDenied([reason], self.tok, tuple(self.agents))

    def run(self, caveats: list[Caveat]) -> VerifiedChain:
        for index, cav in enumerate(caveats):
            segment = len(self.agents) - 1
            self.placed.append(Placed(segment, cav))
            kind = type(cav)
            if kind is Validity:
                exp = cav.expires  # type: ignore[attr-defined]
                if exp is not None and (self.expires is None or exp < self.expires):
                    self.expires = exp
            elif kind is Audience:
                self.has_audience = True
            elif kind is MaxUses:
                self._use_limit(index, segment, cav)  # type: ignore[arg-type]
            elif kind is Budget:
                keep = self._keep_until()
                self.budgets.append(BudgetPlace(index, segment, cav, keep))  # type: ignore[arg-type]
            elif kind is ThirdPartyCaveat:
                self._third_party(index, segment, cav)  # type: ignore[arg-type]
            elif kind is Hop:
                self._hop(index, cav)  # type: ignore[arg-type]
        if not self.has_audience or self.expires is None:
            missing = ["audience"] if not self.has_audience else []
            missing += ["expiry"] if self.expires is None else []
            detail = f"the token has no {' and no '.join(missing)} caveat"
            raise self.deny(Reason(Code.MISSING_CAVEAT, detail))
        return VerifiedChain(
            self.tok,
            self.tok.task,
            tuple(self.agents),
            tuple(self.placed),
            tuple(self.digests),
            tuple(self.third_party),
            self.expires,
            tuple(self.use_limits),
            tuple(self.budgets),
        )

    def _keep_until(self) -> int:
        # Every token sharing a counter or balance shares the prefix up to its caveat, so none
        # outlives the prefix's expiry: keep it until then (or for good if it has none yet).
        return MAX_TIME if self.expires is None else self.expires + CLOCK_SKEW_SECONDS

    def _use_limit(self, index: int, segment: int, cav: MaxUses) -> None:
        self.use_limits.append(UseLimitPlace(index, segment, cav.uses, self._keep_until()))

    def _third_party(self, index: int, segment: int, cav: ThirdPartyCaveat) -> None:
        raw_cav = self.tok.raw.caveats[index]
        try:
            caveat_key = open_vid(self.states[index], raw_cav.vid or b"")
        except BadDischarge as exc:
            raise self.deny(Reason(exc.code, exc.detail, segment, index)) from exc
        self.third_party.append(ThirdPartyPlace(index, segment, raw_cav.cid, cav, caveat_key))

    def _hop(self, index: int, hop: Hop) -> None:
        hop_no = len(self.agents)
        problem = None
        if hop.public_key in self.seen:
            problem = "a key appears twice in the chain"
        elif not self.hop_signed(
            self.digests[index], self.tok.raw.caveats[index].cid, self.agents[-1].public_key, hop
        ):
            problem = f"hop {hop_no} is not signed by the holder in force"
        if problem:
            raise self.deny(Reason(Code.BAD_HOP, problem, hop_no, index))
        self.seen.add(hop.public_key)
        hop_id = self.digests[index + 1][:ID_BYTES].hex()
        self.agents.append(Link(hop.agent_id, hop.public_key, hop_id))
