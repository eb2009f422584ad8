"""Shared fixtures of the vector files: the fixed material, and the helpers that build honest
and hostile tokens, proofs and discharges from it.

ALL KEYS HERE ARE TEST-ONLY FIXTURES, taken from ``delegation.testing.fixtures``: public, never
to be used for anything real. Every nonce and every other fixed byte string is ``labelled``
from a label that says what it is for, so each run builds the same bytes.
"""

from __future__ import annotations

import dataclasses
import hmac
import struct
from collections.abc import Sequence
from typing import Any

import cbor2

from delegation import (
    Agent,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    _crypto,
    _wire,
    delegate,
    encode_public_key,
)
from delegation._proof import Proof, _prove
from delegation._thirdparty.approval import Approver, _require_approval
from delegation._thirdparty.caveat import (
    PURPOSE_APPROVAL,
    PURPOSE_THIRD_PARTY,
    ThirdPartyCaveat,
    TicketContents,
    seal_ticket,
    seal_vid,
)
from delegation._token import ID_BYTES, _mint
from delegation.caveats import ApprovedFor, Call, Hop, Validity
from delegation.caveats.registry import Caveat
from delegation.limits import MAX_HOPS, MAX_TOKEN_CHARS
from delegation.testing import fixtures as seeded
from delegation.testing.fixtures import labelled

NOW = seeded.NOW
"""The default verifier clock: 2027-01-15T08:00:00Z."""
EXPIRES = NOW + 3600

Json = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Fixed material (TEST ONLY)

ROOT_KEY_ID = "vec-k1"
ROOT_SECRET = seeded.root_secret(ROOT_KEY_ID)
KEYRING = seeded.keyring(seeded.root_key(ROOT_KEY_ID))
KEYRING_JSON: Json = {
    "current": ROOT_KEY_ID,
    "keys": [{"key_id": ROOT_KEY_ID, "secret_hex": ROOT_SECRET.hex()}],
}

AGENT_NAMES = (
    "orchestrator",
    "researcher",
    "writer",
    "summariser",
    "mallory",
    "alice",
    "alice2",
    *(f"agent-{i:02d}" for i in range(1, MAX_HOPS + 2)),
)
SEEDS = {name: seeded.agent_seed(name) for name in AGENT_NAMES}
K = {name: seeded.agent_key(name) for name in AGENT_NAMES}

THIRD_PARTY_NAMES = ("approval-service", "notary", "mallory-approver")
"""X25519 key pairs of third parties: the approval service, a generic third party (purpose
0), and an approval service a sub-agent runs for itself."""
TP_SEEDS = {name: seeded.approver_seed(name) for name in THIRD_PARTY_NAMES}
TP = {name: seeded.approver_key(name) for name in THIRD_PARTY_NAMES}
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


UPDATE: Json = req(
    tool="crm.update",
    action="write",
    intent="update-notes",
    args={"text": "Renewal call booked"},
)
"""A call the issuer's rule ``crm.update:write`` says needs a human's approval."""


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
    nonce = labelled(f"mint nonce {label}")[:16]
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
            (uint(3), bstr(labelled("identifier nonce")[:16]) if nonce is None else nonce),
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
    domain: bytes = _crypto.POP_DOMAIN,
) -> str:
    """A proof by ``signer`` over ``tok`` and ``request`` issued at ``at``, nonce from ``label``
    (under ``domain``: a call proof by default, an approval request with ``ASK_DOMAIN``)."""
    nonce = labelled(f"proof nonce {label}")[:16] if nonce is None else nonce
    request_obj = Request.from_json(request)
    if isinstance(tok, UnverifiedToken) and tok.holder.public_key == K[signer].public_key:
        return _prove(tok, K[signer], request_obj, now=at, nonce=nonce, domain=domain)
    data = token_bytes(tok)
    message = Proof(at, nonce, b"").message(data, request_obj, domain)
    return Proof(at, nonce, K[signer].sign(message)).encode()


def ask(tok: Tokenish, signer: str, request: Json, label: str, *, at: int = NOW) -> str:
    """An approval request: ``signer``'s proof over ``tok`` and ``request`` under the domain
    ``"delegation/v1/ask\\0"``, issued at ``at``, nonce from ``label``."""
    nonce = labelled(f"ask nonce {label}")[:16]
    return pop(tok, signer, request, label, at=at, nonce=nonce, domain=_crypto.ASK_DOMAIN)


def proof_cbor(items: Sequence[bytes]) -> str:
    return _wire.b64encode(arr(*items))


# Third parties: caveats, discharges and binding (every seed here is TEST ONLY)


def caveat_key(label: str) -> bytes:
    """The caveat root key of the third-party caveat ``label``."""
    return seeded.caveat_key(label)


def tp_seeds(label: str) -> tuple[bytes, bytes, bytes]:
    """(caveat root key, ephemeral X25519 seed, VID nonce) of the third-party caveat ``label``."""
    return (
        caveat_key(label),
        labelled(f"ticket ephemeral {label}"),
        labelled(f"vid nonce {label}")[:12],
    )


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
    """A generic third party's (purpose 0) unbound discharge for ``cid``, for the call
    ``request`` if given, as the reference approver mints it. Approvals are ``approved``."""
    call = None if request is None else Request.from_json(request)
    return Approver(TP[third_party]).discharge_ticket(cid, call, now=at, ttl=ttl)


def approval_id(label: str) -> bytes:
    """The 16-byte approval id the approver draws for the approval ``label`` (here: fixed)."""
    return labelled(f"approval id {label}")[:16]


def approved_for(tok: UnverifiedToken | _wire.RawMacaroon, holder: str, label: str) -> ApprovedFor:
    """The approved_for caveat an approver writes for ``holder`` asking with ``tok``: the
    holder's key, the token's caveat count and chain digest, and the approval id ``label``."""
    return ApprovedFor(
        K[holder].public_key, len(raw_of(tok).caveats), prefix_digest(tok), approval_id(label)
    )


def approval_discharge(
    tok: UnverifiedToken,
    holder: str,
    request: Json,
    cid: bytes,
    key: bytes,
    label: str,
    *,
    at: int = NOW,
    ttl: int = 300,
) -> _wire.RawMacaroon:
    """The unbound approval an approver mints at ``at`` when ``holder``, holding ``tok``, asks
    for the call ``request`` under the caveat ``cid`` (caveat root key ``key``): built here
    from its definition (validity, approved_for, call; MACed under ``key``; no location), not
    by the library's approver. Vectors that carry an ``approval_request`` check that the
    reference approver mints exactly this."""
    return by_hand(
        cid,
        key,
        [
            Validity(None, at + ttl),
            approved_for(tok, holder, label),
            Call(Request.from_json(request).digest()),
        ],
    )


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
            caveats.append(tp_caveat(state_before, "notary", inner_label, root_id(tok)))
        out.append(by_hand(cid, key, caveats))
        if level < levels:
            cid, key = caveats[-1].cid, caveat_key(inner_label)
    return out


def token_id(tok: UnverifiedToken | _wire.RawMacaroon) -> str:
    """The id of this exact token: the chain digest through its last caveat."""
    return prefix_digest(tok)[:ID_BYTES].hex()


def root_id(tok: UnverifiedToken | _wire.RawMacaroon) -> str:
    """The id of the root token and of every token derived from it: the identifier's digest."""
    return _crypto.digest_start(raw_of(tok).identifier)[:ID_BYTES].hex()


def agent_public_key(name: str) -> str:
    """The agent's public key as the vector files spell it (unpadded base64url)."""
    return encode_public_key(K[name].public_key)
