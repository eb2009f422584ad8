"""The fixed test world the strategies, the hostile helpers and the model share.

One keyring (``fixtures.keyring()``), one task, eight agents (``agent-1`` .. ``agent-7`` and
``agent-10``, for prefix confusion), a fixed clock (``fixtures.NOW``), and helpers to mint,
prove and verify in it without thinking about nonces. ``STORY`` is a small chain of genuine
tokens, built once, that every tamper property starts from. Every key is a TEST FIXTURE (fixed
seeds, publicly known): never use one for anything real.

Hypothesis cannot use function-scoped pytest fixtures, so all of this is module constants.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from delegation._decision import Decision
from delegation._keys import AgentKey
from delegation._proof import Proof, _prove
from delegation._request import Request
from delegation._task import Agent, TaskRecord
from delegation._token import Scope, UnverifiedToken, _mint, attenuate, delegate
from delegation._verifier import Verifier
from delegation.caveats import Registry
from delegation.errors import Code
from delegation.stores import MemoryState
from delegation.testing.fixtures import NOW, agent_key, keyring
from delegation.testing.hostile import delegate_unchecked

__all__ = [
    "AGENTS",
    "AGENT_NUMBERS",
    "HOP1",
    "HOP2",
    "INTEGRITY_CODES",
    "KEYRING",
    "KEYS",
    "KEY_BY_PUBLIC",
    "LEGIT_BYTES",
    "NARROW",
    "NOW",
    "OTHER_ROOT",
    "ROOT",
    "SIBLING",
    "STORY",
    "STORY_REQUEST",
    "STORY_SCOPE",
    "TASK",
    "codes",
    "force_delegate",
    "fresh_nonce",
    "holder_key",
    "mint_root",
    "new_verifier",
    "no_internal_errors",
    "proof_for",
    "verify_as_holder",
]

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


def new_verifier(at: int = NOW, *, registry: Registry | None = None) -> Verifier:
    """A verifier of ``KEYRING`` with fresh memory state, whose clock stands at ``at``."""
    return Verifier(KEYRING, state=MemoryState(), registry=registry, clock=lambda: at)


def mint_root(scope: Scope, *, holder: int = 1, nonce: bytes = b"\x00" * 16) -> UnverifiedToken:
    """A root token for ``TASK`` under ``KEYRING``, held by agent ``holder``, minted at ``NOW``.
    Raises AuthoringError as ``mint`` does."""
    return _mint(KEYRING, TASK, AGENTS[holder], scope, now=NOW, nonce=nonce, location=None)


def holder_key(token: UnverifiedToken) -> AgentKey:
    """The private key of ``token``'s holder (one of ``KEYS``). Raises KeyError otherwise."""
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
    """The reason codes of ``decision``, in order."""
    return tuple(r.code for r in decision.reasons)


def force_delegate(token: UnverifiedToken, to: Agent) -> UnverifiedToken:
    """A hop to ``to`` correctly signed by the holder in force, skipping ``delegate``'s depth
    and delegatee checks (``hostile.delegate_unchecked`` with the holder's key)."""
    return delegate_unchecked(token, holder_key(token), to)


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
