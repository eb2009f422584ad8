"""Step 7's second half: every third-party caveat of a verified chain against its discharge.

Private to :mod:`delegation._verifier`; normative text in ``specs/third-party.md``. A discharge
verifies under its caveat's key, bound to this token; each satisfies exactly one caveat;
extras and duplicates are ``bad_discharge``; nesting is capped; every discharge needs an
expiry, and an approval must name its call and is returned as a one-use :class:`Approval` for
the verifier to spend with the use limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from delegation import _crypto, _wire
from delegation._decision import Reason
from delegation._request import Request
from delegation._thirdparty.caveat import (
    ThirdPartyCaveat,
    bind,
    decode_discharge,
    open_vid,
)
from delegation.caveats import (
    ApprovedFor,
    Budget,
    Call,
    Caveat,
    Delegatees,
    Hop,
    MaxDepth,
    MaxUses,
    Registry,
    Validity,
)
from delegation.caveats.registry import CheckContext, check_caveat
from delegation.errors import BadDischarge, Code, TokenError
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_DISCHARGE_DEPTH, MAX_DISCHARGES

if TYPE_CHECKING:
    from delegation._verifier._chain import VerifiedChain

_NOT_IN_DISCHARGES = (Hop, MaxDepth, Delegatees, MaxUses, Budget)
"""Chain checks (hops, depth, delegatees) and what is kept in state under a token's prefix
(use counts, budgets): a discharge has no place in the chain for either."""
UNBOUND_DISCHARGE = "the discharge is unbound: bind it to this token before presenting it"
"""The ``bad_discharge`` detail for a genuine discharge presented without binding."""
BOUND_TWICE = "the discharge is bound twice: present it as bound once"


@dataclass(frozen=True, slots=True)
class ThirdPartyPlace:
    """A third-party caveat of a verified chain, with its opened caveat root key."""

    index: int
    segment: int
    cid: bytes
    caveat: ThirdPartyCaveat
    caveat_key: bytes = field(repr=False, compare=False)
    """A secret: whoever has it can mint discharges for this caveat."""


class Approval(NamedTuple):
    """An approval discharge used by this call: spent (as a one-use limit) if the call passes."""

    key: bytes
    keep_until: int
    segment: int
    caveat: int


def check_discharges(
    registry: Registry,
    chain: VerifiedChain,
    request: Request,
    discharges: Sequence[str],
    now: int,
) -> tuple[list[Reason], list[Approval]]:
    """The reasons to deny, and the approvals this call would spend if it is allowed.

    A discharge's caveats are checked against ``chain``: its ``approved_for`` caveats against
    the chain's holder and prefixes."""
    if not discharges and not chain.third_party:
        return [], []  # nothing asked, nothing given
    if len(discharges) > MAX_DISCHARGES:
        return [Reason(Code.TOO_LARGE, f"more than {MAX_DISCHARGES} discharges")], []
    by_cid: dict[bytes, _wire.RawMacaroon] = {}
    for text in discharges:
        try:
            raw = decode_discharge(text)
        except BadDischarge as exc:
            return [Reason(Code.BAD_DISCHARGE, exc.detail)], []
        if raw.identifier in by_cid:
            return [Reason(Code.BAD_DISCHARGE, "two discharges name the same caveat")], []
        by_cid[raw.identifier] = raw

    check = _Checker(registry, chain, request, now)
    used: set[bytes] = set()
    # Breadth first: top-level caveats come first.
    pending = [(place, 0) for place in chain.third_party]
    while pending:
        place, depth = pending.pop(0)
        discharge = by_cid.get(place.cid)
        if discharge is None or place.cid in used:
            if place.caveat.applies_to(request):
                check.reasons.append(_missing(place))
            continue
        used.add(place.cid)
        pending += [(nested, depth + 1) for nested in check.one(place, discharge, depth)]
    if set(by_cid) - used:
        check.reasons.append(Reason(Code.BAD_DISCHARGE, "a discharge matches no caveat it needs"))
    return check.reasons, check.approvals


class _Checker:
    def __init__(self, registry: Registry, chain: VerifiedChain, request: Request, now: int):
        self.registry = registry
        self.token_signature = chain.token.raw.signature
        self.context = CheckContext(
            request, now, 0, (), chain.holder.public_key, chain.prefix_digests
        )
        self.reasons: list[Reason] = []
        self.approvals: list[Approval] = []

    def one(
        self, place: ThirdPartyPlace, discharge: _wire.RawMacaroon, depth: int
    ) -> list[ThirdPartyPlace]:
        """Check one discharge; return the nested third-party caveats it carries."""

        nested: list[ThirdPartyPlace] = []

        def bad(detail: str) -> list[ThirdPartyPlace]:
            # The nested caveats parsed before the error stay queued (specs/third-party.md,
            # check 3): each still needs its discharge, and one sent is not "matches no caveat".
            self.reasons.append(Reason(Code.BAD_DISCHARGE, detail, place.segment, place.index))
            return nested

        if depth > MAX_DISCHARGE_DEPTH:
            return bad("discharges nest too deeply")
        states = _crypto.chain_signatures(place.caveat_key, discharge.identifier, discharge.caveats)
        bound = bind(self.token_signature, states[-1])
        if not _crypto.macs_equal(bound, discharge.signature):
            # The two mistakes a holder makes with its own genuine discharge get their own
            # words; a discharge that is a mistake of no kind stays "does not verify".
            if _crypto.macs_equal(states[-1], discharge.signature):
                return bad(UNBOUND_DISCHARGE)
            if _crypto.macs_equal(bind(self.token_signature, bound), discharge.signature):
                return bad(BOUND_TWICE)
            return bad("the discharge does not verify for this token")
        caveats: list[Caveat] = []
        first_call: int | None = None  # index among the discharge's framed caveats
        before_call = 0  # how many parsed caveats precede it
        approved_for_first = False  # an approved_for caveat precedes the first call caveat
        for j, raw_cav in enumerate(discharge.caveats):
            try:
                parsed = self._caveat(raw_cav, states[j], place)
            except TokenError as exc:
                return bad(f"discharge: {exc.detail}")
            if isinstance(parsed, ThirdPartyPlace):
                nested.append(parsed)
                continue
            if first_call is None:
                if type(parsed) is Call:
                    first_call, before_call = j, len(caveats)
                elif type(parsed) is ApprovedFor:
                    approved_for_first = True
            caveats.append(parsed)
        expiries = [c.expires for c in caveats if type(c) is Validity and c.expires is not None]
        if not expiries:
            return bad("the discharge has no expiry")
        if place.caveat.is_approval:
            if first_call is None:
                return bad("an approval discharge must name the call it approves")
            if not approved_for_first:
                return bad("an approval discharge must name the chain that asked, before its call")
            # The approval's identity is the chain state through its call caveat: fixed by the
            # approver, beyond the holder's reach (a holder can append caveats to a discharge
            # and rebind it, which changes every later state and the bound signature). Its
            # approved_for caveat, with a random approval id, comes before the call, so two
            # approvals of one call are two approvals. Hashed, so the store never holds a state
            # from which discharges could be extended.
            key = _crypto.approval_spend_key(states[first_call + 1])
            # Kept as long as the discharge could be valid: until the approver's own expiry (the
            # caveats before its call caveat, beyond the holder's reach), else the latest one.
            # Never shorter, or a spent approval would come back; never holder-extended.
            approver_part = [
                c.expires
                for c in caveats[:before_call]
                if type(c) is Validity and c.expires is not None
            ]
            keep = min(approver_part or [max(expiries)]) + CLOCK_SKEW_SECONDS
            self.approvals.append(Approval(key, keep, place.segment, place.index))
        for cav in caveats:
            failed = check_caveat(cav, self.context)
            if failed is not None:
                detail = f"discharge for caveat {place.index}: {failed.detail}"
                self.reasons.append(Reason(failed.code, detail, place.segment, place.index))
        return nested

    def _caveat(
        self, raw: _wire.RawCaveat, state: bytes, parent: ThirdPartyPlace
    ) -> Caveat | ThirdPartyPlace:
        """Parse one caveat of a discharge. Raises TokenError for one a discharge cannot carry."""
        if raw.vid is not None:
            caveat = ThirdPartyCaveat.decode(raw.cid, raw.location)
            key = open_vid(state, raw.vid)
            return ThirdPartyPlace(parent.index, parent.segment, raw.cid, caveat, key)
        cav = self.registry.decode(raw.cid)
        if isinstance(cav, _NOT_IN_DISCHARGES):
            raise BadDischarge(f"a discharge cannot carry a {cav.name} caveat")
        return cav


def _missing(place: ThirdPartyPlace) -> Reason:
    if place.caveat.is_approval:
        code, detail = Code.APPROVAL_REQUIRED, "this call needs a human approval (a discharge)"
    else:
        code, detail = Code.DISCHARGE_REQUIRED, "this call needs a third party's discharge"
    return Reason(code, detail, place.segment, place.index)
