"""Minting, attenuating, delegating, decoding and describing tokens (``delegation._token``).

specs/threats.md: "A token with no caveats, or missing a mandatory one (audience,
expiry, holder), is the macaroon equivalent of JWT ``alg: none``" (mint refuses; an identifier
without a holder does not decode); "Depth caps and delegatee allowlists cannot be raised by a
later hop; cycles ... are rejected" (authoring side); "A hop counts only if signed by the holder
in force" (delegate refuses a non-holder key); "Signatures, root keys ... never appear in errors
or logs" (describe, repr, authoring errors); "Size caps on token, caveat count ..." (authoring
side); "One token, one spelling" (decode/encode is the identity on the text form).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    AuthoringError,
    Code,
    Keyring,
    MalformedToken,
    NotNarrowing,
    Scope,
    TaskRecord,
    TokenError,
    UnverifiedToken,
    _cbor,
    _crypto,
    _wire,
    attenuate,
    decode,
    delegate,
    encode_public_key,
    mint,
)
from delegation._keys import RootKey
from delegation._token import Identifier, _mint
from delegation.caveats import (
    Action,
    Args,
    Audience,
    Delegatees,
    Hop,
    Intent,
    MaxDepth,
    ResourceCaveat,
    Tool,
    UnknownCaveat,
    Validity,
)
from delegation.limits import MAX_CAVEAT_BYTES, MAX_CAVEATS, MAX_HOPS, MAX_TOKEN_CHARS
from delegation.testing import fixtures
from delegation.testing.fixtures import root_secret
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

ROOT_SECRET = root_secret(1)  # the conftest keyring's test-only key


def agent(name: str, key: AgentKey) -> Agent:
    return Agent(name, key.public_key)


# --- Scope -------------------------------------------------------------------------------------


def test_scope_builds_caveats_in_a_fixed_order() -> None:
    scope = Scope(
        audiences=["crm"],
        tools=["t"],
        actions=["a"],
        resources=["/r/**"],
        intents=["i"],
        args=[ArgConstraint.at_most("n", 3)],
        expires=NOW + 10,
        not_before=NOW - 10,
        max_depth=1,
        delegatees=["sub-*"],
        extra=[Tool(("t",))],
    )
    assert scope.caveats(NOW) == [
        Validity(NOW - 10, NOW + 10),
        Audience(("crm",)),
        Tool(("t",)),
        Action(("a",)),
        Intent(("i",)),
        ResourceCaveat(("/r/**",)),
        Args((ArgConstraint.at_most("n", 3),)),
        MaxDepth(1),
        Delegatees(("sub-*",)),
        Tool(("t",)),
    ]
    assert Scope().caveats(NOW) == []


def test_scope_expires_in_is_relative_to_the_clock_passed_in() -> None:
    assert Scope(expires_in=60).caveats(NOW) == [Validity(None, NOW + 60)]
    with pytest.raises(AuthoringError, match="not both"):
        Scope(expires=NOW, expires_in=60).caveats(NOW)


# --- mint ----------------------------------------------------------------------------------------


def test_mint_builds_a_token_bound_to_the_holder(
    root_token: UnverifiedToken, orchestrator: AgentKey, task: TaskRecord
) -> None:
    assert root_token.identifier.key_id == "test-k1"
    assert root_token.identifier.nonce == b"\x00" * 16
    assert root_token.task == task
    assert root_token.holder.public_key == orchestrator.public_key
    assert root_token.holder.hop_id is None
    assert root_token.raw.signature == _crypto.chain_signature(
        ROOT_SECRET, root_token.raw.identifier, root_token.raw.caveats
    )
    assert [c.name for c in root_token.unsafe_caveats()] == [
        "validity",
        "audience",
        "tool",
        "action",
        "intent",
        "resource",
        "max_depth",
    ]


@pytest.mark.parametrize(
    ("scope", "missing"),
    [
        (Scope(expires=NOW + 60), "audience"),
        (Scope(audiences=["crm"]), "expiry"),
        (Scope(audiences=["crm"], not_before=NOW), "expiry"),
        (Scope(tools=["t"], max_depth=1), "audience"),
        (Scope(), "audience"),
    ],
)
def test_mint_refuses_a_token_without_audience_or_expiry(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, scope: Scope, missing: str
) -> None:
    with pytest.raises(AuthoringError, match=missing):
        mint(keyring, task, agent("o", orchestrator), scope, now=NOW)


def test_mint_accepts_mandatory_caveats_given_as_extras(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey
) -> None:
    scope = Scope(extra=[Audience(("crm",)), Validity(None, NOW + 5)])
    token = mint(keyring, task, agent("o", orchestrator), scope, now=NOW)
    assert len(token.raw.caveats) == 2


def test_mint_uses_the_current_key_and_random_nonces(
    task: TaskRecord, orchestrator: AgentKey
) -> None:
    ring = Keyring([RootKey("k-a", b"\x0a" * 32), RootKey("k-b", b"\x0b" * 32)], "k-b")
    scope = Scope(["crm"], expires=NOW + 5)
    a = mint(ring, task, agent("o", orchestrator), scope, now=NOW)
    b = mint(ring, task, agent("o", orchestrator), scope, now=NOW)
    assert a.identifier.key_id == "k-b"
    assert a.identifier.nonce != b.identifier.nonce
    assert a.root_id != b.root_id


def test_mint_is_reproducible_with_a_fixed_nonce(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, root_scope: Scope
) -> None:
    a = _mint(
        keyring,
        task,
        agent("orchestrator", orchestrator),
        root_scope,
        now=NOW,
        nonce=b"\x00" * 16,
        location=None,
    )
    b = _mint(
        keyring,
        task,
        agent("orchestrator", orchestrator),
        root_scope,
        now=NOW,
        nonce=b"\x00" * 16,
        location=None,
    )
    assert a.encode() == b.encode()


def test_mint_refuses_a_widening_inside_its_own_scope(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey
) -> None:
    scope = Scope(["crm"], expires=NOW + 5, extra=[Validity(None, NOW + 50)])
    with pytest.raises(NotNarrowing):
        mint(keyring, task, agent("o", orchestrator), scope, now=NOW)


# mint refuses what decode would refuse, rather than building a token nobody can read.
@pytest.mark.parametrize(
    ("statement", "location", "nonce", "says"),
    [
        pytest.param(
            "\u00e9" * 2048, None, None, "identifier would exceed", id="identifier-over-4096-bytes"
        ),
        pytest.param("s", "x" * 300, None, "location is longer", id="location-over-256-bytes"),
        pytest.param("s", "a\nb", None, "location holds control", id="location-control-character"),
        pytest.param("s", None, b"short", "nonce is 16 bytes", id="nonce-not-16-bytes"),
    ],
)
def test_mint_never_builds_a_token_that_does_not_decode(
    keyring: Keyring,
    orchestrator: AgentKey,
    statement: str,
    location: str | None,
    nonce: bytes | None,
    says: str,
) -> None:
    task = TaskRecord(task_id="t", approved_by="a", approved_at=NOW, statement=statement)
    scope = Scope(["crm"], expires=NOW + 5)
    with pytest.raises(AuthoringError, match=says):  # each would not decode, so each is refused
        _mint(
            keyring,
            task,
            agent("o", orchestrator),
            scope,
            now=NOW,
            location=location,
            nonce=bytes(16) if nonce is None else nonce,
        )


# Guards against: mint not checking `location` (at most MAX_LOCATION_BYTES, printable), and so
# returning a token that decode() then refuses (TokenTooLarge / MalformedToken).
@pytest.mark.parametrize("location", ["x" * 300, "line\nbreak"])
def test_core_mint_refuses_a_location_decode_would_refuse(location: str) -> None:
    keyring = fixtures.keyring(fixtures.root_key(1))  # test-only key
    holder = Agent("o", fixtures.agent_key(1).public_key)  # test-only key
    task = TaskRecord(task_id="t", approved_by="a", approved_at=0, statement="s")
    with pytest.raises(AuthoringError, match=r"^location: "):
        mint(keyring, task, holder, Scope(audiences=["crm"], expires_in=60), location=location)


# --- attenuate ---------------------------------------------------------------------------------


def test_attenuate_appends_and_keeps_every_caveat(root_token: UnverifiedToken) -> None:
    child = attenuate(root_token, Scope(tools=["crm.read"], expires=NOW + 60), now=NOW)
    n = len(root_token.raw.caveats)
    assert child.raw.caveats[:n] == root_token.raw.caveats
    assert child.raw.identifier == root_token.raw.identifier
    assert child.unsafe_caveats()[n:] == (Validity(None, NOW + 60), Tool(("crm.read",)))
    assert child.raw.signature != root_token.raw.signature
    sig = root_token.raw.signature
    for raw in child.raw.caveats[n:]:
        sig = _crypto.chain_step(sig, raw)
    assert child.raw.signature == sig
    assert child.root_id == root_token.root_id


def test_attenuate_accepts_text_and_caveat_lists(root_token: UnverifiedToken) -> None:
    a = attenuate(root_token.encode(), [Tool(("crm.read",))])
    b = attenuate(root_token, Scope(tools=["crm.read"]))
    assert a.encode() == b.encode()


def test_attenuate_with_nothing_is_the_same_token(root_token: UnverifiedToken) -> None:
    assert attenuate(root_token, []).encode() == root_token.encode()


def test_attenuate_never_removes_a_caveat(root_token: UnverifiedToken) -> None:
    # The only way to remove a caveat is to drop it from the chain and keep a signature,
    # which then matches no chain: no holder has the signature from before it.
    child = attenuate(root_token, [Tool(("crm.read",))])
    dropped = _wire.RawMacaroon(
        child.raw.identifier, child.raw.caveats[:-1], child.raw.signature, None
    )
    assert dropped.signature != _crypto.chain_signature(
        ROOT_SECRET, dropped.identifier, dropped.caveats
    )


@pytest.mark.parametrize(
    "widening",
    [
        pytest.param(Scope(expires=NOW + 3601), id="later-expiry"),
        pytest.param(Scope(tools=["crm.delete"]), id="tool-outside-set"),
        pytest.param(Scope(tools=["crm.read", "crm.delete"]), id="tool-set-plus-one"),
        pytest.param(Scope(actions=["delete"]), id="action-outside-set"),
        pytest.param(Scope(intents=["exfiltrate"]), id="intent-outside-set"),
        pytest.param(Scope(resources=["crm://accounts/**"]), id="resource-not-inside"),
        pytest.param(Scope(resources=["crm://accounts/43/**"]), id="resource-sibling"),
        pytest.param(Scope(resources=["crm://accounts/420/**"]), id="resource-prefix"),
        pytest.param(Scope(max_depth=3), id="max-depth-raise"),
        pytest.param(Scope(audiences=["billing"]), id="audience-outside-set"),
    ],
)
def test_attenuate_refuses_widening(root_token: UnverifiedToken, widening: Scope) -> None:
    with pytest.raises(NotNarrowing):
        attenuate(root_token, widening, now=NOW)


def test_attenuate_refuses_widening_args_and_delegatees(root_token: UnverifiedToken) -> None:
    token = attenuate(
        root_token,
        Scope(
            args=[ArgConstraint.one_of("n", (1, 2)), ArgConstraint.at_most("m", 10)],
            delegatees=["sub-*"],
        ),
    )
    for widening in (
        Scope(args=[ArgConstraint.equals("n", 3)]),
        Scope(args=[ArgConstraint.at_most("m", 11)]),
        Scope(delegatees=["*"]),
        Scope(delegatees=["other"]),
    ):
        with pytest.raises(NotNarrowing):
            attenuate(token, widening)
    attenuate(token, Scope(args=[ArgConstraint.equals("n", 2), ArgConstraint.at_most("m", 10)]))
    attenuate(token, Scope(delegatees=["sub-a"]))


# Guards against: a bare str where a sequence of patterns is expected being split into its
# characters (mypy accepts it: str is a Sequence[str]). Scope(delegatees="researcher-*") would
# become the patterns {"*", "-", "c", ...}: "*" lets the holder delegate to any agent at all.
def test_a_bare_string_of_delegatee_patterns_is_not_a_wildcard(
    root_token: UnverifiedToken,
) -> None:
    with pytest.raises(AuthoringError, match="delegatees is a list of texts, not one text"):
        attenuate(root_token, Scope(delegatees="researcher-*"), now=NOW)
    with pytest.raises(MalformedToken, match="not one text"):  # and the caveat itself
        Delegatees("researcher-*")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "narrowing",
    [
        Scope(expires=NOW + 3600),
        Scope(expires=NOW + 1),
        Scope(tools=["crm.read"]),
        Scope(tools=["crm.read", "crm.update"]),
        Scope(resources=["crm://accounts/42/notes"]),
        Scope(resources=["crm://accounts/42/**"]),
        Scope(max_depth=2),
        Scope(max_depth=0),
        Scope(not_before=NOW + 100),
    ],
)
def test_attenuate_accepts_equal_or_narrower(root_token: UnverifiedToken, narrowing: Scope) -> None:
    attenuate(root_token, narrowing, now=NOW)


def test_a_refused_attenuation_leaves_the_parent_untouched(root_token: UnverifiedToken) -> None:
    before = root_token.encode()
    with pytest.raises(NotNarrowing):
        attenuate(root_token, [Tool(("crm.read",)), Tool(("crm.delete",))])
    assert root_token.encode() == before


def test_attenuate_checks_each_new_caveat_against_the_earlier_new_ones(
    root_token: UnverifiedToken,
) -> None:
    with pytest.raises(NotNarrowing):
        attenuate(root_token, [Tool(("crm.read",)), Tool(("crm.update",))])


def test_caveat_count_limit(root_token: UnverifiedToken) -> None:
    room = MAX_CAVEATS - len(root_token.raw.caveats)
    full = attenuate(root_token, [Tool(("crm.read",))] * room)
    assert len(full.raw.caveats) == MAX_CAVEATS
    with pytest.raises(AuthoringError, match="at most"):
        attenuate(full, [Tool(("crm.read",))])
    with pytest.raises(AuthoringError):
        attenuate(root_token, [Tool(("crm.read",))] * (room + 1))


def test_size_limit(root_token: UnverifiedToken) -> None:
    big = ResourceCaveat(tuple(f"crm://accounts/42/{i:02d}{'x' * 900}" for i in range(20)))
    with pytest.raises(AuthoringError, match="size limit"):
        attenuate(root_token, [big])


# A caveat over MAX_CAVEAT_BYTES is refused at authoring time, not at the next decode.
def test_attenuate_never_builds_a_token_that_does_not_decode(root_token: UnverifiedToken) -> None:
    big = ResourceCaveat(tuple(f"crm://accounts/42/{i:02d}{'x' * 200}" for i in range(12)))
    assert len(big.encode()) > MAX_CAVEAT_BYTES
    with pytest.raises(AuthoringError, match="size limit"):
        attenuate(root_token, [big])


def test_unknown_caveats_are_carried_byte_for_byte(root_token: UnverifiedToken) -> None:
    raw = _cbor.dumps([5000, {"approved": True}])
    token = _forge.append_raw(root_token, raw)
    parsed = decode(token.encode()).unsafe_caveats()[-1]
    assert isinstance(parsed, UnknownCaveat)
    child = attenuate(token.encode(), [Tool(("crm.read",))])
    assert child.raw.caveats[-2].cid == raw
    assert decode(child.encode()).raw.caveats[-2].cid == raw


# Guards against: _append refusing a Hop object and checking narrowing on the object it is
# given, but decoding its bytes with the default registry without comparing the type. An
# UnknownCaveat carrying a hop's or a wider tool caveat's bytes would pass both checks, contrary
# to caveats.md "Authoring rules" (the verifier would still deny: no escalation).
def test_attenuate_sees_through_core_caveats_disguised_as_unknown(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    child = delegate(root_token, orchestrator, Agent("researcher", researcher.public_key), now=NOW)
    hop_bytes = child.raw.caveats[-1].cid
    with pytest.raises(AuthoringError):
        attenuate(root_token, [UnknownCaveat(10, hop_bytes)], now=NOW)
    with pytest.raises(NotNarrowing):
        attenuate(root_token, [UnknownCaveat(3, Tool(("crm.delete",)).encode())], now=NOW)


# --- delegate ------------------------------------------------------------------------------------


def test_delegate_appends_a_signed_hop_then_the_scope(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    child = delegate(
        root_token,
        orchestrator,
        agent("researcher", researcher),
        Scope(tools=["crm.read"]),
        now=NOW,
    )
    n = len(root_token.raw.caveats)
    hop, tool = child.unsafe_caveats()[n:]
    assert isinstance(hop, Hop)
    assert tool == Tool(("crm.read",))
    assert (hop.agent_id, hop.public_key) == ("researcher", researcher.public_key)
    message = _crypto.hop_message(
        _forge.chain_digest(root_token), "researcher", researcher.public_key
    )
    assert _crypto.ed25519_verify(orchestrator.public_key, hop.signature, message)
    assert child.holder.public_key == researcher.public_key
    assert [link.agent_id for link in child.agents()] == ["orchestrator", "researcher"]


def test_delegate_refuses_a_key_that_is_not_the_holder(
    root_token: UnverifiedToken, researcher: AgentKey, writer: AgentKey, orchestrator: AgentKey
) -> None:
    with pytest.raises(AuthoringError, match="current holder"):
        delegate(root_token, researcher, agent("writer", writer))
    child = delegate(root_token, orchestrator, agent("researcher", researcher))
    # after delegating, the former holder can no longer delegate this token
    with pytest.raises(AuthoringError, match="current holder"):
        delegate(child, orchestrator, agent("writer", writer))


def test_delegate_refuses_a_key_already_in_the_chain(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    with pytest.raises(AuthoringError, match="already in the chain"):
        delegate(root_token, orchestrator, agent("me-again", orchestrator))
    child = delegate(root_token, orchestrator, agent("researcher", researcher))
    with pytest.raises(AuthoringError, match="already in the chain"):
        delegate(child, researcher, agent("back-to-orchestrator", orchestrator))
    with pytest.raises(AuthoringError, match="already in the chain"):
        delegate(child, researcher, agent("researcher-2", researcher))


def test_delegate_respects_depth_caps(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey
) -> None:
    keys = [seeded_agent(40 + i) for i in range(4)]
    token = mint(
        keyring, task, agent("a0", orchestrator), Scope(["crm"], expires=NOW + 5, max_depth=2)
    )
    token = delegate(token, orchestrator, agent("a1", keys[0]))
    token = delegate(token, keys[0], agent("a2", keys[1]))
    with pytest.raises(NotNarrowing, match="max_depth"):
        delegate(token, keys[1], agent("a3", keys[2]))


def test_a_delegator_can_lower_but_not_raise_the_depth(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey, writer: AgentKey
) -> None:
    with pytest.raises(NotNarrowing):
        delegate(root_token, orchestrator, agent("researcher", researcher), Scope(max_depth=2))
    child = delegate(root_token, orchestrator, agent("researcher", researcher), Scope(max_depth=0))
    with pytest.raises(NotNarrowing, match="max_depth"):
        delegate(child, researcher, agent("writer", writer))


def test_delegate_respects_delegatee_lists(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    token = attenuate(root_token, Scope(delegatees=["sub-*"]))
    with pytest.raises(NotNarrowing, match="delegatee"):
        delegate(token, orchestrator, agent("researcher", researcher))
    with pytest.raises(NotNarrowing):
        delegate(token, orchestrator, agent("sub", researcher))
    delegate(token, orchestrator, agent("sub-researcher", researcher))


def test_delegate_refuses_widening_scope(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey
) -> None:
    with pytest.raises(NotNarrowing):
        delegate(root_token, orchestrator, agent("r", researcher), Scope(tools=["crm.delete"]))
    with pytest.raises(NotNarrowing):
        delegate(root_token, orchestrator, agent("r", researcher), Scope(expires=NOW + 7200))


def test_delegate_refuses_more_than_max_hops(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey
) -> None:
    keys = [orchestrator] + [seeded_agent(60 + i) for i in range(MAX_HOPS + 1)]
    token = mint(keyring, task, agent("a0", orchestrator), Scope(["crm"], expires=NOW + 5))
    for i in range(MAX_HOPS):
        token = delegate(token, keys[i], agent(f"a{i + 1}", keys[i + 1]))
    with pytest.raises(NotNarrowing, match="at most"):
        delegate(token, keys[MAX_HOPS], agent("one-too-many", keys[MAX_HOPS + 1]))


# --- ids -----------------------------------------------------------------------------------------


def test_token_and_hop_ids_are_stable_and_distinct_for_siblings(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey, writer: AgentKey
) -> None:
    to_researcher = delegate(root_token, orchestrator, agent("researcher", researcher))
    to_writer = delegate(root_token, orchestrator, agent("writer", writer))
    # every token derived from one root shares its token id
    assert root_token.root_id == to_researcher.root_id == to_writer.root_id
    assert len(root_token.root_id) == 32
    hop_r = to_researcher.holder.hop_id
    hop_w = to_writer.holder.hop_id
    assert hop_r is not None
    assert hop_w is not None
    assert hop_r != hop_w
    # stable: decoding again, or attenuating further, keeps the earlier hop id
    assert decode(to_researcher.encode()).holder.hop_id == hop_r
    narrower = attenuate(to_researcher, Scope(tools=["crm.read"]))
    assert narrower.agents()[1].hop_id == hop_r
    # a sibling delegation with a narrower scope after the hop still has its own hop id
    deeper = delegate(narrower, researcher, agent("writer", writer))
    assert deeper.agents()[1].hop_id == hop_r
    assert deeper.holder.hop_id not in (hop_r, hop_w)
    # the same hop after a different prefix is a different branch
    other_prefix = delegate(
        attenuate(root_token, Scope(tools=["crm.read"])),
        orchestrator,
        agent("researcher", researcher),
    )
    assert other_prefix.holder.hop_id != hop_r


def test_token_ids_differ_between_roots(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, root_scope: Scope
) -> None:
    a = _mint(
        keyring,
        task,
        agent("o", orchestrator),
        root_scope,
        nonce=b"\x01" * 16,
        location=None,
        now=None,
    )
    b = _mint(
        keyring,
        task,
        agent("o", orchestrator),
        root_scope,
        nonce=b"\x02" * 16,
        location=None,
        now=None,
    )
    assert a.root_id != b.root_id


# --- decode and the text form --------------------------------------------------------------------


def test_decode_encode_round_trip(root_token: UnverifiedToken) -> None:
    text = root_token.encode()
    assert str(root_token) == text
    assert decode(text).encode() == text
    assert decode(text).token_bytes == root_token.token_bytes
    assert "\n" not in text
    assert "=" not in text
    assert len(text) < MAX_TOKEN_CHARS


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda t: t + "=", Code.MALFORMED),
        (lambda t: t + "A", Code.MALFORMED),
        (lambda t: t[:-1], Code.MALFORMED),
        (lambda t: " " + t, Code.MALFORMED),
        (lambda t: t.replace("-", "+").replace("_", "/"), Code.MALFORMED),
        (lambda t: t + "A" * MAX_TOKEN_CHARS, Code.TOO_LARGE),
        (lambda t: "", Code.MALFORMED),
    ],
)
def test_decode_rejects_other_spellings(
    root_token: UnverifiedToken, mangle: Callable[[str], str], code: Code
) -> None:
    text = mangle(root_token.encode())
    assert text != root_token.encode()
    with pytest.raises(TokenError) as info:
        decode(text)
    assert info.value.code is code


def test_non_canonical_padding_bits_are_rejected(root_token: UnverifiedToken) -> None:
    # a token whose length leaves spare bits in the last character
    candidates = [
        attenuate(root_token, [Intent(("summarise",))]),
        attenuate(root_token, [Action(("read",))]),
    ]
    text = next(t.encode() for t in [root_token, *candidates] if len(t.encode()) % 4 != 0)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = text[:-1] + alphabet[alphabet.index(text[-1]) | 1]  # set the lowest, unused bit
    assert other != text
    with pytest.raises(MalformedToken, match="canonical"):
        decode(other)


def test_decode_does_not_check_the_signature(root_token: UnverifiedToken) -> None:
    forged = _wire.RawMacaroon(root_token.raw.identifier, root_token.raw.caveats, b"\x00" * 32)
    assert decode(_wire.b64encode(_wire.encode(forged))).task == root_token.task


# --- identifier -----------------------------------------------------------------------------------


def _identifier_dict(root_token: UnverifiedToken) -> dict[int, object]:
    value = _cbor.loads(root_token.raw.identifier)
    assert isinstance(value, dict)
    return dict(value)


def test_identifier_round_trip(root_token: UnverifiedToken) -> None:
    ident = Identifier.decode(root_token.raw.identifier)
    assert ident.encode() == root_token.raw.identifier
    assert set(_identifier_dict(root_token)) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (1, 2),  # format version 2
        (1, True),  # version as a boolean
        (1, "1"),
        (2, ""),
        (2, b"test-k1"),
        (2, 1),
        (3, b"\x00" * 15),
        (3, b"\x00" * 17),
        (3, "0" * 16),
        (4, ["t", "a", NOW]),
        (4, ["t", "a", -1, "s"]),
        (5, ["o"]),  # holder without a key
        (5, ["o", b"\x00" * 31]),
        (5, ["", b"\x00" * 32]),
    ],
)
def test_bad_identifier_fields_are_malformed(
    root_token: UnverifiedToken, field: int, value: object
) -> None:
    doc = _identifier_dict(root_token)
    doc[field] = value
    with pytest.raises(MalformedToken):
        Identifier.decode(_cbor.dumps(doc))


@pytest.mark.parametrize("drop", [1, 2, 3, 4, 5])
def test_identifier_missing_a_field_is_malformed(root_token: UnverifiedToken, drop: int) -> None:
    doc = _identifier_dict(root_token)
    del doc[drop]
    with pytest.raises(MalformedToken):
        Identifier.decode(_cbor.dumps(doc))


def test_identifier_with_an_extra_field_is_malformed(root_token: UnverifiedToken) -> None:
    doc = _identifier_dict(root_token)
    doc[6] = 0
    with pytest.raises(MalformedToken):
        Identifier.decode(_cbor.dumps(doc))


def test_identifier_that_is_not_a_map_is_malformed() -> None:
    for value in ([1, 2, 3, 4, 5], 1, b"", "id"):
        with pytest.raises(MalformedToken):
            Identifier.decode(_cbor.dumps(value))


# --- describe and repr ----------------------------------------------------------------------------


def _secret_spellings(data: bytes) -> list[str]:
    return [data.hex(), data.hex().upper(), _wire.b64encode(data), repr(data)[2:-1]]


def test_describe_shows_the_chain_and_holds_no_secrets(
    root_token: UnverifiedToken, orchestrator: AgentKey, researcher: AgentKey, task: TaskRecord
) -> None:
    token = delegate(
        root_token, orchestrator, agent("researcher", researcher), Scope(tools=["crm.read"])
    )
    view = token.describe()
    assert (view["token_id"], view["root_id"]) == (token.token_id, token.root_id)
    assert view["key_id"] == "test-k1"
    assert view["location"] is None
    assert view["task"] == task.to_json()
    assert view["agents"] == [link.to_json() for link in token.agents()]
    assert [c["type"] for c in view["caveats"]][-2:] == ["hop", "tool"]
    assert [c["hop"] for c in view["caveats"]] == [0] * 7 + [1, 1]
    assert [c["index"] for c in view["caveats"]] == list(range(9))
    assert view["caveats"][-2]["value"] == {
        "agent_id": "researcher",
        "public_key": encode_public_key(researcher.public_key),
    }
    text = json.dumps(view)
    hop = token.unsafe_caveats()[7]
    assert isinstance(hop, Hop)
    for secret in (ROOT_SECRET, token.raw.signature, root_token.raw.signature, hop.signature):
        for spelling in _secret_spellings(secret):
            assert spelling not in text


def test_repr_names_the_token_without_secrets(root_token: UnverifiedToken) -> None:
    text = repr(root_token)
    assert root_token.token_id in text
    for spelling in _secret_spellings(root_token.raw.signature):
        assert spelling not in text
    assert root_token.encode() not in text


def test_authoring_errors_do_not_echo_the_token(
    root_token: UnverifiedToken, researcher: AgentKey, writer: AgentKey
) -> None:
    with pytest.raises(AuthoringError) as info:
        delegate(root_token, researcher, agent("writer", writer))
    for spelling in [*_secret_spellings(root_token.raw.signature), root_token.encode()]:
        assert spelling not in str(info.value)


def test_delegate_and_mint_refuse_an_unsigned_hop_smuggled_in_the_scope(
    keyring: Keyring,
    task: TaskRecord,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    writer: AgentKey,
) -> None:
    smuggled = Hop("writer", writer.public_key, bytes(64))
    with pytest.raises(AuthoringError, match="delegate"):
        delegate(
            root_token,
            orchestrator,
            Agent("researcher", researcher.public_key),
            Scope(extra=[smuggled]),
        )
    with pytest.raises(AuthoringError, match="delegate"):
        mint(
            keyring,
            task,
            Agent("orchestrator", orchestrator.public_key),
            Scope(audiences=["crm"], expires=NOW + 60, extra=[smuggled]),
            now=NOW,
        )


def test_an_unverified_token_is_immutable(root_token: UnverifiedToken) -> None:
    # Guards against: a token whose identifier (holder, task) or bytes were swapped after its
    # raw form was decoded, so the MAC, the proof and the revocation lookup read different tokens.
    other = attenuate(root_token, Scope(tools=["crm.read"]), now=NOW)
    for name, value in (
        ("identifier", other.identifier),
        ("raw", other.raw),
        ("token_bytes", other.token_bytes),
        ("_caveats", ()),
    ):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(root_token, name, value)
    with pytest.raises(TypeError):
        UnverifiedToken(root_token.raw, other.token_bytes)  # type: ignore[call-arg]
    assert UnverifiedToken(root_token.raw).token_bytes == root_token.token_bytes
