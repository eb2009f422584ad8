"""The exception tree and the reason-code vocabulary (``delegation.errors``).

specs/threats.md: "Build so that every one is a typed denial, never an allow and never a
crash" (every error has a stable code and a common base); "Signatures ... never appear in
errors" (errors carry only the detail they were given).
"""

from __future__ import annotations

import re

import pytest

import delegation
from delegation import (
    Code,
    Denied,
    MalformedRequest,
    MalformedToken,
    NotNarrowing,
    Reason,
    StoreUnavailable,
    TokenError,
    TokenTooLarge,
    errors,
)
from delegation.errors import BadDischarge, BadProof, CaveatFailed, PatternError
from delegation.policy import PolicyLoadError, PolicyUnavailable


def test_code_vocabulary_is_stable() -> None:
    # Codes are part of the wire contract: renaming or reusing one is a breaking change.
    assert {c.name: c.value for c in Code} == {
        "MALFORMED": "malformed",
        "TOO_LARGE": "too_large",
        "UNKNOWN_KEY": "unknown_key",
        "BAD_SIGNATURE": "bad_signature",
        "MISSING_CAVEAT": "missing_caveat",
        "EXPIRED": "expired",
        "NOT_YET_VALID": "not_yet_valid",
        "WRONG_AUDIENCE": "wrong_audience",
        "TOOL_NOT_ALLOWED": "tool_not_allowed",
        "ACTION_NOT_ALLOWED": "action_not_allowed",
        "RESOURCE_NOT_ALLOWED": "resource_not_allowed",
        "INTENT_NOT_ALLOWED": "intent_not_allowed",
        "ARGS_NOT_ALLOWED": "args_not_allowed",
        "DEPTH_EXCEEDED": "depth_exceeded",
        "DELEGATEE_NOT_ALLOWED": "delegatee_not_allowed",
        "BAD_HOP": "bad_hop",
        "POP_REQUIRED": "pop_required",
        "POP_INVALID": "pop_invalid",
        "REPLAY": "replay",
        "UNKNOWN_CAVEAT": "unknown_caveat",
        "STORE_UNAVAILABLE": "store_unavailable",
        "DISCHARGE_REQUIRED": "discharge_required",
        "BAD_DISCHARGE": "bad_discharge",
        "APPROVAL_REQUIRED": "approval_required",
        "WRONG_CHAIN": "wrong_chain",
        "REVOKED": "revoked",
        "USES_EXHAUSTED": "uses_exhausted",
        "STATE_REQUIRED": "state_required",
        "COST_INVALID": "cost_invalid",
        "COST_TOO_HIGH": "cost_too_high",
        "BUDGET_EXCEEDED": "budget_exceeded",
        "TOKEN_REQUIRED": "token_required",
        "POLICY_DENIED": "policy_denied",
        "POLICY_UNAVAILABLE": "policy_unavailable",
        "INTERNAL_ERROR": "internal_error",
    }


def test_the_issues_minimum_codes_exist() -> None:
    required = [
        "malformed",
        "too_large",
        "unknown_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "tool_not_allowed",
        "action_not_allowed",
        "resource_not_allowed",
        "intent_not_allowed",
        "args_not_allowed",
        "depth_exceeded",
        "delegatee_not_allowed",
        "bad_hop",
        "pop_required",
        "pop_invalid",
        "replay",
        "unknown_caveat",
    ]
    assert {str(c) for c in Code} >= set(required)
    assert str(Code.BAD_HOP) == "bad_hop"
    assert f"{Code.REPLAY}" == "replay"


def _documented_tree() -> dict[str, str]:
    """Child -> parent, read from the tree drawn in ``delegation.errors``' docstring."""
    doc = errors.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^( *)((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\s", line + " ")
        if not match or not line.startswith("    ") or "DelegationError" not in doc:
            continue
        name = match.group(3)
        depth = len(match.group(2)) // 4 + (1 if re.search(r"[├└]── ", line) else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_docstring_tree_is_the_exception_tree() -> None:
    documented = _documented_tree()
    assert documented["MalformedToken"] == "TokenError"
    assert documented["NotNarrowing"] == "AuthoringError"
    everything = {name: getattr(delegation, name) for name in delegation.__all__}
    everything.update({"CaveatFailed": CaveatFailed, "StoreUnavailable": StoreUnavailable})
    everything.update({"PolicyUnavailable": PolicyUnavailable, "PolicyLoadError": PolicyLoadError})
    raised = {
        n: c for n, c in everything.items() if isinstance(c, type) and issubclass(c, Exception)
    }
    assert set(raised) == set(documented) | {"DelegationError"}
    for name, parent in documented.items():
        cls = raised[name]
        assert issubclass(cls, raised[parent]), (name, parent)
        ours = [b for b in cls.__mro__[1:] if b.__module__.startswith("delegation")]
        assert ours[0] is raised[parent], f"{name}'s nearest base is {ours[0].__name__}"


def test_request_and_discharge_errors_are_not_malformed_tokens() -> None:
    assert not issubclass(MalformedRequest, TokenError)
    assert not issubclass(BadDischarge, MalformedToken)
    assert issubclass(PatternError, ValueError)
    assert BadDischarge("x").code is Code.BAD_DISCHARGE
    # An approval request's bad proof is the verifier's pop_invalid, not a malformed token.
    assert issubclass(BadProof, TokenError)
    assert not issubclass(BadProof, MalformedToken)
    assert BadProof("x").code is Code.POP_INVALID
    assert MalformedRequest("x").code is Code.MALFORMED


def test_token_errors_carry_code_and_detail() -> None:
    assert TokenError("x").code is Code.MALFORMED
    err = MalformedToken("caveat is not valid CBOR")
    assert (err.code, err.detail, str(err)) == (
        Code.MALFORMED,
        "caveat is not valid CBOR",
        err.detail,
    )
    big = TokenTooLarge("token is larger than 16384 bytes")
    assert big.code is Code.TOO_LARGE
    assert not issubclass(TokenTooLarge, MalformedToken)
    assert not issubclass(NotNarrowing, TokenError)


def test_caveat_failed_carries_code_and_detail() -> None:
    failed = CaveatFailed(Code.EXPIRED, "the token expired at 5")
    assert (failed.code, failed.detail, str(failed)) == (
        Code.EXPIRED,
        "the token expired at 5",
        "the token expired at 5",
    )


def test_denied_lists_every_reason() -> None:
    reasons = [Reason(Code.TOOL_NOT_ALLOWED, "tool x", 0, 2), Reason(Code.REPLAY, "used")]
    denied = Denied(reasons)
    assert denied.reasons == tuple(reasons)
    assert denied.code is Code.TOOL_NOT_ALLOWED
    assert str(denied) == "tool_not_allowed: tool x; replay: used"


def test_denied_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="at least one reason"):
        Denied([])
