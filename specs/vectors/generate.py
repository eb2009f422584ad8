#!/usr/bin/env python3
"""Seeded generator of the delegation test vectors in this directory.

    python specs/vectors/generate.py           rewrite every vector file
    python specs/vectors/generate.py --check   exit 1 if a file on disk differs or is unknown

Everything is fixed: the root key, the Ed25519 seeds, the third parties' X25519 seeds, caveat
root keys, ticket ephemeral keys, VID nonces, mint nonces, proof nonces and times. Ed25519,
deterministic CBOR, and X25519 + HKDF + ChaCha20-Poly1305 with fixed inputs are deterministic,
so each run writes the same bytes.

Expected results are written here by hand from the spec, never by running the verifier:
a vector that the library gets wrong must fail the tests, not be regenerated to match.

ALL KEYS HERE ARE TEST-ONLY FIXTURES. They are public; never use them for anything real.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import hmac
import json
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    Code,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    _crypto,
    _wire,
    attenuate,
    decode,
    delegate,
    encode_public_key,
)
from delegation.caveats import Audience as AudienceCaveat
from delegation.caveats import (
    Call,
    Delegatees,
    Hop,
    MaxDepth,
    MaxUses,
    ResourceCaveat,
    Tool,
    Validity,
)
from delegation.caveats.registry import Caveat
from delegation.keys import RootKey
from delegation.limits import (
    MAX_CAVEATS,
    MAX_DISCHARGE_DEPTH,
    MAX_DISCHARGES,
    MAX_HOPS,
    MAX_PROOF_CHARS,
    MAX_TOKEN_CHARS,
)
from delegation.proof import Proof, _prove
from delegation.stores import RevocationKind
from delegation.thirdparty.approval import Approver, _require_approval
from delegation.thirdparty.caveat import (
    PURPOSE_APPROVAL,
    PURPOSE_THIRD_PARTY,
    ApproverKey,
    ThirdPartyCaveat,
    TicketContents,
    seal_ticket,
    seal_vid,
)
from delegation.token import ID_BYTES, _mint

HERE = Path(__file__).resolve().parent
FORMAT = "delegation-test-vectors/2"
NOW = 1_800_000_000
"""The default verifier clock: 2027-01-15T08:00:00Z."""
EXPIRES = NOW + 3600

Json = dict[str, Any]


def _h(label: str) -> bytes:
    return hashlib.sha256(f"delegation test vectors (TEST ONLY): {label}".encode()).digest()


# ---------------------------------------------------------------------------------------------
# Fixed material (TEST ONLY)

ROOT_KEY_ID = "vec-k1"
ROOT_SECRET = _h("root key vec-k1")
KEYRING = Keyring([RootKey(ROOT_KEY_ID, ROOT_SECRET)])
KEYRING_JSON: Json = {
    "current": ROOT_KEY_ID,
    "keys": [{"key_id": ROOT_KEY_ID, "secret_hex": ROOT_SECRET.hex()}],
}

_AGENT_NAMES = (
    "orchestrator",
    "researcher",
    "writer",
    "summariser",
    "mallory",
    "alice",
    "alice2",
    *(f"agent-{i:02d}" for i in range(1, MAX_HOPS + 2)),
)
SEEDS = {name: _h(f"agent seed {name}") for name in _AGENT_NAMES}
K = {name: AgentKey.from_seed(seed) for name, seed in SEEDS.items()}

_THIRD_PARTY_NAMES = ("approval-service", "notary", "mallory-approver")
"""X25519 key pairs of third parties: the approval service, a generic third party (purpose
0), and an approval service a sub-agent runs for itself."""
TP_SEEDS = {name: _h(f"third party seed {name}") for name in _THIRD_PARTY_NAMES}
TP = {name: ApproverKey.from_seed(seed) for name, seed in TP_SEEDS.items()}
APPROVAL_LOCATION = "https://approve.example"

TASK = TaskRecord(
    task_id="task-42",
    approved_by="alice@example.com",
    approved_at=NOW - 60,
    statement="Summarise account 42's notes",
)
SCOPE = Scope(
    audiences=["crm"],
    tools=["crm.read", "crm.update"],
    actions=["read", "write"],
    resources=["crm://accounts/42/**"],
    intents=["summarise", "update-notes"],
    expires=EXPIRES,
    max_depth=3,
)
READ: Json = {
    "audience": "crm",
    "tool": "crm.read",
    "action": "read",
    "resource": "crm://accounts/42/notes",
    "intent": "summarise",
    "args": {},
}


def req(**changes: Any) -> Json:
    """READ with fields changed; a field set to None is left out of the request."""
    doc = {**READ, **changes}
    return {k: v for k, v in doc.items() if v is not None}


def agent(name: str) -> Agent:
    return Agent(name, K[name].public_key)


def scope(**changes: Any) -> Scope:
    return dataclasses.replace(SCOPE, **changes)


# ---------------------------------------------------------------------------------------------
# Building tokens, honest and otherwise


def root(
    label: str,
    sc: Scope = SCOPE,
    *,
    holder: str = "orchestrator",
    keyring: Keyring = KEYRING,
    task: TaskRecord = TASK,
    location: str | None = None,
) -> UnverifiedToken:
    nonce = _h(f"mint nonce {label}")[:16]
    return _mint(keyring, task, agent(holder), sc, location=location, now=NOW, nonce=nonce)


def hop(tok: UnverifiedToken, frm: str, to: str, sc: Scope | None = None) -> UnverifiedToken:
    return delegate(tok, K[frm], agent(to), sc, now=NOW)


Tokenish = UnverifiedToken | _wire.RawMacaroon | bytes | str


def raw_of(tok: UnverifiedToken | _wire.RawMacaroon) -> _wire.RawMacaroon:
    return tok.raw if isinstance(tok, UnverifiedToken) else tok


def token_bytes(tok: Tokenish) -> bytes:
    if isinstance(tok, UnverifiedToken):
        return tok.token_bytes
    if isinstance(tok, _wire.RawMacaroon):
        return _wire.encode(tok)
    if isinstance(tok, bytes):
        return tok
    return _wire.b64decode(tok, MAX_TOKEN_CHARS)


def text(tok: Tokenish) -> str:
    return tok if isinstance(tok, str) else _wire.b64encode(token_bytes(tok))


def appended(
    tok: UnverifiedToken | _wire.RawMacaroon, *cids: bytes | _wire.RawCaveat
) -> _wire.RawMacaroon:
    """Append caveats by extending the HMAC chain: what any holder can do without the root key."""
    raw = raw_of(tok)
    sig = raw.signature
    caveats = list(raw.caveats)
    for cid in cids:
        cav = cid if isinstance(cid, _wire.RawCaveat) else _wire.RawCaveat(cid)
        sig = _crypto.chain_step(sig, cav)
        caveats.append(cav)
    return _wire.RawMacaroon(raw.identifier, tuple(caveats), sig, raw.location)


def resigned(
    identifier: bytes,
    caveats: Sequence[_wire.RawCaveat | bytes],
    *,
    location: str | None = None,
    secret: bytes = ROOT_SECRET,
) -> _wire.RawMacaroon:
    """A token MACed from scratch with the (test) root key, so the HMAC check passes."""
    cavs = tuple(c if isinstance(c, _wire.RawCaveat) else _wire.RawCaveat(c) for c in caveats)
    sig = _crypto.chain_signature(secret, identifier, cavs)
    return _wire.RawMacaroon(identifier, cavs, sig, location)


def replaced(raw: _wire.RawMacaroon, **changes: Any) -> _wire.RawMacaroon:
    return dataclasses.replace(raw, **changes)


def cids(tok: UnverifiedToken | _wire.RawMacaroon) -> list[bytes]:
    return [c.cid for c in raw_of(tok).caveats]


def prefix_digest(tok: UnverifiedToken | _wire.RawMacaroon) -> bytes:
    raw = raw_of(tok)
    digest = _crypto.digest_start(raw.identifier)
    for cav in raw.caveats:
        digest = _crypto.digest_step(digest, cav)
    return digest


def signed_hop(
    prefix: UnverifiedToken | _wire.RawMacaroon,
    signer: str,
    to: str,
    *,
    key_of: str | None = None,
    corrupt: bool = False,
) -> bytes:
    """A hop caveat naming ``to`` (with ``key_of``'s key), signed by ``signer`` over ``prefix``."""
    public_key = K[key_of or to].public_key
    signature = K[signer].sign(_crypto.hop_message(prefix_digest(prefix), to, public_key))
    if corrupt:
        signature = bytes([signature[0] ^ 0x01]) + signature[1:]
    return Hop(to, public_key, signature).encode()


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


# Hand-built CBOR, for encodings the canonical encoder refuses to produce.


def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def uint(n: int) -> bytes:
    return head(0, n)


def tstr(s: str) -> bytes:
    b = s.encode()
    return head(3, len(b)) + b


def bstr(b: bytes) -> bytes:
    return head(2, len(b)) + b


def arr(*items: bytes) -> bytes:
    return head(4, len(items)) + b"".join(items)


def cmap(*pairs: tuple[bytes, bytes]) -> bytes:
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def f64(x: float) -> bytes:
    return b"\xfb" + struct.pack(">d", x)


def cav(type_id: int, body: bytes) -> bytes:
    return arr(uint(type_id), body)


def canonical(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def identifier_cbor(
    *,
    version: bytes = b"\x01",
    key_id: bytes | None = None,
    nonce: bytes | None = None,
    task: bytes | None = None,
    holder: bytes | None = None,
    extra: Sequence[tuple[bytes, bytes]] = (),
    pairs: Sequence[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """The root identifier map ``{1: version, 2: key id, 3: nonce, 4: task, 5: holder}``."""
    if pairs is None:
        pairs = [
            (uint(1), version),
            (uint(2), tstr(ROOT_KEY_ID) if key_id is None else key_id),
            (uint(3), bstr(_h("identifier nonce")[:16]) if nonce is None else nonce),
            (uint(4), canonical(TASK.to_cbor()) if task is None else task),
            (uint(5), canonical(agent("orchestrator").to_cbor()) if holder is None else holder),
            *extra,
        ]
    return cmap(*pairs)


# Proofs of possession


def pop(
    tok: Tokenish,
    signer: str,
    request: Json,
    label: str,
    *,
    at: int = NOW,
    nonce: bytes | None = None,
) -> str:
    """A proof by ``signer`` over ``tok`` and ``request`` issued at ``at``, nonce from ``label``."""
    nonce = _h(f"proof nonce {label}")[:16] if nonce is None else nonce
    request_obj = Request.from_json(request)
    if isinstance(tok, UnverifiedToken) and tok.holder.public_key == K[signer].public_key:
        return _prove(tok, K[signer], request_obj, now=at, nonce=nonce)
    data = token_bytes(tok)
    message = Proof(at, nonce, b"").message(data, request_obj)
    return Proof(at, nonce, K[signer].sign(message)).encode()


def proof_cbor(items: Sequence[bytes]) -> str:
    return _wire.b64encode(arr(*items))


# Third parties: caveats, discharges and binding (every seed here is TEST ONLY)


def caveat_key(label: str) -> bytes:
    """The caveat root key of the third-party caveat ``label``."""
    return _h(f"caveat root key {label}")


def tp_seeds(label: str) -> tuple[bytes, bytes, bytes]:
    """(caveat root key, ephemeral X25519 seed, VID nonce) of the third-party caveat ``label``."""
    return caveat_key(label), _h(f"ticket ephemeral {label}"), _h(f"vid nonce {label}")[:12]


def needs(
    tok: UnverifiedToken,
    third_party: str,
    label: str,
    *,
    rules: Sequence[str] = (),
    purpose: int = PURPOSE_APPROVAL,
    location: str | None = APPROVAL_LOCATION,
) -> UnverifiedToken:
    """``tok`` with a third-party caveat for ``third_party`` appended, built from ``label``."""
    return _require_approval(
        tok,
        TP[third_party].public_key,
        rules=rules,
        location=location,
        purpose=purpose,
        seeds=tp_seeds(label),
    )


def tp_cids(tok: UnverifiedToken | _wire.RawMacaroon) -> list[bytes]:
    """The caveat ids of the token's third-party caveats, in token order."""
    return [c.cid for c in raw_of(tok).caveats if c.vid is not None]


def discharged(
    third_party: str, cid: bytes, request: Json | None, *, at: int = NOW, ttl: int = 300
) -> str:
    """The third party's unbound discharge for ``cid``, for the call ``request`` if given."""
    call = None if request is None else Request.from_json(request)
    return Approver(TP[third_party]).discharge_ticket(cid, call, now=at, ttl=ttl)


def by_hand(
    cid: bytes, key: bytes, caveats: Sequence[Caveat | _wire.RawCaveat]
) -> _wire.RawMacaroon:
    """An unbound discharge MACed from scratch under the caveat root key ``key``."""
    raws = tuple(
        c if isinstance(c, _wire.RawCaveat) else _wire.RawCaveat(c.encode()) for c in caveats
    )
    return _wire.RawMacaroon(cid, raws, _crypto.chain_signature(key, cid, raws))


def discharge_raw(discharge: str | _wire.RawMacaroon) -> _wire.RawMacaroon:
    if isinstance(discharge, _wire.RawMacaroon):
        return discharge
    return _wire.decode(_wire.b64decode(discharge, MAX_TOKEN_CHARS))


def dtext(discharge: _wire.RawMacaroon) -> str:
    return _wire.b64encode(_wire.encode(discharge))


def bound(tok: UnverifiedToken | _wire.RawMacaroon, discharge: str | _wire.RawMacaroon) -> str:
    """The discharge bound to ``tok``, computed here from the definition rather than with the
    library: ``HMAC(Z, HMAC(Z, token signature) || HMAC(Z, discharge signature))``, Z = 32 zeros.
    """
    raw = discharge_raw(discharge)
    zero = bytes(32)
    inner = hmac.digest(zero, raw_of(tok).signature, "sha256")
    inner += hmac.digest(zero, raw.signature, "sha256")
    return dtext(replaced(raw, signature=hmac.digest(zero, inner, "sha256")))


def tp_caveat(
    chain_state: bytes,
    third_party: str,
    label: str,
    token_id: str,
    *,
    purpose: int = PURPOSE_THIRD_PARTY,
    location: str | None = None,
) -> _wire.RawCaveat:
    """A third-party caveat section whose VID seals ``label``'s caveat key under ``chain_state``
    (the HMAC chain state before it)."""
    key, ephemeral, vid_nonce = tp_seeds(label)
    public = TP[third_party].public_key
    ticket = seal_ticket(
        public,
        TicketContents(key, token_id, purpose),
        ephemeral,
    )
    cid = ThirdPartyCaveat(purpose, public, ticket).encode()
    return _wire.RawCaveat(cid, seal_vid(chain_state, key, vid_nonce), location)


def nested(tok: UnverifiedToken, label: str, levels: int) -> list[_wire.RawMacaroon]:
    """Unbound discharges for ``tok``'s third-party caveat ``label`` (the notary's): the first
    carries a third-party caveat of its own, discharged by the second, and so on, ``levels``
    nestings deep. Each carries a five-minute expiry."""
    cid, key = tp_cids(tok)[0], caveat_key(label)
    out = []
    for level in range(levels + 1):
        caveats = [_wire.RawCaveat(Validity(None, NOW + 300).encode())]
        inner_label = f"{label}/nested {level + 1}"
        if level < levels:
            state_before = _crypto.chain_signature(key, cid, caveats)
            caveats.append(tp_caveat(state_before, "notary", inner_label, tok.token_id))
        out.append(by_hand(cid, key, caveats))
        if level < levels:
            cid, key = caveats[-1].cid, caveat_key(inner_label)
    return out


def chain_id(tok: UnverifiedToken | _wire.RawMacaroon) -> str:
    """The id of this exact token: the chain digest through its last caveat."""
    return prefix_digest(tok)[:ID_BYTES].hex()


def token_id(tok: UnverifiedToken | _wire.RawMacaroon) -> str:
    return _crypto.digest_start(raw_of(tok).identifier)[:ID_BYTES].hex()


def agent_key(name: str) -> str:
    return encode_public_key(K[name].public_key)


# ---------------------------------------------------------------------------------------------
# Vector files


def expected_chain(tok: Tokenish, names: Sequence[str]) -> list[Json]:
    """The chain a verifier reports, from the token bytes and the agents we delegated to."""
    raw = _wire.decode(token_bytes(tok))
    digest = _crypto.digest_start(raw.identifier)
    hop_ids: list[str] = []
    for c in raw.caveats:
        digest = _crypto.digest_step(digest, c)
        if c.vid is None and cbor2.loads(c.cid)[0] == Hop.type_id:
            hop_ids.append(digest[:ID_BYTES].hex())
    if len(hop_ids) != len(names) - 1:
        raise AssertionError(f"chain {names} does not match {len(hop_ids)} hops in the token")
    return [
        {
            "agent_id": name,
            "public_key": encode_public_key(K[name].public_key),
            "hop_id": None if i == 0 else hop_ids[i - 1],
        }
        for i, name in enumerate(names)
    ]


def expected(tok: Tokenish, codes: Sequence[Code], chain: Sequence[str] | None) -> Json:
    out: Json = {"allowed": not codes, "codes": [str(c) for c in codes]}
    if not codes:
        if chain is None:
            raise AssertionError("an allowed vector states its chain")
        raw = _wire.decode(token_bytes(tok))
        out["chain"] = expected_chain(tok, chain)
        out["task_id"] = decode(text(tok)).task.task_id
        out["token_id"] = _crypto.digest_start(raw.identifier)[:ID_BYTES].hex()
    elif chain is not None:
        raise AssertionError("only an allowed vector states its chain")
    return out


@dataclass
class Step:
    """A further presentation to the same verifier (its nonce store remembers earlier ones)."""

    request: Json
    proof: str | None
    codes: Sequence[Code] = ()
    chain: Sequence[str] | None = None
    now: int = NOW
    token: Tokenish | None = None
    discharges: Sequence[str] = ()


STORES = ("revocations", "nonces", "uses")
"""What ``store_failure`` may name: the state's answers that need it raise StoreUnavailable."""


@dataclass
class VectorFile:
    filename: str
    description: str
    vectors: list[Json] = field(default_factory=list)
    third_parties: bool = False
    """Whether the file lists the third parties' X25519 seeds (files that use them do)."""

    def add(
        self,
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        proof: str | None,
        *,
        codes: Sequence[Code] = (),
        chain: Sequence[str] | None = None,
        now: int = NOW,
        keyring: Json | None = None,
        then: Sequence[Step] = (),
        discharges: Sequence[str] = (),
        revoked: Sequence[tuple[RevocationKind, str]] = (),
        store_failure: str | None = None,
        stateless: bool = False,
    ) -> None:
        if any(v["name"] == name for v in self.vectors):
            raise AssertionError(f"duplicate vector name {name}")
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
            "expected": expected(tok, codes, chain),
        }
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
        if then:
            steps = []
            for step in then:
                Request.from_json(step.request)
                step_tok = tok if step.token is None else step.token
                doc: Json = {
                    "request": step.request,
                    "proof": step.proof,
                    "now": step.now,
                    "expected": expected(step_tok, step.codes, step.chain),
                }
                if step.token is not None:
                    doc["token"] = text(step.token)
                if step.discharges:
                    doc["discharges"] = list(step.discharges)
                steps.append(doc)
            vector["then"] = steps
        self.vectors.append(vector)

    def render(self) -> str:
        doc = {
            "format": FORMAT,
            "description": self.description,
            "keyring": KEYRING_JSON,
            "agents": {
                name: {
                    "seed_hex": SEEDS[name].hex(),
                    "public_key": encode_public_key(K[name].public_key),
                }
                for name in _AGENT_NAMES
            },
            "vectors": self.vectors,
        }
        if self.third_parties:
            doc["third_parties"] = {
                name: {
                    "seed_hex": TP_SEEDS[name].hex(),
                    "public_key": encode_public_key(TP[name].public_key),
                }
                for name in _THIRD_PARTY_NAMES
            }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def keyring_json(*keys: tuple[str, bytes], current: str | None = None) -> Json:
    return {
        "current": current or keys[-1][0],
        "keys": [{"key_id": k, "secret_hex": s.hex()} for k, s in keys],
    }


# ---------------------------------------------------------------------------------------------
# valid.json


def valid() -> VectorFile:
    f = VectorFile("valid.json", "Tokens and presentations that must be allowed.")
    r = root("root")
    f.add(
        "root_holder_read",
        "The orchestrator, the root token's holder, reads a note inside the approved scope.",
        r,
        READ,
        pop(r, "orchestrator", READ, "root_holder_read"),
        chain=["orchestrator"],
    )
    update = req(tool="crm.update", action="write", intent="update-notes")
    f.add(
        "root_holder_update",
        "The root holder uses the second tool, action and intent the task approved.",
        r,
        update,
        pop(r, "orchestrator", update, "root_holder_update"),
        chain=["orchestrator"],
    )
    one = hop(
        r,
        "orchestrator",
        "researcher",
        Scope(
            tools=["crm.read"],
            actions=["read"],
            resources=["crm://accounts/42/notes"],
            intents=["summarise"],
            expires=NOW + 1800,
        ),
    )
    f.add(
        "one_hop",
        "The orchestrator delegates a narrower scope to the researcher, who reads the note.",
        one,
        READ,
        pop(one, "researcher", READ, "one_hop"),
        chain=["orchestrator", "researcher"],
    )
    two = hop(one, "researcher", "writer", Scope(expires=NOW + 900))
    three = hop(two, "writer", "summariser", Scope(audiences=["crm"], expires=NOW + 600))
    f.add(
        "three_hops",
        "orchestrator -> researcher -> writer -> summariser, each narrowing; the last one reads.",
        three,
        READ,
        pop(three, "summariser", READ, "three_hops"),
        chain=["orchestrator", "researcher", "writer", "summariser"],
    )
    att = attenuate(r, Scope(tools=["crm.read"], resources=["crm://accounts/42/notes"]), now=NOW)
    f.add(
        "attenuated_without_hop",
        "The root holder narrows its own token offline and still holds it.",
        att,
        READ,
        pop(att, "orchestrator", READ, "attenuated_without_hop"),
        chain=["orchestrator"],
    )
    base = req(resource="crm://accounts/42")
    f.add(
        "double_star_matches_zero_segments",
        "'crm://accounts/42/**' matches the account itself (zero trailing segments).",
        r,
        base,
        pop(r, "orchestrator", base, "double_star_matches_zero_segments"),
        chain=["orchestrator"],
    )
    deep = req(resource="crm://accounts/42/notes/2027/01")
    f.add(
        "double_star_matches_many_segments",
        "'crm://accounts/42/**' matches any number of trailing segments.",
        r,
        deep,
        pop(r, "orchestrator", deep, "double_star_matches_many_segments"),
        chain=["orchestrator"],
    )
    star = root("single-star", scope(resources=["crm://accounts/42/*"]))
    f.add(
        "single_star_matches_one_segment",
        "'crm://accounts/42/*' matches 'crm://accounts/42/notes'.",
        star,
        READ,
        pop(star, "orchestrator", READ, "single_star_matches_one_segment"),
        chain=["orchestrator"],
    )
    f.add(
        "one_second_before_expiry",
        "The expiry is exclusive: one second before it the token still works.",
        r,
        READ,
        pop(r, "orchestrator", READ, "one_second_before_expiry", at=EXPIRES - 1),
        now=EXPIRES - 1,
        chain=["orchestrator"],
    )
    nbf = root("nbf-skew", scope(not_before=NOW + 30))
    f.add(
        "not_before_within_clock_skew",
        "A not-before 30 s ahead of the verifier clock is tolerated (CLOCK_SKEW_SECONDS = 30).",
        nbf,
        READ,
        pop(nbf, "orchestrator", READ, "not_before_within_clock_skew"),
        chain=["orchestrator"],
    )
    old_secret = _h("root key vec-k0")
    old_ring = Keyring([RootKey("vec-k0", old_secret)])
    old = root("rotated", keyring=old_ring)
    f.add(
        "rotated_keyring_old_key_verifies",
        "A token minted under the previous root key verifies after rotation to vec-k1.",
        old,
        READ,
        pop(old, "orchestrator", READ, "rotated_keyring_old_key_verifies"),
        keyring=keyring_json(("vec-k0", old_secret), (ROOT_KEY_ID, ROOT_SECRET)),
        chain=["orchestrator"],
    )
    args = root(
        "args",
        scope(
            args=[
                ArgConstraint.equals("account", 42),
                ArgConstraint.one_of("format", ("md", "txt")),
                ArgConstraint.at_most("limit", 50),
                ArgConstraint.at_least("limit", 1),
                ArgConstraint.resource("path", "crm://accounts/42/**"),
            ]
        ),
    )
    good = req(args={"account": 42, "format": "md", "limit": 50, "path": "crm://accounts/42/n"})
    f.add(
        "args_all_satisfied",
        "Every argument constraint holds (limit at its inclusive maximum); extra args are fine.",
        args,
        {**good, "args": {**good["args"], "extra": "ignored"}},
        pop(args, "orchestrator", {**good, "args": {**good["args"], "extra": "ignored"}}, "args"),
        chain=["orchestrator"],
    )
    return f


# ---------------------------------------------------------------------------------------------
# integrity.json


def integrity() -> VectorFile:
    f = VectorFile(
        "integrity.json",
        "Keys and the HMAC chain: any changed, dropped, reordered or spliced byte or caveat.",
    )
    r = root("root")
    rb = r.raw
    pr = pop(r, "orchestrator", READ, "integrity")

    other_secret = _h("root key vec-k9")
    stranger = root("unknown-key", keyring=Keyring([RootKey("vec-k9", other_secret)]))
    f.add(
        "unknown_key_id",
        "The token names root key 'vec-k9', which this verifier does not have.",
        stranger,
        READ,
        pop(stranger, "orchestrator", READ, "unknown_key_id"),
        codes=[Code.UNKNOWN_KEY],
    )
    long_id = "k" * 64
    long_tok = root("long-key-id", keyring=Keyring([RootKey(long_id, other_secret)]))
    f.add(
        "unknown_key_id_longest_allowed",
        "A 64-character key id (the longest the grammar allows) that is not in the keyring.",
        long_tok,
        READ,
        pop(long_tok, "orchestrator", READ, "unknown_key_id_longest_allowed"),
        codes=[Code.UNKNOWN_KEY],
    )
    # The key id is attacker input read before the MAC: any printable text is only a lookup key.
    for name, key_id, why in (
        ("key_id_path_characters", "../vec-k1", "path characters"),
        ("key_id_sql_characters", "vec-k1'; DROP TABLE keys;--", "SQL characters"),
        ("key_id_65_characters", "k" * 65, "65 characters (longer than keyrings mint)"),
        ("key_id_huge", "k" * 3000, "3000 characters"),
        ("key_id_unicode", "ключ-k1", "non-ASCII letters"),
    ):
        tok = resigned(identifier_cbor(key_id=tstr(key_id)), cids(r))
        f.add(
            name,
            f"A hostile key id with {why}, properly MACed under the test key: only a lookup key.",
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.UNKNOWN_KEY],
        )
    for name, key_id_cbor, why in (
        ("key_id_empty", tstr(""), "the empty string"),
        ("key_id_control_character", tstr("vec-k1\n"), "text holding a newline"),
        ("key_id_bidi_override", tstr("vec-k1\u202e"), "text holding U+202E (not printable)"),
        ("key_id_as_bytes", bstr(ROOT_KEY_ID.encode()), "a CBOR byte string instead of text"),
        ("key_id_not_utf8", b"\x66vec-k\xff", "text that is not UTF-8"),
        ("key_id_integer", uint(1), "an integer"),
    ):
        tok = resigned(identifier_cbor(key_id=key_id_cbor), cids(r))
        f.add(
            name,
            f"The key id is {why}: the identifier is malformed.",
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )
    f.add(
        "wrong_root_secret",
        "The verifier's key 'vec-k1' has a different secret than the one that minted the token.",
        r,
        READ,
        pr,
        keyring=keyring_json((ROOT_KEY_ID, _h("a different root key"))),
        codes=[Code.BAD_SIGNATURE],
    )

    def bad(
        name: str, description: str, raw: _wire.RawMacaroon, signer: str = "orchestrator"
    ) -> None:
        f.add(
            name,
            description,
            raw,
            READ,
            pop(raw, signer, READ, name),
            codes=[Code.BAD_SIGNATURE],
        )

    bad(
        "signature_bit_flipped",
        "One bit of the final signature flipped.",
        replaced(rb, signature=flip(rb.signature, 31)),
    )
    bad(
        "signature_all_zero",
        "The final signature replaced by 32 zero bytes.",
        replaced(rb, signature=bytes(32)),
    )
    other = root("other")
    bad(
        "signature_from_other_token",
        "The signature of another genuine token with the same scope but another nonce.",
        replaced(rb, signature=other.raw.signature),
    )
    tool_index = cids(r).index(Tool(("crm.read", "crm.update")).encode())
    widened = list(rb.caveats)
    widened[tool_index] = _wire.RawCaveat(Tool(("crm.delete", "crm.read", "crm.update")).encode())
    bad(
        "caveat_widened_in_place",
        "The tool caveat rewritten to list 'crm.delete' too; the signature is unchanged.",
        replaced(rb, caveats=tuple(widened)),
    )
    changed = list(rb.caveats)
    changed[tool_index] = _wire.RawCaveat(
        flip(changed[tool_index].cid, len(changed[tool_index].cid) - 1)
    )
    bad(
        "caveat_byte_changed",
        "One bit of one caveat changed.",
        replaced(rb, caveats=tuple(changed)),
    )
    bad(
        "caveat_dropped_middle",
        "The tool caveat dropped, the rest kept with the final signature.",
        replaced(rb, caveats=rb.caveats[:tool_index] + rb.caveats[tool_index + 1 :]),
    )
    bad(
        "caveat_dropped_last",
        "The token truncated: its last caveat dropped, the final signature kept.",
        replaced(rb, caveats=rb.caveats[:-1]),
    )
    bad(
        "caveats_reordered",
        "The first two caveats swapped.",
        replaced(rb, caveats=(rb.caveats[1], rb.caveats[0], *rb.caveats[2:])),
    )
    bad(
        "caveat_added_without_mac",
        "A caveat appended without extending the HMAC chain.",
        replaced(rb, caveats=(*rb.caveats, _wire.RawCaveat(Tool(("crm.read",)).encode()))),
    )
    bad(
        "identifier_task_changed",
        "The identifier's task id changed to 'task-43'; the signature is unchanged.",
        replaced(
            rb,
            identifier=rb.identifier.replace(tstr("task-42"), tstr("task-43")),
        ),
    )
    bad(
        "identifier_holder_swapped",
        "A thief swaps the holder key in the identifier for its own and signs the proof.",
        replaced(
            rb,
            identifier=rb.identifier.replace(
                bstr(K["orchestrator"].public_key), bstr(K["mallory"].public_key)
            ),
        ),
        signer="mallory",
    )
    one = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    bad(
        "hop_and_its_caveats_dropped",
        "A delegated token with its hop and narrowing caveats removed (to regain the parent).",
        replaced(one.raw, caveats=rb.caveats),
    )
    other_one = hop(other, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    spliced = list(one.raw.caveats)
    hop_index = len(rb.caveats)
    spliced[hop_index] = other_one.raw.caveats[hop_index]
    bad(
        "hop_replaced_by_hop_from_other_token",
        "The hop swapped for the researcher's hop from another token, signature kept.",
        replaced(one.raw, caveats=tuple(spliced)),
        signer="researcher",
    )
    bad(
        "caveats_of_other_token_with_its_signature",
        "This token's identifier with another token's caveats and final signature.",
        replaced(other_one.raw, identifier=rb.identifier),
        signer="researcher",
    )

    located = root("located", location="https://crm.example/")
    moved = replaced(located.raw, location="https://elsewhere.example/")
    f.add(
        "location_is_an_unauthenticated_hint",
        "The location is not MACed (libmacaroons): changing it leaves the token valid. It never"
        " selects a key or grants trust.",
        moved,
        READ,
        pop(moved, "orchestrator", READ, "location_is_an_unauthenticated_hint"),
        chain=["orchestrator"],
    )
    return f


# ---------------------------------------------------------------------------------------------
# encoding.json


def encoding() -> VectorFile:
    f = VectorFile(
        "encoding.json",
        "One token, one spelling: base64url, macaroon V2 framing and deterministic CBOR are"
        " strict, and every deviation is malformed (or too_large), never an allow or a crash.",
    )
    r = root("root")
    rb = r.raw
    # A token whose binary length is not a multiple of 3 has padding bits in its last character.
    padded_tok = next(
        t
        for t in (root("root", location="https://crm.example/" + "x" * i) for i in range(3))
        if len(t.token_bytes) % 3
    )
    s = padded_tok.encode()

    def mal(name: str, description: str, tok: Tokenish, proof_over: Tokenish | None = None) -> None:
        # The proof signs the bytes as presented (or, for a text that is not base64url, the
        # token it misspells), so the encoding is the only thing wrong.
        proof = pop(tok if proof_over is None else proof_over, "orchestrator", READ, name)
        f.add(name, description, tok, READ, proof, codes=[Code.MALFORMED])

    # --- base64url text form
    mal(
        "base64_padded",
        "The token with '=' padding appended: base64url travels unpadded.",
        s + "=" * (-len(s) % 4),
        padded_tok,
    )
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = alphabet[alphabet.index(s[-1]) | 1]
    mal(
        "base64_nonzero_padding_bits",
        "The last character changed so its unused padding bits are nonzero: same bytes, second"
        " spelling.",
        s[:-1] + bumped,
        padded_tok,
    )
    if "-" not in s or "_" not in s:
        raise AssertionError("pick a token whose text has '-' and '_'")
    mal(
        "base64_plus_instead_of_minus",
        "Standard-alphabet '+' for '-'.",
        s.replace("-", "+"),
        padded_tok,
    )
    mal(
        "base64_slash_instead_of_underscore",
        "Standard-alphabet '/' for '_'.",
        s.replace("_", "/"),
        padded_tok,
    )
    mal("base64_leading_space", "A space before the token.", " " + s, padded_tok)
    mal("base64_trailing_newline", "A newline after the token.", s + "\n", padded_tok)
    mal("base64_inner_space", "A space inside the token.", s[:40] + " " + s[40:], padded_tok)
    mal("base64_inner_tab", "A tab inside the token.", s[:40] + "\t" + s[40:], padded_tok)
    mal(
        "base64_percent_encoded",
        "One character percent-encoded.",
        s[:40] + "%41" + s[41:],
        padded_tok,
    )
    mal(
        "base64_non_ascii",
        "A fullwidth 'A' (U+FF21) inside the token.",
        s[:40] + "\uff21" + s[41:],
        padded_tok,
    )
    mal(
        "base64_length_1_mod_4",
        "A length that no base64 encoding has (1 mod 4).",
        s[: len(s) - (len(s) % 4) - 3],
        padded_tok,
    )
    mal("empty_token", "The empty string.", "", padded_tok)
    f.add(
        "token_text_over_limit",
        f"{MAX_TOKEN_CHARS + 1} characters: over the text limit, rejected before decoding.",
        "A" * (MAX_TOKEN_CHARS + 1),
        READ,
        None,
        codes=[Code.TOO_LARGE],
    )

    # --- macaroon V2 framing
    ident = rb.identifier
    body = b"".join(_field(2, c.cid) + b"\x00" for c in rb.caveats)
    sig = _field(6, rb.signature)

    def framed(header: bytes, caveats: bytes = body, tail: bytes = b"\x00" + sig) -> bytes:
        return header + caveats + tail

    good = framed(b"\x02" + _field(2, ident) + b"\x00")
    if good != r.token_bytes:
        raise AssertionError("the framing helper does not reproduce the token")
    mal("framing_version_1", "Version byte 0x01 (macaroon V1 is not accepted).", b"\x01" + good[1:])
    mal("framing_version_3", "Version byte 0x03.", b"\x03" + good[1:])
    mal("framing_version_0", "Version byte 0x00.", b"\x00" + good[1:])
    mal(
        "framing_duplicate_identifier_in_header",
        "The header holds the identifier field twice.",
        framed(b"\x02" + _field(2, ident) + _field(2, ident) + b"\x00"),
    )
    c0 = rb.caveats[0].cid
    rest = b"".join(_field(2, c.cid) + b"\x00" for c in rb.caveats[1:])
    mal(
        "framing_duplicate_identifier_in_caveat",
        "A caveat section holds its identifier field twice.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00", _field(2, c0) + _field(2, c0) + b"\x00" + rest
        ),
    )
    mal(
        "framing_location_after_identifier",
        "Header fields out of order: identifier, then location.",
        framed(b"\x02" + _field(2, ident) + _field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_vid_before_identifier_in_caveat",
        "Caveat fields out of order: verification id, then identifier.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00",
            _field(4, b"v" * 16) + _field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_vid_in_header",
        "A verification id in the header.",
        framed(b"\x02" + _field(2, ident) + _field(4, b"v" * 16) + b"\x00"),
    )
    mal(
        "framing_unknown_field_type",
        "A field of unknown type 3 in a caveat section.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00", _field(2, c0) + _field(3, b"x") + b"\x00" + rest
        ),
    )
    mal(
        "framing_first_party_caveat_with_location",
        "A first-party caveat (no verification id) that carries a location.",
        framed(
            b"\x02" + _field(2, ident) + b"\x00",
            _field(1, b"here") + _field(2, c0) + b"\x00" + rest,
        ),
    )
    mal(
        "framing_caveat_without_identifier",
        "A caveat section with a verification id but no identifier.",
        framed(b"\x02" + _field(2, ident) + b"\x00", _field(4, b"v" * 16) + b"\x00" + rest),
    )
    mal(
        "framing_header_without_identifier",
        "A header holding only a location.",
        framed(b"\x02" + _field(1, b"https://crm.example/") + b"\x00"),
    )
    mal(
        "framing_length_past_end",
        "The identifier's length runs past the end of the token.",
        b"\x02\x02" + _varint(len(good) + 10) + good[2 + len(_varint(len(ident))) :],
    )
    mal(
        "framing_signature_length_past_end",
        "The signature field claims 33 bytes and 32 follow.",
        good[:-34] + b"\x06\x21" + rb.signature,
    )
    mal("framing_bytes_after_signature", "One zero byte after the signature.", good + b"\x00")
    mal(
        "framing_field_after_signature",
        "A whole field after the signature.",
        good + _field(2, b"x"),
    )
    mal(
        "framing_short_signature", "A 31-byte signature.", good[:-34] + _field(6, rb.signature[:31])
    )
    mal(
        "framing_long_signature",
        "A 33-byte signature.",
        good[:-34] + _field(6, rb.signature + b"\x00"),
    )
    mal("framing_missing_signature", "The token ends after the end-of-caveats marker.", good[:-34])
    mal(
        "framing_missing_end_of_caveats",
        "The end-of-caveats marker is missing before the signature.",
        framed(b"\x02" + _field(2, ident) + b"\x00", body, sig),
    )
    mal(
        "framing_truncated_mid_caveat",
        "The token cut in the middle of a caveat.",
        good[: len(good) // 2],
    )
    mal("framing_only_version_byte", "Just the version byte.", b"\x02")
    mal(
        "framing_non_minimal_varint_type",
        "The identifier's field type 2 encoded in two bytes (0x82 0x00).",
        b"\x02\x82\x00" + good[2:],
    )
    ident_len = _varint(len(ident))
    long_len = ident_len[:-1] + bytes([ident_len[-1] | 0x80, 0x00])
    mal(
        "framing_non_minimal_varint_length",
        "The identifier's length varint has a redundant trailing zero group.",
        b"\x02\x02" + long_len + good[2 + len(ident_len) :],
    )
    mal(
        "framing_varint_too_long",
        "A length varint of four bytes (2**21 or more): no field can be that long.",
        b"\x02\x02\xff\xff\xff\x7f" + good[2 + len(ident_len) :],
    )
    mal(
        "framing_location_control_character",
        "A header location holding a newline.",
        framed(b"\x02" + _field(1, b"https://crm.example/\n") + _field(2, ident) + b"\x00"),
    )
    mal(
        "framing_location_not_utf8",
        "A header location that is not UTF-8.",
        framed(b"\x02" + _field(1, b"https://crm.example/\xff") + _field(2, ident) + b"\x00"),
    )

    def big(name: str, description: str, data: Tokenish) -> None:
        f.add(
            name,
            description,
            data,
            READ,
            pop(data, "orchestrator", READ, name),
            codes=[Code.TOO_LARGE],
        )

    big(
        "framing_location_too_long",
        "A 257-byte location (limit 256).",
        framed(b"\x02" + _field(1, b"l" * 257) + _field(2, ident) + b"\x00"),
    )
    big(
        "framing_identifier_too_large",
        "A 4097-byte identifier (limit 4096).",
        framed(b"\x02" + _field(2, b"\xa0" * 4097) + b"\x00"),
    )
    big(
        "framing_caveat_too_large",
        "A 2049-byte caveat (limit 2048), properly MACed.",
        appended(r, cav(1024, bstr(b"x" * (2049 - 6)))),
    )
    filler = Tool(("crm.read",)).encode()
    big(
        "framing_too_many_caveats",
        f"{MAX_CAVEATS + 1} caveats (limit {MAX_CAVEATS}), properly MACed.",
        appended(r, *[filler] * (MAX_CAVEATS + 1 - len(rb.caveats))),
    )
    third = resigned(
        rb.identifier,
        [*rb.caveats, _wire.RawCaveat(b"third-party", b"v" * 48, "https://approvals.example/")],
    )
    mal(
        "third_party_caveat",
        "A caveat section with a verification id, properly MACed, whose caveat id is not a"
        " third-party caveat.",
        third,
    )

    # --- deterministic CBOR in caveats, appended by the holder (the HMAC chain extends)
    exp = uint(EXPIRES)
    if cav(1, cmap((uint(2), exp))) != Validity(None, EXPIRES).encode():
        raise AssertionError("hand CBOR does not match the library's")

    def cbor_case(name: str, description: str, cid: bytes) -> None:
        tok = appended(r, cid)
        f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )

    cbor_case(
        "cbor_duplicate_map_key",
        "A validity map with key 2 (expires) twice.",
        cav(1, cmap((uint(2), exp), (uint(2), uint(EXPIRES + 99_999)))),
    )
    cbor_case(
        "cbor_unsorted_map_keys",
        "A validity map with expires (2) before not_before (1).",
        cav(1, cmap((uint(2), exp), (uint(1), uint(NOW - 10)))),
    )
    cbor_case(
        "cbor_non_shortest_integer",
        "The expiry encoded in 8 bytes where 4 suffice.",
        cav(1, cmap((uint(2), b"\x1b" + EXPIRES.to_bytes(8, "big")))),
    )
    cbor_case(
        "cbor_non_shortest_small_integer",
        "The caveat type id 3 encoded as 0x18 0x03.",
        arr(b"\x18\x03", canonical(["crm.read"])),
    )
    cbor_case(
        "cbor_non_shortest_length",
        "A tool name's text length in a one-byte argument where it fits in the head.",
        cav(3, arr(b"\x78\x08" + b"crm.read")),
    )
    cbor_case(
        "cbor_non_shortest_array_length",
        "The caveat array's length 2 encoded as 0x98 0x02.",
        b"\x98\x02" + uint(3) + canonical(["crm.read"]),
    )
    cbor_case(
        "cbor_indefinite_array",
        "An indefinite-length tool array.",
        cav(3, b"\x9f" + tstr("crm.read") + b"\xff"),
    )
    cbor_case(
        "cbor_indefinite_text",
        "An indefinite-length (chunked) tool name.",
        cav(3, arr(b"\x7f" + tstr("crm.") + tstr("read") + b"\xff")),
    )
    cbor_case(
        "cbor_indefinite_map",
        "An indefinite-length validity map.",
        cav(1, b"\xbf" + uint(2) + exp + b"\xff"),
    )
    cbor_case(
        "cbor_tag_epoch_time",
        "The expiry wrapped in tag 1 (epoch time).",
        cav(1, cmap((uint(2), b"\xc1" + exp))),
    )
    cbor_case(
        "cbor_tag_bignum_small",
        "The expiry as a tag-2 bignum that would fit an ordinary integer.",
        cav(1, cmap((uint(2), b"\xc2" + bstr(EXPIRES.to_bytes(4, "big"))))),
    )
    cbor_case(
        "cbor_tag_bignum_huge",
        "max_depth as a 9-byte tag-2 bignum.",
        cav(8, b"\xc2" + bstr(b"\x01" + bytes(8))),
    )
    cbor_case(
        "cbor_tag_on_caveat",
        "The whole caveat wrapped in tag 55799 (self-described CBOR).",
        b"\xd9\xd9\xf7" + Tool(("crm.read",)).encode(),
    )
    cbor_case(
        "cbor_float_expiry",
        "The expiry as a float64 of the same value.",
        cav(1, cmap((uint(2), f64(EXPIRES)))),
    )
    cbor_case(
        "cbor_nan_expiry",
        "The expiry as a half-precision NaN: a NaN expiry would never expire.",
        cav(1, cmap((uint(2), b"\xf9\x7e\x00"))),
    )
    cbor_case(
        "cbor_infinite_expiry",
        "The expiry as half-precision +Infinity.",
        cav(1, cmap((uint(2), b"\xf9\x7c\x00"))),
    )
    cbor_case(
        "cbor_half_float_max_depth",
        "max_depth 3 as a half-precision float (3.0).",
        cav(8, b"\xf9\x42\x00"),
    )
    cbor_case("cbor_null_expiry", "The expiry as null.", cav(1, cmap((uint(2), b"\xf6"))))
    cbor_case("cbor_undefined", "max_depth as the simple value undefined.", cav(8, b"\xf7"))
    cbor_case("cbor_simple_value", "max_depth as simple value 16.", cav(8, b"\xf0"))
    cbor_case(
        "cbor_trailing_byte",
        "A tool caveat followed by one zero byte.",
        Tool(("crm.read",)).encode() + b"\x00",
    )
    cbor_case(
        "cbor_two_items",
        "Two complete caveats in one caveat field.",
        Tool(("crm.read",)).encode() + Validity(None, EXPIRES).encode(),
    )
    cbor_case(
        "cbor_truncated", "A tool caveat cut one byte short.", Tool(("crm.read",)).encode()[:-1]
    )
    cbor_case(
        "cbor_invalid_utf8_text", "A tool name that is not UTF-8.", cav(3, arr(b"\x68crm.rea\xff"))
    )
    nested = uint(1)
    for _ in range(8):
        nested = arr(nested)
    cbor_case(
        "cbor_nested_too_deep",
        "An application caveat (type 1024) whose body nests arrays 8 deep: over the depth"
        " limit, so malformed rather than unknown_caveat.",
        cav(1024, nested),
    )
    cbor_case("cbor_empty_caveat", "A caveat field of zero bytes.", b"")
    cbor_case(
        "type_confusion_expiry_text",
        'The expiry as the text "1800003600".',
        cav(1, cmap((uint(2), tstr(str(EXPIRES))))),
    )
    cbor_case("type_confusion_expiry_true", "The expiry as true.", cav(1, cmap((uint(2), b"\xf5"))))
    cbor_case("type_confusion_max_depth_text", 'max_depth as the text "3".', cav(8, tstr("3")))
    cbor_case("type_confusion_max_depth_true", "max_depth as true.", cav(8, b"\xf5"))
    cbor_case("type_confusion_max_depth_float", "max_depth as the float64 3.0.", cav(8, f64(3.0)))
    cbor_case(
        "type_confusion_type_id_text",
        'The caveat type id as the text "3".',
        arr(tstr("3"), canonical(["crm.read"])),
    )
    cbor_case(
        "type_confusion_type_id_true",
        "The caveat type id as true.",
        arr(b"\xf5", canonical(["crm.read"])),
    )
    cbor_case(
        "type_confusion_arg_eq_float",
        "An argument constraint whose value is the float 42.0.",
        cav(7, arr(arr(tstr("account"), uint(1), f64(42)))),
    )
    cbor_case("integer_negative_expiry", "An expiry of -1.", cav(1, cmap((uint(2), b"\x20"))))
    cbor_case(
        "integer_expiry_beyond_max_time",
        "An expiry of 2**34 (times lie in [0, 2**34)).",
        cav(1, cmap((uint(2), uint(2**34)))),
    )
    cbor_case(
        "integer_beyond_max_int",
        "max_depth of 2**53, outside the integer range.",
        cav(8, uint(2**53)),
    )
    cbor_case(
        "integer_max_depth_over_max_hops",
        f"max_depth {MAX_HOPS + 1}, over the hop limit.",
        cav(8, uint(MAX_HOPS + 1)),
    )
    cbor_case(
        "caveat_not_an_array", "A caveat that is a map.", cmap((uint(3), canonical(["crm.read"])))
    )
    cbor_case(
        "caveat_array_of_three",
        "A caveat array with three items.",
        arr(uint(3), canonical(["crm.read"]), uint(0)),
    )
    cbor_case("caveat_type_id_zero", "Caveat type id 0.", cav(0, canonical(["crm.read"])))
    cbor_case(
        "caveat_type_id_too_big", "Caveat type id 2**32.", cav(2**32, canonical(["crm.read"]))
    )
    cbor_case(
        "caveat_type_id_negative", "Caveat type id -1.", arr(b"\x20", canonical(["crm.read"]))
    )
    cbor_case(
        "tool_list_empty",
        "An empty tool list: empty is malformed, never a wildcard.",
        cav(3, arr()),
    )
    cbor_case(
        "tool_list_unsorted",
        "A tool list out of order.",
        cav(3, arr(tstr("crm.read"), tstr("crm.audit"))),
    )
    cbor_case(
        "tool_list_duplicate",
        "A tool listed twice.",
        cav(3, arr(tstr("crm.read"), tstr("crm.read"))),
    )
    cbor_case("tool_name_empty", "An empty tool name.", cav(3, arr(tstr(""))))
    cbor_case(
        "tool_name_control_character",
        "A tool name holding a newline.",
        cav(3, arr(tstr("crm.read\n"))),
    )
    cbor_case(
        "tool_list_not_array",
        "A tool caveat body that is one text, not an array.",
        cav(3, tstr("crm.read")),
    )
    cbor_case("audience_list_empty", "An empty audience list.", cav(2, arr()))
    cbor_case("validity_empty_map", "A validity caveat with neither field.", cav(1, cmap()))
    cbor_case(
        "validity_not_before_after_expiry",
        "not_before later than expires.",
        cav(1, cmap((uint(1), uint(EXPIRES + 1)), (uint(2), exp))),
    )
    cbor_case(
        "validity_unknown_field",
        "A validity map with an unknown field 3.",
        cav(1, cmap((uint(2), exp), (uint(3), uint(1)))),
    )
    cbor_case(
        "validity_text_keys",
        'A validity map keyed by the text "expires".',
        cav(1, cmap((tstr("expires"), exp))),
    )
    # Fixed bug: delegation/caveats/args.py Args.from_body tests `item[1] not in _OP_NAMES` on
    # an unhashable array/map operator: TypeError, caught by Verifier.verify's catch-all and
    # logged as an internal error. Expected: a clean malformed, with nothing logged.
    cbor_case(
        "args_operator_is_an_array",
        "An argument constraint whose operator is an array instead of an integer.",
        cav(7, arr(arr(tstr("limit"), arr(uint(4)), uint(50)))),
    )
    cbor_case(
        "args_operator_is_a_map",
        "An argument constraint whose operator is a map instead of an integer.",
        cav(7, arr(arr(tstr("limit"), cmap((uint(1), uint(4))), uint(50)))),
    )
    cbor_case(
        "args_unknown_operator",
        "An argument constraint with operator 9.",
        cav(7, arr(arr(tstr("limit"), uint(9), uint(50)))),
    )
    cbor_case("args_empty", "An args caveat with no constraints.", cav(7, arr()))
    cbor_case(
        "args_min_as_text",
        'An argument minimum given as the text "1".',
        cav(7, arr(arr(tstr("limit"), uint(3), tstr("1")))),
    )
    cbor_case(
        "args_in_empty",
        "An argument membership constraint with an empty set.",
        cav(7, arr(arr(tstr("format"), uint(2), arr()))),
    )
    cbor_case(
        "resource_pattern_dot_segment",
        "A resource pattern ending in '..'.",
        cav(5, arr(tstr("crm://accounts/42/.."))),
    )
    cbor_case(
        "resource_pattern_percent",
        "A resource pattern holding '%2F'.",
        cav(5, arr(tstr("crm://accounts/42%2F43"))),
    )
    cbor_case(
        "resource_pattern_empty_segment",
        "A resource pattern with an empty segment.",
        cav(5, arr(tstr("crm://accounts//42"))),
    )
    cbor_case(
        "resource_pattern_double_star_not_last",
        "A resource pattern with '**' before the last segment.",
        cav(5, arr(tstr("crm://accounts/**/notes"))),
    )
    cbor_case(
        "resource_pattern_no_scheme",
        "A resource pattern with neither scheme nor leading '/'.",
        cav(5, arr(tstr("accounts/42"))),
    )
    cbor_case("delegatee_pattern_empty", "An empty delegatee pattern.", cav(9, arr(tstr(""))))
    cbor_case("delegatee_pattern_double_star", "A delegatee pattern '**'.", cav(9, arr(tstr("**"))))
    hop_ok = Hop("researcher", K["researcher"].public_key, bytes(64))
    cbor_case(
        "hop_public_key_31_bytes",
        "A hop whose public key is 31 bytes.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key[:31]), bstr(bytes(64)))),
    )
    cbor_case(
        "hop_signature_63_bytes",
        "A hop whose signature is 63 bytes.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key), bstr(bytes(63)))),
    )
    cbor_case(
        "hop_agent_id_with_space",
        "A hop whose agent id holds a space.",
        cav(10, arr(tstr("re searcher"), bstr(hop_ok.public_key), bstr(bytes(64)))),
    )
    cbor_case(
        "hop_missing_signature",
        "A hop of two items.",
        cav(10, arr(tstr("researcher"), bstr(hop_ok.public_key))),
    )

    # --- deterministic CBOR in the identifier, re-MACed with the test root key
    def ident_case(name: str, description: str, identifier: bytes) -> None:
        tok = resigned(identifier, cids(r))
        f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )

    if resigned(identifier_cbor(), cids(r)).identifier != identifier_cbor():
        raise AssertionError("unreachable")
    try:  # the hand-built identifier must itself be valid, or the cases below prove nothing
        decode(text(resigned(identifier_cbor(), cids(r))))
    except Exception as exc:
        raise AssertionError("hand-built identifier does not decode") from exc
    ident_case(
        "identifier_duplicate_key",
        "The identifier map holds key 2 (key id) twice.",
        b"\xa6" + identifier_cbor()[1:] + uint(2) + tstr(ROOT_KEY_ID),
    )
    ident_case("identifier_version_2", "Format version 2.", identifier_cbor(version=uint(2)))
    ident_case("identifier_version_true", "Format version true.", identifier_cbor(version=b"\xf5"))
    ident_case("identifier_version_text", 'Format version "1".', identifier_cbor(version=tstr("1")))
    ident_case(
        "identifier_extra_field",
        "An extra identifier field 6.",
        identifier_cbor(extra=[(uint(6), uint(0))]),
    )
    ident_case(
        "identifier_missing_holder",
        "No holder (field 5).",
        cmap(
            (uint(1), uint(1)),
            (uint(2), tstr(ROOT_KEY_ID)),
            (uint(3), bstr(bytes(16))),
            (uint(4), canonical(TASK.to_cbor())),
        ),
    )
    ident_case(
        "identifier_nonce_15_bytes", "A 15-byte nonce.", identifier_cbor(nonce=bstr(bytes(15)))
    )
    task_cbor = TASK.to_cbor()
    ident_case(
        "identifier_approved_at_float",
        "The task's approval time as a float64.",
        identifier_cbor(
            task=arr(
                tstr(str(task_cbor[0])),
                tstr(str(task_cbor[1])),
                f64(NOW - 60),
                tstr(str(task_cbor[3])),
            )
        ),
    )
    ident_case(
        "identifier_approved_at_text",
        "The task's approval time as text.",
        identifier_cbor(
            task=arr(
                tstr(str(task_cbor[0])),
                tstr(str(task_cbor[1])),
                tstr(str(NOW - 60)),
                tstr(str(task_cbor[3])),
            )
        ),
    )
    ident_case(
        "identifier_holder_key_31_bytes",
        "A 31-byte holder public key.",
        identifier_cbor(holder=arr(tstr("orchestrator"), bstr(K["orchestrator"].public_key[:31]))),
    )
    ident_case(
        "identifier_trailing_byte",
        "One zero byte after the identifier map.",
        identifier_cbor() + b"\x00",
    )
    ident_case(
        "identifier_not_a_map", "The identifier as an array.", arr(uint(1), tstr(ROOT_KEY_ID))
    )
    ident_case(
        "identifier_unsorted_keys",
        "Identifier fields out of canonical order.",
        identifier_cbor(
            pairs=[
                (uint(2), tstr(ROOT_KEY_ID)),
                (uint(1), uint(1)),
                (uint(3), bstr(bytes(16))),
                (uint(4), canonical(TASK.to_cbor())),
                (uint(5), canonical(agent("orchestrator").to_cbor())),
            ]
        ),
    )

    # --- out-of-profile CBOR that a generic decoder would expand before any check
    # Fixed bug: delegation/_cbor.py let cbor2 build the whole value before the profile check,
    # resolving value-sharing (28/29) and string-reference (25/256) tags: a 575-byte identifier
    # took 1.25 s to reject, growing with the fourth power of its length, before the MAC check.
    # Each of these must be refused at its first out-of-profile head, in work linear in its size.
    def tag(number: int, item: bytes) -> bytes:
        return head(6, number) + item

    def shared_tree(width: int, levels: int) -> bytes:
        """A full width-ary tree of arrays over zeros: one shareable (tag 28) copy of each
        level and width - 1 references (tag 29) to it, so about 3 * width * levels bytes."""
        inner = arr(*[uint(0)] * width)
        for k in range(levels - 1):
            ref = tag(29, uint(levels - 2 - k))  # share indices count tag 28s from the outside
            inner = head(4, width) + tag(28, inner) + ref * (width - 1)
        return inner

    tree = shared_tree(100, 4)
    cbor_case(
        "cbor_value_sharing_caveat",
        f"A {len(tree)}-byte caveat of value-sharing tags (28/29) standing for an array tree of"
        f" {100**4:,} zeros, properly MACed: refused at its first tag, never expanded.",
        tree,
    )
    cbor_case(
        "cbor_value_sharing_application_caveat",
        "An application caveat (type 1024) whose body is a value-sharing tree of 10**6 zeros:"
        " malformed, not unknown_caveat.",
        cav(1024, shared_tree(100, 3)),
    )
    cbor_case(
        "cbor_tag_shareable_expiry",
        "The expiry wrapped in tag 28 (shareable), which a generic decoder unwraps to the very"
        " same integer.",
        cav(1, cmap((uint(2), tag(28, exp)))),
    )
    cbor_case(
        "cbor_tag_shared_reference_alone",
        "max_depth as tag 29 (shared reference) to a value that was never marked shareable.",
        cav(8, tag(29, uint(0))),
    )
    refs = tag(256, arr(tstr("x" * 40), *[tag(25, uint(0))] * 300))
    cbor_case(
        "cbor_string_references",
        f"An application caveat whose body is a {len(refs)}-byte string-reference namespace"
        " (tag 256) holding one 40-character text and 300 references to it (tag 25).",
        cav(1024, refs),
    )
    cbor_case(
        "cbor_tag_string_reference_in_tool_list",
        "A tool list whose second name is a string reference (tag 25) to the first.",
        cav(3, tag(256, arr(tstr("crm.audit"), tag(25, uint(0))))),
    )
    cbor_case(
        "cbor_huge_declared_byte_string",
        "An application caveat body declaring a byte string of 2**60 bytes.",
        cav(1024, head(2, 2**60)),
    )
    cbor_case(
        "cbor_huge_declared_text",
        "A tool name declaring a text of 2**32 bytes.",
        cav(3, arr(head(3, 2**32))),
    )
    cbor_case(
        "cbor_huge_declared_array",
        "A tool list declaring 2**64 - 1 items.",
        cav(3, head(4, 2**64 - 1)),
    )
    cbor_case(
        "cbor_huge_declared_map",
        "A validity map declaring 2**60 entries.",
        cav(1, head(5, 2**60)),
    )
    cbor_case(
        "cbor_reserved_additional_information",
        "max_depth as an unsigned integer with the reserved additional information 28.",
        cav(8, b"\x1c"),
    )
    mal(
        "cbor_value_sharing_third_party_caveat_id",
        "A third-party caveat section (it has a verification id) whose caveat id is the"
        " value-sharing tree, properly MACed.",
        appended(r, _wire.RawCaveat(tree, b"v" * 60)),
    )
    big(
        "cbor_value_sharing_caveat_over_limit",
        "A value-sharing caveat over the 2048-byte caveat limit: the framing limit is the first"
        " rule it breaks, so too_large.",
        appended(r, shared_tree(250, 4)),
    )
    ident_case(
        "identifier_value_sharing",
        f"A {len(tree)}-byte identifier of value-sharing tags standing for {100**4:,} zeros,"
        " MACed with the root key: refused before any key lookup.",
        tree,
    )
    ident_case(
        "identifier_string_references",
        "An identifier in a string-reference namespace (tag 256) whose task approver is a"
        " reference (tag 25) to the key id: a generic decoder makes a well-formed identifier"
        " of it.",
        tag(
            256,
            identifier_cbor(
                task=arr(
                    tstr(TASK.task_id),
                    tag(25, uint(0)),
                    uint(TASK.approved_at),
                    tstr(TASK.statement),
                )
            ),
        ),
    )
    ident_case(
        "identifier_null_nonce", "The identifier nonce as null.", identifier_cbor(nonce=b"\xf6")
    )
    ident_case(
        "identifier_indefinite_key_id",
        "The key id as an indefinite-length (chunked) text.",
        identifier_cbor(key_id=b"\x7f" + tstr(ROOT_KEY_ID[:3]) + tstr(ROOT_KEY_ID[3:]) + b"\xff"),
    )
    ident_case(
        "identifier_huge_declared_map",
        "An identifier that is a map head declaring 2**64 - 1 entries and nothing else.",
        head(5, 2**64 - 1),
    )
    big(
        "identifier_value_sharing_over_limit",
        "A value-sharing identifier over the 4096-byte identifier limit: too_large, the first"
        " rule it breaks.",
        framed(b"\x02" + _field(2, shared_tree(450, 4)) + b"\x00"),
    )
    return f


def _varint(n: int) -> bytes:
    out = bytearray()
    _wire._put_varint(out, n)
    return bytes(out)


def _field(field_type: int, data: bytes) -> bytes:
    return _varint(field_type) + _varint(len(data)) + data


# ---------------------------------------------------------------------------------------------
# caveats.json


def caveats() -> VectorFile:
    f = VectorFile(
        "caveats.json",
        "Caveat checks against the request and the clock; every failure is reported, in token"
        " order, and no caveat can widen another.",
    )
    r = root("root")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        request: Json,
        codes: Sequence[Code],
        *,
        now: int = NOW,
        signer: str = "orchestrator",
        chain: Sequence[str] | None = None,
    ) -> None:
        proof = pop(tok, signer, request, name, at=now)
        f.add(name, description, tok, request, proof, codes=codes, now=now, chain=chain)

    # missing mandatory caveats (mint refuses these, so they are MACed by hand)
    aud = AudienceCaveat(("crm",)).encode()
    val = Validity(None, EXPIRES).encode()
    case(
        "missing_every_caveat",
        "A genuine token with no caveats at all.",
        resigned(r.raw.identifier, []),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_audience",
        "A genuine token with an expiry but no audience.",
        resigned(r.raw.identifier, [c for c in cids(r) if c != aud]),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_expiry",
        "A genuine token with an audience but no expiry.",
        resigned(r.raw.identifier, [c for c in cids(r) if c != val]),
        READ,
        [Code.MISSING_CAVEAT],
    )
    case(
        "missing_expiry_not_before_only",
        "A validity caveat with only not_before does not count as an expiry.",
        resigned(
            r.raw.identifier,
            [Validity(NOW - 10, None).encode() if c == val else c for c in cids(r)],
        ),
        READ,
        [Code.MISSING_CAVEAT],
    )

    # validity
    case(
        "expired_at_expiry",
        "At exactly the expiry time the token is expired.",
        r,
        READ,
        [Code.EXPIRED],
        now=EXPIRES,
    )
    case(
        "expired_long_after",
        "A day after the expiry.",
        r,
        READ,
        [Code.EXPIRED],
        now=EXPIRES + 86_400,
    )
    nbf = root("nbf", scope(not_before=NOW + 100))
    case(
        "not_yet_valid",
        "not_before is 100 s ahead of the verifier clock.",
        nbf,
        READ,
        [Code.NOT_YET_VALID],
    )
    nbf31 = root("nbf31", scope(not_before=NOW + 31))
    case(
        "not_yet_valid_just_past_skew",
        "not_before is 31 s ahead: one second past the skew.",
        nbf31,
        READ,
        [Code.NOT_YET_VALID],
    )
    short = attenuate(r, Scope(expires=NOW + 60), now=NOW)
    case(
        "later_expiry_narrows",
        "A holder's earlier expiry applies.",
        short,
        READ,
        [Code.EXPIRED],
        now=NOW + 60,
    )
    longer = appended(r, Validity(None, EXPIRES + 3600).encode())
    case(
        "later_expiry_cannot_extend",
        "A caveat appended with a later expiry does not extend the root's.",
        longer,
        READ,
        [Code.EXPIRED],
        now=EXPIRES,
    )

    # names
    case(
        "wrong_audience",
        "The token is for 'crm' and is presented at 'hr'.",
        r,
        req(audience="hr"),
        [Code.WRONG_AUDIENCE],
    )
    case(
        "wrong_audience_prefix",
        "'crm2' is not 'crm'.",
        r,
        req(audience="crm2"),
        [Code.WRONG_AUDIENCE],
    )
    case(
        "wrong_audience_case", "'CRM' is not 'crm'.", r, req(audience="CRM"), [Code.WRONG_AUDIENCE]
    )
    case(
        "tool_not_allowed",
        "'crm.delete' is not an approved tool.",
        r,
        req(tool="crm.delete"),
        [Code.TOOL_NOT_ALLOWED],
    )
    case(
        "tool_not_allowed_prefix",
        "'crm.read.all' is not 'crm.read'.",
        r,
        req(tool="crm.read.all"),
        [Code.TOOL_NOT_ALLOWED],
    )
    case(
        "tool_not_allowed_truncated",
        "'crm.rea' is not 'crm.read'.",
        r,
        req(tool="crm.rea"),
        [Code.TOOL_NOT_ALLOWED],
    )
    case(
        "action_not_allowed",
        "'delete' is not an approved action.",
        r,
        req(action="delete"),
        [Code.ACTION_NOT_ALLOWED],
    )
    case(
        "intent_not_allowed",
        "'exfiltrate' is not an approved intent.",
        r,
        req(intent="exfiltrate"),
        [Code.INTENT_NOT_ALLOWED],
    )
    case(
        "intent_missing",
        "A request that states no intent, under an intent caveat.",
        r,
        req(intent=None),
        [Code.INTENT_NOT_ALLOWED],
    )

    # resources, against 'crm://accounts/42/*'
    star = root("single-star", scope(resources=["crm://accounts/42/*"]))
    for name, resource, why in (
        ("resource_other_account", "crm://accounts/43/notes", "another account"),
        ("resource_dot_dot", "crm://accounts/42/../43", "a '..' segment"),
        ("resource_dot", "crm://accounts/42/./notes", "a '.' segment"),
        ("resource_percent_encoded_dot_dot", "crm://accounts/42/%2e%2e", "percent-encoded '..'"),
        ("resource_percent_encoded_slash", "crm://accounts/42%2Fnotes", "a percent-encoded '/'"),
        (
            "resource_percent_encoded_segment",
            "crm://accounts/42/%6eotes",
            "a percent-encoded letter",
        ),
        (
            "resource_dash_suffix",
            "crm://accounts/42-x/notes",
            "'42-x', which only starts with '42'",
        ),
        (
            "resource_longer_number",
            "crm://accounts/420/notes",
            "'420', which only starts with '42'",
        ),
        ("resource_empty_segment", "crm://accounts/42//notes", "an empty segment"),
        ("resource_trailing_slash", "crm://accounts/42/notes/", "a trailing slash"),
        ("resource_account_itself", "crm://accounts/42", "no segment where '*' needs one"),
        (
            "resource_two_segments",
            "crm://accounts/42/notes/1",
            "two segments where '*' matches one",
        ),
        ("resource_uppercase_scheme", "CRM://accounts/42/notes", "an upper-case scheme"),
        ("resource_other_scheme", "https://accounts/42/notes", "another scheme"),
        ("resource_fullwidth_digits", "crm://accounts/\uff14\uff12/notes", "fullwidth digits"),
        ("resource_query", "crm://accounts/42/notes?all=1", "a query"),
        ("resource_fragment", "crm://accounts/42/notes#x", "a fragment"),
        ("resource_backslash", "crm://accounts/42/notes\\..\\..\\43", "backslashes"),
    ):
        case(
            name,
            f"'{resource}' ({why}) does not match 'crm://accounts/42/*'.",
            star,
            req(resource=resource),
            [Code.RESOURCE_NOT_ALLOWED],
        )
    case(
        "resource_missing",
        "A request naming no resource, under a resource caveat.",
        star,
        req(resource=None),
        [Code.RESOURCE_NOT_ALLOWED],
    )

    # arguments
    args = root(
        "args",
        scope(
            args=[
                ArgConstraint.equals("account", 42),
                ArgConstraint.equals("dry_run", True),
                ArgConstraint.one_of("format", ("md", "txt")),
                ArgConstraint.at_most("limit", 50),
                ArgConstraint.at_least("limit", 1),
                ArgConstraint.resource("path", "crm://accounts/42/**"),
            ]
        ),
    )
    ok_args = {
        "account": 42,
        "dry_run": True,
        "format": "md",
        "limit": 10,
        "path": "crm://accounts/42/notes",
    }
    case(
        "args_satisfied",
        "All argument constraints hold.",
        args,
        req(args=ok_args),
        [],
        chain=["orchestrator"],
    )
    case(
        "args_limit_float_within_bounds",
        "A float within numeric bounds satisfies min/max.",
        args,
        req(args={**ok_args, "limit": 7.5}),
        [],
        chain=["orchestrator"],
    )
    for name, changes, why in (
        ("args_eq_text_for_int", {"account": "42"}, 'account "42" (text) does not equal 42'),
        ("args_eq_true_for_int", {"account": True}, "account true does not equal 42"),
        ("args_eq_float_for_int", {"account": 42.0}, "account 42.0 (float) does not equal 42"),
        ("args_eq_int_for_true", {"dry_run": 1}, "dry_run 1 does not equal true"),
        ("args_eq_other_value", {"account": 43}, "account 43 is not 42"),
        ("args_in_other_value", {"format": "pdf"}, "format 'pdf' is not one of md, txt"),
        ("args_in_prefix", {"format": "mdx"}, "format 'mdx' is not 'md'"),
        ("args_max_exceeded", {"limit": 51}, "limit 51 is over max 50"),
        ("args_max_exceeded_float", {"limit": 50.5}, "limit 50.5 is over max 50"),
        ("args_min_not_reached", {"limit": 0}, "limit 0 is under min 1"),
        ("args_limit_text", {"limit": "10"}, 'limit "10" is text, not a number'),
        ("args_limit_bool", {"limit": True}, "limit true is a boolean, not a number"),
        ("args_limit_null", {"limit": None}, "limit null is not a number"),
        (
            "args_path_other_account",
            {"path": "crm://accounts/43/notes"},
            "path is outside account 42",
        ),
        ("args_path_dot_dot", {"path": "crm://accounts/42/../43"}, "path escapes with '..'"),
        ("args_path_not_text", {"path": 42}, "path is not text"),
    ):
        case(name, f"{why}.", args, req(args={**ok_args, **changes}), [Code.ARGS_NOT_ALLOWED])
    missing = {k: v for k, v in ok_args.items() if k != "format"}
    case(
        "args_missing_argument",
        "A missing argument satisfies nothing.",
        args,
        req(args=missing),
        [Code.ARGS_NOT_ALLOWED],
    )
    case(
        "args_none_given",
        "No arguments at all under an args caveat.",
        args,
        req(args={}),
        [Code.ARGS_NOT_ALLOWED],
    )

    # a closed argument list
    closed = root(
        "args_only",
        scope(args=[ArgConstraint.equals("project", "apollo")], only_args=["project"]),
    )
    case(
        "args_only_listed_arguments",
        "args_only: the call carries only listed arguments.",
        closed,
        req(args={"project": "apollo"}),
        [],
        chain=["orchestrator"],
    )
    case(
        "args_only_unlisted_argument",
        "args_only: an unconstrained argument that is not listed is denied.",
        closed,
        req(args={"project": "apollo", "path": "/etc/passwd"}),
        [Code.ARGS_NOT_ALLOWED],
    )

    # several failures, reported in token order
    case(
        "several_failures_in_token_order",
        "Expired, wrong audience and wrong tool at once: every failure, in caveat order.",
        r,
        req(audience="hr", tool="crm.delete"),
        [Code.EXPIRED, Code.WRONG_AUDIENCE, Code.TOOL_NOT_ALLOWED],
        now=EXPIRES,
    )
    f.add(
        "caveat_failure_and_missing_proof",
        "A caveat failure and a missing proof are both reported, caveats first.",
        r,
        req(tool="crm.delete"),
        None,
        codes=[Code.TOOL_NOT_ALLOWED, Code.POP_REQUIRED],
    )

    # later caveats only narrow
    narrowed = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "later_tool_caveat_narrows",
        "The holder's own tool caveat forbids 'crm.update'.",
        narrowed,
        req(tool="crm.update", action="write", intent="update-notes"),
        [Code.TOOL_NOT_ALLOWED],
    )
    wider_tool = appended(r, Tool(("crm.delete", "crm.read", "crm.update")).encode())
    case(
        "later_tool_caveat_cannot_widen",
        "A second tool caveat listing 'crm.delete' too does not allow it: the first still denies.",
        wider_tool,
        req(tool="crm.delete"),
        [Code.TOOL_NOT_ALLOWED],
    )
    wider_aud = appended(r, AudienceCaveat(("crm", "hr")).encode())
    case(
        "later_audience_caveat_cannot_widen",
        "An appended audience 'hr' does not allow 'hr'.",
        wider_aud,
        req(audience="hr"),
        [Code.WRONG_AUDIENCE],
    )
    wider_res = appended(r, ResourceCaveat(("crm://**",)).encode())
    case(
        "later_resource_caveat_cannot_widen",
        "An appended 'crm://**' does not reach account 43.",
        wider_res,
        req(resource="crm://accounts/43/notes"),
        [Code.RESOURCE_NOT_ALLOWED],
    )
    approval = appended(r, cav(1024, cmap((tstr("approved"), b"\xf5"))))
    case(
        "approval_claim_grants_nothing",
        "A holder appends an application caveat {'approved': true}: unknown here, so it denies.",
        approval,
        READ,
        [Code.UNKNOWN_CAVEAT],
    )

    # call (type 11): the request must be exactly one call
    call = appended(r, Call(Request.from_json(READ).digest()).encode())
    case(
        "call_caveat_matches",
        "A call caveat naming this exact request.",
        call,
        READ,
        [],
        chain=["orchestrator"],
    )
    case(
        "call_caveat_other_request",
        "A call caveat naming the read of 'notes', presented for 'tasks'.",
        call,
        req(resource="crm://accounts/42/tasks"),
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "call_caveat_other_args",
        "A call caveat naming a call without arguments, presented with one.",
        call,
        req(args={"limit": 1}),
        [Code.APPROVAL_REQUIRED],
    )

    # max_uses (type 12): counted only after every other check passed
    single = attenuate(r, [MaxUses(1)], now=NOW)
    f.add(
        "max_uses_one",
        "A single-use token: the first call works, a second (with a fresh proof) is refused.",
        single,
        READ,
        pop(single, "orchestrator", READ, "max_uses_one/1"),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "max_uses_one/2"),
                codes=[Code.USES_EXHAUSTED],
            )
        ],
    )
    denied_first = req(tool="crm.delete")
    f.add(
        "max_uses_not_spent_by_denial",
        "A denied call does not use up a single-use token.",
        single,
        denied_first,
        pop(single, "orchestrator", denied_first, "max_uses_not_spent_by_denial/1"),
        codes=[Code.TOOL_NOT_ALLOWED],
        then=[
            Step(
                READ,
                pop(single, "orchestrator", READ, "max_uses_not_spent_by_denial/2"),
                chain=["orchestrator"],
            )
        ],
    )
    shared = hop(attenuate(r, [MaxUses(2)], now=NOW), "orchestrator", "researcher")
    parent_two = attenuate(r, [MaxUses(2)], now=NOW)
    f.add(
        "max_uses_shared_by_descendants",
        "max_uses 2 counts calls made with the token and with every token derived from it.",
        parent_two,
        READ,
        pop(parent_two, "orchestrator", READ, "max_uses_shared/1"),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(shared, "researcher", READ, "max_uses_shared/2"),
                chain=["orchestrator", "researcher"],
                token=shared,
            ),
            Step(
                READ,
                pop(shared, "researcher", READ, "max_uses_shared/3"),
                codes=[Code.USES_EXHAUSTED],
                token=shared,
            ),
        ],
    )

    # unknown caveat types
    for name, type_id, why in (
        ("unknown_caveat_application_type", 1024, "the first application type id"),
        ("unknown_caveat_highest_type", 2**32 - 1, "the highest type id"),
        ("unknown_caveat_reserved_type", 200, "a type id reserved for the spec"),
        ("unknown_caveat_unassigned_core_type", 127, "an unassigned core type id"),
    ):
        tok = appended(r, cav(type_id, tstr("whatever")))
        case(
            name,
            f"A caveat of {why} ({type_id}) that this verifier does not know.",
            tok,
            READ,
            [Code.UNKNOWN_CAVEAT],
        )
    both = appended(r, cav(1024, uint(0)))
    case(
        "unknown_caveat_and_other_failure",
        "An unknown caveat and a wrong tool: both reported in token order.",
        both,
        req(tool="crm.delete"),
        [Code.TOOL_NOT_ALLOWED, Code.UNKNOWN_CAVEAT],
    )
    return f


# ---------------------------------------------------------------------------------------------
# chain.json


def chain() -> VectorFile:
    f = VectorFile(
        "chain.json",
        "Signed hops: holder continuity, no key twice, depth caps and delegatee lists.",
    )
    r = root("root")
    one = hop(r, "orchestrator", "researcher")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        signer: str,
        codes: Sequence[Code],
        *,
        chain: Sequence[str] | None = None,
        request: Json = READ,
    ) -> None:
        f.add(
            name,
            description,
            tok,
            request,
            pop(tok, signer, request, name),
            codes=codes,
            chain=chain,
        )

    case(
        "one_hop_valid",
        "A genuine hop; the researcher presents.",
        one,
        "researcher",
        [],
        chain=["orchestrator", "researcher"],
    )
    narrowed = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    update = req(tool="crm.update", action="write", intent="update-notes")
    case(
        "hop_scope_binds_delegatee",
        "The hop narrowed tools to 'crm.read'; the researcher tries 'crm.update'.",
        narrowed,
        "researcher",
        [Code.TOOL_NOT_ALLOWED],
        request=update,
    )

    # bad hops
    case(
        "hop_signature_corrupted",
        "One bit of the hop signature flipped (the HMAC chain is intact).",
        appended(r, signed_hop(r, "orchestrator", "researcher", corrupt=True)),
        "researcher",
        [Code.BAD_HOP],
    )
    case(
        "hop_signed_by_stranger",
        "Mallory signs the hop to the researcher instead of the holder.",
        appended(r, signed_hop(r, "mallory", "researcher")),
        "researcher",
        [Code.BAD_HOP],
    )
    case(
        "hop_signed_by_delegatee",
        "The researcher signs its own hop.",
        appended(r, signed_hop(r, "researcher", "researcher")),
        "researcher",
        [Code.BAD_HOP],
    )
    case(
        "second_hop_signed_by_previous_holder",
        "After orchestrator -> researcher, the orchestrator (no longer the holder) signs a hop"
        " to the writer.",
        appended(one, signed_hop(one, "orchestrator", "writer")),
        "writer",
        [Code.BAD_HOP],
    )
    case(
        "hop_key_cycle_back_to_root_holder",
        "The researcher delegates, properly signed, to the orchestrator's key under another"
        " agent id.",
        appended(one, signed_hop(one, "researcher", "orchestrator-2", key_of="orchestrator")),
        "orchestrator",
        [Code.BAD_HOP],
    )
    case(
        "hop_self_delegation",
        "The orchestrator delegates to its own key.",
        appended(r, signed_hop(r, "orchestrator", "orchestrator")),
        "orchestrator",
        [Code.BAD_HOP],
    )
    two = hop(one, "researcher", "writer")
    case(
        "hop_key_cycle_later",
        "orchestrator -> researcher -> writer -> researcher's key again.",
        appended(two, signed_hop(two, "writer", "researcher-2", key_of="researcher")),
        "researcher",
        [Code.BAD_HOP],
    )
    other = root("other")
    other_hop = signed_hop(other, "orchestrator", "researcher")
    spliced = appended(r, other_hop)
    case(
        "hop_spliced_from_other_token",
        "A genuine hop from another token of the same orchestrator, appended here: it signs"
        " another chain.",
        spliced,
        "researcher",
        [Code.BAD_HOP],
    )
    attenuated = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "hop_signed_over_shorter_prefix",
        "The orchestrator signed the hop before appending a caveat, then appended the hop"
        " after it.",
        appended(attenuated, signed_hop(r, "orchestrator", "researcher")),
        "researcher",
        [Code.BAD_HOP],
    )
    genuine = Hop.from_body(cbor2.loads(signed_hop(r, "orchestrator", "researcher"))[1])
    case(
        "hop_retargeted_public_key",
        "A genuine hop's public key swapped for Mallory's, appended with the HMAC extended.",
        appended(r, Hop("researcher", K["mallory"].public_key, genuine.signature).encode()),
        "mallory",
        [Code.BAD_HOP],
    )
    case(
        "hop_retargeted_agent_id",
        "A genuine hop's agent id changed from 'researcher' to 'researcher2'.",
        appended(r, Hop("researcher2", genuine.public_key, genuine.signature).encode()),
        "researcher",
        [Code.BAD_HOP],
    )
    other_one = hop(other, "orchestrator", "researcher")
    f.add(
        "hop_cache_does_not_bless_spliced_hop",
        "The verifier first accepts the hop in its own token, then sees the same hop bytes"
        " spliced onto another token: a hop-signature cache must key on the chain before the hop.",
        other_one,
        READ,
        pop(other_one, "researcher", READ, "hop_cache_does_not_bless_spliced_hop/1"),
        chain=["orchestrator", "researcher"],
        then=[
            Step(
                READ,
                pop(spliced, "researcher", READ, "hop_cache_does_not_bless_spliced_hop/2"),
                codes=[Code.BAD_HOP],
                token=spliced,
            )
        ],
    )

    # the hop limit
    free = root("long-chain", scope(max_depth=None))
    names = ["orchestrator"]
    tok = free
    for i in range(1, MAX_HOPS + 1):
        tok = hop(tok, names[-1], f"agent-{i:02d}")
        names.append(f"agent-{i:02d}")
    case(
        f"{MAX_HOPS}_hops_allowed",
        f"{MAX_HOPS} genuine hops: the most a token may carry.",
        tok,
        names[-1],
        [],
        chain=names,
    )
    seventeen = appended(tok, signed_hop(tok, names[-1], f"agent-{MAX_HOPS + 1:02d}"))
    case(
        f"{MAX_HOPS + 1}_hops_too_large",
        f"{MAX_HOPS + 1} genuine hops: over the hop limit, rejected before any hop signature.",
        seventeen,
        f"agent-{MAX_HOPS + 1:02d}",
        [Code.TOO_LARGE],
    )

    # depth
    d1 = root("depth1", scope(max_depth=1))
    d1_one = hop(d1, "orchestrator", "researcher")
    case(
        "depth_at_cap",
        "max_depth 1 and one hop.",
        d1_one,
        "researcher",
        [],
        chain=["orchestrator", "researcher"],
    )
    case(
        "depth_exceeded_root_cap",
        "max_depth 1 and two genuinely signed hops.",
        appended(d1_one, signed_hop(d1_one, "researcher", "writer")),
        "writer",
        [Code.DEPTH_EXCEEDED],
    )
    d0 = root("depth0", scope(max_depth=0))
    case(
        "depth_exceeded_zero",
        "max_depth 0 and one genuinely signed hop.",
        appended(d0, signed_hop(d0, "orchestrator", "researcher")),
        "researcher",
        [Code.DEPTH_EXCEEDED],
    )
    capped = hop(r, "orchestrator", "researcher", Scope(max_depth=0))
    case(
        "depth_cap_set_by_hop",
        "The hop to the researcher says max_depth 0; the researcher delegates anyway.",
        appended(capped, signed_hop(capped, "researcher", "writer")),
        "writer",
        [Code.DEPTH_EXCEEDED],
    )
    raised = appended(d1_one, MaxDepth(5).encode())
    raised = appended(raised, signed_hop(raised, "researcher", "writer"))
    raised = appended(raised, signed_hop(raised, "writer", "summariser"))
    case(
        "later_max_depth_cannot_raise",
        "Under the root's max_depth 1 the researcher appends max_depth 5 and delegates twice.",
        raised,
        "summariser",
        [Code.DEPTH_EXCEEDED],
    )

    # delegatees
    only_researcher = root("delegatees-researcher", scope(delegatees=["researcher"]))
    case(
        "delegatee_not_allowed",
        "Delegatees ['researcher']; a genuine hop to the writer.",
        appended(only_researcher, signed_hop(only_researcher, "orchestrator", "writer")),
        "writer",
        [Code.DELEGATEE_NOT_ALLOWED],
    )
    alice = root("delegatees-alice", scope(delegatees=["alice"]))
    case(
        "delegatee_exact",
        "Delegatees ['alice']; a hop to 'alice'.",
        hop(alice, "orchestrator", "alice"),
        "alice",
        [],
        chain=["orchestrator", "alice"],
    )
    case(
        "delegatee_prefix_confusion",
        "Delegatees ['alice']; a genuine hop to 'alice2' is not 'alice'.",
        appended(alice, signed_hop(alice, "orchestrator", "alice2")),
        "alice2",
        [Code.DELEGATEE_NOT_ALLOWED],
    )
    alice_star = root("delegatees-alice-star", scope(delegatees=["alice*"]))
    case(
        "delegatee_prefix_pattern",
        "Delegatees ['alice*'] explicitly allows 'alice2'.",
        hop(alice_star, "orchestrator", "alice2"),
        "alice2",
        [],
        chain=["orchestrator", "alice2"],
    )
    pair = root("delegatees-pair", scope(delegatees=["researcher", "writer"]))
    pair2 = hop(hop(pair, "orchestrator", "researcher"), "researcher", "writer")
    case(
        "delegatees_bind_every_later_hop",
        "Delegatees ['researcher', 'writer'] also bind the writer's own hop to Mallory.",
        appended(pair2, signed_hop(pair2, "writer", "mallory")),
        "mallory",
        [Code.DELEGATEE_NOT_ALLOWED],
    )
    case(
        "delegatees_pair_valid",
        "Both hops are to allowed delegatees.",
        pair2,
        "writer",
        [],
        chain=["orchestrator", "researcher", "writer"],
    )
    r1 = hop(only_researcher, "orchestrator", "researcher")
    widened = appended(r1, Delegatees(("*",)).encode())
    case(
        "later_delegatees_cannot_widen",
        "Under delegatees ['researcher'] the researcher appends ['*'] and delegates to Mallory.",
        appended(widened, signed_hop(widened, "researcher", "mallory")),
        "mallory",
        [Code.DELEGATEE_NOT_ALLOWED],
    )
    by_hop = hop(r, "orchestrator", "researcher", Scope(delegatees=["writer"]))
    case(
        "delegatees_set_by_hop",
        "The hop to the researcher allows only the writer next; the researcher picks Mallory.",
        appended(by_hop, signed_hop(by_hop, "researcher", "mallory")),
        "mallory",
        [Code.DELEGATEE_NOT_ALLOWED],
    )
    both = root("depth0-delegatees", scope(max_depth=0, delegatees=["researcher"]))
    case(
        "depth_and_delegatee_both_reported",
        "max_depth 0 and delegatees ['researcher']; a genuine hop to the writer breaks both.",
        appended(both, signed_hop(both, "orchestrator", "writer")),
        "writer",
        [Code.DEPTH_EXCEEDED, Code.DELEGATEE_NOT_ALLOWED],
    )
    return f


# ---------------------------------------------------------------------------------------------
# proof.json


def proof() -> VectorFile:
    f = VectorFile(
        "proof.json",
        "Proof of possession: by the last holder, over this token and this request, fresh, once.",
    )
    r = root("root")
    one = hop(r, "orchestrator", "researcher")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        proof_text: str | None,
        codes: Sequence[Code],
        *,
        chain: Sequence[str] | None = None,
        request: Json = READ,
        now: int = NOW,
    ) -> None:
        f.add(name, description, tok, request, proof_text, codes=codes, chain=chain, now=now)

    case(
        "pop_required_root", "The root token presented with no proof.", r, None, [Code.POP_REQUIRED]
    )
    case(
        "pop_required_delegated",
        "A delegated token presented with no proof.",
        one,
        None,
        [Code.POP_REQUIRED],
    )
    case(
        "pop_invalid_stranger",
        "A thief with the token signs the proof with its own key.",
        r,
        pop(r, "mallory", READ, "stranger"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_sub_agent_presents_parent_token",
        "The researcher presents the orchestrator's broader root token.",
        r,
        pop(r, "researcher", READ, "sub-agent-parent"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_parent_presents_child_token",
        "The orchestrator presents the token it delegated to the researcher.",
        one,
        pop(one, "orchestrator", READ, "parent-child"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_stale",
        "Issued 61 s ago (POP_MAX_AGE_SECONDS = 60).",
        r,
        pop(r, "orchestrator", READ, "stale", at=NOW - 61),
        [Code.POP_INVALID],
    )
    case(
        "pop_valid_at_max_age",
        "Issued exactly 60 s ago.",
        r,
        pop(r, "orchestrator", READ, "max-age", at=NOW - 60),
        [],
        chain=["orchestrator"],
    )
    case(
        "pop_invalid_future",
        "Issued 31 s in the future (CLOCK_SKEW_SECONDS = 30).",
        r,
        pop(r, "orchestrator", READ, "future", at=NOW + 31),
        [Code.POP_INVALID],
    )
    case(
        "pop_valid_within_skew",
        "Issued 30 s in the future.",
        r,
        pop(r, "orchestrator", READ, "skew", at=NOW + 30),
        [],
        chain=["orchestrator"],
    )
    tasks = req(resource="crm://accounts/42/tasks")
    case(
        "pop_invalid_other_resource",
        "A proof for 'crm://accounts/42/notes' presented for '.../tasks'.",
        r,
        pop(r, "orchestrator", READ, "other-resource"),
        [Code.POP_INVALID],
        request=tasks,
    )
    update = req(tool="crm.update", action="write", intent="update-notes")
    case(
        "pop_invalid_other_tool",
        "A proof for a read presented for an update.",
        r,
        pop(r, "orchestrator", READ, "other-tool"),
        [Code.POP_INVALID],
        request=update,
    )
    with_args = req(args={"limit": 10})
    case(
        "pop_invalid_other_args",
        "A proof for limit 10 presented with limit 11.",
        r,
        pop(r, "orchestrator", with_args, "other-args"),
        [Code.POP_INVALID],
        request=req(args={"limit": 11}),
    )
    case(
        "pop_invalid_args_type",
        "A proof for limit 10 presented with limit 10.0: the digest binds argument types.",
        r,
        pop(r, "orchestrator", with_args, "args-type"),
        [Code.POP_INVALID],
        request=req(args={"limit": 10.0}),
    )
    att = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "pop_invalid_other_token_same_holder",
        "The holder's proof over its root token, presented with its attenuated token.",
        att,
        pop(r, "orchestrator", READ, "other-token"),
        [Code.POP_INVALID],
    )

    good = Proof.decode(pop(r, "orchestrator", READ, "malformed"))
    ts, nonce, sig = uint(good.issued_at), bstr(good.nonce), bstr(good.signature)
    text_good = proof_cbor([uint(1), ts, nonce, sig])
    for name, value, why in (
        ("proof_garbage", "not a proof!", "text that is not base64url"),
        ("proof_empty", "", "the empty string"),
        ("proof_trailing_equals", text_good + "=", "base64 with a trailing '='"),
        (
            "proof_standard_alphabet",
            text_good.replace("-", "+").replace("_", "/"),
            "standard-alphabet base64",
        ),
        ("proof_whitespace", text_good + " ", "a trailing space"),
        ("proof_too_long", "A" * (MAX_PROOF_CHARS + 1), f"{MAX_PROOF_CHARS + 1} characters"),
        ("proof_version_2", proof_cbor([uint(2), ts, nonce, sig]), "version 2"),
        # Fixed bug: delegation/proof.py Proof.decode checks `value[0] != PROOF_VERSION`, and
        # True == 1 in Python, so version `true` is accepted: a second spelling of a proof.
        (
            "proof_version_true",
            proof_cbor([b"\xf5", ts, nonce, sig]),
            "version true (type confusion)",
        ),
        ("proof_version_missing", proof_cbor([ts, nonce, sig]), "three items"),
        (
            "proof_nonce_15_bytes",
            proof_cbor([uint(1), ts, bstr(good.nonce[:15]), sig]),
            "a 15-byte nonce",
        ),
        (
            "proof_signature_63_bytes",
            proof_cbor([uint(1), ts, nonce, bstr(good.signature[:63])]),
            "a 63-byte signature",
        ),
        (
            "proof_issued_at_text",
            proof_cbor([uint(1), tstr(str(NOW)), nonce, sig]),
            "issued_at as text",
        ),
        (
            "proof_issued_at_float",
            proof_cbor([uint(1), f64(NOW), nonce, sig]),
            "issued_at as a float",
        ),
        ("proof_issued_at_negative", proof_cbor([uint(1), b"\x20", nonce, sig]), "issued_at -1"),
        (
            "proof_non_shortest_time",
            proof_cbor([uint(1), b"\x1b" + NOW.to_bytes(8, "big"), nonce, sig]),
            "issued_at in 8 bytes",
        ),
        (
            "proof_trailing_byte",
            _wire.b64encode(arr(uint(1), ts, nonce, sig) + b"\x00"),
            "a byte after the CBOR array",
        ),
        (
            "proof_indefinite_array",
            _wire.b64encode(b"\x9f" + uint(1) + ts + nonce + sig + b"\xff"),
            "an indefinite-length array",
        ),
    ):
        case(name, f"A proof that is {why}.", r, value, [Code.POP_INVALID])
    case(
        "proof_canonical_control",
        "The well-formed proof the malformed ones above are made from.",
        r,
        text_good,
        [],
        chain=["orchestrator"],
    )

    # replay
    once = pop(r, "orchestrator", READ, "replay")
    f.add(
        "replay_same_proof_twice",
        "The same proof presented twice: the second is a replay.",
        r,
        READ,
        once,
        chain=["orchestrator"],
        then=[Step(READ, once, codes=[Code.REPLAY])],
    )
    nonce_n = _h("proof nonce shared")[:16]
    f.add(
        "replay_same_nonce_other_request",
        "Two valid proofs with one nonce for two different requests: the nonce works once.",
        r,
        READ,
        pop(r, "orchestrator", READ, "x", nonce=nonce_n),
        chain=["orchestrator"],
        then=[Step(tasks, pop(r, "orchestrator", tasks, "x", nonce=nonce_n), codes=[Code.REPLAY])],
    )
    f.add(
        "replay_same_nonce_other_token_same_holder",
        "One nonce used by the same holder with two of its tokens: nonces are per holder key.",
        r,
        READ,
        pop(r, "orchestrator", READ, "x", nonce=nonce_n),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(att, "orchestrator", READ, "x", nonce=nonce_n),
                codes=[Code.REPLAY],
                token=att,
            )
        ],
    )
    f.add(
        "replay_distinct_nonces",
        "Two proofs with different nonces for the same request are both accepted.",
        r,
        READ,
        pop(r, "orchestrator", READ, "distinct-1"),
        chain=["orchestrator"],
        then=[Step(READ, pop(r, "orchestrator", READ, "distinct-2"), chain=["orchestrator"])],
    )
    burn = _h("proof nonce burn")[:16]
    f.add(
        "invalid_proof_does_not_burn_nonce",
        "A proof that fails its signature check does not use up its nonce: the genuine proof"
        " with the same nonce then works.",
        r,
        READ,
        pop(r, "orchestrator", tasks, "burn", nonce=burn),
        codes=[Code.POP_INVALID],
        then=[Step(READ, pop(r, "orchestrator", READ, "burn", nonce=burn), chain=["orchestrator"])],
    )
    f.add(
        "replay_by_stranger_does_not_burn_nonce",
        "A thief uses the nonce first, with its own signature; the holder's proof with that"
        " nonce still works.",
        r,
        READ,
        pop(r, "mallory", READ, "burn2", nonce=burn),
        codes=[Code.POP_INVALID],
        then=[
            Step(READ, pop(r, "orchestrator", READ, "burn2", nonce=burn), chain=["orchestrator"])
        ],
    )
    return f


# ---------------------------------------------------------------------------------------------
# thirdparty.json

UPDATE: Json = req(
    tool="crm.update",
    action="write",
    intent="update-notes",
    args={"text": "Renewal call booked"},
)
"""A call the issuer's rule ``crm.update:write`` says needs a human's approval."""


def call_digest(request: Json) -> bytes:
    return Request.from_json(request).digest()


def thirdparty() -> VectorFile:
    f = VectorFile(
        "thirdparty.json",
        "Third-party caveats and their discharges: human approval of one exact call, generic"
        " third parties, binding to one token, nesting, and the discharges a verifier refuses.",
        third_parties=True,
    )
    r = root("thirdparty")
    # The issuer marks crm.update with write as needing a human, at mint time (before any hop).
    ra = needs(r, "approval-service", "issuer approval", rules=["crm.update:write"])
    issuer_cid, issuer_key = tp_cids(ra)[0], caveat_key("issuer approval")
    w = hop(ra, "orchestrator", "writer")
    sibling = hop(ra, "orchestrator", "summariser")
    writer = ["orchestrator", "writer"]
    other_call = req(**{**UPDATE, "args": {"text": "Account closed"}})
    approval = discharged("approval-service", issuer_cid, UPDATE)
    approved = bound(w, approval)

    def case(
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
        f.add(
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

    # approval: when it is needed, and the exact call
    case(
        "approval_required_for_matching_call",
        "The issuer's rule crm.update:write matches the call and no approval comes with it.",
        w,
        UPDATE,
        [],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_not_required_other_tool",
        "A read does not match the rule crm.update:write: no approval is needed.",
        w,
        READ,
        [],
        [],
        chain=writer,
    )
    read_update = req(tool="crm.update", action="read")
    case(
        "approval_not_required_other_action",
        "crm.update with the action read does not match the rule crm.update:write.",
        w,
        read_update,
        [],
        [],
        chain=writer,
    )
    case(
        "approval_exact_call_allowed",
        "The approval service's discharge for this exact call, bound to the writer's token.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
    )
    case(
        "approval_for_other_call",
        "The same approval presented for a call with other arguments: its call caveat fails.",
        w,
        other_call,
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_for_other_resource",
        "The same approval presented for the same update of another note.",
        w,
        req(**{**UPDATE, "resource": "crm://accounts/42/tasks"}),
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "approval_root_holder",
        "The root holder's own update, approved and bound to the root token.",
        ra,
        UPDATE,
        [bound(ra, approval)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "approval_valid_until_its_expiry",
        "An approval minted at NOW lives 300 seconds: presented at NOW + 299 it still holds.",
        w,
        UPDATE,
        [approved],
        [],
        now=NOW + 299,
        chain=writer,
    )
    case(
        "approval_expired_at_expiry",
        "The same approval presented at NOW + 300, its (exclusive) expiry.",
        w,
        UPDATE,
        [approved],
        [Code.EXPIRED],
        now=NOW + 300,
    )
    old = bound(w, discharged("approval-service", issuer_cid, UPDATE, at=NOW - 400))
    case(
        "approval_expired",
        "An approval minted 400 seconds ago for five minutes.",
        w,
        UPDATE,
        [old],
        [Code.EXPIRED],
    )

    # an approval is for one call
    case(
        "approval_used_twice",
        "An approval allows its call once; the same call again (fresh proof) is a replay.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/2"),
                codes=[Code.REPLAY],
                discharges=[approved],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_used_twice/3"),
                chain=writer,
                discharges=[bound(w, discharged("approval-service", issuer_cid, UPDATE, ttl=600))],
            ),
        ],
    )
    case(
        "approval_not_spent_by_denied_call",
        "A call denied for its proof or for being another call does not spend the approval.",
        w,
        UPDATE,
        [approved],
        [Code.POP_INVALID],
        signer="mallory",
        then=[
            Step(
                other_call,
                pop(w, "writer", other_call, "approval_not_spent_by_denied_call/2"),
                codes=[Code.APPROVAL_REQUIRED],
                discharges=[approved],
            ),
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_not_spent_by_denied_call/3"),
                chain=writer,
                discharges=[approved],
            ),
        ],
    )

    # Fixed bug: delegation/verifier.py _check_discharge notes the spend key
    # b"approval\0" + discharge.signature, the *bound* signature. A holder can bind the same
    # unbound approval to an attenuated copy of its token (or append a caveat to the discharge,
    # which changes even the unbound signature, and bind that): each is a new spend key, so one
    # approval allows its call again and again until it expires. Expected (an approval is for
    # one call, third-party.md "Approvals", known issue 1): replay.
    rebound_to = attenuate(w, [Validity(None, NOW + 1800)], now=NOW)
    case(
        "approval_reused_via_attenuated_token",
        "After its call, the writer attenuates its token and binds the same approval to the"
        " copy: still the one approval, already spent.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(rebound_to, "writer", UPDATE, "approval_reused_via_attenuated_token/2"),
                codes=[Code.REPLAY],
                token=rebound_to,
                discharges=[bound(rebound_to, approval)],
            )
        ],
    )
    # Fixed bug: as above, with the discharge attenuated instead of the token.
    reworded = appended(discharge_raw(approval), Validity(None, NOW + 200).encode())
    case(
        "approval_reused_via_attenuated_discharge",
        "After its call, the writer appends a caveat to the approval and binds it again: still"
        " the one approval, already spent.",
        w,
        UPDATE,
        [approved],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "approval_reused_via_attenuated_discharge/2"),
                codes=[Code.REPLAY],
                discharges=[bound(w, reworded)],
            )
        ],
    )
    limited = attenuate(ra, [MaxUses(1)], now=NOW)
    case(
        "approval_not_spent_when_uses_exhausted",
        "A single-use copy of the root token is spent by a read; the approved update with it"
        " is refused for its uses, so the approval stays unspent and works with the root token.",
        limited,
        READ,
        [],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                UPDATE,
                pop(limited, "orchestrator", UPDATE, "approval_not_spent_when_uses_exhausted/2"),
                codes=[Code.USES_EXHAUSTED],
                discharges=[bound(limited, approval)],
            ),
            Step(
                UPDATE,
                pop(ra, "orchestrator", UPDATE, "approval_not_spent_when_uses_exhausted/3"),
                chain=["orchestrator"],
                token=ra,
                discharges=[bound(ra, approval)],
            ),
        ],
    )
    case(
        "approval_two_for_one_caveat",
        "Two approvals for the same caveat (for two calls) sent together.",
        w,
        UPDATE,
        [approved, bound(w, discharged("approval-service", issuer_cid, other_call))],
        [Code.BAD_DISCHARGE],
    )

    # binding: a discharge works with the token it is bound to and no other
    case(
        "discharge_unbound",
        "The approval as the approval service returned it, not bound to any token.",
        w,
        UPDATE,
        [approval],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_parent",
        "The approval bound to the writer's parent (the root token), presented with the"
        " writer's token.",
        w,
        UPDATE,
        [bound(ra, approval)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_child_used_with_parent",
        "The approval bound to the writer's token, presented by the orchestrator with the"
        " root token it was derived from.",
        ra,
        UPDATE,
        [approved],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "discharge_bound_to_sibling",
        "The approval bound to the summariser's token (a sibling with the same caveat),"
        " presented with the writer's token.",
        w,
        UPDATE,
        [bound(sibling, approval)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_bound_to_writer_used_by_sibling",
        "The writer's bound approval presented by the summariser with its own token.",
        sibling,
        UPDATE,
        [approved],
        [Code.BAD_DISCHARGE],
        signer="summariser",
    )
    case(
        "discharge_bound_twice",
        "The writer's bound approval bound once more to the writer's token.",
        w,
        UPDATE,
        [bound(w, approved)],
        [Code.BAD_DISCHARGE],
    )

    # the set of discharges
    case(
        "discharge_duplicate",
        "The right approval sent twice.",
        w,
        UPDATE,
        [approved, approved],
        [Code.BAD_DISCHARGE],
    )
    stranger = needs(root("thirdparty stranger"), "approval-service", "stranger approval")
    extra = bound(w, discharged("approval-service", tp_cids(stranger)[0], UPDATE))
    case(
        "discharge_extra",
        "The right approval plus a genuine one for another token's caveat, bound to this one.",
        w,
        UPDATE,
        [approved, extra],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_extra_no_caveats",
        "A genuine discharge for another token's caveat with a call that needs no discharge.",
        w,
        READ,
        [extra],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_text",
        "A discharge that is not base64url.",
        w,
        READ,
        ["not a discharge!"],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_bytes",
        "A discharge that is base64url of 32 bytes that are no macaroon.",
        w,
        READ,
        [_wire.b64encode(_h("garbage discharge"))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_empty_string",
        "An empty discharge.",
        w,
        READ,
        [""],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_is_the_token",
        "The token itself sent as a discharge: it decodes, but discharges no caveat.",
        w,
        READ,
        [text(w)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_garbage_beside_good_one",
        "The right approval and a discharge that does not decode.",
        w,
        UPDATE,
        [approved, "AAAA"],
        [Code.BAD_DISCHARGE],
    )
    eight = r
    for i in range(MAX_DISCHARGES):
        eight = needs(eight, "notary", f"many {i}", purpose=PURPOSE_THIRD_PARTY, location=None)
    many = needs(eight, "notary", "many last", purpose=PURPOSE_THIRD_PARTY, location=None)
    many_discharges = [bound(many, discharged("notary", cid, None)) for cid in tp_cids(many)]
    eight_discharges = [bound(eight, discharged("notary", cid, None)) for cid in tp_cids(eight)]
    # An oversize discharge does not decode: bad_discharge, like any other that does not.
    case(
        "discharge_too_long",
        f"A discharge text of {MAX_TOKEN_CHARS + 1} characters: it does not decode.",
        w,
        READ,
        ["A" * (MAX_TOKEN_CHARS + 1)],
        [Code.BAD_DISCHARGE],
    )
    long_discharge = by_hand(
        issuer_cid, issuer_key, [Validity(None, NOW + 300 - i) for i in range(MAX_CAVEATS + 1)]
    )
    case(
        "discharge_too_many_caveats",
        f"A discharge with {MAX_CAVEATS + 1} caveats: it does not decode.",
        w,
        UPDATE,
        [bound(w, long_discharge)],
        [Code.BAD_DISCHARGE],
    )
    case(
        "approval_sent_with_call_that_needs_none",
        "The approval of the update sent along with a read, which needs none: a discharge sent"
        " is checked all the same, and its call caveat names another call.",
        w,
        READ,
        [approved],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "discharges_at_limit",
        f"{MAX_DISCHARGES} third-party caveats, each with its discharge: the most allowed.",
        eight,
        READ,
        eight_discharges,
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "discharges_too_many",
        f"{MAX_DISCHARGES + 1} third-party caveats, each with its genuine discharge: more"
        f" than {MAX_DISCHARGES} discharges is refused before any is checked.",
        many,
        READ,
        many_discharges,
        [Code.TOO_LARGE],
        signer="orchestrator",
    )

    # hand-built approval discharges (with the caveat root key sealed in the issuer's caveat)
    expiry = Validity(None, NOW + 300)
    exact = Call(call_digest(UPDATE))
    case(
        "approval_discharge_built_by_hand",
        "A discharge MACed here with the caveat root key: an expiry and the call. Allowed,"
        " which shows the hand-built discharges below fail only for what they change.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact]))],
        [],
        chain=writer,
    )
    case(
        "discharge_without_expiry",
        "An approval discharge with the call but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_with_not_before_only",
        "An approval discharge with a not-before time but no expiry.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [Validity(NOW - 10, None), exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "approval_discharge_without_call",
        "An approval discharge with an expiry but no call caveat: it would approve any call.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [expiry]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_not_yet_valid",
        "An approval discharge valid from ten minutes from now.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, issuer_key, [Validity(NOW + 600, NOW + 900), exact]))],
        [Code.NOT_YET_VALID],
    )
    for name, forbidden in (
        ("discharge_carries_max_uses", MaxUses(1)),
        ("discharge_carries_max_depth", MaxDepth(0)),
        ("discharge_carries_delegatees", Delegatees(("writer",))),
    ):
        case(
            name,
            f"An approval discharge that carries a {forbidden.name} caveat, which a discharge"
            " may not.",
            w,
            UPDATE,
            [bound(w, by_hand(issuer_cid, issuer_key, [expiry, exact, forbidden]))],
            [Code.BAD_DISCHARGE],
        )
    case(
        "discharge_carries_hop",
        "An approval discharge that carries a hop caveat, which a discharge may not.",
        w,
        UPDATE,
        [
            bound(
                w,
                by_hand(
                    issuer_cid,
                    issuer_key,
                    [expiry, exact, _wire.RawCaveat(signed_hop(w, "writer", "alice"))],
                ),
            )
        ],
        [Code.BAD_DISCHARGE],
    )
    case(
        "discharge_carries_unknown_caveat",
        "An approval discharge with a caveat type the verifier does not know.",
        w,
        UPDATE,
        [
            bound(
                w,
                by_hand(
                    issuer_cid, issuer_key, [expiry, exact, _wire.RawCaveat(cav(1024, tstr("x")))]
                ),
            )
        ],
        [Code.UNKNOWN_CAVEAT],
    )
    case(
        "discharge_caveat_dropped",
        "The approval with its call caveat removed and its signature kept.",
        w,
        UPDATE,
        [bound(w, replaced(discharge_raw(approval), caveats=discharge_raw(approval).caveats[:1]))],
        [Code.BAD_DISCHARGE],
    )
    narrowed = appended(discharge_raw(approval), Validity(None, NOW + 60).encode())
    case(
        "discharge_attenuated_by_holder",
        "The holder appends a shorter expiry to the approval before binding it, as any"
        " macaroon holder can.",
        w,
        UPDATE,
        [bound(w, narrowed)],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(w, "writer", UPDATE, "discharge_attenuated_by_holder/2", at=NOW + 60),
                now=NOW + 60,
                codes=[Code.EXPIRED],
                discharges=[bound(w, narrowed)],
            )
        ],
    )

    # a sub-agent cannot approve itself
    selfish = needs(
        w,
        "mallory-approver",
        "self approval",
        rules=["crm.update:write"],
        location="https://writer.example/approve",
    )
    own = bound(selfish, discharged("mallory-approver", tp_cids(selfish)[1], UPDATE))
    case(
        "self_approval_does_not_satisfy_issuer",
        "The writer adds an approval caveat for a service it runs and approves its own call:"
        " the issuer's approval caveat is still undischarged.",
        selfish,
        UPDATE,
        [own],
        [Code.APPROVAL_REQUIRED],
    )
    case(
        "self_added_approval_with_issuer_approval",
        "The writer's own approval caveat and the issuer's, each discharged by its service.",
        selfish,
        UPDATE,
        [bound(selfish, approval), own],
        [],
        chain=writer,
    )
    # Fixed bug: delegation/verifier.py _claim_approvals claims
    # approvals one by one; when a later one is a replay, the earlier fresh ones stay spent by
    # a call that is denied (verification.md step 9 now says so). Expected here: a denied call
    # spends nothing, all or none, like use counts.
    fresh_issuer = bound(selfish, discharged("approval-service", issuer_cid, UPDATE, ttl=600))
    fresh_own = bound(selfish, discharged("mallory-approver", tp_cids(selfish)[1], UPDATE, ttl=600))
    case(
        "approval_not_spent_when_other_approval_replayed",
        "Two approval caveats, both approved and used. Then a fresh issuer approval with the"
        " spent own approval: replay, and the fresh one is not spent by that denied call, so"
        " it works with a fresh own approval.",
        selfish,
        UPDATE,
        [bound(selfish, approval), own],
        [],
        chain=writer,
        then=[
            Step(
                UPDATE,
                pop(selfish, "writer", UPDATE, "approval_not_spent_when_other_approval_replayed/2"),
                codes=[Code.REPLAY],
                discharges=[fresh_issuer, own],
            ),
            Step(
                UPDATE,
                pop(selfish, "writer", UPDATE, "approval_not_spent_when_other_approval_replayed/3"),
                chain=writer,
                discharges=[fresh_issuer, fresh_own],
            ),
        ],
    )
    copy_key = _h("the writer's key for a copied caveat id")
    copied = appended(
        w, _wire.RawCaveat(issuer_cid, seal_vid(w.raw.signature, copy_key, bytes(12)))
    )
    case(
        "self_approval_copied_issuer_caveat_id",
        "The writer appends a caveat with the issuer's caveat id but a key of its own, and"
        " discharges it: one discharge per caveat id, so it is checked against the issuer's"
        " caveat (and fails) and the copy has none.",
        copied,
        UPDATE,
        [bound(copied, by_hand(issuer_cid, copy_key, [expiry, exact]))],
        [Code.BAD_DISCHARGE, Code.APPROVAL_REQUIRED],
    )
    case(
        "self_approval_forged_for_issuer_caveat",
        "The writer MACs a discharge for the issuer's caveat with a key of its own choosing.",
        w,
        UPDATE,
        [bound(w, by_hand(issuer_cid, _h("a key the writer made up"), [expiry, exact]))],
        [Code.BAD_DISCHARGE],
    )
    case(
        "self_approval_with_own_caveat_key",
        "The writer MACs a discharge for the issuer's caveat with the caveat root key of the"
        " approval caveat it added itself.",
        selfish,
        UPDATE,
        [bound(selfish, by_hand(issuer_cid, caveat_key("self approval"), [expiry, exact])), own],
        [Code.BAD_DISCHARGE],
    )

    # generic third parties (purpose 0)
    generic = needs(
        r, "notary", "generic", purpose=PURPOSE_THIRD_PARTY, location="https://notary.example"
    )
    generic_cid = tp_cids(generic)[0]
    notarised = bound(generic, discharged("notary", generic_cid, None))
    case(
        "generic_discharge_required",
        "A third-party caveat of purpose 0 without rules applies to every call; none is sent.",
        generic,
        READ,
        [],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    case(
        "generic_discharge_allowed",
        "The notary's discharge, bound to the token; it is not spent by a call, only by time.",
        generic,
        READ,
        [notarised],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(generic, "orchestrator", READ, "generic_discharge_allowed/2"),
                chain=["orchestrator"],
                discharges=[notarised],
            )
        ],
    )
    case(
        "generic_discharge_caveat_fails",
        "The notary's discharge restricts the tool to crm.update; the call is a read.",
        generic,
        READ,
        [
            bound(
                generic,
                by_hand(
                    generic_cid,
                    caveat_key("generic"),
                    [expiry, Tool(("crm.update",))],
                ),
            )
        ],
        [Code.TOOL_NOT_ALLOWED],
        signer="orchestrator",
    )
    both = needs(ra, "notary", "generic after approval", purpose=PURPOSE_THIRD_PARTY, location=None)
    case(
        "approval_and_generic_both_missing",
        "Two third-party caveats, neither discharged: one reason each, in token order.",
        both,
        UPDATE,
        [],
        [Code.APPROVAL_REQUIRED, Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )

    # nesting: a discharge may need discharges, MAX_DISCHARGE_DEPTH levels deep at most
    nest = needs(
        r, "notary", "nest", purpose=PURPOSE_THIRD_PARTY, location="https://notary.example"
    )
    deep_enough = nested(nest, "nest", MAX_DISCHARGE_DEPTH)
    case(
        "nested_discharges_at_limit",
        f"The notary's discharge needs another, which needs another: {MAX_DISCHARGE_DEPTH}"
        " levels of nesting, the most allowed.",
        nest,
        READ,
        [bound(nest, d) for d in deep_enough],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharges_any_order",
        "The same discharges sent innermost first.",
        nest,
        READ,
        [bound(nest, d) for d in reversed(deep_enough)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharges_too_deep",
        f"{MAX_DISCHARGE_DEPTH + 1} levels of nested discharges.",
        nest,
        READ,
        [bound(nest, d) for d in nested(nest, "nest", MAX_DISCHARGE_DEPTH + 1)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "nested_discharge_missing",
        "The notary's discharge needs another discharge, which is not sent.",
        nest,
        READ,
        [bound(nest, deep_enough[0])],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    outer, inner = nested(nest, "nest", 1)
    case(
        "nested_discharges_one_level",
        "The notary's discharge needs one more discharge; both are sent, bound.",
        nest,
        READ,
        [bound(nest, outer), bound(nest, inner)],
        [],
        signer="orchestrator",
        chain=["orchestrator"],
    )
    case(
        "nested_discharge_unbound",
        "The inner discharge is sent without binding it to the token.",
        nest,
        READ,
        [bound(nest, outer), dtext(inner)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "nested_discharge_bound_to_outer",
        "The inner discharge is bound to the outer discharge instead of the token.",
        nest,
        READ,
        [bound(nest, outer), bound(outer, inner)],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )

    generic_key = caveat_key("generic")
    needs_itself = by_hand(
        generic_cid,
        generic_key,
        [
            expiry,
            _wire.RawCaveat(
                generic_cid,
                seal_vid(
                    _crypto.chain_signature(
                        generic_key, generic_cid, [_wire.RawCaveat(expiry.encode())]
                    ),
                    generic_key,
                    bytes(12),
                ),
            ),
        ],
    )
    case(
        "discharge_needs_itself",
        "The notary's discharge carries a third-party caveat with its own caveat id: a cycle,"
        " whose second use counts as missing.",
        generic,
        READ,
        [bound(generic, needs_itself)],
        [Code.DISCHARGE_REQUIRED],
        signer="orchestrator",
    )
    bad_inner = tp_caveat(_h("not the discharge's chain state"), "notary", "bad inner", "x")
    case(
        "nested_vid_does_not_open",
        "The notary's discharge carries a third-party caveat whose VID does not open under the"
        " discharge's chain state.",
        nest,
        READ,
        [bound(nest, by_hand(tp_cids(nest)[0], caveat_key("nest"), [expiry, bad_inner]))],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )

    # the verification id (step 5: the token is assembled wrongly)
    def with_caveat(section: _wire.RawCaveat) -> _wire.RawMacaroon:
        return appended(r, section)

    wrong_state = tp_caveat(_h("not the chain state"), "approval-service", "bad vid", "x")
    case(
        "vid_does_not_open",
        "A third-party caveat whose VID was sealed under something other than the chain state"
        " before it.",
        with_caveat(wrong_state),
        READ,
        [],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    case(
        "vid_wrong_length",
        "A third-party caveat whose VID is ten bytes.",
        with_caveat(_wire.RawCaveat(wrong_state.cid, bytes(10))),
        READ,
        [],
        [Code.BAD_DISCHARGE],
        signer="orchestrator",
    )
    good = tp_caveat(r.raw.signature, "notary", "bad purpose", token_id(r))
    bad_purpose = canonical({**cbor2.loads(good.cid), 2: 2})
    case(
        "third_party_caveat_unknown_purpose",
        "A third-party caveat of purpose 2, which does not exist (its VID opens).",
        with_caveat(_wire.RawCaveat(bad_purpose, good.vid)),
        READ,
        [],
        [Code.MALFORMED],
        signer="orchestrator",
    )
    return f


# ---------------------------------------------------------------------------------------------
# state.json


def state() -> VectorFile:
    f = VectorFile(
        "state.json",
        "Verifier state: revocations present before the calls, stores that cannot answer, and"
        " use limits counted over several calls.",
        third_parties=True,
    )
    r = root("state")
    res = hop(r, "orchestrator", "researcher", Scope(tools=["crm.read"]))
    summ = hop(r, "orchestrator", "summariser")
    grand = hop(res, "researcher", "writer")
    res_hop_id = expected_chain(res, ["orchestrator", "researcher"])[1]["hop_id"]
    att = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    att_child = hop(att, "orchestrator", "researcher")
    orch = ["orchestrator"]

    def case(
        name: str,
        description: str,
        tok: UnverifiedToken,
        signer: str,
        codes: Sequence[Code],
        *,
        request: Json = READ,
        chain: Sequence[str] | None = None,
        revoked: Sequence[tuple[RevocationKind, str]] = (),
        store_failure: str | None = None,
        then: Sequence[Step] = (),
        proof_signer: str | None = None,
        with_proof: bool = True,
        discharges: Sequence[str] = (),
        stateless: bool = False,
    ) -> None:
        proof = pop(tok, proof_signer or signer, request, name) if with_proof else None
        f.add(
            name,
            description,
            tok,
            request,
            proof,
            codes=codes,
            chain=chain,
            revoked=revoked,
            store_failure=store_failure,
            then=then,
            discharges=discharges,
            stateless=stateless,
        )

    def step(
        tok: UnverifiedToken,
        signer: str,
        label: str,
        codes: Sequence[Code] = (),
        chain: Sequence[str] | None = None,
        request: Json = READ,
        discharges: Sequence[str] = (),
    ) -> Step:
        return Step(
            request,
            pop(tok, signer, request, label),
            codes=codes,
            chain=chain,
            token=tok,
            discharges=discharges,
        )

    chain_ = RevocationKind.TOKEN
    # revocation: by token (a chain prefix: token id, chain id, hop id), task, agent key, key id
    case(
        "revoked_token_id",
        "The root token's id is revoked: every token derived from it is, the root too.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(chain_, token_id(r))],
        then=[step(r, "orchestrator", "revoked_token_id/2", [Code.REVOKED])],
    )
    case(
        "revoked_root_chain_id",
        "The root token's exact chain id is revoked: it and every token derived from it.",
        r,
        "orchestrator",
        [Code.REVOKED],
        revoked=[(chain_, chain_id(r))],
        then=[step(summ, "summariser", "revoked_root_chain_id/2", [Code.REVOKED])],
    )
    case(
        "revoked_attenuated_chain_id",
        "An attenuated token's chain id is revoked: it and its descendants die, the less"
        " attenuated root token lives on.",
        att,
        "orchestrator",
        [Code.REVOKED],
        revoked=[(chain_, chain_id(att))],
        then=[
            step(att_child, "researcher", "revoked_attenuated_chain_id/2", [Code.REVOKED]),
            step(r, "orchestrator", "revoked_attenuated_chain_id/3", chain=orch),
        ],
    )
    case(
        "revoked_hop_id",
        "The researcher's hop is revoked: its branch (researcher, writer below it) dies; the"
        " sibling summariser and the root live on.",
        res,
        "researcher",
        [Code.REVOKED],
        revoked=[(chain_, res_hop_id)],
        then=[
            step(grand, "writer", "revoked_hop_id/2", [Code.REVOKED]),
            step(summ, "summariser", "revoked_hop_id/3", chain=["orchestrator", "summariser"]),
            step(r, "orchestrator", "revoked_hop_id/4", chain=orch),
        ],
    )
    case(
        "revoked_task",
        "The whole task is revoked.",
        summ,
        "summariser",
        [Code.REVOKED],
        revoked=[(RevocationKind.TASK, TASK.task_id)],
        then=[step(r, "orchestrator", "revoked_task/2", [Code.REVOKED])],
    )
    case(
        "revoked_agent_key",
        "The researcher's key is revoked: every chain through it dies, others live on.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(RevocationKind.AGENT, agent_key("researcher"))],
        then=[
            step(res, "researcher", "revoked_agent_key/2", [Code.REVOKED]),
            step(summ, "summariser", "revoked_agent_key/3", chain=["orchestrator", "summariser"]),
            step(r, "orchestrator", "revoked_agent_key/4", chain=orch),
        ],
    )
    case(
        "revoked_root_holder_key",
        "The root holder's key is revoked: every token of its chains dies.",
        summ,
        "summariser",
        [Code.REVOKED],
        revoked=[(RevocationKind.AGENT, agent_key("orchestrator"))],
    )
    case(
        "revoked_root_key_id",
        "The root key id the token was minted under is revoked.",
        grand,
        "writer",
        [Code.REVOKED],
        revoked=[(RevocationKind.KEY, ROOT_KEY_ID)],
    )
    case(
        "revocations_of_others",
        "Revocations of another task, key id, agent and chain do not touch this token.",
        grand,
        "writer",
        [],
        chain=["orchestrator", "researcher", "writer"],
        revoked=[
            (RevocationKind.TASK, "task-43"),
            (RevocationKind.KEY, "vec-k2"),
            (RevocationKind.AGENT, agent_key("mallory")),
            (chain_, "00" * ID_BYTES),
            (chain_, chain_id(summ)),
        ],
    )
    case(
        "revoked_and_caveat_fails",
        "A revoked token used outside its scope: both reasons, revocation first.",
        r,
        "orchestrator",
        [Code.REVOKED, Code.TOOL_NOT_ALLOWED],
        request=req(tool="crm.delete"),
        revoked=[(RevocationKind.TASK, TASK.task_id)],
    )
    case(
        "revoked_without_proof",
        "A revoked token with no proof: both reasons, revocation first.",
        r,
        "orchestrator",
        [Code.REVOKED, Code.POP_REQUIRED],
        revoked=[(RevocationKind.TASK, TASK.task_id)],
        with_proof=False,
    )

    # stores that cannot answer: never an allow
    single = attenuate(r, [MaxUses(1)], now=NOW)
    case(
        "store_revocations_unavailable",
        "The revocation store cannot answer.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="revocations",
    )
    case(
        "store_revocations_unavailable_and_caveat_fails",
        "The revocation store cannot answer and the call is out of scope: both reasons.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE, Code.TOOL_NOT_ALLOWED],
        request=req(tool="crm.delete"),
        store_failure="revocations",
    )
    case(
        "store_nonces_unavailable",
        "The nonce store cannot record the proof's nonce.",
        r,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="nonces",
    )
    case(
        "store_nonces_unavailable_no_proof",
        "No proof, so there is no nonce to record: only pop_required.",
        r,
        "orchestrator",
        [Code.POP_REQUIRED],
        store_failure="nonces",
        with_proof=False,
    )
    case(
        "store_nonces_unavailable_bad_proof",
        "A proof that fails its signature check has no nonce to record: only pop_invalid.",
        r,
        "orchestrator",
        [Code.POP_INVALID],
        store_failure="nonces",
        proof_signer="mallory",
    )
    case(
        "store_uses_unavailable",
        "The use counter cannot answer for a single-use token.",
        single,
        "orchestrator",
        [Code.STORE_UNAVAILABLE],
        store_failure="uses",
    )
    case(
        "store_uses_unavailable_no_limit",
        "The use counter cannot answer, but the token has no max_uses caveat to count.",
        r,
        "orchestrator",
        [],
        chain=orch,
        store_failure="uses",
    )
    case(
        "store_uses_unavailable_denied_call",
        "A call already denied at step 7 never reaches the use counter.",
        single,
        "orchestrator",
        [Code.TOOL_NOT_ALLOWED],
        request=req(tool="crm.delete"),
        store_failure="uses",
    )

    # use limits over several calls
    one_sub = attenuate(res, [MaxUses(1)], now=NOW)
    researcher = ["orchestrator", "researcher"]
    case(
        "uses_one_several_calls",
        "A single-use delegated token: one call, then every further call is refused.",
        one_sub,
        "researcher",
        [],
        chain=researcher,
        then=[
            step(one_sub, "researcher", "uses_one_several_calls/2", [Code.USES_EXHAUSTED]),
            step(one_sub, "researcher", "uses_one_several_calls/3", [Code.USES_EXHAUSTED]),
        ],
    )
    two = attenuate(r, [MaxUses(2)], now=NOW)
    case(
        "uses_two_several_calls",
        "max_uses 2: two calls, then refused, and refused again.",
        two,
        "orchestrator",
        [],
        chain=orch,
        then=[
            step(two, "orchestrator", "uses_two_several_calls/2", chain=orch),
            step(two, "orchestrator", "uses_two_several_calls/3", [Code.USES_EXHAUSTED]),
            step(two, "orchestrator", "uses_two_several_calls/4", [Code.USES_EXHAUSTED]),
        ],
    )
    first_proof = pop(two, "orchestrator", READ, "uses_replay_not_counted")
    f.add(
        "uses_replay_not_counted",
        "max_uses 2: a replayed proof is refused and does not count a use.",
        two,
        READ,
        first_proof,
        chain=orch,
        then=[
            Step(READ, first_proof, codes=[Code.REPLAY]),
            step(two, "orchestrator", "uses_replay_not_counted/3", chain=orch),
            step(two, "orchestrator", "uses_replay_not_counted/4", [Code.USES_EXHAUSTED]),
        ],
    )
    inner = hop(two, "orchestrator", "researcher")
    inner_one = attenuate(inner, [MaxUses(1)], now=NOW)
    case(
        "uses_nested_limits",
        "A parent allows 2 uses, its child 1 more narrowly: a spent child counts nothing"
        " against the parent.",
        inner_one,
        "researcher",
        [],
        chain=researcher,
        then=[
            step(inner_one, "researcher", "uses_nested_limits/2", [Code.USES_EXHAUSTED]),
            step(two, "orchestrator", "uses_nested_limits/3", chain=orch),
            step(two, "orchestrator", "uses_nested_limits/4", [Code.USES_EXHAUSTED]),
        ],
    )
    ra = needs(r, "approval-service", "state approval", rules=["crm.update:write"])
    single_ra = attenuate(ra, [MaxUses(1)], now=NOW)
    approval = discharged("approval-service", tp_cids(ra)[0], UPDATE)
    case(
        "uses_not_spent_by_denied_call",
        "A single-use token: a call denied for want of an approval spends nothing; the next"
        " call is the one use.",
        single_ra,
        "orchestrator",
        [Code.APPROVAL_REQUIRED],
        request=UPDATE,
        then=[
            step(single_ra, "orchestrator", "uses_not_spent_by_denied_call/2", chain=orch),
            step(
                single_ra,
                "orchestrator",
                "uses_not_spent_by_denied_call/3",
                [Code.USES_EXHAUSTED],
            ),
        ],
    )
    case(
        "uses_spent_by_approved_call",
        "A single-use token: the approved update is its one use; a read after it is refused.",
        single_ra,
        "orchestrator",
        [],
        request=UPDATE,
        chain=orch,
        then=[
            step(
                single_ra,
                "orchestrator",
                "uses_spent_by_approved_call/2",
                [Code.USES_EXHAUSTED],
            ),
        ],
        discharges=[bound(single_ra, approval)],
    )

    # a verifier without state: nothing to revoke with, no replay memory, nothing it can count
    plain_proof = pop(r, "orchestrator", READ, "stateless_plain_token")
    f.add(
        "stateless_plain_token",
        "A verifier without state allows a token with nothing to count; it cannot remember"
        " proofs, so the same proof is allowed again.",
        r,
        READ,
        plain_proof,
        chain=orch,
        stateless=True,
        then=[Step(READ, plain_proof, chain=orch)],
    )
    case(
        "stateless_max_uses",
        "A verifier without state cannot count a single-use token's use: state_required.",
        single,
        "orchestrator",
        [Code.STATE_REQUIRED],
        stateless=True,
    )
    case(
        "stateless_max_uses_denied_call",
        "A call already denied at step 7 never gets to step 9: only its own reason.",
        single,
        "orchestrator",
        [Code.TOOL_NOT_ALLOWED],
        request=req(tool="crm.delete"),
        stateless=True,
    )
    case(
        "stateless_approval",
        "A verifier without state cannot spend an approval, good for one call: state_required.",
        ra,
        "orchestrator",
        [Code.STATE_REQUIRED],
        request=UPDATE,
        discharges=[bound(ra, approval)],
        stateless=True,
    )
    return f


# ---------------------------------------------------------------------------------------------

BUILDERS: tuple[Callable[[], VectorFile], ...] = (
    valid,
    integrity,
    encoding,
    caveats,
    chain,
    proof,
    thirdparty,
    state,
)


def render_all() -> dict[str, str]:
    """Every vector file's name and exact text."""
    out: dict[str, str] = {}
    names: set[str] = set()
    for build in BUILDERS:
        vf = build()
        for vector in vf.vectors:
            if vector["name"] in names:
                raise AssertionError(f"vector name {vector['name']} is used twice")
            names.add(vector["name"])
        out[vf.filename] = vf.render()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if any file differs instead of writing"
    )
    args = parser.parse_args(argv)
    files = render_all()
    stale = sorted(p.name for p in HERE.glob("*.json") if p.name not in files)
    if args.check:
        differ = [
            name
            for name, content in files.items()
            if not (HERE / name).exists() or (HERE / name).read_text(encoding="utf-8") != content
        ]
        for name in differ:
            print(f"{name}: differs from what generate.py writes; run it", file=sys.stderr)
        for name in stale:
            print(f"{name}: not written by generate.py; delete it", file=sys.stderr)
        return 1 if differ or stale else 0
    for name, content in files.items():
        (HERE / name).write_text(content, encoding="utf-8", newline="\n")
    for name in stale:
        print(f"warning: {name} is not written by generate.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
