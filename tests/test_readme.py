"""The README runs as written: its Python example, and its first shell session."""

import os
import re
import subprocess
from pathlib import Path

from tests.e2e.helpers import SCRIPT

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has a Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = first_block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("delegation serve")
    assert "'.[service]'" in commands[0], "the first command installs what serve needs"
    assert commands[1].endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci, "CI runs the README's test command verbatim"


def _run_session(marker: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The README's one shell session that contains ``marker``, run by bash with the installed
    console script."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text("utf-8"), re.S)
    [session] = [b for b in blocks if marker in b]
    env = {**os.environ, "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-u", "-c", session], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_readme_first_session_runs_as_written(tmp_path: Path) -> None:
    """The README's first shell session: each comment that names an outcome is what the user
    sees."""
    result = _run_session("delegation revoke", tmp_path)
    assert result.stderr == ""
    assert result.returncode == 1  # the last command: verify denies the revoked token
    out = result.stdout.splitlines()
    assert "ALLOW" in out
    assert "DENY (revoked)" in out
    assert "  resource  crm://accounts/42/notes/*" in out  # inspect's effective scope
    assert out.index("ALLOW") < out.index("DENY (revoked)")


def test_the_readme_approval_session_runs_as_written(tmp_path: Path) -> None:
    """The README's approval session: the holder signs its request, the approver's summary
    names who asks, and the tool server allows the approved call."""
    result = _run_session("--for-approval", tmp_path)
    assert result.returncode == 0, result.stderr  # the last command: verify allows
    assert "error" not in result.stderr
    assert "agents: orchestrator -> writer" in result.stderr
    assert "asked by: writer (key " in result.stderr
    assert "approved: valid 300 s, for this call by writer through this chain only, once" in (
        result.stderr
    )
    assert "ALLOW" in result.stdout.splitlines()
