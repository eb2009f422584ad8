"""``delegation.testing.model``: the reference model agrees with the hand-written vectors, reads
the spec's own examples as the spec does, and says what it cannot judge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given

from delegation import Code, Request, Scope, TokenError, decode
from delegation._cbor import CBORValue
from delegation.caveats import Caveat, CheckContext, default_registry
from delegation.errors import CaveatFailed
from delegation.testing.model import (
    Place,
    allowed_by,
    is_canonical_resource,
    matches_agent_pattern,
    matches_resource_pattern,
    requests_allowed_by,
    requests_denied_by,
)
from delegation.testing.world import NOW, ROOT, STORY_REQUEST, mint_root, verify_as_holder

VECTORS = Path(__file__).resolve().parents[3] / "specs" / "vectors"
OUTSIDE = {
    "malformed", "too_large", "unknown_key", "bad_signature", "bad_hop", "pop_required",
    "pop_invalid", "replay", "store_unavailable", "bad_discharge", "revoked",
    "uses_exhausted", "state_required", "token_required", "internal_error",
}  # fmt: skip
"""Codes of checks the model leaves to the verifier: integrity, the proof, the state."""


def _codes(vector: dict[str, Any]) -> list[str]:
    """The expected reason codes, in order (the model does not place them; the verifier's
    positions are held by the vectors themselves)."""
    return [reason["code"] for reason in vector["expected"]["reasons"]]


def _vectors_in_the_models_domain() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in ("valid", "caveats", "chain", "proof", "state", "integrity", "encoding"):
        doc = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
        for v in doc["vectors"]:
            if set(_codes(v)) & OUTSIDE or v.get("discharges") or v.get("state"):
                continue
            out.append((f"{name}:{v['name']}", v))
    return out


def test_the_model_gives_every_vector_in_its_domain_its_expected_codes() -> None:
    checked = 0
    for where, vector in _vectors_in_the_models_domain():
        try:
            token = decode(vector["token"])
            answer = allowed_by(token, Request.from_json(vector["request"]), vector["now"])
        except TokenError:
            continue
        if not answer.modelled:
            continue
        assert [c.value for c in answer.codes] == _codes(vector), where
        assert answer.allowed == vector["expected"]["allowed"], where
        checked += 1
    assert checked >= 150  # 169 when this was written


@pytest.mark.parametrize(
    ("pattern", "resource", "match"),
    [
        ("crm://accounts/42/*", "crm://accounts/42/notes", True),
        ("crm://accounts/42/*", "crm://accounts/420/notes", False),
        ("crm://accounts/42/*", "crm://accounts/42-x/notes", False),
        ("crm://accounts/42/*", "crm://accounts/42/notes/7", False),
        ("crm://accounts/42/**", "crm://accounts/42", True),
        ("crm://accounts/42/**", "crm://accounts/42/notes/7", True),
        ("crm://accounts/**", "mail://accounts/42", False),
        ("/reports/**", "/reports/q1", True),
        ("/reports/**", "/reports-secret", False),
        ("/reports/**", "/reports/../hr", False),
        ("/reports/**", "/reports/%2e%2e/hr", True),  # % is no segment character: see below
    ],
)
def test_resource_matching_reads_the_spec_examples_as_the_spec_does(
    pattern: str, resource: str, match: bool
) -> None:
    if "%" in resource:
        assert not is_canonical_resource(resource)
        assert not matches_resource_pattern(pattern, resource)
        return
    assert matches_resource_pattern(pattern, resource) is match


@pytest.mark.parametrize(
    "resource", ["crm://a/", "crm://a//b", "crm://a/./b", "CRM://a", "crm:/a", "a", "", "crm://a?b"]
)
def test_resources_outside_the_grammar_are_not_canonical(resource: str) -> None:
    assert not is_canonical_resource(resource)
    assert is_canonical_resource("crm://A/b~c")


def test_agent_patterns() -> None:
    assert matches_agent_pattern("*", "anyone")
    assert matches_agent_pattern("agent-1*", "agent-1")
    assert matches_agent_pattern("agent-1*", "agent-10")
    assert not matches_agent_pattern("agent-1", "agent-10")
    assert not matches_agent_pattern("agent-2", "agent-1")


@dataclass(frozen=True)
class Tenant(Caveat):
    """An application family for these tests: the request's ``tenant`` argument is this."""

    type_id: ClassVar[int] = 4242
    name: ClassVar[str] = "tenant"
    tenant: str

    @classmethod
    def from_body(cls, body: CBORValue) -> Tenant:
        assert isinstance(body, str)
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.tenant

    def check(self, ctx: CheckContext) -> None:
        if ctx.request.args.get("tenant") != self.tenant:
            raise CaveatFailed(Code.ARGS_NOT_ALLOWED, "another tenant")


def _tenant_model(cav: Tenant, at: Place) -> Code | None:
    return None if at.request.args.get("tenant") == cav.tenant else Code.ARGS_NOT_ALLOWED


def test_a_family_the_model_does_not_know_is_not_modelled_until_given() -> None:
    registry = default_registry()
    registry.register(Tenant)
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, extra=[Tenant("acme")]))
    request = Request(audience="crm", tool="t", action="a", args={"tenant": "acme"})
    answer = allowed_by(token, request, NOW, registry=registry)
    assert not answer.modelled
    assert answer.not_modelled == ("tenant (type 4242)",)
    modelled = allowed_by(token, request, NOW, registry=registry, families={4242: _tenant_model})
    assert modelled.modelled
    assert modelled.allowed
    other = Request(audience="crm", tool="t", action="a", args={"tenant": "evil"})
    denied = allowed_by(token, other, NOW, registry=registry, families={4242: _tenant_model})
    assert denied.codes == (Code.ARGS_NOT_ALLOWED,)


def test_a_family_the_verifiers_registry_does_not_know_is_an_unknown_caveat() -> None:
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, extra=[Tenant("acme")]))
    request = Request(audience="crm", tool="t", action="a", args={"tenant": "acme"})
    assert allowed_by(token, request, NOW).codes == (Code.UNKNOWN_CAVEAT,)


def test_expiry_is_strict_and_not_before_allows_the_skew() -> None:
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, not_before=NOW + 30))
    assert allowed_by(token, STORY_REQUEST, NOW).allowed
    assert allowed_by(token, STORY_REQUEST, NOW - 1).codes == (Code.NOT_YET_VALID,)
    assert allowed_by(token, STORY_REQUEST, NOW + 59).allowed
    assert allowed_by(token, STORY_REQUEST, NOW + 60).codes == (Code.EXPIRED,)


def test_max_uses_needs_state_only_when_the_verifier_has_none() -> None:
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, max_uses=1))
    assert allowed_by(token, STORY_REQUEST, NOW).allowed
    assert allowed_by(token, STORY_REQUEST, NOW, stateful=False).codes == (Code.STATE_REQUIRED,)


@given(requests_allowed_by(ROOT, NOW))
def test_requests_allowed_by_the_model_are_allowed_by_the_verifier(request: Request) -> None:
    assert verify_as_holder(ROOT, request).allowed


@given(requests_denied_by(ROOT, NOW))
def test_requests_denied_by_the_model_are_denied_by_the_verifier(request: Request) -> None:
    assert not verify_as_holder(ROOT, request).allowed
