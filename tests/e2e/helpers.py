"""Helpers for the issue-3 command-line tests: the installed console script as a subprocess, and
``main()`` in this process (``call``) for long tables, where an interpreter start-up per case
would make the suite slow. An exception escaping ``main`` fails a test just as a traceback would.

Keys made here are TEST FIXTURES ONLY: fixed seeds, never use them for real.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from delegation import AgentKey, Request, _wire, decode, prove, prove_for_approval
from delegation._thirdparty.caveat import bind, decode_discharge
from delegation.cli import main
from delegation.testing.fixtures import agent_key, approver_key, keyring, root_key

SCRIPT = Path(sys.executable).with_name("delegation")

Result = subprocess.CompletedProcess[str]
Runner = Callable[..., Result]


def run(*args: str, cwd: Path, stdin: str | None = None) -> Result:
    """The installed ``delegation`` console script, as a real process."""
    return subprocess.run(
        [str(SCRIPT), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60,
        check=False,
    )  # fmt: skip


def run_on_terminal(*args: str, cwd: Path, typed: bytes, after: bytes = b"") -> Result:
    """The console script in a terminal session: standard input and error on a pseudo-terminal,
    standard output a pipe. Once the terminal shows ``after``, ``typed`` is typed (b"\\x04" is
    Ctrl-D). The result's ``stderr`` is the terminal's transcript, the typed echo included."""
    pty = pytest.importorskip("pty")
    control, terminal = pty.openpty()
    transcript = b""

    def read_terminal(until: bytes) -> None:
        nonlocal transcript
        deadline = time.monotonic() + 60
        while until not in transcript and time.monotonic() < deadline:
            if select.select([control], [], [], 1)[0]:
                try:
                    chunk = os.read(control, 4096)
                except OSError:  # EIO: the command has gone and its terminal is closed
                    return
                if not chunk:
                    return
                transcript += chunk

    try:
        with subprocess.Popen(
            [str(SCRIPT), *args], stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
            cwd=cwd, text=True,
        ) as process:  # fmt: skip
            os.close(terminal)
            terminal = -1
            if after:
                read_terminal(after)
            os.write(control, typed)
            assert process.stdout is not None
            out = process.stdout.read()
            process.wait(timeout=60)
            read_terminal(b"\0never")  # the rest, until the terminal closes
    finally:
        os.close(control)
        if terminal != -1:
            os.close(terminal)
    err = transcript.decode("utf-8", "replace").replace("\r\n", "\n")
    return subprocess.CompletedProcess(list(args), process.returncode, out, err)


def in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Like ``run``, but through ``main()`` in this process."""

    def invoke(*args: str, cwd: Path, stdin: str | None = None) -> Result:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return invoke


def only_line(result: Result) -> str:
    """The single line a successful command printed."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def usage_error(result: Result) -> str:
    """Assert ``result`` is a clean exit-2 refusal: one stderr line, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("delegation: error: ")
    return lines[0]


def write_request(path: Path, **fields: Any) -> str:
    doc: dict[str, Any] = {
        "audience": "crm",
        "tool": "crm.update",
        "action": "write",
        "resource": "crm://accounts/42/notes/summary",
        "intent": "update-notes",
        "args": {"length": 640},
    }
    doc.update(fields)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def sign(token: str, key_file: Path, request: str) -> str:
    """A proof made with the library (the CLI's prove is covered by test_cli.py)."""
    doc = json.loads(Path(request).read_text(encoding="utf-8"))
    return prove(token, AgentKey.load(key_file), Request.from_json(doc))


def ask(token: str, key_file: Path, request: str, *, now: int | None = None) -> str:
    """The holder's signed approval request, made with the library (the CLI's ``prove
    --for-approval`` is covered by test_cli_approval.py)."""
    doc = json.loads(Path(request).read_text(encoding="utf-8"))
    return prove_for_approval(token, AgentKey.load(key_file), Request.from_json(doc), now=now)


def bound_by_hand(token: str, discharge: str) -> str:
    """``discharge`` bound to ``token`` without ``bind``'s check of whom an approval was given
    to: what a holder after another agent's approval would do."""
    raw = decode_discharge(discharge)
    signature = bind(decode(token).raw.signature, raw.signature)
    mac = _wire.RawMacaroon(raw.identifier, raw.caveats, signature, raw.location)
    return _wire.b64encode(_wire.encode(mac))


def write_test_keys(directory: Path, names: dict[str, int]) -> dict[str, str]:
    """Save a test-only keyring and seeded agent keys; return each agent's public key text."""
    keyring(root_key(1)).save(directory / "keyring.json")
    public = {}
    for name, seed in names.items():
        key = agent_key(seed)  # TEST FIXTURE ONLY
        key.save(directory / f"{name}.key")
        public[name] = json.loads((directory / f"{name}.key").read_text("utf-8"))["public_key"]
    return public


def write_test_approver(path: Path, seed: int) -> str:
    """Save a seeded approver key (TEST FIXTURE ONLY); return its public key text."""
    key = approver_key(seed)
    key.save(path)
    return str(json.loads(path.read_text("utf-8"))["public_key"])


# --- the billing story (built by the ``billing`` fixture in tests/e2e/conftest.py) -----------

BILLING_URL = "https://approve.example/billing"
"""Where the billing story's approval service says it is asked."""


@dataclass(frozen=True)
class Billing:
    dir: Path
    public: dict[str, str]
    approver: str
    analyst: str
    sibling: str
    summarizer: str
    read: str
    read_other: str
    refund: str


def decide(
    b: Billing, runner: Runner, token: str, key: str, request: str, *args: str
) -> tuple[int, dict[str, Any]]:
    proof = sign(token, b.dir / f"{key}.key", request)
    result = runner(
        "verify", token, "--keyring", "ring.json", "--request", request, "--proof", proof,
        "--json", *args,
        cwd=b.dir,
    )  # fmt: skip
    assert result.stderr == "", result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == (0 if doc["allowed"] else 1)
    return result.returncode, doc


def where(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(r["code"], r["hop"]) for r in doc["reasons"]]


def describe(b: Billing, token: str) -> dict[str, Any]:
    result = run("inspect", "--json", token, cwd=b.dir)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc
