"""``thirdparty.json`` while it is built: the file, and the tokens, approvals and helpers that
most of its themes share."""

from __future__ import annotations

from collections.abc import Sequence

from delegation import Code, Request, UnverifiedToken, _wire
from delegation.caveats import Call, Validity

from gen.fixtures import (
    NOW,
    UPDATE,
    Json,
    Tokenish,
    approval_discharge,
    approval_id,
    approved_for,
    ask,
    bound,
    caveat_key,
    dtext,
    hop,
    needs,
    pop,
    raw_of,
    req,
    root,
    tp_cids,
)
from gen.render import THIRD_PARTY, ApprovalRequest, At, Reason, Step, VectorFile


def first_tp(code: Code) -> At:
    """A reason positioned at the token's first third-party caveat (in the story's tokens the
    issuer's approval caveat, minted before any hop): a missing discharge, a discharge's
    reasons, nested ones included, and a spent approval's replay point at the token's
    third-party caveat they belong to."""
    return At(code, family=THIRD_PARTY)


def call_digest(request: Json) -> bytes:
    return Request.from_json(request).digest()


class Story:
    """The issuer's token with an approval caveat, its writer, and the writer's approval."""

    def __init__(self, f: VectorFile) -> None:
        self.f = f
        self.r = root("thirdparty")
        # The issuer marks crm.update with write as needing a human, at mint time (before any hop).
        self.ra = needs(self.r, "approval-service", "issuer approval", rules=["crm.update:write"])
        self.issuer_cid, self.issuer_key = tp_cids(self.ra)[0], caveat_key("issuer approval")
        self.w = hop(self.ra, "orchestrator", "writer")
        self.sibling = hop(self.ra, "orchestrator", "summariser")
        self.writer = ["orchestrator", "writer"]
        self.other_call = req(**{**UPDATE, "args": {"text": "Account closed"}})
        # The writer asks, with its own token and a signed approval request, for UPDATE; a human
        # says yes. The approval holds for the writer's chain (and the writer's narrowings).
        self.approval = dtext(self.approval_of(self.w, "writer", UPDATE, "writer"))
        self.approved = bound(self.w, self.approval)
        # The orchestrator's own approval of UPDATE, asked with the root token.
        self.root_approval = dtext(
            self.approval_of(self.ra, "orchestrator", UPDATE, "orchestrator")
        )
        # what a hand-built approval discharge carries: an expiry, the chain that asked (the
        # writer's), and the call it approves, in that order
        self.expiry = Validity(None, NOW + 300)
        self.for_writer = approved_for(self.w, "writer", "by hand")
        self.exact = Call(call_digest(UPDATE))

    def approval_of(
        self,
        tok: UnverifiedToken,
        holder: str,
        request: Json,
        label: str,
        *,
        at: int = NOW,
        ttl: int = 300,
    ) -> _wire.RawMacaroon:
        """The approval service's unbound discharge of the issuer's caveat when ``holder``
        asks with ``tok`` for ``request`` at ``at`` (approval id from ``label``)."""
        return approval_discharge(
            tok, holder, request, self.issuer_cid, self.issuer_key, label, at=at, ttl=ttl
        )

    def asked(
        self,
        tok: UnverifiedToken,
        holder: str,
        request: Json,
        label: str,
        *,
        at: int = NOW,
        proof_at: int | None = None,
        ttl: int = 300,
    ) -> ApprovalRequest:
        """``holder``'s approval request (signed at ``proof_at``, default ``at``) and the
        approval service's answer at ``at``: the discharge ``approval_of`` builds."""
        index = [c.cid for c in raw_of(tok).caveats].index(self.issuer_cid)
        proof = ask(tok, holder, request, label, at=at if proof_at is None else proof_at)
        return ApprovalRequest(
            "approval-service",
            tok,
            request,
            proof,
            now=at,
            approval_id=approval_id(label),
            ttl=ttl,
            caveat=index,
            discharge=self.approval_of(tok, holder, request, label, at=at, ttl=ttl),
        )

    def refused(
        self,
        tok: UnverifiedToken,
        request: Json,
        proof: str | None,
        label: str,
        error: Code = Code.POP_INVALID,
    ) -> ApprovalRequest:
        """An approval request the approval service refuses at NOW with ``error``."""
        return ApprovalRequest(
            "approval-service", tok, request, proof, approval_id=approval_id(label), error=error
        )

    def case(
        self,
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        discharges: Sequence[str],
        codes: Sequence[Reason],
        *,
        signer: str = "writer",
        now: int = NOW,
        chain: Sequence[str] | None = None,
        then: Sequence[Step] = (),
        proof: str | None = None,
        approval_request: ApprovalRequest | None = None,
    ) -> None:
        if proof is None:
            proof = pop(tok, signer, request, name, at=now)
        self.f.add(
            name,
            description,
            tok,
            request,
            proof,
            codes=codes,
            chain=chain,
            now=now,
            discharges=discharges,
            then=then,
            approval_request=approval_request,
        )
