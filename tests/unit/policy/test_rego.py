"""Rego policies on the real engine (``delegation/policy/rego.py``, regopy): ``deny`` is the
answer, every other shape of it and every error denies, and the deadline is real."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from delegation import Request
from delegation.policy import PolicyFailure, PolicyInput, PolicyLoadError, PolicyUnavailable
from delegation.policy._model import example_input
from delegation.policy.rego import RegoPolicy, deny_set

HEAD = "package delegation\nimport rego.v1\n"
SLOW = "count([x | some x in numbers.range(1, 3000000); x % 7 == 0]) < 0"


def answer(module: str, **kwargs: object) -> tuple[bool, tuple[str, ...], str]:
    policy = RegoPolicy.from_text(HEAD + module, **kwargs)  # type: ignore[arg-type]
    try:
        verdict = policy.evaluate(example_input())
    finally:
        policy.close()
    return verdict.allowed, verdict.policy_ids, verdict.detail


def test_an_empty_deny_set_lets_the_call_through() -> None:
    assert answer('deny contains "never" if { false }') == (True, (), "")


@pytest.mark.parametrize(
    "rule",
    [
        'input.holder.agent_id == "researcher"',
        "input.context.depth == 1",
        'input.chain[1].narrowed[0].type == "resource"',
        'input.task.approver == "alice@example.com"',
        '"summarise" in input.task.intents',
        'input.request.resource == "crm://accounts/42/notes/7"',
        "input.request.args.limit == 10",
        "input.approvals == []",
        'time.clock([input.context.time * 1000000000, "UTC"]) == [8, 0, 0]',
        "data.limits.max == 3",
    ],
)
def test_the_input_document_is_what_policies_read(rule: str) -> None:
    module = f'deny contains "probe" if {{ {rule} }}'
    assert answer(module, data=json.dumps({"limits": {"max": 3}}))[:2] == (False, ("probe",))


def test_members_are_ids_or_id_and_reason() -> None:
    module = (
        'deny contains "b-plain" if { true }\n'
        'deny contains {"id": "a-said", "reason": "not today"} if { true }\n'
        'deny contains {"id": "a-said", "reason": "not today"} if { true }\n'
    )
    assert answer(module) == (False, ("a-said", "b-plain"), "not today")


@pytest.mark.parametrize(
    "value",
    [
        "3",
        '{"a": true}',
        '"text"',
    ],
)
def test_a_deny_that_is_not_a_set_does_not_load(value: str) -> None:
    with pytest.raises(PolicyLoadError, match="not a set"):
        RegoPolicy.from_text(HEAD + f"deny := {value}")


@pytest.mark.parametrize(
    "member",
    ["1", '{"id": 1}', '{"id": "x", "extra": 1}', '{"reason": "no id"}', '["x"]', '{"id": ""}'],
)
def test_a_member_of_another_shape_cannot_be_answered(member: str) -> None:
    module = f"deny contains {member} if {{ input.request.args.limit == 11 }}"
    policy = RegoPolicy.from_text(HEAD + module, timeout=None)
    document = example_input()
    assert policy.evaluate(document).allowed  # limit is 10: nothing in the set
    other = _with_limit(document, 11)
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(other)
    assert caught.value.reason is PolicyFailure.ERROR
    assert caught.value.revision == policy.revision


def test_deny_set_keeps_at_most_32_ids() -> None:
    verdict = deny_set([f"p{i:02}" for i in range(40)], "r")
    assert len(verdict.policy_ids) == 32
    assert verdict.detail.startswith("and 8 more policies")


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        ("x := 1", "undefined"),  # no deny rule in package delegation
        ("deny contains if {", "compile"),
        ('deny contains "x" if { input.a = }', "compile"),
        ('deny contains "x" if { no_such_function(1) }', "evaluation failed"),
    ],
)
def test_a_set_that_does_not_load(modules: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        RegoPolicy.from_text(HEAD + modules)


def test_a_package_other_than_delegation_does_not_load() -> None:
    with pytest.raises(PolicyLoadError, match="undefined"):
        RegoPolicy.from_text('package other\nimport rego.v1\ndeny contains "x" if { true }')


@pytest.mark.parametrize(("data", "message"), [("{", "not JSON"), ("[1]", "JSON object")])
def test_a_data_file_that_does_not_load(data: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        RegoPolicy.from_text(HEAD + 'deny contains "x" if { false }', data=data)


def test_a_builtin_error_denies_rather_than_leaving_the_rule_undefined() -> None:
    """Without strict built-in errors, ``1 / 0`` is undefined and the rule silently holds
    nothing: a deny that errors would let the call through."""
    module = 'deny contains "div" if { 10 / input.request.args.limit > 1 }'
    policy = RegoPolicy.from_text(HEAD + module, timeout=None)
    assert policy.evaluate(example_input()).allowed  # 10 / 10 is not above 1
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(_with_limit(example_input(), 0))
    assert caught.value.reason is PolicyFailure.ERROR


def test_a_conflict_is_an_error() -> None:
    module = (
        "v := 1 if { true }\n"
        "v := 2 if { input.request.args.limit == 0 }\n"
        'deny contains "c" if { v == 3 }'
    )
    policy = RegoPolicy.from_text(HEAD + module, timeout=None)
    assert policy.evaluate(example_input()).allowed
    with pytest.raises(PolicyUnavailable):
        policy.evaluate(_with_limit(example_input(), 0))


def test_a_slow_evaluation_is_a_timeout_and_the_call_does_not_wait_for_it() -> None:
    module = f'deny contains "slow" if {{ input.request.args.limit == 0; {SLOW} }}'
    policy = RegoPolicy.from_text(HEAD + module, timeout=0.2, workers=1)
    try:
        assert policy.evaluate(example_input()).allowed
        started = time.perf_counter()
        with pytest.raises(PolicyUnavailable) as caught:
            policy.evaluate(_with_limit(example_input(), 0))
        assert caught.value.reason is PolicyFailure.TIMEOUT
        assert time.perf_counter() - started < 2.0
        # The only worker is still busy: the next call waits its deadline too, and denies.
        with pytest.raises(PolicyUnavailable) as queued:
            policy.evaluate(example_input())
        assert queued.value.reason is PolicyFailure.TIMEOUT
    finally:
        policy.close()
    with pytest.raises(PolicyUnavailable, match="closed"):
        policy.evaluate(example_input())


def test_worker_threads_evaluate_side_by_side() -> None:
    policy = RegoPolicy.from_text(HEAD + 'deny contains "d" if { input.context.depth > 5 }')
    results: list[bool] = []

    def work() -> None:
        for _ in range(20):
            results.append(policy.evaluate(example_input()).allowed)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    policy.close()
    assert results == [True] * 80


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RegoPolicy.from_text(HEAD + 'deny contains "x" if { false }', timeout=0)
    with pytest.raises(ValueError, match="worker"):
        RegoPolicy.from_text(HEAD + 'deny contains "x" if { false }', workers=0)
    with pytest.raises(PolicyLoadError, match="at least one"):
        RegoPolicy.from_text({})
    with pytest.raises(PolicyLoadError, match="at least one"):
        RegoPolicy.from_files([])


def test_files_are_reloaded_and_a_broken_edit_denies(tmp_path: Path) -> None:
    path = tmp_path / "p.rego"
    data = tmp_path / "data.json"
    path.write_text(HEAD + 'deny contains "big" if { input.request.args.limit > data.max }')
    data.write_text('{"max": 100}')
    policy = RegoPolicy.from_files([path], data=data, reload_interval=None, timeout=None)
    first = policy.revision
    assert policy.evaluate(example_input()).allowed
    _replace(data, '{"max": 5}')
    assert policy.reload() is True
    refused = policy.evaluate(example_input())
    assert (refused.allowed, refused.policy_ids) == (False, ("big",))
    assert refused.revision == policy.revision != first
    _replace(path, HEAD + "deny contains")
    policy.reload()
    with pytest.raises(PolicyUnavailable) as caught:
        policy.evaluate(example_input())
    assert caught.value.reason is PolicyFailure.UNPARSEABLE


def _replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _with_limit(document: PolicyInput, value: int) -> PolicyInput:
    request = Request(**{**document.request.to_json(), "args": {"limit": value}})
    return replace(document, request=request)
