"""The verifier's chain cache (``delegation/_verifier/__init__.py``): it keeps what steps 1-5
decided about the exact token bytes (a pure function of them, the keyring and the registry),
within its bounds, and nothing that is decided per call (``specs/verification.md``).

Each test counts how often the chain is really checked, by wrapping ``check_chain``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar, Self

import pytest

from delegation import (
    AgentKey,
    Code,
    Keyring,
    MemoryState,
    Request,
    Revocation,
    RevocationKind,
    Scope,
    UnverifiedToken,
    Verifier,
    _verifier,
    attenuate,
    prove,
)
from delegation._cbor import CBORValue
from delegation._verifier import entry_cost
from delegation.caveats import Caveat, CheckContext, default_registry
from delegation.errors import CaveatFailed, MalformedToken
from tests.clock import Clock
from tests.conftest import NOW


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[UnverifiedToken]:
    """Every token whose chain is really checked (steps 2-5), in order."""
    seen: list[UnverifiedToken] = []
    real = _verifier.check_chain  # type: ignore[attr-defined]

    def counting(tok: UnverifiedToken, *args: object) -> _verifier.VerifiedChain:
        seen.append(tok)
        return real(tok, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_verifier, "check_chain", counting)
    return seen


def _verify(
    verifier: Verifier, token: UnverifiedToken, key: AgentKey, request: Request, at: int = NOW
) -> list[Code]:
    decision = verifier.verify(token.encode(), request, prove(token, key, request, now=at))
    return [r.code for r in decision.reasons]


def test_a_token_seen_before_is_not_checked_again(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    checks: list[UnverifiedToken],
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    for _ in range(3):
        assert _verify(verifier, root_token, orchestrator, read_request) == []
    assert len(checks) == 1
    assert verifier.check_chain(root_token.encode()) is verifier.check_chain(root_token)


class _Sly(str):
    """A text that claims to equal every other text, and hashes as ``target`` does."""

    target = ""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash(self.target)

    __ne__ = str.__ne__


def test_a_str_subclass_token_is_checked_as_its_own_text_never_found_by_its_equality(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert _verify(verifier, root_token, orchestrator, read_request) == []  # now cached
    text = root_token.encode()
    _Sly.target = text  # found under the cached token's hash, equal to it by its own say
    tampered = _Sly(text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1])
    proof = prove(root_token, orchestrator, read_request, now=NOW)
    decision = verifier.verify(tampered, read_request, proof)
    assert not decision
    assert decision.reasons[0].code in (Code.BAD_SIGNATURE, Code.MALFORMED)
    # and the genuine text in a subclass is the genuine token
    again = prove(root_token, orchestrator, read_request, now=NOW)
    assert verifier.verify(_Sly(text), read_request, again)


def test_what_is_decided_per_call_is_decided_per_call_on_a_cached_chain(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    checks: list[UnverifiedToken],
) -> None:
    clock = Clock(NOW)
    state = MemoryState()
    verifier = Verifier(keyring, state=state, clock=clock)
    limited = attenuate(root_token, Scope(max_uses=2), now=NOW)
    assert _verify(verifier, limited, orchestrator, read_request) == []
    # scope: another tool, on the same cached chain
    other = Request(audience="crm", tool="crm.delete", action="read", intent="summarise")
    assert Code.TOOL_NOT_ALLOWED in _verify(verifier, limited, orchestrator, other)
    # replay: the very same proof again
    proof = prove(limited, orchestrator, read_request, now=NOW)
    assert verifier.verify(limited.encode(), read_request, proof)
    assert [r.code for r in verifier.verify(limited.encode(), read_request, proof).reasons] == [
        Code.REPLAY
    ]
    # uses: both spent now
    assert _verify(verifier, limited, orchestrator, read_request) == [Code.USES_EXHAUSTED]
    # revocation and expiry, after the chain was cached
    assert _verify(verifier, root_token, orchestrator, read_request) == []
    state.revoke(Revocation(RevocationKind.TASK, root_token.task.task_id), NOW)
    assert _verify(verifier, root_token, orchestrator, read_request) == [Code.REVOKED]
    fresh = Verifier(keyring, state=MemoryState(), clock=clock)
    assert _verify(fresh, root_token, orchestrator, read_request) == []
    clock.now = NOW + 3600
    assert _verify(fresh, root_token, orchestrator, read_request, NOW + 3600) == [Code.EXPIRED]
    assert len(checks) == 3  # limited, root_token, root_token in the fresh verifier


def test_the_cache_is_bounded_in_entries(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    checks: list[UnverifiedToken],
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, chain_cache_size=2)
    tokens = [attenuate(root_token, Scope(expires=NOW + 100 + n), now=NOW) for n in range(3)]
    for token in tokens:
        verifier.check_chain(token.encode())
    assert len(checks) == 3
    verifier.check_chain(tokens[2].encode())
    verifier.check_chain(tokens[1].encode())
    assert len(checks) == 3  # the two newest are kept
    verifier.check_chain(tokens[0].encode())
    assert len(checks) == 4  # the oldest was dropped


def test_the_cache_is_bounded_in_bytes(
    keyring: Keyring,
    root_token: UnverifiedToken,
    read_request: Request,
    checks: list[UnverifiedToken],
) -> None:
    text = root_token.encode()
    cost = entry_cost(text, Verifier(keyring, state=None).check_chain(text))
    assert cost > 2 * len(text)  # the estimate counts more than the text
    small = Verifier(keyring, state=None, chain_cache_bytes=cost - 1)
    small.check_chain(text)
    small.check_chain(text)
    assert len(checks) == 3  # never kept: larger than the whole budget
    siblings = [attenuate(root_token, Scope(expires=NOW + 100 + n), now=NOW) for n in range(3)]
    sibling_cost = entry_cost(siblings[0].encode(), small.check_chain(siblings[0].encode()))
    two = Verifier(keyring, state=None, chain_cache_bytes=2 * sibling_cost + 10)
    for token in siblings:
        two.check_chain(token.encode())
    assert len(two._chains) == 2
    assert two._chains_bytes == sum(entry_cost(t, c) for t, c in two._chains.items())


def test_a_zero_size_cache_keeps_nothing(
    keyring: Keyring, root_token: UnverifiedToken, checks: list[UnverifiedToken]
) -> None:
    verifier = Verifier(keyring, state=None, chain_cache_size=0)
    verifier.check_chain(root_token.encode())
    verifier.check_chain(root_token.encode())
    assert len(checks) == 2


def test_denials_are_not_cached(
    keyring: Keyring, root_token: UnverifiedToken, checks: list[UnverifiedToken]
) -> None:
    verifier = Verifier(keyring.rotated().without(keyring.current.key_id), state=None)
    for _ in range(2):
        decision = verifier.verify(
            root_token.encode(), Request(audience="a", tool="t", action="a"), None
        )
        assert [r.code for r in decision.reasons] == [Code.UNKNOWN_KEY]
    assert len(checks) == 2
    assert verifier._chains == {}


def test_a_retired_key_is_unknown_to_a_verifier_of_the_new_keyring(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    # A keyring never changes under a verifier: retiring a key is a new keyring and a new
    # verifier, whose cache starts empty, so nothing checked under the old key survives.
    old = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    assert _verify(old, root_token, orchestrator, read_request) == []
    rotated = keyring.rotated()
    retired = rotated.without(keyring.current.key_id)
    new = Verifier(retired, state=MemoryState(), clock=lambda: NOW)
    assert _verify(new, root_token, orchestrator, read_request) == [Code.UNKNOWN_KEY]


@dataclass(frozen=True, slots=True)
class Tenant(Caveat):
    """An application family registered after a token carrying it was cached."""

    type_id: ClassVar[int] = 4242
    name: ClassVar[str] = "tenant"
    tenant: str

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if not isinstance(body, str):
            raise MalformedToken("a tenant is text")
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.tenant

    def check(self, ctx: CheckContext) -> None:
        if ctx.request.args.get("tenant") != self.tenant:
            raise CaveatFailed(Code.ARGS_NOT_ALLOWED, "another tenant")


def test_registering_a_family_empties_the_cache(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey
) -> None:
    registry = default_registry()
    verifier = Verifier(keyring, state=MemoryState(), registry=registry, clock=lambda: NOW)
    token = attenuate(root_token, Scope(extra=[Tenant("acme")]), now=NOW)
    call = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
        args={"tenant": "acme"},
    )
    assert _verify(verifier, token, orchestrator, call) == [Code.UNKNOWN_CAVEAT]
    registry.register(Tenant)
    assert _verify(verifier, token, orchestrator, call) == []
    chain = verifier.check_chain(token.encode())
    assert verifier._chains_bytes == entry_cost(token.encode(), chain)


def test_concurrent_verifies_share_the_cache_safely(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    verifier = Verifier(keyring, state=MemoryState(), clock=lambda: NOW, chain_cache_size=3)
    tokens = [attenuate(root_token, Scope(expires=NOW + 100 + n), now=NOW) for n in range(8)]
    failures: list[object] = []

    def work(offset: int) -> None:
        for i in range(40):
            token = tokens[(i + offset) % len(tokens)]
            codes = _verify(verifier, token, orchestrator, read_request)
            if codes:
                failures.append(codes)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(verifier._chains) <= 3
    assert verifier._chains_bytes == sum(entry_cost(t, c) for t, c in verifier._chains.items())
