"""The vector-file model and its JSON rendering.

A ``VectorFile`` collects vectors (``add``) and renders the file (``render``): JSON with sorted
keys, two-space indents and a final newline. The expected decision of each vector is written
by hand in its builder; ``expected`` only spells it out (the chain and ids of an allowed
decision are computed from the token bytes and the agents named, never by the verifier).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import cbor2

from delegation import Code, Request, _crypto, _wire, encode_public_key
from delegation._token import ID_BYTES
from delegation.caveats import Hop, Validity
from delegation.limits import MAX_DISCHARGES
from delegation.stores import RevocationKind

from gen.fixtures import (
    AGENT_NAMES,
    KEYRING_JSON,
    NOW,
    SEEDS,
    THIRD_PARTY_NAMES,
    TP,
    TP_SEEDS,
    Json,
    K,
    Tokenish,
    text,
    token_bytes,
)

FORMAT = "delegation-test-vectors/6"

THIRD_PARTY = -1
"""``At(..., family=THIRD_PARTY)``: a third-party caveat (one with a VID), not a type id."""
HOP_NUMBERED = (Code.BAD_HOP, Code.TOO_LARGE)
"""Reasons whose ``hop`` is the offending hop's own number, not the hops before it
(verification.md, reasons and decisions): ``bad_hop`` and ``too_large`` at the 17th hop."""


@dataclass(frozen=True)
class At:
    """A reason positioned at one caveat of the token, stated by hand from the spec: the caveat
    by index (``caveat``, negative from the end) or as the ``nth`` caveat of a ``family`` (a
    type id, or THIRD_PARTY; ``nth`` negative from the end). ``hop`` is the chain segment: by
    hand if given, else by its definition in verification.md from the token's own caveats,
    never by the verifier: the number of hop caveats before the named one (the hop's own
    number, that count plus one, for ``bad_hop`` and ``too_large``). A bare ``Code`` in a
    vector's codes is a reason with no position (``hop`` and ``caveat`` null)."""

    code: Code
    caveat: int | None = None
    family: int | None = None
    nth: int = 0
    hop: int | None = None
    vid: bool = False
    """A ``bad_discharge`` for a VID that does not open (step 5, the walk stops before its
    caveat), not a discharge's reason (step 7)."""

    def resolve(self, tok: Tokenish) -> tuple[int, int]:
        raw = _wire.decode(token_bytes(tok) if not isinstance(tok, str) else b64(tok))
        kinds = [_kind(c) for c in raw.caveats]
        if (self.caveat is None) == (self.family is None):
            raise AssertionError("a position names a caveat by index or by family")
        if self.caveat is not None:
            index = self.caveat % len(kinds) if self.caveat < 0 else self.caveat
            if index >= len(kinds):
                raise AssertionError(f"the token has no caveat {self.caveat}")
        else:
            indices = [i for i, k in enumerate(kinds) if k == self.family]
            if not indices:
                raise AssertionError(f"the token has no caveat of family {self.family}")
            index = indices[self.nth]
        hop = self.hop
        if hop is None:
            hop = kinds[:index].count(Hop.type_id)
            if self.code in HOP_NUMBERED:
                if kinds[index] != Hop.type_id:
                    raise AssertionError(f"{self.code} is positioned at a hop")
                hop += 1
        return hop, index


def b64(tok: str) -> bytes:
    return _wire.b64decode(tok, len(tok))


def _kind(c: _wire.RawCaveat) -> int | None:
    """A caveat's type id as its bytes say (THIRD_PARTY with a VID), None if it is no CBOR
    array headed by an integer (a caveat at or after a step-4 failure)."""
    if c.vid is not None:
        return THIRD_PARTY
    try:
        body = cbor2.loads(c.cid)
    except Exception:  # hostile bytes (after a step-4 failure): no kind
        return None
    if isinstance(body, list) and body and type(body[0]) is int:
        return body[0]
    return None


Reason = Code | At
"""A reason as a builder states it: a bare code (no position) or a code ``At`` a caveat."""


def reason_json(tok: Tokenish, reason: Reason) -> Json:
    if isinstance(reason, At):
        hop, caveat = reason.resolve(tok)
        return {"code": str(reason.code), "hop": hop, "caveat": caveat}
    return {"code": str(reason), "hop": None, "caveat": None}


def _links(raw: _wire.RawMacaroon, before: int | None = None) -> list[Json]:
    """The chain of agents as the token's bytes spell it (verification.md, reasons and
    decisions): the identifier's holder, then each hop caveat (before caveat ``before``, if
    given) with its hop id, the first 16 bytes of the chain digest after it."""
    holder = cbor2.loads(raw.identifier)[5]
    links: list[Json] = [
        {"agent_id": holder[0], "public_key": encode_public_key(holder[1]), "hop_id": None}
    ]
    digest = _crypto.digest_start(raw.identifier)
    for index, c in enumerate(raw.caveats):
        if before is not None and index >= before:
            break
        digest = _crypto.digest_step(digest, c)
        if _kind(c) == Hop.type_id:
            agent_id, public_key, _signature = cbor2.loads(c.cid)[1]
            links.append(
                {
                    "agent_id": agent_id,
                    "public_key": encode_public_key(public_key),
                    "hop_id": digest[:ID_BYTES].hex(),
                }
            )
    return links


def expected_chain(tok: Tokenish, names: Sequence[str]) -> list[Json]:
    """The chain a verifier reports, from the token bytes, checked against the agents we
    delegated to."""
    links = _links(_raw(tok))
    if [link["agent_id"] for link in links] != list(names) or any(
        link["public_key"] != encode_public_key(K[name].public_key)
        for link, name in zip(links, names, strict=True)
    ):
        raise AssertionError(f"chain {names} does not match the token's hops")
    return links


@dataclass(frozen=True)
class Spent:
    """One budget of the chain as an expected decision reports it ([budgets.md], "The
    decision"): ``charged`` by this call (0 on a denial), ``spent`` in all after it."""

    unit: str
    total: int
    charged: int
    spent: int
    hop: int
    caveat: int

    def to_json(self) -> Json:
        if not 0 <= self.spent <= self.total or self.charged > self.spent:
            raise AssertionError(f"an impossible balance {self}")
        return {
            "unit": self.unit,
            "total": self.total,
            "charged": self.charged,
            "spent": self.spent,
            "remaining": self.total - self.spent,
            "hop": self.hop,
            "caveat": self.caveat,
        }


def _raw(tok: Tokenish) -> _wire.RawMacaroon:
    return _wire.decode(b64(tok) if isinstance(tok, str) else token_bytes(tok))


NOT_GENUINE = (Code.TOKEN_REQUIRED, Code.UNKNOWN_KEY, Code.BAD_SIGNATURE, Code.MALFORMED)
"""Bare first reasons of a token whose MAC was never checked out (steps 1-3)."""


def _reached(codes: Sequence[Reason], discharges: int) -> tuple[str, int | None]:
    """How far the token got, as its hand-written reasons say (verification.md, order of
    checks): ``none`` (steps 1-3 failed), ``parse`` (step 4), ``walk`` (step 5, the chain cut
    before caveat ``i``, or whole for ``missing_caveat``) or ``chain`` (steps 1-5 passed)."""
    if not codes:
        return "chain", None
    first = codes[0]
    if not isinstance(first, At):
        if first in NOT_GENUINE or (first == Code.TOO_LARGE and discharges <= MAX_DISCHARGES):
            return "none", None
        return ("walk", None) if first == Code.MISSING_CAVEAT else ("chain", None)
    if first.code in (Code.MALFORMED, Code.TOO_LARGE):
        return "parse", None
    if first.code == Code.BAD_HOP or (first.code == Code.BAD_DISCHARGE and first.vid):
        return "walk", -1  # cut at the named caveat, resolved by the caller
    return "chain", None


def expected(
    tok: Tokenish | None,
    codes: Sequence[Reason],
    chain: Sequence[str] | None,
    discharges: int = 0,
    budgets: Sequence[Spent] = (),
) -> Json:
    """The decision a vector expects: its reasons (by hand), and what the decision names of
    the token (verification.md, reasons and decisions), from the token's bytes: nothing before
    the MAC checks out; then the task id, key id, root id, token id and the agents (the root
    holder alone after a step-4 failure, the chain cut before the bad hop or VID after a
    step-5 one), and the earliest expiry once step 5 passed."""
    if tok is None:
        reasons = [reason_json(b"", c) for c in codes]
    else:
        reasons = [reason_json(tok, c) for c in codes]
    out: Json = {
        "allowed": not codes,
        "reasons": reasons,
        "agents": [],
        "task_id": None,
        "key_id": None,
        "root_id": None,
        "token_id": None,
        "expires": None,
    }
    if budgets:
        out["budgets"] = [b.to_json() for b in budgets]
    if chain is not None and codes:
        raise AssertionError("only an allowed vector states its chain")
    how, _ = _reached(codes, discharges)
    if how == "none":
        return out
    if tok is None:
        raise AssertionError("no token, no decision about one")
    raw = _raw(tok)
    identifier = cbor2.loads(raw.identifier)
    out["task_id"] = identifier[4][0]
    out["key_id"] = identifier[2]
    out["root_id"] = _crypto.digest_start(raw.identifier)[:ID_BYTES].hex()
    out["token_id"] = _crypto.chain_digests(raw.identifier, raw.caveats)[-1][:ID_BYTES].hex()
    if how == "parse":
        out["agents"] = _links(raw, before=0)
    elif how == "walk":
        first = codes[0]
        cut = first.resolve(tok)[1] if isinstance(first, At) else None
        out["agents"] = _links(raw, before=cut)
    else:
        out["agents"] = _links(raw)
        expiries = [
            body[1][2]
            for c in raw.caveats
            if _kind(c) == Validity.type_id
            for body in [cbor2.loads(c.cid)]
            if 2 in body[1]
        ]
        out["expires"] = min(expiries)
    if not codes:
        if chain is None:
            raise AssertionError("an allowed vector states its chain")
        if out["agents"] != expected_chain(tok, chain):
            raise AssertionError("the chain named is not the token's")
    return out


@dataclass
class Step:
    """A further presentation to the same verifier (its nonce store remembers earlier ones)."""

    request: Json
    proof: str | None
    codes: Sequence[Reason] = ()
    chain: Sequence[str] | None = None
    now: int = NOW
    token: Tokenish | None = None
    discharges: Sequence[str] = ()
    budgets: Sequence[Spent] = ()
    reserve: bool = False
    policy: Policy | None = None
    """What the scripted policy answers this presentation (None: as the vector's policy)."""
    asked: Json | bool | None = False
    """The policy result this decision names (the vector's ``expected.policy``); False: as
    for the vector."""


@dataclass(frozen=True)
class Policy:
    """A scripted policy ([policy.md](../../policy.md), "Vectors"): the document it must be
    shown (None: not pinned) and its answer, ``allow``, ``deny`` (naming ``policy_ids``) or
    ``unavailable`` (for ``reason``), under ``revision``."""

    answer: str
    revision: str = "vec-policy-1"
    policy_ids: Sequence[str] = ()
    detail: str = ""
    reason: str | None = None
    input: Json | None = None

    def to_json(self) -> Json:
        if self.answer not in ("allow", "deny", "unavailable"):
            raise AssertionError(f"unknown policy answer {self.answer}")
        if (self.answer == "unavailable") != (self.reason is not None):
            raise AssertionError("an unavailable policy, and only it, has a reason")
        doc: Json = {
            "answer": self.answer,
            "revision": self.revision,
            "policy_ids": list(self.policy_ids),
            "detail": self.detail,
        }
        if self.reason is not None:
            doc["reason"] = self.reason
        if self.input is not None:
            doc["input"] = self.input
        return doc


def policy_result(revision: str | None, ids: Sequence[str] = ()) -> Json:
    """The ``policy`` of an expected decision: what the policy said when it was asked."""
    return {"revision": revision, "policy_ids": list(ids)}


@dataclass
class Settle:
    """A settle (``costs``: unit -> actual cost) or release (``costs`` None) of the reservation
    made by presentation ``of`` of the same vector (0: the vector's own, k: its k-th ``then``
    entry), at ``now``. Either it settles, each charge as ``(unit, total, held, charged,
    spent)`` (``spent`` None: the balance is no longer kept), or it is ``refused`` with a
    reason of budgets.md."""

    of: int
    costs: dict[str, int] | None
    now: int = NOW
    settled: Sequence[tuple[str, int, int, int, int | None]] = ()
    refused: str | None = None

    def to_json(self) -> Json:
        if (self.refused is None) == (not self.settled):
            raise AssertionError("a settle either settles charges or is refused")
        answer: Json = (
            {"refused": self.refused}
            if self.refused is not None
            else {
                "settled": [
                    {"unit": u, "total": t, "held": h, "charged": c, "spent": s}
                    for u, t, h, c, s in self.settled
                ]
            }
        )
        return {"settle": {"of": self.of, "costs": self.costs}, "now": self.now, "expected": answer}


@dataclass(frozen=True)
class ApprovalRequest:
    """The approver's side of a vector: what a holder sent the approval service (token, call,
    signed approval request, at ``now``) and what the service answers. Either it approves
    (``caveat``: the index of the token's third-party caveat it approves; ``discharge``: the
    unbound discharge it mints with ``approval_id`` for ``ttl`` seconds) or it refuses with
    ``error``. Both are written by hand from the spec, never by running the approver."""

    third_party: str
    token: Tokenish
    request: Json
    proof: str | None
    now: int = NOW
    approval_id: bytes = b""
    ttl: int = 300
    caveat: int | None = None
    discharge: _wire.RawMacaroon | None = None
    error: Code | None = None

    def to_json(self) -> Json:
        Request.from_json(self.request)
        if self.third_party not in THIRD_PARTY_NAMES:
            raise AssertionError(f"unknown third party {self.third_party}")
        refused = self.discharge is None
        if (self.caveat is None) != refused or (self.error is None) == refused:
            raise AssertionError("an approval request approves one caveat or is refused")
        if len(self.approval_id) != 16:
            raise AssertionError("an approval id is 16 bytes")
        expected: Json = (
            {"error": str(self.error)}
            if self.discharge is None
            else {
                "caveat": self.caveat,
                "discharge": _wire.b64encode(_wire.encode(self.discharge)),
            }
        )
        return {
            "third_party": self.third_party,
            "token": text(self.token),
            "request": self.request,
            "proof": self.proof,
            "now": self.now,
            "approval_id_hex": self.approval_id.hex(),
            "ttl": self.ttl,
            "expected": expected,
        }


STORES = ("revocations", "nonces", "uses", "budgets")
"""What ``store_failure`` may name: the state's answers that need it raise StoreUnavailable."""


def agents_json(names: Sequence[str]) -> dict[str, dict[str, str]]:
    """The fixture agents a vector file names: each one's seed (TEST FIXTURES) and public key."""
    return {
        name: {"seed_hex": SEEDS[name].hex(), "public_key": encode_public_key(K[name].public_key)}
        for name in names
    }


@dataclass
class VectorFile:
    filename: str
    description: str
    vectors: list[Json] = field(default_factory=list)
    third_parties: bool = False
    """Whether the file lists the third parties' X25519 seeds (files that use them do)."""

    def append(self, vector: Json) -> None:
        """Add ``vector``; its name is one no other vector of the file has."""
        if any(v["name"] == vector["name"] for v in self.vectors):
            raise AssertionError(f"duplicate vector name {vector['name']}")
        self.vectors.append(vector)

    def add_given(
        self, name: str, description: str, kind: str, given: Json, expected: Json
    ) -> None:
        """A vector of what is ``given`` and what reading it gives (files whose vectors check
        no token: wire formats, records)."""
        self.append(
            {
                "name": name,
                "description": description,
                "kind": kind,
                "given": given,
                "expected": expected,
            }
        )

    def add(
        self,
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        proof: str | None,
        *,
        codes: Sequence[Reason] = (),
        chain: Sequence[str] | None = None,
        budgets: Sequence[Spent] = (),
        reserve: bool = False,
        now: int = NOW,
        keyring: Json | None = None,
        then: Sequence[Step | Settle] = (),
        discharges: Sequence[str] = (),
        revoked: Sequence[tuple[RevocationKind, str]] = (),
        store_failure: str | None = None,
        stateless: bool = False,
        approval_request: ApprovalRequest | None = None,
        policy: Policy | None = None,
        asked: Json | None = None,
    ) -> None:
        """``policy``: the verifier's scripted policy; ``asked``: the policy result the
        decision names (None: not asked). Both only in policy.json."""
        if store_failure is not None and store_failure not in STORES:
            raise AssertionError(f"unknown store {store_failure}")
        if stateless and (revoked or store_failure is not None):
            raise AssertionError("a stateless verifier has no revocations and no store")
        Request.from_json(request)  # every request in a vector must be a valid request
        vector: Json = {
            "name": name,
            "description": description,
            "token": text(tok),
            "request": request,
            "proof": proof,
            "now": now,
            "expected": expected(tok, codes, chain, len(discharges), budgets),
        }
        if reserve:
            vector["reserve"] = True
        if keyring is not None:
            vector["keyring"] = keyring
        if discharges:
            vector["discharges"] = list(discharges)
        if revoked:
            vector["state"] = {"revocations": [[str(kind), value] for kind, value in revoked]}
        if store_failure is not None:
            vector["store_failure"] = store_failure
        if stateless:
            vector["stateless"] = True
        if approval_request is not None:
            vector["approval_request"] = approval_request.to_json()
        if policy is not None:
            vector["policy"] = policy.to_json()
            vector["expected"]["policy"] = asked
        if then:
            steps = []
            for index, step in enumerate(then):
                if isinstance(step, Settle):
                    if not 0 <= step.of <= index:
                        raise AssertionError("a settle names an earlier presentation")
                    steps.append(step.to_json())
                    continue
                Request.from_json(step.request)
                step_tok = tok if step.token is None else step.token
                doc: Json = {
                    "request": step.request,
                    "proof": step.proof,
                    "now": step.now,
                    "expected": expected(
                        step_tok, step.codes, step.chain, len(step.discharges), step.budgets
                    ),
                }
                if step.reserve:
                    doc["reserve"] = True
                if step.token is not None:
                    doc["token"] = text(step.token)
                if step.discharges:
                    doc["discharges"] = list(step.discharges)
                if step.policy is not None:
                    doc["policy"] = step.policy.to_json()
                if policy is not None:
                    doc["expected"]["policy"] = asked if step.asked is False else step.asked
                steps.append(doc)
            vector["then"] = steps
        self.append(vector)

    def render(self) -> str:
        doc = {
            "format": FORMAT,
            "description": self.description,
            "keyring": KEYRING_JSON,
            "agents": agents_json(AGENT_NAMES),
            "vectors": self.vectors,
        }
        if self.third_parties:
            doc["third_parties"] = {
                name: {
                    "seed_hex": TP_SEEDS[name].hex(),
                    "public_key": encode_public_key(TP[name].public_key),
                }
                for name in THIRD_PARTY_NAMES
            }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def keyring_json(*keys: tuple[str, bytes], current: str | None = None) -> Json:
    return {
        "current": current or keys[-1][0],
        "keys": [{"key_id": k, "secret_hex": s.hex()} for k, s in keys],
    }


@dataclass
class RequestFile(VectorFile):
    """A file of request vectors: a JSON request as text and what building it gives, either
    ``malformed`` or the request digest. It names no keys: no token is ever checked."""

    def add_request(
        self, name: str, description: str, request_json: str, digest: str | None
    ) -> None:
        answer: Json = {"error": str(Code.MALFORMED)} if digest is None else {"digest": digest}
        self.append(
            {
                "name": name,
                "description": description,
                "request_json": request_json,
                "expected": answer,
            }
        )

    def render(self) -> str:
        doc = {"format": FORMAT, "description": self.description, "vectors": self.vectors}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
