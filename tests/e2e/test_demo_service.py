"""``delegation demo --service URL`` as a real process against a real ``delegation serve``: the
story plays through the service (its audit log holds the task), says what it expects at each
step, prints no API key, and a service out of reach or a refused admin key is one line and
exit 2."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import SCRIPT, Result, usage_error
from tests.e2e.test_serve import Server, free_port


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service") / "data"


@pytest.fixture(scope="module")
def service(data: Path) -> Iterator[Server]:
    """One ``delegation serve`` for the module: each demo run takes a task of its own."""
    server = Server(data)
    assert server.proc.poll() is None, "delegation serve did not start"
    yield server
    server.kill()


def demo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    environ = {k: v for k, v in os.environ.items() if k != "DELEGATION_ADMIN_KEY"}
    return subprocess.run(
        [str(SCRIPT), "demo", *args], capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**environ, **(env or {})}, check=False,
    )  # fmt: skip


def test_the_story_plays_through_the_service(service: Server, data: Path, tmp_path: Path) -> None:
    key_file = data / "admin.key"
    result = demo("--service", service.url, "--admin-key-file", str(key_file), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "24 calls: 6 allowed, 18 denied, each as expected (act 1: 10; act 2: 14)." in out
    assert "!!" not in out
    admin = key_file.read_text().strip()
    assert admin not in out
    assert "dlg_" not in out, "no API key is printed"
    assert "/v1/approvals/poll/..." in out
    assert not re.search(r"/v1/approvals/poll/[A-Za-z0-9_-]{20,}", out), "nor a poll secret"

    lines = out.splitlines()
    # The researcher's hop is revoked at the service: its next call is denied, revoked.
    revoked = lines.index("   [DENY ] researcher reads crm://accounts/42/notes")
    assert lines[revoked + 1].lstrip().startswith("revoked (token): the token was revoked")
    assert re.fullmatch(
        r" +decision [0-9a-f]{32}, receipt signed by \S+ for audit record \d+", lines[revoked + 2]
    )
    # ... while its sibling, the writer, files a second note the human approved.
    assert "   [ALLOW] writer files the second approved note" in lines[revoked + 3 :]
    # The human's yes is for the writer: its parent presenting it is refused.
    parent = lines.index(
        "   [DENY ] the orchestrator presents the writer's approval with its own token"
    )
    assert lines[parent + 1].lstrip().startswith("bad_discharge (hop 0, caveat ")
    assert lines[parent + 3] == "   [ALLOW] writer files the approved note"
    assert "   | agents: orchestrator -> writer" in lines  # the human's review, from the service
    assert "   [DENY ] writer files a 640-character note" in lines  # before the approval
    assert "budget pages: 10 of 50 left" in out

    # The service's own log holds the task the demo minted and every decision it showed.
    task_id = re.search(r"^   (task-42-[0-9a-f]{8}), approved by alice@example.com", out, re.M)
    assert task_id is not None, out
    auth = {"Authorization": f"Bearer {admin}"}
    log = httpx.get(f"{service.url}/v1/audit", params={"task": task_id.group(1)}, headers=auth).text
    decisions = [line for line in log.splitlines() if '"kind": "decision"' in line]
    assert len(decisions) == 23  # 24 calls; the tampered token names no task
    assert "29 records: mint 1, decision 23, approval_request 2, approval 2, revocation 1" in out

    # The offline check the demo prints holds for the service's export.
    command = next(line.split() for line in lines if "delegation audit verify" in line)
    (tmp_path / "checkpoint.json").write_text(
        httpx.get(f"{service.url}/v1/audit/checkpoint", headers=auth).text
    )
    (tmp_path / "audit.jsonl").write_text(
        httpx.get(f"{service.url}/v1/audit", params={"limit": 10000}, headers=auth).text
    )
    checked = subprocess.run(
        [str(SCRIPT), *command[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=60,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "chain intact and the signed checkpoint" in checked.stdout


def test_the_story_plays_again_on_the_same_service(
    service: Server, data: Path, tmp_path: Path
) -> None:
    """A second run takes a task id of its own, with the admin key from the environment."""
    admin = (data / "admin.key").read_text().strip()
    result = demo("--service", service.url, cwd=tmp_path, env={"DELEGATION_ADMIN_KEY": admin})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "each as expected" in result.stdout


@pytest.mark.parametrize("where", ["nothing listens", "not the service"])
def test_a_service_out_of_reach_is_one_line(
    service: Server, data: Path, tmp_path: Path, where: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}" if where == "nothing listens" else service.url + "/v1"
    result = demo("--service", url, "--admin-key-file", str(data / "admin.key"), cwd=tmp_path)
    line = usage_error(result)
    if where == "nothing listens":
        assert line.startswith(f"delegation: error: cannot reach the verifier service at {url}")
    else:
        assert line.endswith("does not answer as a delegation verifier service (GET /healthz: 404)")


def test_a_refused_admin_key_is_one_line(service: Server, data: Path, tmp_path: Path) -> None:
    wrong = "dlg_0123456789abcdef_" + "A" * 43
    (tmp_path / "wrong.key").write_text(wrong + "\n")
    result = demo("--service", service.url, "--admin-key-file", "wrong.key", cwd=tmp_path)
    line = usage_error(result)
    assert line == (
        f"delegation: error: the verifier service at {service.url} refused the admin key "
        "(401 unauthenticated)"
    )
    assert wrong not in result.stderr
    # A genuine key of another role is refused as well, from the environment too.
    admin = (data / "admin.key").read_text().strip()
    approver = httpx.post(
        f"{service.url}/v1/apikeys", headers={"Authorization": f"Bearer {admin}"},
        json={"role": "approver", "principal": "bob@example.com"},
    ).json()["api_key"]  # fmt: skip
    result = demo("--service", service.url, cwd=tmp_path, env={"DELEGATION_ADMIN_KEY": approver})
    assert usage_error(result).endswith("refused the admin key (403 forbidden)")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--service", "http://127.0.0.1:8700"], "needs the service's admin API key"),
        (["--admin-key-file", "admin.key"], "--admin-key-file goes with --service URL"),
        (["--service", "127.0.0.1:8700", "--admin-key-file", "admin.key"], "base URL"),
        (["--service", "http://127.0.0.1:8700", "--admin-key-file", "none"], "cannot read"),
    ],
)
def test_bad_usage_is_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "admin.key").write_text("dlg_0123456789abcdef_secret\n")
    assert says in usage_error(demo(*args, cwd=tmp_path))
