"""Human approval of one specific call, and third-party caveats in general: both sides.

Holder side: :func:`require_approval` adds a third-party caveat for an approval service (the
issuer does this at mint time to mark tools or actions as needing a human; any holder may do
it to restrict itself); :func:`delegation.prove_for_approval` signs the request to the approver;
:func:`bind_discharge` binds a discharge to the token it will travel with.

Approver side: :class:`Approver` checks that the holder the token names signed the request,
opens the tickets addressed to its key, shows what is being approved (task, chain of agents,
the holder that asked, the call) and, on a human's yes, mints a discharge that holds only for
that exact call, made by that holder through that chain, once, within minutes.

A sub-agent cannot approve itself: a discharge satisfies only the caveat whose id it carries,
and it verifies only under that caveat's root key, which was sealed to the approval service
and to the chain state before the caveat. Neither is known to a later holder.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from delegation import _crypto, _wire
from delegation._keys import encode_public_key
from delegation._proof import check_approval_request
from delegation._request import Request
from delegation._task import Link, TaskRecord
from delegation._thirdparty.caveat import (
    PURPOSE_APPROVAL,
    PURPOSE_THIRD_PARTY,
    ApproverKey,
    Rule,
    ThirdPartyCaveat,
    TicketContents,
    bind,
    decode_discharge,
    new_caveat_key,
    seal_ticket,
    seal_vid,
)
from delegation._token import UnverifiedToken, decode
from delegation.caveats import ApprovedFor, Call, Caveat, Validity, default_registry
from delegation.caveats.approved import APPROVAL_ID_BYTES
from delegation.errors import AuthoringError, BadDischarge, MisuseError, TokenError
from delegation.limits import MAX_CAVEAT_BYTES, MAX_CAVEATS, MAX_TIME, MAX_TOKEN_BYTES

APPROVAL_TTL_SECONDS = 300
"""How long an approval discharge lives by default."""
MAX_APPROVAL_TTL_SECONDS = 900


def require_approval(
    token: str | UnverifiedToken,
    approver: bytes,
    *,
    rules: Iterable[Rule | str] = (),
    location: str | None = None,
    purpose: int = PURPOSE_APPROVAL,
) -> UnverifiedToken:
    """Append a third-party caveat for ``approver`` (its X25519 public key).

    With ``rules`` (``"tool"`` or ``"tool:action"``) it applies only to matching calls;
    without, to every call. Raises AuthoringError if the token is full.
    """
    return _require_approval(token, approver, rules=rules, location=location, purpose=purpose)


def _require_approval(
    token: str | UnverifiedToken,
    approver: bytes,
    *,
    rules: Iterable[Rule | str] = (),
    location: str | None = None,
    purpose: int = PURPOSE_APPROVAL,
    seeds: tuple[bytes, bytes, bytes] | None = None,
) -> UnverifiedToken:
    """``require_approval`` with given ``seeds`` (caveat key, ephemeral X25519 seed, vid
    nonce): for reproducible test vectors, never for real tokens."""
    tok = decode(token) if isinstance(token, str) else token
    if location is not None:
        try:
            _wire.check_location(location)
        except TokenError as exc:
            raise AuthoringError(f"location: {exc.detail}") from exc
    if len(tok.raw.caveats) >= MAX_CAVEATS:
        raise AuthoringError(f"a token carries at most {MAX_CAVEATS} caveats")
    if isinstance(rules, str):  # "crm.update" would become one rule per character
        raise AuthoringError("rules is a list of 'tool' or 'tool:action' texts, not one text")
    if type(purpose) is not int or purpose not in (PURPOSE_APPROVAL, PURPOSE_THIRD_PARTY):
        raise AuthoringError("purpose is PURPOSE_APPROVAL or PURPOSE_THIRD_PARTY")
    if not isinstance(approver, bytes) or len(approver) != 32:
        raise AuthoringError("an approver public key is 32 bytes (X25519)")
    try:
        parsed = tuple(r if isinstance(r, Rule) else Rule.parse(r) for r in rules)
    except TokenError as exc:
        raise AuthoringError(f"rule: {exc.detail}") from exc
    caveat_key, ephemeral, vid_nonce = (new_caveat_key(), None, None) if seeds is None else seeds
    contents = TicketContents(caveat_key, tok.root_id, purpose)
    try:
        ticket = seal_ticket(approver, contents, ephemeral)
    except _crypto.SealError as exc:  # a low-order X25519 point: no shared secret
        raise AuthoringError("the approver public key is not a usable X25519 key") from exc
    caveat = ThirdPartyCaveat(purpose, approver, ticket, parsed, location)
    cid = caveat.encode()
    if len(cid) > MAX_CAVEAT_BYTES:
        raise AuthoringError(f"the third-party caveat would exceed {MAX_CAVEAT_BYTES} bytes")
    try:
        ThirdPartyCaveat.decode(cid, location)  # what a decoder would refuse is refused here
    except TokenError as exc:
        raise AuthoringError(f"the third-party caveat would not decode: {exc.detail}") from exc
    vid = seal_vid(tok.raw.signature, caveat_key, vid_nonce)
    raw = _wire.RawCaveat(cid, vid, location)
    signature = _crypto.chain_step(tok.raw.signature, raw)
    mac = _wire.RawMacaroon(
        tok.raw.identifier, (*tok.raw.caveats, raw), signature, tok.raw.location
    )
    result = UnverifiedToken(mac)
    if len(result.token_bytes) > MAX_TOKEN_BYTES:
        raise AuthoringError("the token would exceed the size limit")
    return result


def bind_discharge(token: str | UnverifiedToken, discharge: str) -> str:
    """Bind an (unbound) discharge to ``token``. Raises BadDischarge for an unreadable one, and
    for an approval given to another chain: one whose ``approved_for`` names another holder, or
    a chain ``token`` does not extend (the verifier would deny it with ``wrong_chain``)."""
    if not isinstance(discharge, str):
        raise BadDischarge("a discharge is base64url text")
    tok = decode(token) if isinstance(token, str) else token
    raw = decode_discharge(discharge)
    _check_approved_for(tok, raw)
    bound = _wire.RawMacaroon(
        raw.identifier, raw.caveats, bind(tok.raw.signature, raw.signature), raw.location
    )
    return _wire.b64encode(_wire.encode(bound))


def _check_approved_for(tok: UnverifiedToken, raw: _wire.RawMacaroon) -> None:
    """The holder-side view of what the verifier will check: each ``approved_for`` caveat of
    the discharge against the token's (unverified) holder and prefixes."""
    digests: list[bytes] | None = None
    for cav in raw.caveats:
        if cav.vid is not None or not cav.cid.startswith(_APPROVED_FOR_HEAD):
            continue
        try:
            approved = _REGISTRY.decode(cav.cid)
        except TokenError:
            continue  # the verifier reports it; binding does not judge what it cannot read
        if not isinstance(approved, ApprovedFor):
            continue
        if digests is None:
            digests = _crypto.chain_digests(tok.raw.identifier, tok.raw.caveats)
        n = approved.caveats
        if n >= len(digests) or not _crypto.macs_equal(digests[n], approved.chain_digest):
            raise BadDischarge(
                f"the approval was given to another chain (token {approved.token_id}), "
                "not one this token extends"
            )
        if approved.holder_key != tok.holder.public_key:
            raise BadDischarge(
                "the approval was given to the holder "
                f"{encode_public_key(approved.holder_key)}, not this token's"
            )


_REGISTRY = default_registry()
_APPROVED_FOR_HEAD = b"\x82\x0e"  # the CBOR array [14, ...]: an approved_for caveat


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """One approval a human is asked for: what, for which task, through which agents, asked by
    which holder. The holder signed the request; the task is bound by the ticket; the rest of
    the chain is as the token claims it, and the discharge is bound to exactly that chain."""

    caveat_index: int
    caveat: ThirdPartyCaveat
    task: TaskRecord
    agents: tuple[Link, ...]
    """The chain of agents, root holder first; the last one asked (and signed the request)."""
    root_id: str
    token_id: str
    """The exact token shown: the approval holds for it and its holder's own narrowings."""
    request: Request
    _ticket: TicketContents = field(repr=False)
    _chain_digest: bytes = field(repr=False)
    _caveats: int = field(repr=False)

    @property
    def holder(self) -> Link:
        """The agent that asked: the token's holder, whose signature the request carried."""
        return self.agents[-1]

    def summary(self) -> str:
        """A readable description of what is being approved."""
        agents = " -> ".join(link.agent_id for link in self.agents)
        kind = (
            "a human approval of one call (spent by that call)"
            if self.caveat.is_approval
            else "a third-party discharge (not an approval: reusable until it expires)"
        )
        holder = self.holder
        return (
            f"task {self.task.task_id!r} approved by {self.task.approved_by}: "
            f"{self.task.statement!r}\nagents: {agents}\n"
            f"asked by: {holder.agent_id} (key {encode_public_key(holder.public_key)}, "
            f"signed), token {self.token_id}\n"
            f"call: {_describe_call(self.request)}\nasked for: {kind}"
        )


def _describe_call(request: Request) -> str:
    parts = [f"{request.tool} {request.action} on {request.audience}"]
    if request.resource is not None:
        parts.append(f"resource {request.resource}")
    if request.intent is not None:
        parts.append(f"intent {request.intent}")
    if request.args:
        parts.append(f"args {dict(request.args)!r}")
    return ", ".join(parts)


class Approver:
    """The approval service's side. Holds the service's X25519 key."""

    def __init__(self, key: ApproverKey, *, location: str | None = None) -> None:
        if location is not None:
            try:
                _wire.check_location(location)
            except TokenError as exc:
                raise AuthoringError(f"location: {exc.detail}") from exc
        self._key = key
        self.location = location

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    def pending(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str,
        *,
        now: int | None = None,
    ) -> list[PendingApproval]:
        """What ``token``'s holder asks this service to approve for ``request``: the
        third-party caveats addressed to this service that the call needs.

        ``proof`` is the holder's signed request (:func:`delegation.prove_for_approval`); one
        that is malformed, stale, or not the holder's signature over this token and call is
        BadProof. A ticket that does not open, or names another token, is BadDischarge. The
        chain is as the token claims it (the approver holds no root key); what it approves is
        bound to that chain, which the verifier authenticates when the approval is used.
        """
        if not isinstance(token, str | UnverifiedToken):
            raise MisuseError("pending() takes the token as text or an UnverifiedToken")
        if not isinstance(request, Request):
            raise MisuseError("pending() takes the call as a Request")
        if now is not None and (type(now) is not int or not 0 <= now < MAX_TIME):
            raise MisuseError(f"pending(now=) is whole Unix seconds in [0, {MAX_TIME})")
        tok = decode(token) if isinstance(token, str) else token
        check_approval_request(tok, request, proof, int(time.time()) if now is None else now)
        digests = _crypto.chain_digests(tok.raw.identifier, tok.raw.caveats)
        agents = tok.agents()
        out = []
        for index, cav in enumerate(tok.unsafe_caveats()):
            if not isinstance(cav, ThirdPartyCaveat) or cav.third_party != self.public_key:
                continue
            if not cav.applies_to(request):
                continue
            ticket = self._open(cav)
            if ticket.root_id != tok.root_id:
                raise BadDischarge("the ticket was sealed for another token")
            out.append(
                PendingApproval(
                    index,
                    cav,
                    tok.task,
                    agents,
                    tok.root_id,
                    tok.token_id,
                    request,
                    ticket,
                    digests[-1],
                    len(tok.raw.caveats),
                )
            )
        return out

    def approve(
        self,
        pending: PendingApproval,
        *,
        now: int | None = None,
        ttl: int = APPROVAL_TTL_SECONDS,
    ) -> str:
        """Mint the (unbound) discharge for ``pending``: valid for ``ttl`` seconds, for that
        exact call, made by the holder that asked through the chain it showed (or that chain
        narrowed further by the same holder). Each call mints a new approval: two yeses to one
        call are two discharges, good for one call each."""
        return self._approve(pending, now, ttl, secrets.token_bytes(APPROVAL_ID_BYTES))

    def _approve(
        self, pending: PendingApproval, now: int | None, ttl: int, approval_id: bytes
    ) -> str:
        """``approve`` with a given approval id: for reproducible test vectors only."""
        if not isinstance(pending, PendingApproval):
            raise MisuseError("approve() takes a PendingApproval from pending()")
        if pending.caveat.third_party != self.public_key:
            raise MisuseError("that approval was asked of another approver: its pending() made it")
        holder = ApprovedFor(
            pending.holder.public_key, pending._caveats, pending._chain_digest, approval_id
        )
        cid = pending.caveat.encode()
        return self._discharge(cid, pending._ticket, pending.request, now, ttl, holder)

    def discharge_ticket(
        self,
        cid: bytes,
        request: Request | None = None,
        *,
        now: int | None = None,
        ttl: int = APPROVAL_TTL_SECONDS,
    ) -> str:
        """Mint an unbound discharge for a bare caveat id of a third party (purpose 0), for any
        holder of a token that carries it. Raises BadDischarge/MalformedToken for a cid that
        cannot be used, and AuthoringError for an approval caveat: a human approval is given
        to the chain that asks for it, through :meth:`pending` (token, call and the holder's
        signed request)."""
        caveat = ThirdPartyCaveat.decode(cid)
        if caveat.third_party != self.public_key:
            raise BadDischarge("the caveat is addressed to another third party")
        if caveat.is_approval:
            raise AuthoringError(
                "an approval is given to the holder that asks for it: approve through "
                "pending(token, request, proof), not a bare caveat id"
            )
        return self._discharge(cid, self._open(caveat), request, now, ttl, None)

    def _open(self, caveat: ThirdPartyCaveat) -> TicketContents:
        """Open the caveat's ticket; its purpose must be the caveat's. Raises BadDischarge."""
        ticket = self._key.open_ticket(caveat.ticket)
        if ticket.purpose != caveat.purpose:
            raise BadDischarge("the ticket's purpose differs from its caveat's")
        return ticket

    def _discharge(
        self,
        cid: bytes,
        ticket: TicketContents,
        request: Request | None,
        now: int | None,
        ttl: int,
        holder: ApprovedFor | None,
    ) -> str:
        if type(ttl) is not int or not 0 < ttl <= MAX_APPROVAL_TTL_SECONDS:
            raise AuthoringError(f"an approval lives 1-{MAX_APPROVAL_TTL_SECONDS} whole seconds")
        at = int(time.time()) if now is None else now
        try:
            caveats: list[Caveat] = [Validity(None, at + ttl)]
        except TokenError as exc:
            raise AuthoringError(f"approval expiry: {exc.detail}") from exc
        if holder is not None:  # before the call: the spend key covers it
            caveats.append(holder)
        if request is not None:
            caveats.append(Call(request.digest()))
        raws = tuple(_wire.RawCaveat(c.encode()) for c in caveats)
        signature = _crypto.chain_signature(ticket.caveat_key, cid, raws)
        raw = _wire.RawMacaroon(cid, raws, signature, self.location)
        return _wire.b64encode(_wire.encode(raw))


__all__ = [
    "APPROVAL_TTL_SECONDS",
    "Approver",
    "ApproverKey",
    "BadDischarge",
    "PendingApproval",
    "Rule",
    "bind_discharge",
    "require_approval",
]
