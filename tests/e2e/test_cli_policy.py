"""``delegation verify --policy`` and ``delegation policy test`` / ``policy input``, end to end
on the billing story (tests/e2e/conftest.py) with real Cedar and Rego sets. Keys are TEST
FIXTURES ONLY."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.helpers import Billing, Runner, decide, in_process, run, sign, usage_error

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
SUMMARIZER_READS_ONLY = """\
@id("base") permit (principal, action, resource);
@id("no-summaries") @reason("the summarizer is off today")
forbid (principal, action, resource) when { principal.id == "summarizer" };
"""
REGO_SUMMARIZER = """\
package delegation
import rego.v1
deny contains {"id": "no-summaries", "reason": "the summarizer is off today"} if {
  input.holder.agent_id == "summarizer"
}
"""


@pytest.fixture
def runner(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return in_process(capsys, monkeypatch)


@pytest.fixture(params=["cedar", "rego"])
def policy_file(request: pytest.FixtureRequest, billing: Billing) -> str:
    name = f"summaries.{request.param}"
    text = SUMMARIZER_READS_ONLY if request.param == "cedar" else REGO_SUMMARIZER
    (billing.dir / name).write_text(text, encoding="utf-8")
    return name


def test_verify_with_a_policy_names_its_revision_and_what_decided(
    billing: Billing, runner: Runner, policy_file: str
) -> None:
    status, allowed = decide(
        billing, runner, billing.analyst, "analyst", billing.read, "--policy", policy_file
    )
    assert status == 0
    assert allowed["policy"]["revision"]
    status, refused = decide(
        billing, runner, billing.summarizer, "summarizer", billing.read, "--policy", policy_file
    )
    assert status == 1
    assert [r["code"] for r in refused["reasons"]] == ["policy_denied"]
    assert refused["reasons"][0]["detail"] == (
        "denied by policy no-summaries: the summarizer is off today"
    )
    assert refused["policy"]["policy_ids"] == ["no-summaries"]
    assert refused["policy"]["revision"] == allowed["policy"]["revision"]
    assert refused["task"]["task_id"] == "T-1001"


def test_verify_prints_the_policy_line(billing: Billing, runner: Runner, policy_file: str) -> None:
    proof = sign(billing.summarizer, billing.dir / "summarizer.key", billing.read)
    result = runner(
        "verify", billing.summarizer, "--keyring", "ring.json", "--request", billing.read,
        "--proof", proof, "--policy", policy_file,
        cwd=billing.dir,
    )  # fmt: skip
    assert result.returncode == 1
    assert "DENY (policy_denied)" in result.stdout
    assert "decided by no-summaries" in result.stdout
    assert "reason    policy_denied (token): denied by policy no-summaries" in result.stdout


def test_a_policy_file_that_does_not_load_is_bad_usage(billing: Billing, runner: Runner) -> None:
    (billing.dir / "broken.cedar").write_text("@id(", encoding="utf-8")
    (billing.dir / "nameless.cedar").write_text("permit (principal, action, resource);")
    proof = sign(billing.analyst, billing.dir / "analyst.key", billing.read)
    base = ("verify", billing.analyst, "--keyring", "ring.json", "--request", billing.read)
    for name, message in [
        ("broken.cedar", "does not parse"),
        ("nameless.cedar", "@id"),
        ("missing.rego", "cannot read missing.rego"),
        ("policy.yaml", ".cedar, .rego or a .toml manifest"),
    ]:
        line = usage_error(runner(*base, "--proof", proof, "--policy", name, cwd=billing.dir))
        assert message in line
    as_json = runner(*base, "--proof", proof, "--policy", "broken.cedar", "--json", cwd=billing.dir)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["code"] == "usage"


def _stored(billing: Billing, runner: Runner, token: str) -> dict[str, object]:
    result = runner(
        "policy", "input", token, "--keyring", "ring.json", "--request", billing.read,
        cwd=billing.dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    doc: dict[str, object] = json.loads(lines[0])
    return doc


def test_policy_input_prints_the_document_a_policy_sees(billing: Billing, runner: Runner) -> None:
    doc = _stored(billing, runner, billing.summarizer)
    assert doc["version"] == 1
    assert [a["agent_id"] for a in doc["chain"]] == ["orchestrator", "analyst", "summarizer"]  # type: ignore[attr-defined]
    assert doc["holder"]["agent_id"] == "summarizer"  # type: ignore[index]
    assert doc["request"]["tool"] == "billing.read"  # type: ignore[index]
    assert billing.summarizer not in json.dumps(doc)  # the token is not in it


def test_policy_test_prints_which_policy_decided_and_checks_expectations(
    billing: Billing, runner: Runner, policy_file: str
) -> None:
    summary = _stored(billing, runner, billing.summarizer)
    analysis = _stored(billing, runner, billing.analyst)
    cases: list[dict[str, object]] = [
        {"name": "summarizer", "input": summary, "expect": ["no-summaries"]},
        {"name": "analyst", "input": analysis, "expect": "allow"},
        analysis,  # a bare input: printed, no expectation
    ]
    calls = billing.dir / "calls.jsonl"
    calls.write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    result = runner("policy", "test", policy_file, "calls.jsonl", cwd=billing.dir)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok    summarizer: DENY   by no-summaries: the summarizer is off")
    assert lines[1].startswith("ok    analyst: ALLOW")
    assert lines[2].startswith("line 3: ALLOW")
    cases[1]["expect"] = "deny"
    calls.write_text("\n".join(json.dumps(c) for c in cases), encoding="utf-8")
    failing = runner("policy", "test", policy_file, "-", "--json", cwd=billing.dir,
                     stdin=calls.read_text())  # fmt: skip
    assert failing.returncode == 1
    results = [json.loads(line) for line in failing.stdout.splitlines()]
    assert [(r["name"], r["answer"], r["ok"]) for r in results] == [
        ("summarizer", "deny", True),
        ("analyst", "allow", False),
        ("line 3", "allow", True),
    ]
    assert results[0]["policy_ids"] == ["no-summaries"]


def test_policy_test_on_the_example_library(billing: Billing, runner: Runner) -> None:
    for engine in ("cedar", "rego"):
        shutil.copytree(EXAMPLES / engine, billing.dir / f"lib-{engine}", dirs_exist_ok=True)
    stored = _stored(billing, runner, billing.analyst)
    (billing.dir / "one.jsonl").write_text(
        json.dumps({"name": "no intent", "input": stored, "expect": ["intent-matches-task"]})
    )
    for engine in ("cedar", "rego"):
        result = runner("policy", "test", f"lib-{engine}/policy.toml", "one.jsonl", cwd=billing.dir)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "by intent-matches-task" in result.stdout


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "line 1: not a policy input"),
        ('{"version": 2}', "line 1: not a policy input"),
        ('{"input": {}, "expect": "maybe"}', "expect is"),
        ('{"input": {}, "name": 3}', "name is text"),
    ],
)
def test_policy_test_refuses_a_line_it_cannot_read(
    billing: Billing, runner: Runner, line: str, message: str
) -> None:
    (billing.dir / "p.cedar").write_text(SUMMARIZER_READS_ONLY, encoding="utf-8")
    (billing.dir / "bad.jsonl").write_text(line + "\n", encoding="utf-8")
    result = runner("policy", "test", "p.cedar", "bad.jsonl", cwd=billing.dir)
    assert message in usage_error(result)


def test_the_console_script_runs_policy_test(billing: Billing) -> None:
    (billing.dir / "p.rego").write_text(REGO_SUMMARIZER, encoding="utf-8")
    result = run("policy", "test", "p.rego", "-", cwd=billing.dir, stdin="")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
