"""Security review of the token core: findings ("Fixed bug" tests were findings) and
attacks that were tried and are defended, where no other test already covers them.

Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import pytest

from delegation import (
    Agent,
    AgentKey,
    AuthoringError,
    Code,
    Decision,
    Keyring,
    KeyringError,
    MemoryState,
    NotNarrowing,
    Request,
    Scope,
    StoreUnavailable,
    UnverifiedToken,
    Verifier,
    _crypto,
    _wire,
    attenuate,
    delegate,
    prove,
)
from delegation._cbor import CBORValue
from delegation.caveats import (
    Call,
    Caveat,
    CheckContext,
    MaxUses,
    Tool,
    UnknownCaveat,
    Validity,
    default_registry,
)
from delegation.limits import MAX_TIME
from delegation.stores import StateQuery, UseLimit
from delegation.testing.fixtures import approver_key
from delegation.thirdparty.approval import Approver, bind_discharge, require_approval
from delegation.thirdparty.caveat import ApproverKey, new_caveat_key, seal_vid
from tests.conftest import NOW, seeded_agent

APPROVER_KEY = approver_key(0x51)
"""The issuer's approval service. TEST FIXTURE ONLY."""
SECOND_KEY = approver_key(0x53)
"""A second approval service the issuer also requires. TEST FIXTURE ONLY."""

RES = "crm://accounts/42/notes"
WRITE = Request(
    audience="crm",
    tool="crm.update",
    action="write",
    resource=RES,
    intent="update-notes",
    args={"text": "hi"},
)


def codes(decision: Decision) -> list[Code]:
    return [r.code for r in decision.reasons]


def triples(decision: Decision) -> list[tuple[Code, int | None, int | None]]:
    return [(r.code, r.hop, r.caveat) for r in decision.reasons]


def gate(token: UnverifiedToken, key: ApproverKey = APPROVER_KEY) -> UnverifiedToken:
    return require_approval(token, key.public_key, rules=["crm.update:write"])


def raw_discharge(text: str) -> _wire.RawMacaroon:
    return _wire.decode(_wire.b64decode(text, 100_000))


def text_of(raw: _wire.RawMacaroon) -> str:
    return _wire.b64encode(_wire.encode(raw))


def extended(unbound: str, cav: _wire.RawCaveat) -> str:
    """What a holder can do to an unbound discharge: append a caveat and advance its chain."""
    raw = raw_discharge(unbound)
    sig = _crypto.chain_step(raw.signature, cav)
    return text_of(_wire.RawMacaroon(raw.identifier, (*raw.caveats, cav), sig, raw.location))


# === findings ================================================================================


# Fixed bug: VerifiedChain (public, returned by Verifier.check_chain) holds each opened
# caveat key in ThirdPartyPlace, a dataclass with the default repr. Logging or printing a chain
# leaks the key, and with it anyone can mint a discharge (a human "yes") for that caveat.
def test_a_verified_chain_never_shows_its_caveat_keys(
    verifier: Verifier, root_token: UnverifiedToken
) -> None:
    chain = verifier.check_chain(gate(root_token))
    (place,) = chain.third_party
    secret = place.caveat_key
    shown = [repr(chain), str(chain), repr(place), str(place)]
    leaks = sum(secret.hex() in t or repr(secret)[2:-1] in t for t in shown)
    assert leaks == 0  # a count, so a failing run does not print the key itself


# Fixed bug: a bare str where a sequence of patterns is expected is split into its
# characters (mypy accepts it: str is a Sequence[str]). Scope(delegatees="researcher-*") becomes
# the patterns {"*", "-", "c", ...}: "*" lets the holder delegate to any agent at all.
def test_a_bare_string_of_delegatee_patterns_is_not_a_wildcard(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey, writer: AgentKey
) -> None:
    read = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
    try:
        narrowed = attenuate(root_token, Scope(delegatees="researcher-*"), now=NOW)
        mallory = delegate(narrowed, orchestrator, Agent("mallory", writer.public_key), now=NOW)
    except AuthoringError:  # refusing the bare string (or the hop) is correct
        return
    decision = verifier.verify(mallory, read, prove(mallory, writer, read, now=NOW))
    assert codes(decision) == [Code.DELEGATEE_NOT_ALLOWED]


# Fixed bug: the same split in require_approval(rules="crm.update") makes one rule per
# character ("c", "r", "m", ...). The caveat then applies to no real tool: the issuer's
# human-approval gate is silently off and crm.update write is allowed without any approval.
def test_a_bare_string_of_approval_rules_does_not_switch_the_approval_off(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    try:
        gated = require_approval(root_token, APPROVER_KEY.public_key, rules="crm.update")
    except AuthoringError:  # refusing the bare string is correct
        return
    decision = verifier.verify(gated, WRITE, prove(gated, orchestrator, WRITE, now=NOW))
    assert codes(decision) == [Code.APPROVAL_REQUIRED]


# Fixed bug: Verifier(hop_cache_size=0), the obvious way to turn the cache off, makes
# _hop_signed call next(iter({})): StopIteration escapes check_chain (an undocumented exception
# type) and verify denies every delegated token as "internal error while verifying".
def test_a_verifier_without_a_hop_cache_still_verifies_hops(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    read = Request(audience="crm", tool="crm.read", action="read", resource=RES, intent="summarise")
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, hop_cache_size=0)
    child = delegate(root_token, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    decision = verifier.verify(child, read, prove(child, researcher, read, now=NOW))
    assert decision.allowed, decision.reasons


# Fixed bug: _append refuses a Hop object and checks narrowing on the
# object it is given, then decodes its bytes with the default registry without comparing the
# type. An UnknownCaveat carrying a hop's or a wider tool caveat's bytes passes both checks,
# contrary to caveats.md "Authoring rules" (the verifier still denies: no escalation).
def test_attenuate_sees_through_core_caveats_disguised_as_unknown(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    child = delegate(root_token, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    hop_bytes = child.raw.caveats[-1].cid
    with pytest.raises(AuthoringError):
        attenuate(root_token, [UnknownCaveat(10, hop_bytes)], now=NOW)
    with pytest.raises(NotNarrowing):
        attenuate(root_token, [UnknownCaveat(3, Tool(("crm.delete",)).encode())], now=NOW)


# Fixed bug: reason-codes.md says bad key files raise KeyringError. An over-long base64
# secret escapes as TokenTooLarge (keys._b64 catches MalformedToken only), and a "created" of
# 1e400 (JSON float infinity) escapes as OverflowError from int().
@pytest.mark.parametrize(
    ("load", "text"),
    [
        pytest.param(Keyring.from_json, "long-secret", id="keyring-long-secret"),
        pytest.param(Keyring.from_json, "infinite-created", id="keyring-infinite-created"),
        pytest.param(AgentKey.from_json, "long-private", id="agent-long-private-key"),
    ],
)
def test_bad_key_file_values_are_keyring_errors(keyring: Keyring, load: Any, text: str) -> None:
    if text == "long-secret":
        doc = json.loads(keyring.to_json())
        doc["keys"][0]["secret"] = "A" * 2000
        body = json.dumps(doc)
    elif text == "infinite-created":
        body = keyring.to_json().replace(f'"created": {NOW}', '"created": 1e400')
        assert "1e400" in body
    else:
        doc = json.loads(seeded_agent(9).to_json())
        doc["private_key"] = "A" * 2000
        del doc["public_key"]
        body = json.dumps(doc)
    with pytest.raises(KeyringError):
        load(body)


# Fixed bug: third-party.md says a TTL outside 1-900 is AuthoringError. approve() accepts
# ttl=True (a one-second approval), and a float TTL or an expiry past 2**34 escapes from the
# Validity constructor as MalformedToken instead.
@pytest.mark.parametrize(
    "kwargs",
    [{"ttl": True}, {"ttl": 1.5}, {"now": MAX_TIME - 10}],
    ids=["bool-ttl", "float-ttl", "expiry-past-max-time"],
)
def test_approve_refuses_unusable_ttls_with_authoring_error(
    root_token: UnverifiedToken, kwargs: dict[str, Any]
) -> None:
    approver = Approver(APPROVER_KEY)
    (pending,) = approver.pending(gate(root_token), WRITE)
    options: dict[str, Any] = {"now": NOW, **kwargs}
    with pytest.raises(AuthoringError):
        approver.approve(pending, **options)


# Fixed bug: the memory use counter had no bound, unlike the memory nonce store. Any
# holder can append max_uses caveats (they only restrict), and each variant it presents in an
# allowed call adds up to ~80 counters kept until the root expiry: memory grows without limit.
# Suggested shape: max_entries, raising StoreUnavailable when full of live records.
def test_the_memory_use_counter_is_bounded_like_the_nonce_store() -> None:
    options: dict[str, Any] = {"max_entries": 2}
    state = MemoryState(**options)

    def spend(key: bytes, keep_until: int, now: int) -> int | None:
        return state.check(StateQuery((), None, [UseLimit(key, 5, keep_until)]), now).exhausted

    assert spend(b"a" * 32, NOW + 100, NOW) is None
    assert spend(b"b" * 32, NOW + 100, NOW) is None
    with pytest.raises(StoreUnavailable):
        spend(b"c" * 32, NOW + 100, NOW)
    assert spend(b"d" * 32, NOW + 200, NOW + 100) is None  # expired room


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


# Fixed bug: verification.md says an unexpected error inside the verifier
# is a malformed denial "with task and chain when step 3 passed". An error raised past step 3
# inside check_chain (a buggy application parser here; StopIteration above) loses them: the
# decision names no task, agents or token id although the token was genuine.
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


# === defended: regression tests for attacks that failed =======================================


def test_a_nested_copy_of_another_approval_caveat_does_not_satisfy_it(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    """Two issuer approvals; the holder has a yes for the first only. It appends to that
    discharge a nested caveat copying the second caveat's cid under a key it chose, and
    presents a self-made discharge for it. Top-level caveats are matched first (BFS), so the
    self-made discharge is tried against the real second caveat and fails."""
    token = gate(gate(root_token), SECOND_KEY)
    first, second = token.raw.caveats[-2], token.raw.caveats[-1]
    (pending,) = Approver(APPROVER_KEY).pending(token, WRITE)
    unbound = Approver(APPROVER_KEY).approve(pending, now=NOW)
    my_key = new_caveat_key()
    sealed = seal_vid(raw_discharge(unbound).signature, my_key)
    with_copy = extended(unbound, _wire.RawCaveat(second.cid, sealed))
    own_caveats: list[Caveat] = [Validity(None, NOW + 300), Call(WRITE.digest())]
    raws = tuple(_wire.RawCaveat(c.encode()) for c in own_caveats)
    forged = _wire.RawMacaroon(
        second.cid, raws, _crypto.chain_signature(my_key, second.cid, raws), None
    )
    discharges = [bind_discharge(token, with_copy), bind_discharge(token, text_of(forged))]
    decision = verifier.verify(
        token, WRITE, prove(token, orchestrator, WRITE, now=NOW), discharges=discharges
    )
    n = len(token.raw.caveats)
    assert first.vid is not None
    assert second.vid is not None
    assert triples(decision) == [
        (Code.BAD_DISCHARGE, 0, n - 1),
        (Code.APPROVAL_REQUIRED, 0, n - 2),
    ]


def test_a_respelled_or_extended_approval_is_still_spent(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    """After an approval allowed its call, the same approval with another header location, or
    with a caveat appended by the holder, has the same spend key: replay, not a second call."""
    token = gate(root_token)
    (pending,) = Approver(APPROVER_KEY).pending(token, WRITE)
    unbound = Approver(APPROVER_KEY, location="https://a.example").approve(pending, now=NOW)

    def call(discharge: str) -> Decision:
        proof = prove(token, orchestrator, WRITE, now=NOW)
        return verifier.verify(token, WRITE, proof, discharges=[bind_discharge(token, discharge)])

    assert call(unbound).allowed
    raw = raw_discharge(unbound)
    moved = text_of(_wire.RawMacaroon(raw.identifier, raw.caveats, raw.signature, "elsewhere"))
    bare = text_of(_wire.RawMacaroon(raw.identifier, raw.caveats, raw.signature, None))
    shorter = extended(unbound, _wire.RawCaveat(Validity(None, NOW + 60).encode()))
    index = len(token.raw.caveats) - 1
    for variant in (moved, bare, shorter):
        assert triples(call(variant)) == [(Code.REPLAY, 0, index)]


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
