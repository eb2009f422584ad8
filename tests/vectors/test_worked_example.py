"""The worked example of ``specs/third-party.md`` is what the reference code computes.

Every value of the example is recomputed here from its seeds (the token of
``specs/token-format.md`` section 9, the approver, the approval request, the discharge and the
decisions after it). Each long hex string and each abbreviated one (``abcd1234...5678ef90``) in
the section must be part of a recomputed value; each value the section shows whole, each text
form and the approver's summary must appear in it; and its table of decisions must be what a
verifier decides, presentation by presentation. A hand edit, or a change in the library that
changes a value, fails here. Every key and seed is a TEST value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from delegation import (
    Agent,
    AgentKey,
    Approver,
    ApproverKey,
    BadDischarge,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _crypto,
    _wire,
    attenuate,
    bind_discharge,
    delegate,
)
from delegation._keys import RootKey
from delegation._proof import _prove
from delegation._thirdparty.approval import PendingApproval, _require_approval
from delegation._thirdparty.caveat import decode_discharge
from delegation._token import _mint
from delegation.stores import MemoryState

SPEC = Path(__file__).resolve().parents[2] / "specs" / "third-party.md"
NOW = 1_800_000_000
HEX = re.compile(r"(?<![0-9a-zA-Z_-])[0-9a-f]{16,}(?![0-9a-zA-Z_-])")
ABBREVIATED = re.compile(r"\b([0-9a-f]{6,8})\.\.\.([0-9a-f]{4,8})\b")
SEEDS = (b"\x07" * 32, b"\x08" * 32, b"\x09" * 12)
"""The caveat key, the ticket's ephemeral X25519 key and the VID nonce (TEST values)."""


def section() -> str:
    text = SPEC.read_text(encoding="utf-8")
    return text[text.index("## Worked example") :]


@dataclass(frozen=True)
class Example:
    keyring: Keyring
    orch: AgentKey
    token: UnverifiedToken
    gated: UnverifiedToken
    call: Request
    ask: str
    approver: Approver
    pending: PendingApproval
    discharge: str
    bound: str


@cache
def example() -> Example:
    keyring = Keyring([RootKey("k1", b"\x01" * 32)], "k1")
    orch = AgentKey.from_seed(b"\x01" * 32)
    task = TaskRecord(task_id="t1", approved_by="alice", approved_at=NOW - 60, statement="demo")
    scope = Scope(audiences=["crm"], expires=NOW + 3600)
    holder = Agent("orch", orch.public_key)
    token = _mint(keyring, task, holder, scope, location=None, now=NOW, nonce=bytes(16))
    approver_key = ApproverKey.from_seed(b"\x51" * 32)
    gated = _require_approval(
        token,
        approver_key.public_key,
        rules=["crm.update:write"],
        location="https://approve.example",
        seeds=SEEDS,
    )
    call = Request(audience="crm", tool="crm.update", action="write", args={"text": "hi"})
    nonce = b"\x0b" * 16
    ask = _prove(gated, orch, call, now=NOW, nonce=nonce, domain=_crypto.ASK_DOMAIN)
    approver = Approver(approver_key, location="https://approve.example")
    (pending,) = approver.pending(gated, call, ask, now=NOW)
    discharge = approver._approve(pending, NOW, 300, b"\x0a" * 16)
    bound = bind_discharge(gated, discharge)
    return Example(keyring, orch, token, gated, call, ask, approver, pending, discharge, bound)


@cache
def values() -> dict[str, bytes]:
    """Every byte value of the example, by the name the section gives it."""
    ex = example()
    approver_key = ApproverKey.from_seed(b"\x51" * 32)
    caveat = ex.gated.raw.caveats[2]
    assert caveat.vid is not None
    ticket = cbor2.loads(caveat.cid)[5]
    ephemeral = X25519PrivateKey.from_private_bytes(SEEDS[1])
    eph_pub = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(approver_key.public_key))
    info = b"delegation/v1/ticket\x00" + eph_pub + approver_key.public_key
    digests = _crypto.chain_digests(ex.gated.raw.identifier, ex.gated.raw.caveats)
    raw = decode_discharge(ex.discharge)
    states = _crypto.chain_signatures(SEEDS[0], raw.identifier, raw.caveats)
    zero = bytes(32)
    of_token = hmac.digest(zero, ex.gated.raw.signature, "sha256")
    of_discharge = hmac.digest(zero, states[-1], "sha256")
    request_cbor = ["crm", "crm.update", "write", None, None, {"text": "hi"}]
    return {
        "approver public key": approver_key.public_key,
        "eph_pub": eph_pub,
        "shared": shared,
        "ticket_key": HKDF(hashes.SHA256(), 32, None, info).derive(shared),
        "ticket ciphertext": ticket[32:-16],
        "ticket tag": ticket[-16:],
        "cid": caveat.cid,
        "vid": caveat.vid,
        "sig[2]": ex.token.raw.signature,
        "sig[3]": ex.gated.raw.signature,
        "D[0]": digests[0],
        "D[3]": digests[3],
        "token id text": ex.token.root_id.encode(),
        "request CBOR": cbor2.dumps(request_cbor, canonical=True),
        "request digest": ex.call.digest(),
        "SHA-256(token_bytes)": _crypto.token_digest(ex.gated.token_bytes),
        "approval request": _wire.b64decode(ex.ask, 256),
        "holder key": ex.orch.public_key,
        **{f"dcid[{i}]": c.cid for i, c in enumerate(raw.caveats, start=1)},
        "k": hmac.digest(b"macaroons-key-generator", SEEDS[0], "sha256"),
        **{f"dsig[{i}]": state for i, state in enumerate(states)},
        "HMAC(Z, sig[3])": of_token,
        "HMAC(Z, dsig[3])": of_discharge,
        "bound_sig": hmac.digest(zero, of_token + of_discharge, "sha256"),
        "spend_key": hashlib.sha256(b"delegation/v1/approval\x00" + states[3]).digest(),
    }


FULL = (
    "approver public key",
    "eph_pub",
    "shared",
    "ticket_key",
    "ticket tag",
    "sig[3]",
    "D[3]",
    "request digest",
    "SHA-256(token_bytes)",
    "k",
    "dsig[0]",
    "dsig[1]",
    "dsig[2]",
    "dsig[3]",
    "HMAC(Z, sig[3])",
    "HMAC(Z, dsig[3])",
    "bound_sig",
    "spend_key",
)
"""Values the section shows whole (it shows the others in parts or abbreviated)."""


def test_every_hex_value_in_the_worked_example_is_recomputed() -> None:
    known = [value.hex() for value in values().values()]
    text = section()
    for found in HEX.findall(text):
        assert any(found in value for value in known), f"{found} is not a computed value"
    for head, tail in ABBREVIATED.findall(text):
        assert any(head in v and tail in v[v.index(head) :] for v in known if head in v), (
            f"{head}...{tail} abbreviates no computed value"
        )


def test_every_computed_value_and_text_is_in_the_worked_example() -> None:
    ex, text = example(), section()
    for name in FULL:
        assert values()[name].hex() in text, f"{name} = {values()[name].hex()} is missing"
    flat = re.sub(r"\s", "", text)
    for name in ("ticket ciphertext", "vid"):
        assert values()[name].hex() in flat, f"{name} is missing"
    for form in (_wire.b64encode(ex.gated.token_bytes), ex.ask, ex.bound):
        assert form in flat, f"the text form {form[:20]}... is missing"
    assert ex.pending.summary() in text, "the approver's summary is not the reference's"


def _decisions() -> list[str]:
    """The example's presentations in the section's order, each as the section spells its
    decision: "allowed", or each reason as "`code`, hop h, caveat c"."""
    ex = example()
    clock = [NOW + 60]
    verifier = Verifier(ex.keyring, state=MemoryState(), clock=lambda: clock[0])
    nonces = iter(range(0x21, 0x40))

    def decide(tok: UnverifiedToken, key: AgentKey, call: Request, discharges: list[str]) -> str:
        proof = _prove(tok, key, call, now=NOW + 60, nonce=bytes([next(nonces)]) * 16)
        decision = verifier.verify(tok, call, proof, discharges=discharges)
        if decision.allowed:
            return "allowed"
        return "; ".join(f"`{r.code}`, hop {r.hop}, caveat {r.caveat}" for r in decision.reasons)

    as_proof = verifier.verify(ex.gated, ex.call, ex.ask, discharges=[ex.bound])
    assert [str(r.code) for r in as_proof.reasons] == ["pop_invalid"]
    assert decide(ex.gated, ex.orch, ex.call, [ex.bound]) == "allowed"
    narrowed = attenuate(ex.gated, Scope(tools=["crm.update"]), now=NOW)
    read = Request(audience="crm", tool="crm.read", action="read")
    bye = Request(audience="crm", tool="crm.update", action="write", args={"text": "bye"})
    second = ex.approver._approve(ex.pending, NOW, 300, b"\x0c" * 16)
    a = AgentKey.from_seed(b"\x02" * 32)
    child = delegate(ex.gated, ex.orch, Agent("a", a.public_key), now=NOW)
    third = decode_discharge(ex.approver._approve(ex.pending, NOW, 300, b"\x0d" * 16))
    try:
        bind_discharge(child, _wire.b64encode(_wire.encode(third)))
    except BadDischarge:
        pass
    else:
        raise AssertionError("bind_discharge bound orch's approval to a's token")
    by_hand = _wire.RawMacaroon(
        third.identifier,
        third.caveats,
        _crypto.bind(child.raw.signature, third.signature),
        third.location,
    )
    return [
        decide(ex.gated, ex.orch, ex.call, [ex.bound]),
        decide(narrowed, ex.orch, ex.call, [bind_discharge(narrowed, ex.discharge)]),
        decide(ex.gated, ex.orch, ex.call, []),
        decide(ex.gated, ex.orch, read, []),
        decide(ex.gated, ex.orch, bye, [ex.bound]),
        decide(ex.gated, ex.orch, ex.call, [bind_discharge(ex.gated, second)]),
        decide(child, a, ex.call, [_wire.b64encode(_wire.encode(by_hand))]),
    ]


def test_the_decisions_of_the_worked_example() -> None:
    table = section()[section().index("| presentation | decision |") :]
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    decisions = [line.rsplit(" | ", 1)[1].removesuffix(" |") for line in rows]
    computed = _decisions()
    assert len(decisions) == len(computed)
    for stated, decided in zip(decisions, computed, strict=True):
        assert stated.split(" (")[0] == decided
