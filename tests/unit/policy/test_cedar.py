"""Cedar policies on the real engine (``delegation/policy/cedar.py``): loading validates
against the shipped schema, the entity mapping of ``specs/policy.md`` holds, and every way
Cedar cannot answer denies."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import cedarpy
import pytest

from delegation import Request
from delegation.policy import PolicyFailure, PolicyInput, PolicyLoadError, PolicyUnavailable
from delegation.policy._model import example_input
from delegation.policy.cedar import CedarPolicy, cedar_request, full_schema, schema_text

BASE = '@id("base") permit (principal, action, resource);\n'


def answer(policies: str, **kwargs: object) -> tuple[bool, tuple[str, ...], str]:
    verdict = CedarPolicy.from_text(policies, **kwargs).evaluate(example_input())  # type: ignore[arg-type]
    return verdict.allowed, verdict.policy_ids, verdict.detail


def test_the_shipped_schema_is_valid_cedar_with_args_and_actions() -> None:
    assert "namespace Delegation" in schema_text()
    schema = cedarpy.Schema.from_str(
        full_schema({"amount": "Long", "tags": "Set<String>"}, ["read"])
    )
    assert 'action "read"' in str(schema)


def test_the_mapping_conforms_to_the_schema() -> None:
    """The request and entities built for a call validate against the schema: every
    attribute the schema promises is there, with its type."""
    schema = full_schema({"limit": "Long"}, ["read"])
    request, entities = cedar_request(example_input(), {"limit": "Long"})
    handle = cedarpy.Entities.from_json_str(json.dumps(entities), schema)  # raises if not
    result = cedarpy.is_authorized(request, BASE, handle, schema=schema)
    assert result.diagnostics.errors == []
    assert result.allowed


def test_principal_action_resource_and_context() -> None:
    request, entities = cedar_request(example_input(), {})
    by_type = {e["uid"]["type"]: e for e in entities}
    assert request["principal"]["type"] == "Delegation::Agent"
    assert request["action"] == {"type": "Action", "id": "read"}
    assert request["resource"] == {
        "type": "Delegation::Resource",
        "id": "crm://accounts/42/notes/7",
    }
    assert by_type["Delegation::Resource"]["parents"] == [
        {"type": "Delegation::Tool", "id": "crm.read"}
    ]
    assert by_type["Delegation::Tool"]["parents"] == [{"type": "Delegation::Audience", "id": "crm"}]
    assert request["context"]["now"] == {
        "__extn": {"fn": "datetime", "arg": "2027-01-15T08:00:00Z"}
    }
    assert request["context"]["agents"] == ["orchestrator", "researcher"]
    assert "limit" not in request["context"]["args"]  # undeclared: not shown


@pytest.mark.parametrize(
    ("rule", "refused"),
    [
        ('principal.id == "researcher"', True),
        ('principal in Delegation::Agent::"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w"', True),
        ('principal in Delegation::Task::"task-42"', True),
        ("principal.depth == 1 && context.depth == 1", True),
        ('principal.narrowed.contains("resource")', True),
        ('resource in Delegation::Tool::"crm.read"', True),
        ('resource in Delegation::Audience::"crm"', True),
        ('resource in Delegation::Audience::"prod"', False),
        ('resource has path && resource.path == "crm://accounts/42/notes/7"', True),
        ('context.task.approver == Delegation::Approver::"alice@example.com"', True),
        ('context.task has intents && context.task.intents.contains("summarise")', True),
        ('context has intent && context.intent == "summarise" && context.tool == "crm.read"', True),
        ("context.args has limit && context.args.limit == 10", True),
        ('context.now > datetime("2027-01-15T07:59:59Z")', True),
        ("context.time == 1800000000 && context.expires == 1800003600", True),
        ("context.approvals.isEmpty()", True),
        ('context.key_id == "k-2026-11"', True),
    ],
)
def test_each_fact_of_the_mapping_is_readable(rule: str, refused: bool) -> None:
    policies = BASE + f'@id("probe") forbid (principal, action, resource) when {{ {rule} }};'
    allowed, ids, _ = answer(policies, args={"limit": "Long"})
    assert allowed is not refused
    assert ids == (("probe",) if refused else ("base",))


def test_a_group_from_the_entities_file() -> None:
    entities = json.dumps(
        [
            {"uid": {"type": "Delegation::Group", "id": "crm-admins"}, "attrs": {}, "parents": []},
            {
                "uid": {"type": "Delegation::Approver", "id": "alice@example.com"},
                "attrs": {},
                "parents": [{"type": "Delegation::Group", "id": "crm-admins"}],
            },
        ]
    )
    rule = 'context.task.approver in Delegation::Group::"crm-admins"'
    policies = BASE + f'@id("admins") forbid (principal, action, resource) when {{ {rule} }};'
    assert answer(policies, entities=entities)[:2] == (False, ("admins",))
    assert answer(policies, entities="[]")[:2] == (True, ("base",))


def test_a_refusal_names_its_ids_sorted_and_its_reasons() -> None:
    policies = (
        BASE
        + '@id("z-last") @reason("not on a Friday") forbid (principal, action, resource);'
        + '@id("a-first") forbid (principal, action, resource);'
    )
    assert answer(policies) == (False, ("a-first", "z-last"), "not on a Friday")


def test_without_a_permit_nothing_is_permitted() -> None:
    assert answer('@id("x") forbid (principal, action, resource) when { false };') == (
        False,
        (),
        "",
    )


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ("permit (principal, action, resource);", "@id"),
        (BASE + BASE, "two policies have the @id 'base'"),
        ('@id("a") permit (principal, action, resource) when {', "does not parse"),
        (
            BASE + '@id("typo") forbid (principal, action, resource) when { principal.dept > 1 };',
            "typo",
        ),
        (BASE + '@id("t") permit (principal == ?principal, action, resource);', "templates"),
        (
            BASE + '@id("o") forbid (principal, action, resource) when { resource.path == "x" };',
            "optional",
        ),
        ('@id("bad\nid") permit (principal, action, resource);', "control"),
        (
            BASE
            + '@id("args") forbid (principal, action, resource) when { context.args.amount > 1 };',
            "args",
        ),
    ],
)
def test_a_set_that_does_not_load(policies: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        CedarPolicy.from_text(policies)


def test_declared_actions_are_the_only_actions() -> None:
    policies = BASE + '@id("w") forbid (principal, action == Action::"wirte", resource);'
    CedarPolicy.from_text(policies)  # a named action is declared for validation
    with pytest.raises(PolicyLoadError, match="wirte"):
        CedarPolicy.from_text(policies, actions=["read", "write"])


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        ("{", "not JSON"),
        ("{}", "a JSON list"),
        ('[{"uid": {"type": "Delegation::Agent", "id": "x"}, "attrs": {}, "parents": []}]', "only"),
        (
            '[{"uid": {"type": "Delegation::Group", "id": "g"}, "attrs": {"x": 1}, "parents": []}]',
            "validate",
        ),
    ],
)
def test_an_entities_file_that_does_not_load(entities: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        CedarPolicy.from_text(BASE, entities=entities)


@pytest.mark.parametrize("kind", ["long", "Record", "Set<Set<Long>>", 'Long, "x": String'])
def test_an_argument_type_outside_the_grammar_does_not_load(kind: str) -> None:
    with pytest.raises(PolicyLoadError, match="type"):
        CedarPolicy.from_text(BASE, args={"a": kind})


def test_a_declared_argument_of_another_type_denies_rather_than_skipping_the_rule() -> None:
    """Cedar skips a policy whose condition errors: a forbid about ``amount`` would let a call
    with ``"amount": "big"`` through. Here that call cannot be answered."""
    policies = (
        BASE
        + '@id("big") forbid (principal, action, resource) when '
        + "{ context.args has limit && context.args.limit > 5 };"
    )
    document = example_input()
    for value in ("10", 10.0, True, None, [10]):
        shown = _with_limit(document, value)
        with pytest.raises(PolicyUnavailable) as caught:
            CedarPolicy.from_text(policies, args={"limit": "Long"}).evaluate(shown)
        assert caught.value.reason is PolicyFailure.ERROR
        assert caught.value.revision is not None


def test_an_evaluation_error_denies() -> None:
    # Validation rules out type errors, not an overflow, which Cedar raises while evaluating
    # and then skips the policy: here the call cannot be answered instead.
    rule = "context.args has limit && context.args.limit * 100000000000000000 > 0"
    policies = BASE + f'@id("e") forbid (principal, action, resource) when {{ {rule} }};'
    document = example_input()
    policy = CedarPolicy.from_text(policies, args={"limit": "Long"})
    assert not policy.evaluate(document).allowed  # 10 * 10^17 does not overflow
    huge = _with_limit(document, 10**6)
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(huge)  # 10^23 does: an error, never a skip
    assert caught.value.reason is PolicyFailure.ERROR


def test_a_slow_evaluation_is_a_timeout() -> None:
    ticks = iter([0.0, 10.0])
    policy = CedarPolicy.from_text(BASE)
    slow = CedarPolicy(policy._holder, timeout=1.0, clock=lambda: next(ticks))
    with pytest.raises(PolicyUnavailable) as caught:
        slow.evaluate(example_input())
    assert caught.value.reason is PolicyFailure.TIMEOUT
    with pytest.raises(ValueError, match="timeout"):
        CedarPolicy(policy._holder, timeout=0)


def test_the_revision_follows_the_text() -> None:
    one = CedarPolicy.from_text(BASE).revision
    assert one == CedarPolicy.from_text(BASE).revision
    assert one != CedarPolicy.from_text(BASE + "// a comment\n").revision
    assert one != CedarPolicy.from_text(BASE, entities="[]").revision
    assert CedarPolicy.from_text(BASE).evaluate(example_input()).revision == one


def test_files_are_reloaded_and_a_broken_edit_denies(tmp_path: Path) -> None:
    path = tmp_path / "set.cedar"
    path.write_text(BASE, encoding="utf-8")
    policy = CedarPolicy.from_files([path], reload_interval=None)
    first = policy.revision
    assert policy.evaluate(example_input()).allowed
    _replace(path, BASE + '@id("all") forbid (principal, action, resource);')
    assert policy.reload() is True
    refused = policy.evaluate(example_input())
    assert (refused.allowed, refused.policy_ids, refused.revision) == (
        False,
        ("all",),
        policy.revision,
    )
    assert policy.revision != first
    _replace(path, "@id(")
    assert policy.reload() is True
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(example_input())
    assert caught.value.reason is PolicyFailure.UNPARSEABLE
    with pytest.raises(PolicyLoadError, match="at least one"):
        CedarPolicy.from_files([])


def _replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _with_limit(document: PolicyInput, value: object) -> PolicyInput:
    request = Request(**{**document.request.to_json(), "args": {"limit": value}})
    return replace(document, request=request)
