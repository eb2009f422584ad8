"""The verifier's type-state and its inputs (``specs/verification.md``; ``specs/threats.md``
TI-12, TI-13, LF-3): only the verifier that checked a chain authorizes it, offline analysis
spends nothing, and a missing or mistyped input is a typed denial, never a crash."""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import Any

import pytest

from delegation import (
    AgentKey,
    Code,
    Keyring,
    MemoryState,
    MisuseError,
    Request,
    Scope,
    UnverifiedToken,
    Verifier,
    attenuate,
    prove,
)
from delegation._keys import RootKey
from tests.conftest import NOW


def test_a_missing_token_is_token_required(verifier: Verifier, read_request: Request) -> None:
    decision = verifier.verify(None, read_request, None)  # type: ignore[arg-type]
    assert [r.code for r in decision.reasons] == [Code.TOKEN_REQUIRED]
    assert decision.reasons[0].detail == "no token was presented"


@pytest.mark.parametrize("token", [b"bytes", 42, ["a"], object()])
def test_a_token_of_the_wrong_type_is_malformed(
    verifier: Verifier, read_request: Request, token: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="delegation"):
        decision = verifier.verify(token, read_request, None)  # type: ignore[arg-type]
    assert [r.code for r in decision.reasons] == [Code.MALFORMED]
    assert "a token is text" in decision.reasons[0].detail
    assert caplog.records == []  # an ordinary denial, not a logged internal error


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"request": {"tool": "crm.read"}}, Code.MALFORMED, "delegation.Request"),
        ({"request": None}, Code.MALFORMED, "delegation.Request"),
        ({"proof": b"bytes"}, Code.POP_INVALID, "a proof is text"),
        ({"discharges": "one-discharge"}, Code.BAD_DISCHARGE, "not one text"),
        ({"discharges": [b"bytes"]}, Code.BAD_DISCHARGE, "every discharge is text"),
        ({"discharges": None}, Code.BAD_DISCHARGE, "not one text"),
    ],
)
def test_request_time_inputs_of_the_wrong_type_are_typed_denials(
    verifier: Verifier,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    read_request: Request,
    changes: dict[str, Any],
    code: Code,
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    args: dict[str, Any] = {
        "request": read_request,
        "proof": prove(root_token, orchestrator, read_request, now=NOW),
        "discharges": (),
        **changes,
    }
    with caplog.at_level(logging.ERROR, logger="delegation"):
        decision = verifier.verify(
            root_token, args["request"], args["proof"], discharges=args["discharges"]
        )
    assert [r.code for r in decision.reasons] == [code]
    assert words in decision.reasons[0].detail
    assert decision.task == root_token.task  # the chain checked out: the denial still names it
    assert caplog.records == []


def test_only_the_verifier_that_checked_a_chain_authorizes_it(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    checker = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    other = Verifier(keyring, state=MemoryState(), clock=lambda: NOW)
    chain = checker.check_chain(root_token)
    proof = prove(root_token, orchestrator, read_request, now=NOW)
    with pytest.raises(MisuseError, match="not verified by this verifier"):
        other.authorize(chain, read_request, proof)
    assert checker.authorize(chain, read_request, proof)


def test_a_chain_checked_under_another_keyring_is_refused(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    # Both keyrings hold the token's key, so the chain checks out under either; only the
    # verifier that made the VerifiedChain may act on it.
    wider = Keyring([keyring.current, RootKey("k-x", b"\x0c" * 32)], keyring.current.key_id)
    chain = Verifier(wider, state=None, clock=lambda: NOW).check_chain(root_token)
    proof = prove(root_token, orchestrator, read_request, now=NOW)
    with pytest.raises(MisuseError):
        Verifier(keyring, state=MemoryState(), clock=lambda: NOW).authorize(
            chain, read_request, proof
        )


def test_a_hand_built_chain_is_refused(
    verifier: Verifier, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    real = verifier.check_chain(root_token)
    widened = attenuate(root_token, Scope(tools=["crm.read"]), now=NOW)
    proof = prove(widened, orchestrator, read_request, now=NOW)
    copied = dataclasses.replace(real, token=widened)  # every other field copied over
    emptied = dataclasses.replace(real, caveats=(), use_limits=(), third_party=())
    for forged in (copied, emptied):
        with pytest.raises(MisuseError):
            verifier.authorize(forged, read_request, proof)
    assert verifier.authorize(
        real, read_request, prove(root_token, orchestrator, read_request, now=NOW)
    )
    with pytest.raises(MisuseError):
        verifier.authorize("not a chain", read_request, None)  # type: ignore[arg-type]


def test_verify_at_is_refused_by_a_verifier_with_state(
    verifier: Verifier, root_token: UnverifiedToken, read_request: Request
) -> None:
    with pytest.raises(MisuseError, match="state=None"):
        verifier.verify_at(root_token, read_request, None, at=NOW)


def test_verify_at_decides_at_the_given_time_and_spends_nothing(
    keyring: Keyring, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    offline = Verifier(keyring, state=None, clock=lambda: NOW)
    expired_at = NOW + 3600  # the root scope's expiry
    proof = prove(root_token, orchestrator, read_request, now=expired_at)
    later = offline.verify_at(root_token, read_request, proof, at=expired_at)
    assert [r.code for r in later.reasons] == [Code.EXPIRED]
    assert later.at == expired_at
    now_proof = prove(root_token, orchestrator, read_request, now=NOW)
    assert offline.verify_at(root_token, read_request, now_proof, at=NOW)
    assert offline.verify_at(root_token, read_request, now_proof, at=NOW)  # nothing remembered
    single = attenuate(root_token, Scope(max_uses=1), now=NOW)
    single_proof = prove(single, orchestrator, read_request, now=NOW)
    spent = offline.verify_at(single, read_request, single_proof, at=NOW)
    assert [r.code for r in spent.reasons] == [Code.STATE_REQUIRED]


@pytest.mark.parametrize("at", [float("nan"), float("inf"), -1, 2**40, True, "now"])
def test_verify_at_refuses_a_time_it_cannot_use(
    keyring: Keyring, root_token: UnverifiedToken, read_request: Request, at: Any
) -> None:
    with pytest.raises(MisuseError):
        Verifier(keyring, state=None).verify_at(root_token, read_request, None, at=at)


def test_verify_has_no_clock_override(verifier: Verifier) -> None:
    assert "now" not in inspect.signature(verifier.verify).parameters
    assert "now" not in inspect.signature(verifier.authorize).parameters
