"""``delegation serve`` as a real process: it starts on its embedded default, tells a newcomer
where the admin key is and what to try, keeps everything it answered 2xx for across
``kill -9``, and refuses to start under another key-encryption key."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from delegation import AgentKey, Request, encode_public_key, prove
from tests.e2e.helpers import SCRIPT

CALL = {"audience": "crm", "tool": "crm.read", "action": "read"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(
        self,
        data: Path,
        env: dict[str, str] | None = None,
        workers: int = 1,
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(SCRIPT),
                "serve",
                "--data-dir",
                str(data),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("delegation serve did not come up")

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        out, _ = self.proc.communicate(timeout=30)  # and closes the pipes
        return out

    def stop(self) -> None:
        """SIGTERM: with workers, the parent takes them down with it."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=60)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "service-data"


def test_serve_starts_on_its_default_and_survives_kill_9(data: Path) -> None:
    server = Server(data)
    admin = (data / "admin.key").read_text().strip()
    assert stat.S_IMODE((data / "admin.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "kek").stat().st_mode) == 0o600
    auth = {"Authorization": f"Bearer {admin}"}
    approver = httpx.post(
        f"{server.url}/v1/apikeys", headers=auth,
        json={"role": "approver", "principal": "alice@example.com"},
    ).json()["api_key"]  # fmt: skip
    verifier = httpx.post(
        f"{server.url}/v1/apikeys", headers=auth,
        json={"role": "verifier", "principal": "crm", "audiences": ["crm"]},
    ).json()["api_key"]  # fmt: skip
    holder = AgentKey.generate()
    minted = httpx.post(
        f"{server.url}/v1/tasks",
        headers={"Authorization": f"Bearer {approver}"},
        json={
            "statement": "read the CRM",
            "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
            "scope": {"audiences": ["crm"], "expires_in": 600, "max_uses": 1},
        },
    ).json()
    proof = prove(minted["token"], holder, Request.from_json(CALL))
    body = {"token": minted["token"], "request": CALL, "proof": proof}
    first = httpx.post(
        f"{server.url}/v1/verify", headers={"Authorization": f"Bearer {verifier}"}, json=body
    ).json()
    assert first["allowed"] is True
    out = server.kill()  # no shutdown: whatever was answered must already be on disk
    assert "admin API key is in" in out
    assert "/docs" in out
    assert "try: curl" in out

    again = Server(data)
    try:
        replay = httpx.post(
            f"{again.url}/v1/verify", headers={"Authorization": f"Bearer {verifier}"}, json=body
        ).json()
        assert replay["code"] in ("replay", "uses_exhausted")  # the use and nonce were kept
        fresh = prove(minted["token"], holder, Request.from_json(CALL))
        used = httpx.post(
            f"{again.url}/v1/verify", headers={"Authorization": f"Bearer {verifier}"},
            json={**body, "proof": fresh},
        ).json()  # fmt: skip
        assert used["code"] == "uses_exhausted"
        lines = httpx.get(f"{again.url}/v1/audit", headers=auth).text.splitlines()
        decisions = [json.loads(line).get("decision_id") for line in lines]
        assert first["decision_id"] in decisions
    finally:
        again.kill()


def test_serve_refuses_to_start_under_another_kek(data: Path) -> None:
    Server(data).kill()
    other = Server(data, env={"DELEGATION_KEK": "A" * 43})
    _, err = other.proc.communicate(timeout=30)
    assert other.proc.returncode == 2
    assert "cannot start" in err
    assert "does not open" in err


def test_workers_share_one_state_and_one_log(data: Path) -> None:
    server = Server(data, workers=2)
    try:
        admin = (data / "admin.key").read_text().strip()
        auth = {"Authorization": f"Bearer {admin}"}
        keys = {}
        for role, body in (
            ("approver", {"role": "approver", "principal": "alice"}),
            ("verifier", {"role": "verifier", "principal": "crm", "audiences": ["crm"]}),
            ("auditor", {"role": "auditor", "principal": "audit"}),
        ):
            keys[role] = httpx.post(f"{server.url}/v1/apikeys", headers=auth, json=body).json()[
                "api_key"
            ]
        holder = AgentKey.generate()
        minted = httpx.post(
            f"{server.url}/v1/tasks",
            headers={"Authorization": f"Bearer {keys['approver']}"},
            json={
                "statement": "one read",
                "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
                "scope": {"audiences": ["crm"], "expires_in": 600, "max_uses": 1},
            },
        ).json()
        bodies = [
            {"token": minted["token"], "request": CALL,
             "proof": prove(minted["token"], holder, Request.from_json(CALL))}
            for _ in range(24)
        ]  # fmt: skip
        results: list[dict[str, object]] = []

        def call(body: dict[str, object]) -> None:
            headers = {"Authorization": f"Bearer {keys['verifier']}"}
            results.append(httpx.post(f"{server.url}/v1/verify", headers=headers, json=body).json())

        threads = [threading.Thread(target=call, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(1 for r in results if r["allowed"]) == 1  # one use, across both workers
        assert {r["code"] for r in results if not r["allowed"]} == {"uses_exhausted"}
        log = httpx.get(
            f"{server.url}/v1/audit", headers={"Authorization": f"Bearer {keys['auditor']}"}
        ).text
    finally:
        server.stop()
    from verifier_service.audit import check_log

    checked = check_log(log.splitlines())
    assert checked.ok, checked.problem
    assert sum(1 for line in log.splitlines() if '"kind": "decision"' in line) == 24
