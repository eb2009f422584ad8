"""``thirdparty.json`` while it is built: the file, and the tokens, approval and helper that
most of its themes share."""

from __future__ import annotations

from collections.abc import Sequence

from delegation import Code, Request
from delegation.caveats import Call, Validity

from gen.fixtures import (
    NOW,
    UPDATE,
    Json,
    Tokenish,
    bound,
    caveat_key,
    discharged,
    hop,
    needs,
    pop,
    req,
    root,
    tp_cids,
)
from gen.render import Step, VectorFile


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
        self.approval = discharged("approval-service", self.issuer_cid, UPDATE)
        self.approved = bound(self.w, self.approval)
        # what a hand-built approval discharge carries: an expiry and the call it approves
        self.expiry = Validity(None, NOW + 300)
        self.exact = Call(call_digest(UPDATE))

    def case(
        self,
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        discharges: Sequence[str],
        codes: Sequence[Code],
        *,
        signer: str = "writer",
        now: int = NOW,
        chain: Sequence[str] | None = None,
        then: Sequence[Step] = (),
    ) -> None:
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
        )
