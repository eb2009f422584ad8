"""``.ci/run`` fails on every failure it is meant to catch, and pre-commit runs what it runs.

The script is run for real in a scratch directory, with stand-ins on PATH for ``python3`` (which
makes a ``.venv`` of stand-ins), ``pg_isready`` and ``redis-cli``: each stand-in logs its call
and exits with the status the test asks for. So this checks the script's control flow (what
runs, in which order, what stops it), not the tools themselves.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".ci" / "run"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"

STUB = """#!/usr/bin/env bash
echo "{name} $*" >> "$CI_TEST_LOG"
{body}
"""
VENV_PYTHON = """case "$*" in
  "-m pytest") exit "${CI_TEST_PYTEST:-0}" ;;
  "specs/vectors/generate.py --check") exit "${CI_TEST_VECTORS:-0}" ;;
  "-m fuzz.run "*" --ci") exit "${CI_TEST_FUZZ:-0}" ;;
  *) exit 97 ;;
esac"""
MAKE_VENV = """if [ "$*" != "-m venv .venv" ]; then exit 98; fi
mkdir -p .venv/bin
for tool in pip ruff mypy; do
  printf '#!/usr/bin/env bash\\necho ".venv/bin/%s $*" >> "$CI_TEST_LOG"\\n' "$tool" \\
    > ".venv/bin/$tool"
  chmod +x ".venv/bin/$tool"
done
cp "$CI_TEST_STUBS/venv-python" .venv/bin/python"""


def _stub(path: Path, name: str, body: str) -> None:
    text = STUB.replace("{name}", name).replace("{body}", body)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory holding only .ci/run, and a directory of stand-ins."""
    work = tmp_path / "work"
    (work / ".ci").mkdir(parents=True)
    shutil.copy2(CI, work / ".ci" / "run")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    _stub(stubs / "python3", "python3", MAKE_VENV)
    _stub(stubs / "venv-python", ".venv/bin/python", VENV_PYTHON)
    _stub(stubs / "pg_isready", "pg_isready", "exit 0")  # "already running": start nothing
    _stub(stubs / "redis-cli", "redis-cli", "exit 0")
    return work


def run_ci(
    work: Path, pytest_status: int = 0, vectors_status: int = 0, fuzz_status: int = 0
) -> tuple[int, str, str]:
    stubs = work.parent / "stubs"
    log = work.parent / "calls.log"
    log.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
        "CI_TEST_LOG": str(log),
        "CI_TEST_STUBS": str(stubs),
        "CI_TEST_PYTEST": str(pytest_status),
        "CI_TEST_VECTORS": str(vectors_status),
        "CI_TEST_FUZZ": str(fuzz_status),
    }
    result = subprocess.run(
        ["bash", str(work / ".ci" / "run")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, log.read_text(encoding="utf-8")


ALL_CHECKS = [
    "python3 -m venv .venv",
    ".venv/bin/pip install -e .[test]",
    ".venv/bin/python -m pytest",
    ".venv/bin/ruff check .",
    ".venv/bin/ruff format --check .",
    ".venv/bin/mypy",
    ".venv/bin/python specs/vectors/generate.py --check",
]
FUZZ_CHECKS = [
    ".venv/bin/pip install -e .[fuzz]",
    *(
        f".venv/bin/python -m fuzz.run {target} --ci"
        for target in ("token", "verify", "request", "discharge", "proof")
    ),
]
"""Each fuzz harness's fixed budget (docs/fuzzing.md), after the checks pre-commit runs too."""


def _checks(log: str) -> list[str]:
    calls = [line.strip() for line in log.splitlines()]
    return [call for call in calls if not call.startswith(("pg_isready", "redis-cli"))]


def test_a_green_run_runs_every_check_in_order(checkout: Path) -> None:
    status, output, log = run_ci(checkout)
    assert status == 0, output
    assert _checks(log) == ALL_CHECKS + FUZZ_CHECKS
    assert "ci: all checks passed" in output


def test_pytest_collecting_no_tests_fails_ci(checkout: Path) -> None:
    status, output, log = run_ci(checkout, pytest_status=5)
    assert status != 0
    assert "collected no tests" in output
    assert "ci: all checks passed" not in output
    assert _checks(log) == ALL_CHECKS[:3]


@pytest.mark.parametrize("pytest_status", [1, 2, 3, 4])
def test_a_failing_test_run_fails_ci_with_its_status(checkout: Path, pytest_status: int) -> None:
    status, output, log = run_ci(checkout, pytest_status=pytest_status)
    assert status == pytest_status, output
    assert _checks(log) == ALL_CHECKS[:3]


def test_stale_vectors_fail_ci(checkout: Path) -> None:
    status, output, _ = run_ci(checkout, vectors_status=1)
    assert status != 0
    assert "ci: all checks passed" not in output


def test_a_fuzz_crash_fails_ci(checkout: Path) -> None:
    status, output, log = run_ci(checkout, fuzz_status=1)
    assert status != 0
    assert "ci: all checks passed" not in output
    assert _checks(log) == ALL_CHECKS + FUZZ_CHECKS[:2]


def test_ci_uses_the_generators_check_not_a_git_diff() -> None:
    text = CI.read_text(encoding="utf-8")
    assert "specs/vectors/generate.py --check" in text
    assert "git diff" not in text  # misses files the generator writes that git does not track


def _hooks() -> list[dict[str, str]]:
    """The hooks of .pre-commit-config.yaml, read without a YAML library (the file is flat)."""
    hooks: list[dict[str, str]] = []
    for line in PRE_COMMIT.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"\s*- id: (\S+)", line):
            hooks.append({"id": match.group(1)})
        elif hooks and (match := re.fullmatch(r"\s+(\w+): (.+)", line)):
            hooks[-1][match.group(1)] = match.group(2)
    return hooks


def test_pre_commit_runs_local_hooks_only() -> None:
    repos = re.findall(r"-\s*repo:\s*(\S+)", PRE_COMMIT.read_text(encoding="utf-8"))
    assert repos == ["local"]
    hooks = _hooks()
    assert hooks
    for hook in hooks:
        assert hook["language"] == "system", hook["id"]
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]


def test_every_pre_commit_hook_runs_a_command_ci_runs() -> None:
    ci_lines = {line.strip() for line in CI.read_text(encoding="utf-8").splitlines()}
    ci_text = CI.read_text(encoding="utf-8")
    for hook in _hooks():
        entry = hook["entry"]
        assert entry in ci_lines or f"&& {entry} ||" in ci_text, (hook["id"], entry)
    entries = {hook["entry"] for hook in _hooks()}
    for check in ALL_CHECKS[2:]:
        assert check in entries, f"pre-commit does not run {check!r}"
