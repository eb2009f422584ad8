"""Module-level fixtures and helpers for the property tests.

Hypothesis cannot use function-scoped pytest fixtures, so the fixed keys, keyring and clock of
``tests/conftest.py`` are module constants here, from ``delegation.testing.fixtures``. Every key
is a TEST FIXTURE ONLY (fixed seeds); never use one for anything real.

The ``force_*`` helpers play an adversarial holder: they append caveats and hops to the HMAC
chain exactly as the library does but skip the authoring-time narrowing checks, so the
properties exercise the verifier's laws rather than the authoring guard rails.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from delegation import (
    Agent,
    AgentKey,
    Caveat,
    Decision,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _crypto,
    _wire,
    attenuate,
    delegate,
)
from delegation._proof import Proof, _prove
from delegation._token import _mint
from delegation.caveats import Hop
from delegation.errors import Code
from delegation.testing.fixtures import NOW, agent_key, keyring

KEYRING = keyring()
"""Test-only root key, the same as the ``keyring`` fixture."""

TASK = TaskRecord(
    task_id="task-42",
    approved_by="alice@example.com",
    approved_at=NOW - 60,
    statement="Summarise account 42's notes",
)

AGENT_NUMBERS = (1, 2, 3, 4, 5, 6, 7, 10)
"""Seeds of the test agents; agent-1 and agent-10 are there for prefix confusion."""
KEYS: dict[int, AgentKey] = {n: agent_key(n) for n in AGENT_NUMBERS}
AGENTS: dict[int, Agent] = {n: Agent(f"agent-{n}", KEYS[n].public_key) for n in AGENT_NUMBERS}
KEY_BY_PUBLIC: dict[bytes, AgentKey] = {k.public_key: k for k in KEYS.values()}

INTEGRITY_CODES = frozenset({Code.MALFORMED, Code.TOO_LARGE, Code.BAD_SIGNATURE, Code.UNKNOWN_KEY})

_nonces = itertools.count(1)


def fresh_nonce() -> bytes:
    """A proof nonce never used before in this process, so no check trips over replay."""
    return next(_nonces).to_bytes(16, "big")


def new_verifier(at: int = NOW) -> Verifier:
    return Verifier(KEYRING, state=MemoryState(), clock=lambda: at)


def mint_root(scope: Scope, *, holder: int = 1, nonce: bytes = b"\x00" * 16) -> UnverifiedToken:
    return _mint(KEYRING, TASK, AGENTS[holder], scope, now=NOW, nonce=nonce, location=None)


def holder_key(token: UnverifiedToken) -> AgentKey:
    return KEY_BY_PUBLIC[token.holder.public_key]


def proof_for(
    token: UnverifiedToken, request: Request, *, key: AgentKey | None = None, at: int = NOW
) -> str:
    """A proof of possession for ``request``; by ``key`` if given, even if it is not the holder."""
    if key is None:
        return _prove(token, holder_key(token), request, now=at, nonce=fresh_nonce())
    unsigned = Proof(at, fresh_nonce(), b"")
    signature = key.sign(unsigned.message(token.token_bytes, request))
    return Proof(at, unsigned.nonce, signature).encode()


def verify_as_holder(
    token: UnverifiedToken, request: Request, *, at: int = NOW, verifier: Verifier | None = None
) -> Decision:
    """Verify ``token`` for ``request`` at ``at`` with a fresh proof by its holder."""
    v = verifier if verifier is not None else new_verifier(at)
    return v.verify(token.encode(), request, proof_for(token, request, at=at))


def codes(decision: Decision) -> tuple[Code, ...]:
    return tuple(r.code for r in decision.reasons)


def rebuild(
    token: UnverifiedToken,
    caveats: Sequence[_wire.RawCaveat],
    signature: bytes | None = None,
) -> bytes:
    """The binary token with other caveats and (optionally) signature, NOT re-signed."""
    raw = token.raw
    sig = raw.signature if signature is None else signature
    return _wire.encode(_wire.RawMacaroon(raw.identifier, tuple(caveats), sig, raw.location))


def force_append_raw(token: UnverifiedToken, cids: Sequence[bytes]) -> UnverifiedToken:
    """Append caveat bodies to the HMAC chain as any holder can, with no narrowing check."""
    raw = token.raw
    sig = raw.signature
    caveats = list(raw.caveats)
    for cid in cids:
        cav = _wire.RawCaveat(cid)
        sig = _crypto.chain_step(sig, cav)
        caveats.append(cav)
    return UnverifiedToken(_wire.RawMacaroon(raw.identifier, tuple(caveats), sig, raw.location))


def force_append(token: UnverifiedToken, caveats: Sequence[Caveat]) -> UnverifiedToken:
    return force_append_raw(token, [c.encode() for c in caveats])


def force_delegate(token: UnverifiedToken, to: Agent) -> UnverifiedToken:
    """A hop correctly signed by the holder in force, skipping depth and delegatee checks."""
    digest = _crypto.digest_start(token.raw.identifier)
    for raw in token.raw.caveats:
        digest = _crypto.digest_step(digest, raw)
    signature = holder_key(token).sign(_crypto.hop_message(digest, to.agent_id, to.public_key))
    return force_append(token, [Hop(to.agent_id, to.public_key, signature)])


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_internal_errors() -> Iterator[None]:
    """Fail if the library logs an error: its catch-all ``except Exception`` hid a bug."""
    handler = _ErrorLog()
    logger = logging.getLogger("delegation")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in handler.records]
    assert not messages, f"the library hit its catch-all handler: {messages}"


# A small story, built once: the tokens that tamper and fuzz properties start from.
STORY_SCOPE = Scope(
    audiences=["crm"],
    tools=["t.read", "t.write"],
    actions=["read"],
    resources=["crm://accounts/42/**"],
    intents=["sum"],
    expires=NOW + 3600,
    max_depth=3,
)
STORY_REQUEST = Request(
    audience="crm",
    tool="t.read",
    action="read",
    resource="crm://accounts/42/notes/n1",
    intent="sum",
    args={"n": 1},
)
ROOT = mint_root(STORY_SCOPE)
NARROW = attenuate(ROOT, Scope(tools=["t.read"]), now=NOW)
HOP1 = delegate(NARROW, KEYS[1], AGENTS[2], Scope(resources=["crm://accounts/42/notes/*"]), now=NOW)
HOP2 = delegate(HOP1, KEYS[2], AGENTS[3], Scope(expires=NOW + 600), now=NOW)
SIBLING = delegate(NARROW, KEYS[1], AGENTS[4], Scope(actions=["read"]), now=NOW)
OTHER_ROOT = attenuate(mint_root(STORY_SCOPE, nonce=b"\x01" * 16), Scope(intents=["sum"]), now=NOW)
STORY = (ROOT, NARROW, HOP1, HOP2, SIBLING, OTHER_ROOT)
"""Every one of these allows STORY_REQUEST at NOW with a proof by its holder."""
LEGIT_BYTES = frozenset(t.token_bytes for t in STORY)
