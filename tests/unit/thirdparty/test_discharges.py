"""Discharges at the verifier (``delegation._thirdparty.discharges``): verification ids, binding,
nesting, counting and garbage.

Discharges the public API refuses to build are built by hand with the private helpers, as a
hostile third party or holder could. Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence

import pytest

from delegation import (
    Agent,
    AgentKey,
    Caveat,
    Code,
    Decision,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _cbor,
    _crypto,
    _wire,
    attenuate,
    delegate,
    encode_public_key,
    prove,
    prove_for_approval,
)
from delegation._thirdparty.approval import (
    Approver,
    PendingApproval,
    bind_discharge,
    require_approval,
)
from delegation._thirdparty.caveat import (
    PURPOSE_THIRD_PARTY,
    ApproverKey,
    ThirdPartyCaveat,
    TicketContents,
    bind,
    decode_discharge,
    new_caveat_key,
    seal_ticket,
    seal_vid,
)
from delegation._token import _mint
from delegation.caveats import (
    ApprovedFor,
    Budget,
    Call,
    Delegatees,
    Hop,
    MaxDepth,
    MaxUses,
    Tool,
    Validity,
)
from delegation.errors import BadDischarge
from delegation.limits import (
    MAX_CAVEATS,
    MAX_DISCHARGE_DEPTH,
    MAX_DISCHARGES,
    MAX_IDENTIFIER_BYTES,
    MAX_TOKEN_CHARS,
)
from delegation.testing.fixtures import approver_key
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

APPROVER_KEY = approver_key(0x51)
"""The issuer's approval service. TEST FIXTURE ONLY."""
THIRD_KEY = approver_key(0x53)
"""A generic (non-approval) third party's key. TEST FIXTURE ONLY."""
SECOND_KEY = approver_key(0x53)
"""A second approval service the issuer also requires. TEST FIXTURE ONLY."""

READ = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://accounts/42/notes",
    intent="summarise",
)
RES = "crm://accounts/42/notes"
WRITE = Request(
    audience="crm",
    tool="crm.update",
    action="write",
    resource=RES,
    intent="update-notes",
    args={"text": "hi"},
)


# --- helpers -------------------------------------------------------------------------------


def check(
    verifier: Verifier,
    token: UnverifiedToken,
    key: AgentKey,
    discharges: Sequence[str] = (),
    request: Request = READ,
) -> Decision:
    proof = prove(token, key, request, now=NOW)
    return verifier.verify(token, request, proof, discharges=discharges)


def codes(decision: Decision) -> list[Code]:
    return [r.code for r in decision.reasons]


def text_of(raw: _wire.RawMacaroon) -> str:
    return _wire.b64encode(_wire.encode(raw))


def triples(decision: Decision) -> list[tuple[Code, int | None, int | None]]:
    return [(r.code, r.hop, r.caveat) for r in decision.reasons]


def gate(token: UnverifiedToken, key: ApproverKey = APPROVER_KEY) -> UnverifiedToken:
    return require_approval(token, key.public_key, rules=["crm.update:write"])


def ask(
    approver: Approver, token: UnverifiedToken, key: AgentKey, request: Request = WRITE
) -> list[PendingApproval]:
    """The holder's signed approval request for ``request``, shown to ``approver``."""
    proof = prove_for_approval(token, key, request, now=NOW)
    return approver.pending(token, request, proof, now=NOW)


def approved_for(
    token: UnverifiedToken, key: AgentKey, approval_id: bytes = b"\x01" * 16
) -> ApprovedFor:
    """The approved_for caveat an approver writes for ``token`` shown by its holder ``key``."""
    digests = _crypto.chain_digests(token.raw.identifier, token.raw.caveats)
    return ApprovedFor(key.public_key, len(token.raw.caveats), digests[-1], approval_id)


def raw_discharge(text: str) -> _wire.RawMacaroon:
    return _wire.decode(_wire.b64decode(text, 100_000))


def extended(unbound: str, cav: _wire.RawCaveat) -> str:
    """What a holder can do to an unbound discharge: append a caveat and advance its chain."""
    raw = raw_discharge(unbound)
    sig = _crypto.chain_step(raw.signature, cav)
    return text_of(_wire.RawMacaroon(raw.identifier, (*raw.caveats, cav), sig, raw.location))


def last_third_party(token: UnverifiedToken, key: ApproverKey) -> tuple[bytes, bytes]:
    """The cid of the token's last caveat and its caveat root key, as the third party sees it."""
    cid = token.raw.caveats[-1].cid
    caveat = ThirdPartyCaveat.decode(cid)
    return cid, key.open_ticket(caveat.ticket).caveat_key


def discharge(
    cid: bytes, caveat_key: bytes, caveats: Sequence[Caveat | _wire.RawCaveat] = ()
) -> _wire.RawMacaroon:
    """An unbound discharge for ``cid`` with these caveats, signed under ``caveat_key``."""
    raws = tuple(
        c if isinstance(c, _wire.RawCaveat) else _wire.RawCaveat(c.encode()) for c in caveats
    )
    return _wire.RawMacaroon(cid, raws, _crypto.chain_signature(caveat_key, cid, raws))


def bound(token: UnverifiedToken, raw: _wire.RawMacaroon) -> str:
    return bind_discharge(token, text_of(raw))


def nested_caveat(
    state: bytes, token_id: str, caveat_key: bytes, third_party: ApproverKey = THIRD_KEY
) -> _wire.RawCaveat:
    """A third-party caveat inside a discharge, its vid sealed under the discharge's chain."""
    ticket = seal_ticket(
        third_party.public_key, TicketContents(caveat_key, token_id, PURPOSE_THIRD_PARTY)
    )
    caveat = ThirdPartyCaveat(PURPOSE_THIRD_PARTY, third_party.public_key, ticket)
    return _wire.RawCaveat(caveat.encode(), seal_vid(state, caveat_key))


def discharge_chain(token: UnverifiedToken, levels: int) -> list[str]:
    """Discharges for the token's last caveat, each but the last needing the next one.

    ``levels`` = 0 is a plain discharge; ``levels`` = k nests k discharges below it.
    """
    cid, key = last_third_party(token, THIRD_KEY)
    out = []
    for level in range(levels + 1):
        first = [_wire.RawCaveat(Validity(None, NOW + 300).encode())]
        if level < levels:
            next_key = new_caveat_key()
            state = _crypto.chain_signature(key, cid, first)
            first.append(nested_caveat(state, token.root_id, next_key))
        raw = discharge(cid, key, first)
        out.append(bound(token, raw))
        if level < levels:
            cid, key = first[-1].cid, next_key
    return out


@pytest.fixture
def gated(root_token: UnverifiedToken) -> UnverifiedToken:
    """A token that needs a generic third party's discharge for every call."""
    return require_approval(root_token, THIRD_KEY.public_key, purpose=PURPOSE_THIRD_PARTY)


@pytest.fixture
def good(gated: UnverifiedToken) -> str:
    cid, key = last_third_party(gated, THIRD_KEY)
    return bound(gated, discharge(cid, key, [Validity(None, NOW + 300)]))


def test_token_with_a_vid_that_does_not_open_is_bad_discharge(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    # A holder appends a third-party caveat (chain signature correct) whose vid is sealed
    # under some other chain state: the verifier cannot open it.
    caveat = ThirdPartyCaveat(
        PURPOSE_THIRD_PARTY,
        THIRD_KEY.public_key,
        seal_ticket(THIRD_KEY.public_key, TicketContents(b"\x07" * 32, root_token.root_id)),
    )
    for vid in (seal_vid(b"\x09" * 32, b"\x07" * 32), b"\x00" * 60, b"\x01"):
        raw = _wire.RawCaveat(caveat.encode(), vid)
        sig = _crypto.chain_step(root_token.raw.signature, raw)
        token = UnverifiedToken(
            _wire.RawMacaroon(root_token.raw.identifier, (*root_token.raw.caveats, raw), sig)
        )
        decision = check(verifier, token, orchestrator)
        assert codes(decision) == [Code.BAD_DISCHARGE]


# --- discharges at the verifier ------------------------------------------------------------


def test_generic_third_party_needs_a_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    assert codes(check(verifier, gated, orchestrator)) == [Code.DISCHARGE_REQUIRED]
    assert check(verifier, gated, orchestrator, [good]).allowed


def test_discharge_ticket_for_a_generic_third_party(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    service = Approver(THIRD_KEY)
    unbound = service.discharge_ticket(gated.raw.caveats[-1].cid, None, now=NOW)
    assert check(verifier, gated, orchestrator, [bind_discharge(gated, unbound)]).allowed
    assert codes(check(verifier, gated, orchestrator, [unbound])) == [Code.BAD_DISCHARGE]


def test_discharge_signed_under_another_key_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, _ = last_third_party(gated, THIRD_KEY)
    forged = bound(gated, discharge(cid, b"\x42" * 32, [Validity(None, NOW + 300)]))
    assert codes(check(verifier, gated, orchestrator, [forged])) == [Code.BAD_DISCHARGE]


def test_discharge_with_a_dropped_caveat_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    full = discharge(cid, key, [Validity(None, NOW + 300), Tool(("crm.read",))])
    dropped = _wire.RawMacaroon(cid, full.caveats[:1], full.signature)
    text = bound(gated, dropped)
    assert codes(check(verifier, gated, orchestrator, [text])) == [Code.BAD_DISCHARGE]


def test_discharge_first_party_caveats_are_enforced(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    write_only = bound(
        gated, discharge(cid, key, [Validity(None, NOW + 300), Tool(("crm.update",))])
    )
    assert codes(check(verifier, gated, orchestrator, [write_only])) == [Code.TOOL_NOT_ALLOWED]
    expired = bound(gated, discharge(cid, key, [Validity(None, NOW)]))
    assert codes(check(verifier, gated, orchestrator, [expired])) == [Code.EXPIRED]


def test_discharge_without_an_expiry_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    for caveats in ([], [Tool(("crm.read",))], [Validity(NOW - 10, None)]):
        text = bound(gated, discharge(cid, key, caveats))
        assert codes(check(verifier, gated, orchestrator, [text])) == [Code.BAD_DISCHARGE]


@pytest.mark.parametrize(
    "caveat",
    [
        Hop("x", seeded_agent(9).public_key, bytes(64)),
        MaxUses(1),
        MaxDepth(0),
        Delegatees(("agent-*",)),
        Budget("usd-cents", 100, "amount"),
    ],
    ids=["hop", "max_uses", "max_depth", "delegatees", "budget"],
)
def test_discharge_cannot_carry_chain_caveats(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, caveat: Caveat
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    text = bound(gated, discharge(cid, key, [Validity(None, NOW + 300), caveat]))
    assert codes(check(verifier, gated, orchestrator, [text])) == [Code.BAD_DISCHARGE]


def test_discharge_with_an_unknown_caveat_denies(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    unknown = _wire.RawCaveat(_cbor.dumps([5000, 1]))
    text = bound(gated, discharge(cid, key, [Validity(None, NOW + 300), unknown]))
    assert codes(check(verifier, gated, orchestrator, [text])) == [Code.UNKNOWN_CAVEAT]


# --- binding ---------------------------------------------------------------------------------


def test_binding_is_libmacaroons_binding(gated: UnverifiedToken) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    raw = discharge(cid, key)
    text = bound(gated, raw)
    assert decode_discharge(text).signature == bind(gated.raw.signature, raw.signature)
    assert bind(gated.raw.signature, raw.signature) != bind(raw.signature, gated.raw.signature)


def test_unbound_discharge_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    unbound = text_of(discharge(cid, key, [Validity(None, NOW + 300)]))
    assert codes(check(verifier, gated, orchestrator, [unbound])) == [Code.BAD_DISCHARGE]


def test_discharge_bound_twice_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    twice = bind_discharge(gated, good)
    assert codes(check(verifier, gated, orchestrator, [twice])) == [Code.BAD_DISCHARGE]


def test_discharge_bound_to_ancestor_sibling_or_descendant_is_bad_discharge(
    verifier: Verifier,
    gated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    writer: AgentKey,
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    raw = discharge(cid, key, [Validity(None, NOW + 300)])
    narrowed = attenuate(gated, [Tool(("crm.read",))], now=NOW)
    one = delegate(narrowed, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    two = delegate(narrowed, orchestrator, Agent("writer", writer.public_key), now=NOW)
    holders = {
        "gated": (gated, orchestrator),
        "narrowed": (narrowed, orchestrator),
        "one": (one, researcher),
        "two": (two, writer),
    }
    for bound_to, (target, _) in holders.items():
        text = bound(target, raw)
        for used_with, (token, holder) in holders.items():
            decision = check(verifier, token, holder, [text])
            if bound_to == used_with:
                assert decision.allowed, (bound_to, used_with, decision.reasons)
            else:
                assert codes(decision) == [Code.BAD_DISCHARGE], (bound_to, used_with)


# --- counting discharges ---------------------------------------------------------------------


def test_duplicate_discharge_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    assert codes(check(verifier, gated, orchestrator, [good, good])) == [Code.BAD_DISCHARGE]


def test_two_discharges_for_one_caveat_are_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    another = bound(gated, discharge(cid, key, [Validity(None, NOW + 200)]))
    decision = check(verifier, gated, orchestrator, [good, another])
    assert codes(decision) == [Code.BAD_DISCHARGE]


def test_extra_discharge_matching_no_caveat_is_bad_discharge(
    verifier: Verifier,
    gated: UnverifiedToken,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    good: str,
) -> None:
    other = require_approval(root_token, THIRD_KEY.public_key, purpose=PURPOSE_THIRD_PARTY)
    cid, key = last_third_party(other, THIRD_KEY)
    stray = bound(gated, discharge(cid, key))
    assert codes(check(verifier, gated, orchestrator, [good, stray])) == [Code.BAD_DISCHARGE]
    # A token with no third-party caveat at all takes no discharge either.
    assert codes(
        check(verifier, root_token, orchestrator, [bound(root_token, discharge(cid, key))])
    ) == [Code.BAD_DISCHARGE]


def test_more_than_max_discharges_is_too_large(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    decision = check(verifier, gated, orchestrator, [good] * (MAX_DISCHARGES + 1))
    assert codes(decision) == [Code.TOO_LARGE]
    decision = check(verifier, gated, orchestrator, ["!"] * (MAX_DISCHARGES + 1))
    assert codes(decision) == [Code.TOO_LARGE]


def test_max_discharges_exactly_is_counted_not_too_large(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    token = root_token
    for _ in range(MAX_DISCHARGES):
        token = require_approval(token, THIRD_KEY.public_key, purpose=PURPOSE_THIRD_PARTY)
    texts = []
    for raw in token.raw.caveats[-MAX_DISCHARGES:]:
        key = THIRD_KEY.open_ticket(ThirdPartyCaveat.decode(raw.cid).ticket).caveat_key
        texts.append(bound(token, discharge(raw.cid, key, [Validity(None, NOW + 300)])))
    assert check(verifier, token, orchestrator, texts).allowed
    assert codes(check(verifier, token, orchestrator, texts[1:])) == [Code.DISCHARGE_REQUIRED]


# --- garbage ---------------------------------------------------------------------------------


def _non_canonical(text: str) -> tuple[str, str]:
    """A canonical spelling of the same discharge (with a location, which is not MACed, chosen
    so that the text has padding bits) and that spelling with nonzero padding bits."""
    raw = decode_discharge(text)
    for location in ("a", "ab", "abc"):
        canonical = text_of(_wire.RawMacaroon(raw.identifier, raw.caveats, raw.signature, location))
        if len(canonical) % 4:
            break
    data = _wire.b64decode(canonical, MAX_TOKEN_CHARS)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for ch in alphabet:
        other = canonical[:-1] + ch
        if other != canonical and base64.urlsafe_b64decode(other + "=" * (-len(other) % 4)) == data:
            return canonical, other
    raise AssertionError("no second spelling found")


def _garbage(good: str) -> list[str]:
    rng = random.Random(1234)
    return [
        "",
        "!",
        "A",
        "AAAA",
        "====",
        good + "=",
        good + "==",
        " " + good,
        good + "\n",
        good[:-1],
        good[: len(good) // 2],
        good[:-8],
        _non_canonical(good)[1],
        good.replace(good[5], "é", 1),
        _wire.b64encode(bytes(rng.randrange(256) for _ in range(200))),
        _wire.b64encode(b"\x02" + bytes(rng.randrange(256) for _ in range(80))),
        "".join(rng.choice("ABCxyz019-_") for _ in range(301)),
    ]


def test_garbage_discharges_are_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    for text in _garbage(good):
        decision = check(verifier, gated, orchestrator, [text])
        assert codes(decision) == [Code.BAD_DISCHARGE], repr(text[:40])
        decision = check(verifier, gated, orchestrator, [good, text])
        assert not decision.allowed
        assert Code.BAD_DISCHARGE in codes(decision), repr(text[:40])


def test_non_canonical_base64_is_a_second_spelling_and_refused(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    canonical, other = _non_canonical(good)
    assert check(verifier, gated, orchestrator, [canonical]).allowed
    assert codes(check(verifier, gated, orchestrator, [other])) == [Code.BAD_DISCHARGE]


def test_a_token_passed_as_a_discharge_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, good: str
) -> None:
    decision = check(verifier, gated, orchestrator, [good, gated.encode()])
    assert codes(decision) == [Code.BAD_DISCHARGE]


def _oversize() -> list[str]:
    key = b"\x05" * 32
    too_many = tuple(_wire.RawCaveat(Tool(("t",)).encode()) for _ in range(MAX_CAVEATS + 1))
    huge_id = b"\x00" * (MAX_IDENTIFIER_BYTES + 1)
    return [
        "A" * (MAX_TOKEN_CHARS + 1),
        text_of(
            _wire.RawMacaroon(b"cid", too_many, _crypto.chain_signature(key, b"cid", too_many))
        ),
        text_of(_wire.RawMacaroon(huge_id, (), bytes(32))),
    ]


# Guards against: an oversize discharge that is not a clean bad_discharge. _wire.b64decode and
# _wire.decode raise TokenTooLarge (a TokenError, not a MalformedToken) for text over
# MAX_TOKEN_CHARS, more than MAX_CAVEATS caveats or an identifier over MAX_IDENTIFIER_BYTES; a
# decode_discharge that caught only MalformedToken would let it escape to verify()'s catch-all:
# code ``malformed`` ("internal error while verifying") and an ERROR log with a traceback, for
# plain bad input.
@pytest.mark.parametrize("index", range(3), ids=["long-text", "too-many-caveats", "huge-id"])
def test_oversize_discharge_denies_without_raising(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey, index: int
) -> None:
    text = _oversize()[index]
    with pytest.raises(BadDischarge):
        decode_discharge(text)
    decision = check(verifier, gated, orchestrator, [text])
    assert codes(decision) == [Code.BAD_DISCHARGE]


def test_decode_discharge_raises_only_bad_discharge_for_garbage(good: str) -> None:
    for text in _garbage(good):
        with pytest.raises(BadDischarge):
            decode_discharge(text)


# --- nesting ---------------------------------------------------------------------------------


def test_nested_discharge_at_depth_one(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    outer, inner = discharge_chain(gated, 1)
    assert check(verifier, gated, orchestrator, [outer, inner]).allowed
    assert check(verifier, gated, orchestrator, [inner, outer]).allowed
    assert codes(check(verifier, gated, orchestrator, [outer])) == [Code.DISCHARGE_REQUIRED]
    assert codes(check(verifier, gated, orchestrator, [inner])) == [
        Code.DISCHARGE_REQUIRED,
        Code.BAD_DISCHARGE,
    ]


def test_nested_discharges_up_to_the_limit(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    texts = discharge_chain(gated, MAX_DISCHARGE_DEPTH)
    assert check(verifier, gated, orchestrator, texts).allowed


def test_nested_discharges_past_the_limit_are_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    texts = discharge_chain(gated, MAX_DISCHARGE_DEPTH + 1)
    decision = check(verifier, gated, orchestrator, texts)
    assert codes(decision) == [Code.BAD_DISCHARGE]
    assert "nest" in decision.reasons[0].detail


def test_nested_discharge_must_be_bound_too(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    outer, inner = discharge_chain(gated, 1)
    raw = decode_discharge(inner)
    sibling = delegate(gated, orchestrator, Agent("other", seeded_agent(6).public_key), now=NOW)
    # ``inner`` bound to the token is fine; the same discharge rebound to a sibling is not.
    unbound_sig = raw.signature
    rebound = text_of(
        _wire.RawMacaroon(raw.identifier, raw.caveats, bind(sibling.raw.signature, unbound_sig))
    )
    assert codes(check(verifier, gated, orchestrator, [outer, rebound])) == [Code.BAD_DISCHARGE]


def test_discharge_needing_itself_is_rejected(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    # A discharge whose nested third-party caveat reuses its own id: a cycle.
    cid, key = last_third_party(gated, THIRD_KEY)
    first = [_wire.RawCaveat(Validity(None, NOW + 300).encode())]
    state = _crypto.chain_signature(key, cid, first)
    first.append(_wire.RawCaveat(cid, seal_vid(state, key)))
    text = bound(gated, discharge(cid, key, first))
    decision = check(verifier, gated, orchestrator, [text])
    assert codes(decision) == [Code.DISCHARGE_REQUIRED]


def test_nested_caveat_with_a_vid_that_does_not_open_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    inner = nested_caveat(b"\x44" * 32, gated.root_id, new_caveat_key())
    text = bound(gated, discharge(cid, key, [inner]))
    assert codes(check(verifier, gated, orchestrator, [text])) == [Code.BAD_DISCHARGE]


def test_nested_caveat_that_is_not_a_third_party_caveat_is_bad_discharge(
    verifier: Verifier, gated: UnverifiedToken, orchestrator: AgentKey
) -> None:
    cid, key = last_third_party(gated, THIRD_KEY)
    state = _crypto.chain_signature(key, cid, ())
    junk = _wire.RawCaveat(_cbor.dumps([1, 2]), seal_vid(state, new_caveat_key()))
    text = bound(gated, discharge(cid, key, [junk]))
    assert codes(check(verifier, gated, orchestrator, [text])) == [Code.BAD_DISCHARGE]


# --- approvals: which discharge satisfies which caveat, and when one is spent ----------------


def test_a_nested_copy_of_another_approval_caveat_does_not_satisfy_it(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    """Two issuer approvals; the holder has a yes for the first only. It appends to that
    discharge a nested caveat copying the second caveat's cid under a key it chose, and
    presents a self-made discharge for it. Top-level caveats are matched first (BFS), so the
    self-made discharge is tried against the real second caveat and fails."""
    token = gate(gate(root_token), SECOND_KEY)
    first, second = token.raw.caveats[-2], token.raw.caveats[-1]
    (pending,) = ask(Approver(APPROVER_KEY), token, orchestrator, WRITE)
    unbound = Approver(APPROVER_KEY).approve(pending, now=NOW)
    my_key = new_caveat_key()
    sealed = seal_vid(raw_discharge(unbound).signature, my_key)
    with_copy = extended(unbound, _wire.RawCaveat(second.cid, sealed))
    own_caveats: list[Caveat] = [
        Validity(None, NOW + 300),
        approved_for(token, orchestrator),
        Call(WRITE.digest()),
    ]
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
    (pending,) = ask(Approver(APPROVER_KEY), token, orchestrator, WRITE)
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


# --- approvals are bound to the chain that asked ---------------------------------------------


def write_by(
    verifier: Verifier, token: UnverifiedToken, key: AgentKey, discharges: list[str]
) -> Decision:
    """WRITE by ``token``'s holder ``key``, with a fresh proof and these discharges."""
    return verifier.verify(token, WRITE, prove(token, key, WRITE, now=NOW), discharges=discharges)


class Family:
    """Tokens around the one that asks for an approval: ``asker`` (the issuer's gated token
    delegated to the writer) and its relatives. Each entry is (token, its holder's key)."""

    def __init__(
        self,
        root_token: UnverifiedToken,
        orchestrator: AgentKey,
        researcher: AgentKey,
        writer: AgentKey,
    ) -> None:
        middle, sub = seeded_agent(4), seeded_agent(6)
        gated = gate(root_token)
        self.gate_index = len(gated.raw.caveats) - 1
        self.writer = writer
        asker = delegate(gated, orchestrator, Agent("writer", writer.public_key), now=NOW)
        narrowed = attenuate(asker, [Validity(None, NOW + 1800)], now=NOW)
        gated_narrowed = attenuate(gated, [Validity(None, NOW + 1700)], now=NOW)
        via_middle = delegate(gated, orchestrator, Agent("middle", middle.public_key), now=NOW)
        self.members: dict[str, tuple[UnverifiedToken, AgentKey]] = {
            "asker": (asker, writer),
            "narrowed": (narrowed, writer),
            "narrowed-twice": (attenuate(narrowed, [MaxUses(9)], now=NOW), writer),
            # the rest: wrong_chain
            "parent": (gated, orchestrator),
            "sibling": (
                delegate(gated, orchestrator, Agent("researcher", researcher.public_key), now=NOW),
                researcher,
            ),
            "child": (delegate(asker, writer, Agent("sub", sub.public_key), now=NOW), sub),
            "child-of-narrowed": (
                delegate(narrowed, writer, Agent("sub", sub.public_key), now=NOW),
                sub,
            ),
            "same-key-from-the-narrowed-parent": (
                delegate(gated_narrowed, orchestrator, Agent("writer", writer.public_key), now=NOW),
                writer,
            ),
            "same-key-as-another-agent-id": (
                delegate(gated, orchestrator, Agent("writer-2", writer.public_key), now=NOW),
                writer,
            ),
            "same-key-through-a-middle-agent": (
                delegate(via_middle, middle, Agent("writer", writer.public_key), now=NOW),
                writer,
            ),
        }
        self.asker = asker

    def unbound_approval(self, request: Request = WRITE) -> str:
        (pending,) = ask(Approver(APPROVER_KEY), self.asker, self.writer, request)
        return Approver(APPROVER_KEY).approve(pending, now=NOW)


@pytest.fixture
def family(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey, writer: AgentKey
) -> Family:
    return Family(root_token, orchestrator, researcher, writer)


USERS = ["asker", "narrowed", "narrowed-twice"]
"""The chain that asked, and the same chain narrowed further by its holder."""
OTHER_CHAINS = [
    "parent",
    "sibling",
    "same-key-from-the-narrowed-parent",
    "same-key-as-another-agent-id",
    "same-key-through-a-middle-agent",
]
"""Chains that do not extend the one that asked."""
OTHER_HOLDERS = ["child", "child-of-narrowed"]
"""Chains that extend it, held by another agent: a further delegation."""


def test_the_family_is_what_its_names_say(family: Family) -> None:
    """Guards the table: the users extend the asker under its holder; the rest do not."""
    asker = family.asker
    for name, (token, key) in family.members.items():
        assert token.holder.public_key == key.public_key, name
        extends = token.raw.identifier == asker.raw.identifier and (
            token.raw.caveats[: len(asker.raw.caveats)] == asker.raw.caveats
        )
        same_holder = token.holder.public_key == asker.holder.public_key
        assert (extends and same_holder) is (name in USERS), name
        assert (extends and not same_holder) is (name in OTHER_HOLDERS), name
    assert sorted(family.members) == sorted(USERS + OTHER_CHAINS + OTHER_HOLDERS)
    assert len({t.token_bytes for t, _ in family.members.values()}) == len(family.members)


@pytest.mark.parametrize("user", USERS)
def test_an_approval_serves_the_chain_that_asked_and_its_holders_narrowings(
    verifier: Verifier, family: Family, user: str
) -> None:
    token, key = family.members[user]
    discharge = bind_discharge(token, family.unbound_approval())
    decision = write_by(verifier, token, key, [discharge])
    assert decision.allowed, decision.reasons


@pytest.mark.parametrize("other", OTHER_CHAINS + OTHER_HOLDERS)
def test_an_approval_presented_by_any_other_chain_is_wrong_chain_and_not_spent(
    verifier: Verifier, family: Family, other: str
) -> None:
    token, key = family.members[other]
    unbound = family.unbound_approval()
    with pytest.raises(BadDischarge):
        bind_discharge(token, unbound)
    decision = write_by(verifier, token, key, [_forge.bind_anyway(token, unbound)])
    assert triples(decision) == [(Code.WRONG_CHAIN, 0, family.gate_index)]
    prefix = f"discharge for caveat {family.gate_index}: "
    if other in OTHER_CHAINS:
        why = (
            f"approved for another chain of agents (token {family.asker.token_id} and its "
            "holder's own narrowings)"
        )
    else:
        why = f"approved for the holder {encode_public_key(family.writer.public_key)}, not this one"
    assert decision.reasons[0].detail == prefix + why
    # Nothing was spent: the chain that asked still makes its call with it, once.
    asker, writer = family.members["asker"]
    bound = bind_discharge(asker, unbound)
    assert write_by(verifier, asker, writer, [bound]).allowed


def test_one_approval_is_one_call_across_the_holders_narrowings(
    verifier: Verifier, family: Family
) -> None:
    """Every token the discharge can be bound to shares its spend key."""
    unbound = family.unbound_approval()
    first, *later = USERS
    token, key = family.members[first]
    bound = bind_discharge(token, unbound)
    assert write_by(verifier, token, key, [bound]).allowed
    for name in later:
        token, key = family.members[name]
        bound = bind_discharge(token, unbound)
        decision = write_by(verifier, token, key, [bound])
        assert triples(decision) == [(Code.REPLAY, 0, family.gate_index)], name


def test_another_token_for_the_same_task_has_its_own_gate(
    verifier: Verifier, keyring: Keyring, family: Family, task: TaskRecord, root_scope: Scope
) -> None:
    """The same task minted again for the same orchestrator, gated by the same approver and
    delegated to the same writer: its gate is another caveat, which the approval does not
    name at all."""
    orchestrator = seeded_agent(1)
    again = _mint(
        keyring,
        task,
        Agent("orchestrator", orchestrator.public_key),
        root_scope,
        now=NOW,
        nonce=b"\x05" * 16,
        location=None,
    )
    other = delegate(gate(again), orchestrator, Agent("writer", family.writer.public_key), now=NOW)
    unbound = family.unbound_approval()
    with pytest.raises(BadDischarge):
        bind_discharge(other, unbound)
    proof = prove(other, family.writer, WRITE, now=NOW)
    decision = verifier.verify(other, WRITE, proof, discharges=[_forge.bind_anyway(other, unbound)])
    assert codes(decision) == [Code.APPROVAL_REQUIRED, Code.BAD_DISCHARGE]
    asker, writer = family.members["asker"]
    bound = bind_discharge(asker, unbound)
    assert write_by(verifier, asker, writer, [bound]).allowed


def test_a_holder_can_pin_its_approval_to_a_narrower_token(
    verifier: Verifier, family: Family
) -> None:
    """approved_for is an ordinary caveat: the holder may append one of its own to the
    discharge, so that it serves only a token narrowed further; the approval stays one."""
    asker, writer = family.members["asker"]
    narrowed, _ = family.members["narrowed"]
    pinned = extended(
        family.unbound_approval(),
        _wire.RawCaveat(approved_for(narrowed, writer, b"\x02" * 16).encode()),
    )
    decision = write_by(verifier, asker, writer, [bind_anyway_checked(asker, pinned)])
    assert triples(decision) == [(Code.WRONG_CHAIN, 0, family.gate_index)]
    bound = bind_discharge(narrowed, pinned)
    proof = prove(narrowed, writer, WRITE, now=NOW)
    assert verifier.verify(narrowed, WRITE, proof, discharges=[bound]).allowed


def bind_anyway_checked(token: UnverifiedToken, discharge: str) -> str:
    """``_forge.bind_anyway``, after checking that ``bind_discharge`` refuses it."""
    with pytest.raises(BadDischarge):
        bind_discharge(token, discharge)
    return _forge.bind_anyway(token, discharge)


# --- what an approval discharge must carry -------------------------------------------------


def hand_made_approval(family: Family, caveats: Sequence[Caveat]) -> str:
    """An approval discharge for the asker's gate with these caveats, signed under the gate's
    real caveat key (as the approval service would), bound to the asker."""
    cid = family.asker.raw.caveats[family.gate_index].cid
    key = APPROVER_KEY.open_ticket(ThirdPartyCaveat.decode(cid).ticket).caveat_key
    return bound(family.asker, discharge(cid, key, caveats))


def test_a_hand_made_approval_like_the_approvers_is_allowed(
    verifier: Verifier, family: Family
) -> None:
    """Guards the two tests below: with approved_for before its call, the same discharge is
    good."""
    asker, writer = family.members["asker"]
    good = hand_made_approval(
        family, [Validity(None, NOW + 300), approved_for(asker, writer), Call(WRITE.digest())]
    )
    assert write_by(verifier, asker, writer, [good]).allowed


@pytest.mark.parametrize("where", ["after-the-call", "absent"])
def test_an_approval_that_does_not_name_the_chain_before_its_call_is_bad_discharge(
    verifier: Verifier, family: Family, where: str
) -> None:
    asker, writer = family.members["asker"]
    caveats: list[Caveat] = [Validity(None, NOW + 300), Call(WRITE.digest())]
    if where == "after-the-call":
        caveats.append(approved_for(asker, writer))
    text = hand_made_approval(family, caveats)
    decision = write_by(verifier, asker, writer, [text])
    assert triples(decision) == [(Code.BAD_DISCHARGE, 0, family.gate_index)]
    assert decision.reasons[0].detail == (
        "an approval discharge must name the chain that asked, before its call"
    )


def test_a_generic_third_party_may_pin_its_discharge_to_a_chain(
    verifier: Verifier,
    gated: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    good: str,
) -> None:
    """approved_for in a purpose-0 discharge is checked like any caveat: optional there, and
    when present the chain must be the one it names."""
    cid, key = last_third_party(gated, THIRD_KEY)
    pinned = bound(
        gated, discharge(cid, key, [Validity(None, NOW + 300), approved_for(gated, orchestrator)])
    )
    assert check(verifier, gated, orchestrator, [pinned]).allowed
    for_another = discharge(cid, key, [Validity(None, NOW + 300), approved_for(gated, researcher)])
    elsewhere = bind_anyway_checked(gated, text_of(for_another))
    assert triples(check(verifier, gated, orchestrator, [elsewhere])) == [
        (Code.WRONG_CHAIN, 0, len(gated.raw.caveats) - 1)
    ]
    assert check(verifier, gated, orchestrator, [good]).allowed
