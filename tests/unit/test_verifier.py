"""The verifier (``delegation._verifier``): chain checks, request checks, proofs, stores.

specs/threats.md, covered here:
- "Any flipped, dropped, reordered, truncated or spliced byte or caveat fails the HMAC chain"
  (every byte flipped, caveats dropped, reordered, spliced from another token).
- "The key id ... hostile ids ... must be a clean ``unknown_key``" (also test_keys).
- "A token with no caveats, or missing a mandatory one (audience, expiry, holder)" ->
  ``missing_caveat``.
- "The location field is a hint; it never selects a key or grants trust".
- "Signatures, root keys ... never appear in errors or logs" (details, logs, opaque integrity
  failure that names no byte).
- "One checker per caveat type; an unknown type denies"; "A caveat only restricts: a later
  caveat claiming ``approved = true`` never satisfies another check".
- "Context comes from the verifier (its clock ...), never from a client-supplied ``now``".
- "A hop counts only if signed by the holder in force"; "Holder continuity"; "Depth caps and
  delegatee allowlists cannot be raised by a later hop; cycles and very long chains are
  rejected"; "A sub-agent presenting its parent's broader token fails holder binding".
- "Proof of possession ... bound to token, request and time, by the current holder's key; a
  reused nonce is ``replay``; skew bounded (60 s or less)"; "A token for audience X presented
  at Y is denied".
- "The revocation store down or slow means deny, never allow" (here for the nonce store: the
  same rule; revocation itself is a later issue); "Only cryptographic checks may be cached; a
  cached check is never reused to skip ... expiry"; "One token, one spelling" (a holder
  appending a non-canonical caveat is denied).
Keys are TEST FIXTURES ONLY.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Self

import pytest

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    Caveat,
    Code,
    Decision,
    Denied,
    Keyring,
    MalformedToken,
    MemoryState,
    Request,
    Scope,
    StoreUnavailable,
    TaskRecord,
    TokenTooLarge,
    UnverifiedToken,
    VerifiedChain,
    Verifier,
    _cbor,
    _wire,
    attenuate,
    decode,
    default_registry,
    delegate,
    mint,
    prove,
)
from delegation._cbor import CBORValue
from delegation._decision import Reason
from delegation._keys import RootKey
from delegation._proof import Proof, _prove
from delegation._thirdparty.approval import require_approval
from delegation._thirdparty.caveat import ApproverKey
from delegation._token import _mint
from delegation.caveats import (
    Audience,
    CheckContext,
    Delegatees,
    Hop,
    MaxDepth,
    MaxUses,
    Tool,
    Validity,
)
from delegation.limits import (
    CLOCK_SKEW_SECONDS,
    MAX_HOPS,
    MAX_TIME,
    MAX_TOKEN_CHARS,
    POP_MAX_AGE_SECONDS,
)
from delegation.stores import StateAnswer, StateQuery, UnavailableReason
from delegation.testing.fixtures import approver_key, root_secret
from tests.clock import Clock
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

ROOT_SECRET = root_secret(1)  # the conftest keyring's test-only key
INTEGRITY = "the token failed its integrity check"
NONCES = iter(range(1, 10**6))
APPROVER_KEY = approver_key(0x51)
"""The issuer's approval service. TEST FIXTURE ONLY."""
RES = "crm://accounts/42/notes"


def nonce() -> bytes:
    return next(NONCES).to_bytes(16, "big")


def agent(name: str, key: AgentKey) -> Agent:
    return Agent(name, key.public_key)


def check(
    verifier: Verifier,
    token: UnverifiedToken | str,
    request: Request,
    key: AgentKey,
    *,
    issued_at: int = NOW,
) -> Decision:
    """Verify at the verifier's clock with a fresh proof by ``key`` (the test's presenter)."""
    tok = decode(token) if isinstance(token, str) else token
    proof = _forge.proof_by(tok, key, request, issued_at=issued_at, nonce=nonce())
    return verifier.verify(token, request, proof)


def triples(decision: Decision) -> list[tuple[Code, int | None, int | None]]:
    return [(r.code, r.hop, r.caveat) for r in decision.reasons]


def codes(decision: Decision) -> list[Code]:
    return [r.code for r in decision.reasons]


def gate(token: UnverifiedToken, key: ApproverKey = APPROVER_KEY) -> UnverifiedToken:
    return require_approval(token, key.public_key, rules=["crm.update:write"])


@pytest.fixture
def delegated(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> UnverifiedToken:
    """Root (caveats 0-6) -> researcher: hop at 7, tool crm.read at 8, action read at 9."""
    scope = Scope(tools=["crm.read"], actions=["read"])
    return delegate(root_token, orchestrator, agent("researcher", researcher), scope, now=NOW)


# --- allow ----------------------------------------------------------------------------------------


def test_genuine_token_with_a_fresh_proof_is_allowed(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    task: TaskRecord,
) -> None:
    decision = check(verifier, root_token.encode(), read_request, orchestrator)
    assert decision.allowed
    assert bool(decision)
    assert decision.reasons == ()
    assert decision.code is None
    assert decision.task == task
    assert [(link.agent_id, link.hop_id) for link in decision.agents] == [("orchestrator", None)]
    assert decision.root_id == root_token.root_id
    assert decision.holder is not None
    assert decision.holder.public_key == orchestrator.public_key


def test_delegated_token_is_allowed_for_the_last_holder_only(
    verifier: Verifier,
    delegated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    decision = check(verifier, delegated, read_request, researcher)
    assert decision, decision.reasons
    assert decision.agents == delegated.agents()
    assert [link.agent_id for link in decision.agents] == ["orchestrator", "researcher"]
    # the former holder cannot use the token it handed down
    assert triples(check(verifier, delegated, read_request, orchestrator)) == [
        (Code.POP_INVALID, None, None)
    ]


def test_text_and_object_forms_verify_alike(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    a = verifier.verify(root_token, read_request, proof)
    b = Verifier(verifier_keyring(), state=MemoryState(), clock=lambda: NOW).verify(
        root_token.encode(), read_request, proof
    )
    assert a.allowed
    assert b.allowed


def verifier_keyring() -> Keyring:
    return Keyring([RootKey("test-k1", ROOT_SECRET, NOW)])


# --- every failure, with hop and caveat -----------------------------------------------------------


def test_every_failed_caveat_is_reported_in_token_order(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    request = Request(
        audience="crm",
        tool="crm.delete",
        action="delete",
        resource="crm://accounts/43/notes",
        intent="exfiltrate",
    )
    decision = verifier.verify(root_token, request, None)
    assert not decision
    # caveats: 0 validity, 1 audience, 2 tool, 3 action, 4 intent, 5 resource, 6 max_depth
    assert triples(decision) == [
        (Code.TOOL_NOT_ALLOWED, 0, 2),
        (Code.ACTION_NOT_ALLOWED, 0, 3),
        (Code.INTENT_NOT_ALLOWED, 0, 4),
        (Code.RESOURCE_NOT_ALLOWED, 0, 5),
        (Code.POP_REQUIRED, None, None),
    ]
    assert decision.code is Code.TOOL_NOT_ALLOWED
    assert all(r.detail for r in decision.reasons)


def test_failures_name_the_hop_segment_they_sit_in(
    verifier: Verifier, delegated: UnverifiedToken, researcher: AgentKey
) -> None:
    # allowed at the root, not after the hop
    request = Request(
        audience="crm",
        tool="crm.update",
        action="write",
        resource="crm://accounts/42/notes",
        intent="update-notes",
    )
    assert triples(check(verifier, delegated, request, researcher)) == [
        (Code.TOOL_NOT_ALLOWED, 1, 8),
        (Code.ACTION_NOT_ALLOWED, 1, 9),
    ]
    # outside both the root and the hop
    request = Request(
        audience="crm",
        tool="crm.delete",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    assert triples(check(verifier, delegated, request, researcher)) == [
        (Code.TOOL_NOT_ALLOWED, 0, 2),
        (Code.TOOL_NOT_ALLOWED, 1, 8),
    ]


def test_a_denial_of_a_genuine_token_still_names_task_and_chain(
    verifier: Verifier, delegated: UnverifiedToken, researcher: AgentKey, task: TaskRecord
) -> None:
    decision = check(
        verifier, delegated, Request(audience="billing", tool="x", action="y"), researcher
    )
    assert not decision
    assert decision.task == task
    assert decision.agents == delegated.agents()
    assert decision.root_id == delegated.root_id


def test_audience_mismatch(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    request = Request(
        audience="billing",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    assert triples(check(verifier, root_token, request, orchestrator)) == [
        (Code.WRONG_AUDIENCE, 0, 1)
    ]
    prefix = Request(
        audience="crm2",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    assert triples(check(verifier, root_token, prefix, orchestrator)) == [
        (Code.WRONG_AUDIENCE, 0, 1)
    ]


def test_resource_tricks_are_denied(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    for resource in (
        "crm://accounts/420/notes",
        "crm://accounts/42-x/notes",
        "crm://accounts/42/../43",
        "crm://accounts/42/%2e%2e/43",
        "crm://accounts/4\u0662/notes",  # Arabic-Indic digit two
        "crm://accounts//42/notes",
    ):
        request = Request(
            audience="crm", tool="crm.read", action="read", resource=resource, intent="summarise"
        )
        assert triples(check(verifier, root_token, request, orchestrator)) == [
            (Code.RESOURCE_NOT_ALLOWED, 0, 5)
        ], resource


def test_arguments_are_checked_with_types(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = attenuate(root_token, Scope(args=[ArgConstraint.at_most("limit", 10)]))
    base = {
        "audience": "crm",
        "tool": "crm.read",
        "action": "read",
        "resource": "crm://accounts/42/notes",
        "intent": "summarise",
    }
    assert check(verifier, token, Request(**base, args={"limit": 10}), orchestrator)
    for bad in ({"limit": 11}, {"limit": "3"}, {"limit": True}, {}, {"other": 3}):
        decision = check(verifier, token, Request(**base, args=bad), orchestrator)
        assert triples(decision) == [(Code.ARGS_NOT_ALLOWED, 0, 7)], bad


# --- time comes from the verifier -----------------------------------------------------------------


def test_expiry_uses_the_verifier_clock_and_is_never_cached(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    clock = [NOW]
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: clock[0])
    expires = NOW + 3600
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    assert verifier.verify(root_token, read_request, proof)
    clock[0] = expires - 1
    proof = _prove(root_token, orchestrator, read_request, now=expires - 1, nonce=nonce())
    assert verifier.verify(root_token, read_request, proof)
    clock[0] = expires
    proof = _prove(root_token, orchestrator, read_request, now=expires, nonce=nonce())
    assert triples(verifier.verify(root_token, read_request, proof)) == [(Code.EXPIRED, 0, 0)]


def test_a_proof_dated_before_expiry_does_not_revive_an_expired_token(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    expires = NOW + 3600
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: expires + 10)
    proof = _prove(root_token, orchestrator, read_request, now=expires - 5, nonce=nonce())
    assert triples(verifier.verify(root_token, read_request, proof)) == [(Code.EXPIRED, 0, 0)]


def test_not_yet_valid(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, read_request: Request
) -> None:
    scope = Scope(["crm"], expires=NOW + 600, not_before=NOW + CLOCK_SKEW_SECONDS + 1)
    token = mint(keyring, task, agent("o", orchestrator), scope, now=NOW)
    clock = Clock(NOW)
    verifier = Verifier(keyring, state=MemoryState(), clock=clock)
    assert triples(check(verifier, token, read_request, orchestrator)) == [
        (Code.NOT_YET_VALID, 0, 0)
    ]
    clock.now = NOW + 1
    assert check(verifier, token, read_request, orchestrator)


# --- integrity ------------------------------------------------------------------------------------


def _is_opaque_integrity_failure(decision: Decision) -> bool:
    return (
        decision.reasons == (Reason(Code.BAD_SIGNATURE, INTEGRITY),)
        and decision.task is None
        and decision.agents == ()
        and decision.root_id is None
    )


def test_a_flipped_byte_anywhere_is_denied_and_integrity_failures_are_opaque(
    keyring: Keyring,
    task: TaskRecord,
    orchestrator: AgentKey,
    researcher: AgentKey,
    root_scope: Scope,
    read_request: Request,
) -> None:
    root = _mint(
        keyring,
        task,
        agent("orchestrator", orchestrator),
        root_scope,
        nonce=_forge.TEST_NONCE,
        location=None,
        now=None,
    )
    token = delegate(root, orchestrator, agent("researcher", researcher), Scope(tools=["crm.read"]))
    data = token.token_bytes
    proof = _prove(token, researcher, read_request, now=NOW, nonce=nonce())
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert verifier.verify(token, read_request, proof)

    must_be_opaque = set(range(len(data) - 32, len(data)))  # the signature
    nonce_at = data.index(_forge.TEST_NONCE)
    must_be_opaque |= set(range(nonce_at, nonce_at + 16))  # the identifier's nonce
    for raw in token.raw.caveats:  # every caveat body, hop signatures included
        at = data.index(raw.cid)
        must_be_opaque |= set(range(at, at + len(raw.cid)))

    for position in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[position] ^= bit
            decision = verifier.verify(_wire.b64encode(bytes(flipped)), read_request, proof)
            assert not decision, position
            assert decision.code in {
                Code.MALFORMED,
                Code.TOO_LARGE,
                Code.UNKNOWN_KEY,
                Code.BAD_SIGNATURE,
            }, position
            if position in must_be_opaque or decision.code is Code.BAD_SIGNATURE:
                assert _is_opaque_integrity_failure(decision), (position, decision)


def _reframe(token: UnverifiedToken, caveats: tuple[_wire.RawCaveat, ...]) -> str:
    mac = _wire.RawMacaroon(token.raw.identifier, caveats, token.raw.signature, token.raw.location)
    return _wire.b64encode(_wire.encode(mac))


def test_dropped_reordered_spliced_or_truncated_caveats_fail_the_chain(
    verifier: Verifier,
    root_token: UnverifiedToken,
    delegated: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
) -> None:
    cavs = delegated.raw.caveats
    other = attenuate(root_token, Scope(tools=["crm.update"]))
    variants = [
        cavs[:-1],  # last caveat dropped
        cavs[1:],  # first caveat dropped
        cavs[:3] + cavs[4:],  # one in the middle dropped
        (cavs[1], cavs[0], *cavs[2:]),  # two swapped
        cavs[:-1] + other.raw.caveats[-1:],  # last caveat spliced from a sibling token
        cavs + cavs[-1:],  # a caveat repeated
        (),  # every caveat dropped
    ]
    for caveats in variants:
        proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
        decision = verifier.verify(_reframe(delegated, caveats), read_request, proof)
        assert _is_opaque_integrity_failure(decision), caveats
    # the sibling's signature on this token's caveats
    mac = _wire.RawMacaroon(delegated.raw.identifier, cavs, other.raw.signature)
    decision = verifier.verify(_wire.b64encode(_wire.encode(mac)), read_request, None)
    assert _is_opaque_integrity_failure(decision)
    # truncated text
    text = delegated.encode()
    for cut in (1, 2, 43, len(text) // 2):
        decision = verifier.verify(text[:-cut], read_request, None)
        assert decision.code in (Code.MALFORMED, Code.BAD_SIGNATURE)


def test_a_token_from_another_issuer_is_unknown_key_or_bad_signature(
    task: TaskRecord, orchestrator: AgentKey, root_scope: Scope, read_request: Request
) -> None:
    ours = Keyring([RootKey("test-k1", ROOT_SECRET)])
    theirs = Keyring([RootKey("test-k1", b"\x02" * 32)])  # same key id, different key
    token = mint(theirs, task, agent("o", orchestrator), root_scope, now=NOW)
    decision = check(
        Verifier(ours, state=MemoryState(), clock=lambda: NOW), token, read_request, orchestrator
    )
    assert _is_opaque_integrity_failure(decision)
    other_id = Keyring([RootKey("other", b"\x02" * 32)])
    token = mint(other_id, task, agent("o", orchestrator), root_scope, now=NOW)
    decision = check(
        Verifier(ours, state=MemoryState(), clock=lambda: NOW), token, read_request, orchestrator
    )
    assert triples(decision) == [(Code.UNKNOWN_KEY, None, None)]


def test_integrity_failure_reveals_no_secret(
    verifier: Verifier, root_token: UnverifiedToken, read_request: Request
) -> None:
    forged = _wire.RawMacaroon(root_token.raw.identifier, root_token.raw.caveats, b"\x00" * 32)
    decision = verifier.verify(_wire.b64encode(_wire.encode(forged)), read_request, None)
    text = str(decision.to_json())
    for secret in (ROOT_SECRET, root_token.raw.signature):
        for spelling in (secret.hex(), _wire.b64encode(secret)):
            assert spelling not in text


def test_location_never_selects_a_key_or_grants_trust(
    task: TaskRecord, orchestrator: AgentKey, root_scope: Scope, read_request: Request
) -> None:
    ring = Keyring([RootKey("k-a", b"\x0a" * 32), RootKey("k-b", b"\x0b" * 32)], "k-a")
    verifier = Verifier(ring, state=MemoryState(), clock=lambda: NOW)
    for location in ("k-b", "https://evil.example/k-b", "test-k1"):
        token = mint(ring, task, agent("o", orchestrator), root_scope, now=NOW, location=location)
        assert token.raw.location == location
        assert check(verifier, token, read_request, orchestrator)
    # The location is outside the HMAC chain: rewriting it changes nothing the chain protects,
    # but the proof binds the exact token bytes, so an old proof does not follow it.
    token = mint(ring, task, agent("o", orchestrator), root_scope, now=NOW, location="a.example")
    proof = _prove(token, orchestrator, read_request, now=NOW, nonce=nonce())
    moved = UnverifiedToken(
        _wire.RawMacaroon(token.raw.identifier, token.raw.caveats, token.raw.signature, "b.example")
    )
    assert triples(verifier.verify(moved, read_request, proof)) == [(Code.POP_INVALID, None, None)]
    assert check(verifier, moved, read_request, orchestrator)
    # A verifier that lacks the identifier's key does not fall back on the location.
    only_b = Verifier(
        Keyring([RootKey("k-b", b"\x0b" * 32)]), state=MemoryState(), clock=lambda: NOW
    )
    located = mint(ring, task, agent("o", orchestrator), root_scope, now=NOW, location="k-b")
    assert triples(check(only_b, located, read_request, orchestrator)) == [
        (Code.UNKNOWN_KEY, None, None)
    ]


def test_oversized_and_junk_tokens_are_typed_denials(
    verifier: Verifier, read_request: Request
) -> None:
    assert verifier.verify("A" * (MAX_TOKEN_CHARS + 4), read_request, None).code is Code.TOO_LARGE
    for junk in ("", "=", "AA", "AAAA", "not a token", "\u00e9", "A" * 1000, "_" * 43):
        decision = verifier.verify(junk, read_request, None)
        assert not decision
        assert decision.code in (Code.MALFORMED, Code.TOO_LARGE), junk


# --- mandatory caveats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caveats", "words"),
    [
        ((), ("audience", "expiry")),
        ((Tool(("crm.read",)),), ("audience", "expiry")),
        ((Tool(("crm.read",)), MaxDepth(1)), ("audience", "expiry")),
    ],
)
def test_tokens_without_mandatory_caveats_are_missing_caveat(
    orchestrator: AgentKey,
    read_request: Request,
    task: TaskRecord,
    caveats: tuple[Caveat, ...],
    words: tuple[str, ...],
) -> None:
    ident = _forge.identifier(holder=orchestrator, task=task)
    token = _forge.frame(ident, [c.encode() for c in caveats], root_key=ROOT_SECRET)
    verifier = Verifier(verifier_keyring(), state=MemoryState(), clock=lambda: NOW)
    decision = check(verifier, token, read_request, orchestrator)
    assert triples(decision) == [(Code.MISSING_CAVEAT, None, None)]
    assert all(w in decision.reasons[0].detail for w in words)
    assert decision.task == task


def test_missing_audience_or_expiry_alone(
    orchestrator: AgentKey, read_request: Request, task: TaskRecord
) -> None:
    ident = _forge.identifier(holder=orchestrator, task=task)
    verifier = Verifier(verifier_keyring(), state=MemoryState(), clock=lambda: NOW)
    no_expiry = _forge.frame(ident, [Audience(("crm",)).encode()], root_key=ROOT_SECRET)
    decision = check(verifier, no_expiry, read_request, orchestrator)
    assert triples(decision) == [(Code.MISSING_CAVEAT, None, None)]
    assert "expiry" in decision.reasons[0].detail
    assert "audience" not in decision.reasons[0].detail
    not_before_only = _forge.frame(
        ident, [Audience(("crm",)).encode(), Validity(NOW - 5, None).encode()], root_key=ROOT_SECRET
    )
    assert check(verifier, not_before_only, read_request, orchestrator).code is (
        Code.MISSING_CAVEAT
    )
    no_audience = _forge.frame(ident, [Validity(None, NOW + 5).encode()], root_key=ROOT_SECRET)
    decision = check(verifier, no_audience, read_request, orchestrator)
    assert triples(decision) == [(Code.MISSING_CAVEAT, None, None)]
    assert "audience" in decision.reasons[0].detail


# --- caveat families the verifier does not know, or that misbehave --------------------------------


@dataclass(frozen=True, slots=True)
class Exploding(Caveat):
    """An application caveat whose check has a bug."""

    type_id: ClassVar[int] = 4242
    name: ClassVar[str] = "exploding"
    label: str

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        assert isinstance(body, str)
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.label

    def check(self, ctx: CheckContext) -> None:
        raise ZeroDivisionError(f"bug while checking {ROOT_SECRET.hex()}")


@dataclass(frozen=True, slots=True)
class Approved(Caveat):
    """An application caveat that always says yes: it must not make anything else pass."""

    type_id: ClassVar[int] = 4243
    name: ClassVar[str] = "approved"
    approved: bool

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        assert isinstance(body, bool)
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.approved

    def check(self, ctx: CheckContext) -> None:
        """Always satisfied."""


def test_unknown_caveats_deny_and_known_ones_then_check(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    token = attenuate(root_token, [Approved(True)])
    plain = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert triples(check(plain, token, read_request, orchestrator)) == [(Code.UNKNOWN_CAVEAT, 0, 7)]
    registry = default_registry()
    registry.register(Approved)
    aware = Verifier(keyring, state=MemoryState(), registry=registry, clock=lambda: NOW)
    assert check(aware, token, read_request, orchestrator)


def test_a_caveat_that_says_yes_never_satisfies_another(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    registry = default_registry()
    registry.register(Approved)
    verifier = Verifier(keyring, state=MemoryState(), registry=registry, clock=lambda: NOW)
    unknown_approval = _cbor.dumps([5000, {"approved": True}])
    token = _forge.append_raw(attenuate(root_token, [Approved(True)]), unknown_approval)
    request = Request(
        audience="crm",
        tool="crm.delete",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    assert triples(check(verifier, token, request, orchestrator)) == [
        (Code.TOOL_NOT_ALLOWED, 0, 2),
        (Code.UNKNOWN_CAVEAT, 0, 8),
    ]


def test_a_caveat_whose_check_raises_denies_without_leaking(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = default_registry()
    registry.register(Exploding)
    verifier = Verifier(keyring, state=MemoryState(), registry=registry, clock=lambda: NOW)
    token = attenuate(root_token, [Exploding("x")])
    with caplog.at_level(logging.ERROR, logger="delegation"):
        decision = check(verifier, token, read_request, orchestrator)
    assert not decision
    assert triples(decision) == [(Code.INTERNAL_ERROR, 0, 7)]
    assert "exploding" in decision.reasons[0].detail
    assert ROOT_SECRET.hex() not in decision.reasons[0].detail
    assert any("exploding" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert token.raw.signature.hex() not in record.getMessage()


def test_a_holder_appending_a_non_canonical_caveat_is_denied(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    # The holder knows the chain signature, so the MAC is fine; the caveat is a second spelling
    # of tool ["crm.read", "crm.update"] (unsorted) and must not decode.
    unsorted = _cbor.dumps([3, ["crm.update", "crm.read"]])
    token = _forge.append_raw(root_token, unsorted)
    decision = check(verifier, token, read_request, orchestrator)
    assert triples(decision) == [(Code.MALFORMED, 0, 7)]
    assert decision.task == root_token.task  # the signature checked out


def test_a_parse_failure_names_its_hop_and_caveat(
    verifier: Verifier, delegated: UnverifiedToken, researcher: AgentKey, read_request: Request
) -> None:
    token = _forge.append_raw(delegated, _cbor.dumps([1, {}]))  # an empty validity window
    decision = check(verifier, token, read_request, researcher)
    assert triples(decision) == [(Code.MALFORMED, 1, 10)]
    assert decision.agents[:1] == delegated.agents()[:1]


@dataclass(frozen=True, slots=True)
class BrokenParser(Caveat):
    """An application family whose body parser has a bug (raises something untyped)."""

    type_id: ClassVar[int] = 4242
    name: ClassVar[str] = "broken_parser"
    value: str

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        raise KeyError("bug")

    def to_body(self) -> CBORValue:
        return self.value

    def check(self, ctx: CheckContext) -> None:
        """Never reached."""


# Guards against: an error raised past step 3 inside check_chain (a buggy application parser
# here) losing the task and chain. verification.md says an unexpected error inside the verifier
# is a malformed denial "with task and chain when step 3 passed": the token was genuine, so the
# decision names its task, agents and token id.
def test_an_internal_error_after_step_3_still_names_the_task(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    registry = default_registry()
    registry.register(BrokenParser)
    verifier = Verifier(keyring, state=MemoryState(), registry=registry, clock=lambda: NOW)
    token = attenuate(root_token, [BrokenParser("x")], now=NOW)
    read = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
    decision = verifier.verify(token, read, prove(token, orchestrator, read, now=NOW))
    assert codes(decision) == [Code.INTERNAL_ERROR]
    assert decision.task == root_token.task
    assert decision.root_id == root_token.root_id


# --- hops and holder continuity -------------------------------------------------------------------


def test_an_unsigned_hop_is_bad_hop(
    verifier: Verifier,
    root_token: UnverifiedToken,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    hop = Hop("researcher", researcher.public_key, b"\x00" * 64)
    token = _forge.append_raw(root_token, hop.encode())
    decision = check(verifier, token, read_request, researcher)
    assert triples(decision) == [(Code.BAD_HOP, 1, 7)]
    assert [link.agent_id for link in decision.agents] == ["orchestrator"]


def test_a_hop_signed_by_anyone_but_the_holder_in_force_is_bad_hop(
    verifier: Verifier,
    root_token: UnverifiedToken,
    delegated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    writer: AgentKey,
    read_request: Request,
) -> None:
    # the researcher (not yet a holder) delegates the root token to the writer
    hop = _forge.signed_hop(root_token, researcher, "writer", writer)
    decision = check(verifier, _forge.append_raw(root_token, hop.encode()), read_request, writer)
    assert triples(decision) == [(Code.BAD_HOP, 1, 7)]
    # the writer signs its own hop into the chain
    hop = _forge.signed_hop(root_token, writer, "writer", writer)
    decision = check(verifier, _forge.append_raw(root_token, hop.encode()), read_request, writer)
    assert triples(decision) == [(Code.BAD_HOP, 1, 7)]
    # hop 2 signed by the root holder instead of hop 1's delegatee (holder continuity)
    hop = _forge.signed_hop(delegated, orchestrator, "writer", writer)
    decision = check(verifier, _forge.append_raw(delegated, hop.encode()), read_request, writer)
    assert triples(decision) == [(Code.BAD_HOP, 2, 10)]
    assert [link.agent_id for link in decision.agents] == ["orchestrator", "researcher"]


def test_a_hop_signed_over_another_prefix_is_bad_hop(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    hop = _forge.signed_hop(root_token, orchestrator, "researcher", researcher)
    narrower = attenuate(root_token, Scope(tools=["crm.read"]))
    decision = check(verifier, _forge.append_raw(narrower, hop.encode()), read_request, researcher)
    assert triples(decision) == [(Code.BAD_HOP, 1, 8)]


def test_cycles_are_bad_hop(
    verifier: Verifier,
    root_token: UnverifiedToken,
    delegated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    # the root holder delegating to itself
    hop = _forge.signed_hop(root_token, orchestrator, "me-again", orchestrator)
    decision = check(
        verifier, _forge.append_raw(root_token, hop.encode()), read_request, orchestrator
    )
    assert triples(decision) == [(Code.BAD_HOP, 1, 7)]
    assert "twice" in decision.reasons[0].detail
    # orchestrator -> researcher -> orchestrator
    hop = _forge.signed_hop(delegated, researcher, "orchestrator", orchestrator)
    decision = check(
        verifier, _forge.append_raw(delegated, hop.encode()), read_request, orchestrator
    )
    assert triples(decision) == [(Code.BAD_HOP, 2, 10)]


def test_more_than_max_hops_is_too_large(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, read_request: Request
) -> None:
    keys = [orchestrator] + [seeded_agent(100 + i) for i in range(MAX_HOPS + 1)]
    token = mint(keyring, task, agent("a0", orchestrator), Scope(["crm"], expires=NOW + 60))
    for i in range(MAX_HOPS):
        token = delegate(token, keys[i], agent(f"a{i + 1}", keys[i + 1]))
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert check(verifier, token, read_request, keys[MAX_HOPS])
    hop = _forge.signed_hop(token, keys[MAX_HOPS], "extra", keys[MAX_HOPS + 1])
    long = _forge.append_raw(token, hop.encode())
    decision = check(verifier, long, read_request, keys[MAX_HOPS + 1])
    assert [r.code for r in decision.reasons] == [Code.TOO_LARGE]


def test_a_later_caveat_cannot_raise_the_depth_cap(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
) -> None:
    # root allows 2 further hops (caveat 6); a forged later cap of 16 (caveat 7) changes nothing
    token = _forge.append_raw(root_token, MaxDepth(MAX_HOPS).encode())
    keys = [orchestrator, seeded_agent(50), seeded_agent(51), seeded_agent(52)]
    for i in range(3):
        hop = _forge.signed_hop(token, keys[i], f"a{i + 1}", keys[i + 1])
        token = _forge.append_raw(token, hop.encode())
    decision = check(verifier, token, read_request, keys[3])
    assert triples(decision) == [(Code.DEPTH_EXCEEDED, 0, 6)]


def test_a_cap_written_after_a_hop_counts_from_there(
    verifier: Verifier,
    delegated: UnverifiedToken,
    researcher: AgentKey,
    writer: AgentKey,
    read_request: Request,
) -> None:
    token = attenuate(delegated, Scope(max_depth=0))  # caveat 10, segment 1
    hop = _forge.signed_hop(token, researcher, "writer", writer)
    decision = check(verifier, _forge.append_raw(token, hop.encode()), read_request, writer)
    assert triples(decision) == [(Code.DEPTH_EXCEEDED, 1, 10)]


def test_a_later_caveat_cannot_widen_the_delegatee_list(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    token = attenuate(root_token, [Delegatees(("sub-*",))])  # caveat 7
    token = _forge.append_raw(token, Delegatees(("*",)).encode())  # caveat 8, forged widening
    hop = _forge.signed_hop(token, orchestrator, "researcher", researcher)
    decision = check(verifier, _forge.append_raw(token, hop.encode()), read_request, researcher)
    assert triples(decision) == [(Code.DELEGATEE_NOT_ALLOWED, 0, 7)]
    # prefix confusion: "sub" is not "sub-*"
    hop = _forge.signed_hop(token, orchestrator, "sub", researcher)
    decision = check(verifier, _forge.append_raw(token, hop.encode()), read_request, researcher)
    assert triples(decision) == [(Code.DELEGATEE_NOT_ALLOWED, 0, 7)]


def test_hop_cache_never_lets_a_tampered_hop_through(
    keyring: Keyring,
    task: TaskRecord,
    root_token: UnverifiedToken,
    delegated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    root_scope: Scope,
    read_request: Request,
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, hop_cache_size=4)
    assert check(verifier, delegated, read_request, researcher)  # the genuine hop is cached
    genuine = delegated.unsafe_caveats()[7]
    assert isinstance(genuine, Hop)
    sig = bytearray(genuine.signature)
    sig[0] ^= 1
    tampered = Hop(genuine.agent_id, genuine.public_key, bytes(sig))
    forged = [
        # same prefix, same delegatee, signature changed
        _forge.append_raw(root_token, tampered.encode()),
        # the genuine hop bytes after a different prefix of the same root
        _forge.append_raw(attenuate(root_token, Scope(tools=["crm.read"])), genuine.encode()),
        # the genuine hop bytes spliced onto another root token
        _forge.append_raw(
            mint(keyring, task, agent("orchestrator", orchestrator), root_scope, now=NOW),
            genuine.encode(),
        ),
    ]
    for _ in range(2):  # and again, in case a failure were cached
        for token in forged:
            decision = check(verifier, token, read_request, researcher)
            assert [r.code for r in decision.reasons] == [Code.BAD_HOP]
    assert check(verifier, delegated, read_request, researcher)  # still fine


def test_hop_cache_eviction_keeps_verifying(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, hop_cache_size=1)
    tokens = []
    for i in range(3):
        key = seeded_agent(70 + i)
        tokens.append((delegate(root_token, orchestrator, agent(f"s{i}", key)), key))
    for _ in range(2):
        for token, key in tokens:
            assert check(verifier, token, read_request, key)


# Guards against: Verifier(hop_cache_size=0), the obvious way to turn the cache off, making
# _hop_signed call next(iter({})): StopIteration escaping check_chain (an undocumented exception
# type), and verify denying every delegated token as "internal error while verifying".
def test_a_verifier_without_a_hop_cache_still_verifies_hops(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    read = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, hop_cache_size=0)
    child = delegate(root_token, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    decision = verifier.verify(child, read, prove(child, researcher, read, now=NOW))
    assert decision.allowed, decision.reasons


def test_threads_sharing_one_verifier_count_uses_exactly(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    """Eight threads, four sibling branches sharing one max_uses counter, a one-entry hop cache
    that every call evicts: exactly five calls are allowed, every other is uses_exhausted."""
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, hop_cache_size=1)
    limited = attenuate(root_token, [MaxUses(5)], now=NOW)
    keys = [seeded_agent(20 + i) for i in range(4)]
    branches = [
        delegate(limited, orchestrator, Agent(f"worker-{i}", key.public_key), now=NOW)
        for i, key in enumerate(keys)
    ]
    read = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
    results: list[Code | None] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        for j in range(5):
            b = (worker + j) % 4
            d = verifier.verify(branches[b], read, prove(branches[b], keys[b], read, now=NOW))
            with lock:
                results.append(d.code)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(results) == {None: 5, Code.USES_EXHAUSTED: 35}


# --- holder binding and proofs --------------------------------------------------------------------


def test_a_sub_agent_presenting_its_parents_broader_token_fails(
    verifier: Verifier,
    root_token: UnverifiedToken,
    delegated: UnverifiedToken,
    researcher: AgentKey,
    writer: AgentKey,
) -> None:
    # crm.update is outside the researcher's delegated scope but inside the root token
    update = Request(
        audience="crm",
        tool="crm.update",
        action="write",
        resource="crm://accounts/42/notes",
        intent="update-notes",
    )
    decision = check(verifier, root_token, update, researcher)
    assert triples(decision) == [(Code.POP_INVALID, None, None)]
    # a stolen token is useless to a thief with its own key
    read = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )
    assert triples(check(verifier, delegated, read, writer)) == [(Code.POP_INVALID, None, None)]


def test_proof_is_required(
    verifier: Verifier, root_token: UnverifiedToken, read_request: Request
) -> None:
    decision = verifier.verify(root_token, read_request, None)
    assert triples(decision) == [(Code.POP_REQUIRED, None, None)]


def test_proof_freshness_window(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    assert POP_MAX_AGE_SECONDS <= 60
    assert CLOCK_SKEW_SECONDS <= 60
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    for issued_at, ok in (
        (NOW, True),
        (NOW - POP_MAX_AGE_SECONDS, True),
        (NOW - POP_MAX_AGE_SECONDS - 1, False),
        (NOW + CLOCK_SKEW_SECONDS, True),
        (NOW + CLOCK_SKEW_SECONDS + 1, False),
        (0, False),
    ):
        decision = check(verifier, root_token, read_request, orchestrator, issued_at=issued_at)
        if ok:
            assert decision, issued_at
        else:
            assert triples(decision) == [(Code.POP_INVALID, None, None)], issued_at


def test_a_reused_proof_is_replay(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    clock = Clock(NOW)
    verifier = Verifier(keyring, state=MemoryState(), clock=clock)
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    assert verifier.verify(root_token, read_request, proof)
    assert triples(verifier.verify(root_token, read_request, proof)) == [(Code.REPLAY, None, None)]
    clock.now = NOW + 30  # still a replay a little later, inside the proof's window
    assert verifier.verify(root_token, read_request, proof).code is Code.REPLAY


def test_replay_is_caught_across_verifiers_sharing_a_store(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    state = MemoryState()
    a = Verifier(keyring, state=state, clock=lambda: NOW)
    b = Verifier(keyring, state=state, clock=lambda: NOW)
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    assert a.verify(root_token, read_request, proof)
    assert b.verify(root_token, read_request, proof).code is Code.REPLAY


def test_a_proof_is_bound_to_its_token_request_time_and_nonce(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
) -> None:
    proof = Proof.decode(_prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce()))
    narrower = attenuate(root_token, Scope(tools=["crm.read"]))
    other_request = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/other",
        intent="summarise",
    )
    cases = [
        (narrower, read_request, proof),  # another token (a child of the one signed)
        (root_token, other_request, proof),  # another request
        (root_token, read_request, Proof(NOW - 1, proof.nonce, proof.signature)),  # time
        (root_token, read_request, Proof(NOW, b"\x99" * 16, proof.signature)),  # nonce
    ]
    for token, request, bad in cases:
        decision = verifier.verify(token, request, bad.encode())
        assert triples(decision) == [(Code.POP_INVALID, None, None)]


@pytest.mark.parametrize("text", ["", "AAAA", "not a proof", "A" * 300])
def test_a_malformed_proof_is_pop_invalid(
    verifier: Verifier, root_token: UnverifiedToken, read_request: Request, text: str
) -> None:
    assert triples(verifier.verify(root_token, read_request, text)) == [
        (Code.POP_INVALID, None, None)
    ]


def test_a_hop_signature_is_not_a_proof(
    verifier: Verifier, delegated: UnverifiedToken, read_request: Request
) -> None:
    hop = delegated.unsafe_caveats()[7]
    assert isinstance(hop, Hop)
    proof = Proof(NOW, b"\x01" * 16, hop.signature).encode()
    assert verifier.verify(delegated, read_request, proof).code is Code.POP_INVALID


# --- stores ---------------------------------------------------------------------------------------


class _NonceState(MemoryState):
    """Memory state whose nonce claims do something else."""

    def claim(self, query: StateQuery) -> None:
        raise NotImplementedError

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if query.nonce is not None:
            self.claim(query)
        return super().check(query, now)


class DownStore(_NonceState):
    def claim(self, query: StateQuery) -> None:
        raise StoreUnavailable(UnavailableReason.UNREACHABLE, "the nonce database is down")


class BuggyStore(_NonceState):
    def claim(self, query: StateQuery) -> None:
        raise RuntimeError(f"connection string has password {ROOT_SECRET.hex()}")


class YesStore(MemoryState):
    """Finds every nonce fresh."""

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        return StateAnswer(super().check(query, now).revoked, False, None)


@pytest.mark.parametrize("store", [DownStore(), BuggyStore()])
def test_a_failing_nonce_store_denies(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    store: DownStore | BuggyStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = Verifier(keyring, state=store, clock=lambda: NOW)
    with caplog.at_level(logging.ERROR, logger="delegation"):
        decision = check(verifier, root_token, read_request, orchestrator)
    assert not decision
    assert triples(decision) == [(Code.STORE_UNAVAILABLE, None, None)]
    assert ROOT_SECRET.hex() not in decision.reasons[0].detail


def test_the_nonce_store_is_asked_only_after_the_proof_verifies(
    keyring: Keyring, root_token: UnverifiedToken, researcher: AgentKey, read_request: Request
) -> None:
    verifier = Verifier(keyring, state=DownStore(), clock=lambda: NOW)
    # a forged proof is pop_invalid whether or not the store is up
    assert check(verifier, root_token, read_request, researcher).code is Code.POP_INVALID


def test_an_always_fresh_store_still_needs_a_valid_proof(
    keyring: Keyring, root_token: UnverifiedToken, researcher: AgentKey, read_request: Request
) -> None:
    verifier = Verifier(keyring, state=YesStore(), clock=lambda: NOW)
    assert check(verifier, root_token, read_request, researcher).code is Code.POP_INVALID


# --- check_chain and authorize --------------------------------------------------------------------


def test_check_chain_returns_a_verified_chain(
    verifier: Verifier, delegated: UnverifiedToken, task: TaskRecord
) -> None:
    chain = verifier.check_chain(delegated.encode())
    assert isinstance(chain, VerifiedChain)
    assert chain.task == task
    assert chain.agents == delegated.agents()
    assert chain.holder == delegated.holder
    assert chain.root_id == delegated.root_id
    assert [p.caveat for p in chain.caveats] == list(delegated.unsafe_caveats())
    assert [p.hops_before for p in chain.caveats] == [0] * 8 + [1, 1]


# Guards against: VerifiedChain (public, returned by Verifier.check_chain) holding each opened
# caveat key in ThirdPartyPlace with a dataclass's default repr. Logging or printing a chain would
# leak the key, and with it anyone could mint a discharge (a human "yes") for that caveat.
def test_a_verified_chain_never_shows_its_caveat_keys(
    verifier: Verifier, root_token: UnverifiedToken
) -> None:
    chain = verifier.check_chain(gate(root_token))
    (place,) = chain.third_party
    secret = place.caveat_key
    shown = [repr(chain), str(chain), repr(place), str(place)]
    leaks = sum(secret.hex() in t or repr(secret)[2:-1] in t for t in shown)
    assert leaks == 0  # a count, so a failing run does not print the key itself


def test_check_chain_raises_typed_errors(
    verifier: Verifier,
    root_token: UnverifiedToken,
    researcher: AgentKey,
) -> None:
    with pytest.raises(MalformedToken):
        verifier.check_chain("not a token")
    with pytest.raises(TokenTooLarge):
        verifier.check_chain("A" * (MAX_TOKEN_CHARS + 4))
    other = Verifier(Keyring([RootKey("other", b"\x05" * 32)]), state=MemoryState())
    with pytest.raises(Denied) as denied:
        other.check_chain(root_token)
    assert denied.value.code is Code.UNKNOWN_KEY
    forged = _wire.RawMacaroon(root_token.raw.identifier, root_token.raw.caveats, b"\x00" * 32)
    with pytest.raises(Denied) as denied:
        verifier.check_chain(UnverifiedToken(forged))
    assert [r.code for r in denied.value.reasons] == [Code.BAD_SIGNATURE]
    bad_hop = _forge.append_raw(root_token, Hop("x", researcher.public_key, b"\x00" * 64).encode())
    with pytest.raises(Denied) as denied:
        verifier.check_chain(bad_hop)
    assert [(r.code, r.hop, r.caveat) for r in denied.value.reasons] == [(Code.BAD_HOP, 1, 7)]


def test_authorize_checks_request_and_proof_on_a_verified_chain(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    clock = Clock(NOW)
    verifier = Verifier(keyring, state=MemoryState(), clock=clock)
    chain = verifier.check_chain(root_token)
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    assert verifier.authorize(chain, read_request, proof)
    assert verifier.authorize(chain, read_request, proof).code is Code.REPLAY
    clock.now = NOW + 3600
    expired = verifier.authorize(chain, read_request, None)
    assert triples(expired) == [(Code.EXPIRED, 0, 0), (Code.POP_REQUIRED, None, None)]


@pytest.mark.parametrize(
    "broken", [float("nan"), float("inf"), -1.0, -1, float(MAX_TIME), MAX_TIME, True, "0", None]
)
def test_verify_never_raises_even_when_its_own_clock_breaks(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    broken: object,
) -> None:
    proof = _prove(root_token, orchestrator, read_request, now=NOW, nonce=nonce())
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: broken)  # type: ignore[arg-type,return-value]
    decision = verifier.verify(root_token, read_request, proof)
    assert not decision
    assert [r.code for r in decision.reasons] == [Code.INTERNAL_ERROR]
    assert decision.task == root_token.task
