"""Two ``delegation serve`` processes sharing the real PostgreSQL (and Redis) of this machine,
each test in schemas and a Redis key prefix of its own: a revocation through one is enforced
by the other on the next call, a single-use token is accepted exactly once across both under
concurrent load, a proof is accepted once across both, what was answered 2xx survives
``kill -9``, and with a store down each denies (``store_unavailable``), says why in
``/readyz``, and recovers by itself when it is back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from delegation import AgentKey, Request, encode_public_key, prove
from tests.conftest import POSTGRES_DSN
from tests.e2e.test_serve import CALL, Server, free_port
from tests.unit.stores.test_redis import RedisServer

KEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # a test fixture: bytes 0..31
REDIS_URL = "redis://127.0.0.1:6379/0"


def _dsn(port: int = 5432) -> str:
    return POSTGRES_DSN.replace("port=5432", f"port={port}")


class Replicas:
    """Two service processes on one database (and Redis), with the keys a test needs."""

    def __init__(self, tmp: Path, schema: str, *, dsn: str, redis_url: str | None) -> None:
        args: tuple[str, ...] = ("--database-url", dsn, "--schema", schema)
        if redis_url is not None:
            args += ("--redis-url", redis_url)
        env = {"DELEGATION_KEK": KEK}
        self.servers = [Server(tmp / f"host-{i}", env, args=args) for i in range(2)]
        for server in self.servers:
            assert server.proc.poll() is None, server.proc.communicate()
        admins = [tmp / f"host-{i}" / "admin.key" for i in range(2)]
        found = [p.read_text().strip() for p in admins if p.exists()]
        assert len(found) == 1  # one first admin key for the whole deployment
        self.admin = found[0]
        self.approver = self.key("approver", principal="alice@example.com")
        self.verifier = self.key("verifier", audiences=["crm"])

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def key(self, role: str, principal: str = "someone", **extra: Any) -> str:
        answer = httpx.post(
            f"{self.urls[0]}/v1/apikeys",
            headers={"Authorization": f"Bearer {self.admin}"},
            json={"role": role, "principal": principal, **extra},
        )
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["api_key"]
        return key

    def mint(self, holder: AgentKey, **scope: Any) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.urls[0]}/v1/tasks",
            headers={"Authorization": f"Bearer {self.approver}"},
            json={
                "statement": "read the CRM",
                "holder": {"agent_id": "o", "public_key": encode_public_key(holder.public_key)},
                "scope": {"audiences": ["crm"], "expires_in": 600, **scope},
            },
        )
        assert answer.status_code == 201, answer.text
        minted: dict[str, Any] = answer.json()
        return minted

    def verify(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/verify",
            headers={"Authorization": f"Bearer {self.verifier}"},
            json=body,
            timeout=30,
        )

    def stop(self) -> None:
        for server in self.servers:
            with suppress(Exception):
                server.stop()


def body(token: str, holder: AgentKey) -> dict[str, Any]:
    return {"token": token, "request": CALL, "proof": prove(token, holder, Request.from_json(CALL))}


@pytest.fixture(params=["postgres", "postgres+redis"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str) -> Iterator[Replicas]:
    redis_url = REDIS_URL if request.param == "postgres+redis" else None
    made = Replicas(tmp_path, pg_schema, dsn=_dsn(), redis_url=redis_url)
    yield made
    made.stop()


def test_both_replicas_are_ready_and_say_on_what(replicas: Replicas) -> None:
    for url in replicas.urls:
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["status"] == "ready"
        assert ready["storage"].startswith("postgres")


def test_a_revocation_through_one_is_enforced_by_the_other_on_the_next_call(
    replicas: Replicas,
) -> None:
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    one, two = replicas.urls
    assert replicas.verify(two, body(minted["token"], holder)).json()["allowed"] is True
    revoked = httpx.post(
        f"{one}/v1/revocations",
        headers={"Authorization": f"Bearer {replicas.admin}"},
        json={"kind": "task", "value": minted["task_id"]},
    )
    assert revoked.status_code == 201, revoked.text
    answer = replicas.verify(two, body(minted["token"], holder)).json()
    assert (answer["allowed"], answer["code"]) == (False, "revoked")
    feed = httpx.get(
        f"{two}/v1/revocations", headers={"Authorization": f"Bearer {replicas.verifier}"}
    ).json()
    assert [r["value"] for r in feed["revocations"]] == [minted["task_id"]]


def test_a_single_use_token_is_accepted_once_across_both_under_load(
    replicas: Replicas,
) -> None:
    holder = AgentKey.generate()
    minted = replicas.mint(holder, max_uses=1)
    calls = [(replicas.urls[i % 2], body(minted["token"], holder)) for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda c: replicas.verify(*c).json(), calls))
    codes = [a["code"] for a in answers]
    assert sum(a["allowed"] for a in answers) == 1, codes
    assert {a["code"] for a in answers if not a["allowed"]} == {"uses_exhausted"}, codes


def test_one_proof_is_accepted_once_across_both(replicas: Replicas) -> None:
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    for _ in range(3):
        one_proof = body(minted["token"], holder)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(replicas.verify, url, one_proof) for url in replicas.urls * 4]
            answers = [f.result().json() for f in futures]
        codes = [a["code"] for a in answers]
        assert sum(a["allowed"] for a in answers) == 1, codes
        assert {a["code"] for a in answers if not a["allowed"]} == {"replay"}, codes


def test_the_audit_log_is_one_chain_across_both(replicas: Replicas) -> None:
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    calls = [(replicas.urls[i % 2], body(minted["token"], holder)) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: replicas.verify(*c), calls))
    auditor = replicas.key("auditor")
    text = httpx.get(
        f"{replicas.urls[1]}/v1/audit", headers={"Authorization": f"Bearer {auditor}"}
    ).text
    lines = text.splitlines()
    seqs = [int(line.split('"seq":')[1].split(",")[0].split("}")[0]) for line in lines]
    assert seqs == list(range(1, len(lines) + 1))
    from delegation.cli.main import main

    log = Path(replicas.servers[0].url.replace(":", "_").replace("/", "_") + ".jsonl")
    try:
        log.write_text(text)
        assert main(["audit", "verify", str(log)]) == 0
    finally:
        log.unlink()


def test_a_revocation_answered_survives_kill_9_of_both(tmp_path: Path, pg_schema: str) -> None:
    replicas = Replicas(tmp_path, pg_schema, dsn=_dsn(), redis_url=REDIS_URL)
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    revoked = httpx.post(
        f"{replicas.urls[0]}/v1/revocations",
        headers={"Authorization": f"Bearer {replicas.admin}"},
        json={"kind": "token", "value": minted["token_id"]},
    )
    assert revoked.status_code == 201
    for server in replicas.servers:
        server.kill()
    replicas.servers = [
        Server(
            tmp_path / "host-0",
            {"DELEGATION_KEK": KEK},
            args=("--database-url", _dsn(), "--schema", pg_schema, "--redis-url", REDIS_URL),
        )
    ]
    try:
        answer = replicas.verify(replicas.urls[0], body(minted["token"], holder)).json()
        assert (answer["allowed"], answer["code"]) == (False, "revoked")
    finally:
        replicas.stop()


class Proxy:
    """A TCP proxy to PostgreSQL that a test can cut (every connection dropped, the port
    closed) and restore, to take the database away from the service and give it back."""

    def __init__(self, target: int) -> None:
        self.port, self._target = free_port(), target
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        with suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self._listener is not None:
            with suppress(OSError):  # wakes the thread blocked in accept(); close alone won't
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns = []


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=30)


def _ready_again(url: str, within: float = 10.0) -> httpx.Response:
    """``/readyz`` polled as a load balancer would, until it is ready or ``within`` seconds
    passed: a store that is back is used again by the next calls (the first may still meet
    the connection that broke)."""
    deadline = time.monotonic() + within
    while True:
        answer = _ready(url)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_postgres_down_denies_says_why_and_recovers_by_itself(
    tmp_path: Path, pg_schema: str
) -> None:
    proxy = Proxy(5432)
    replicas = Replicas(tmp_path, pg_schema, dsn=_dsn(proxy.port), redis_url=None)
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    url = replicas.urls[0]
    try:
        assert replicas.verify(url, body(minted["token"], holder)).json()["allowed"]
        proxy.cut()
        ready = _ready(url)
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        assert "unreachable" in ready.json()["detail"] or "failed" in ready.json()["detail"]
        down = replicas.verify(url, body(minted["token"], holder))
        # no allow without its audit record: the answer is a refusal, never a 500
        assert down.status_code == 503, down.text
        assert down.json()["code"] == "store_unavailable"
        assert "5432" not in down.text
        assert str(proxy.port) not in down.text
        proxy.start()
        assert _ready_again(url).status_code == 200
        assert replicas.verify(url, body(minted["token"], holder)).json()["allowed"]
    finally:
        proxy.cut()
        replicas.stop()


def test_redis_down_denies_says_why_and_recovers_by_itself(tmp_path: Path, pg_schema: str) -> None:
    redis_server = RedisServer(tmp_path)
    replicas = Replicas(tmp_path, pg_schema, dsn=_dsn(), redis_url=redis_server.url)
    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    url = replicas.urls[0]
    try:
        assert replicas.verify(url, body(minted["token"], holder)).json()["allowed"]
        redis_server.stop()
        ready = _ready(url)
        assert ready.status_code == 503
        assert ready.json()["detail"].startswith("redis fast path: unreachable")
        answer = replicas.verify(url, body(minted["token"], holder)).json()
        assert (answer["allowed"], answer["code"]) == (False, "store_unavailable")
        redis_server.start()  # a restart: every nonce forgotten, a new epoch
        assert _ready_again(url).status_code == 200
        # Redis forgot every nonce: a proof issued before the new epoch's guard (the leases'
        # horizon plus the clock skew, some 40 seconds from the first claim) could be one
        # it forgot, so it is refused until then; the agent signs a fresh one later
        late = replicas.verify(url, body(minted["token"], holder)).json()
        assert (late["allowed"], late["code"]) == (False, "store_unavailable")
        assert late["reasons"][0]["detail"] == "the state store cannot answer (error)"
    finally:
        redis_server.stop()
        replicas.stop()


def test_audit_export_pages_the_whole_log_and_it_verifies(
    replicas: Replicas, tmp_path: Path
) -> None:
    """``delegation audit export`` against a running replica, then ``audit verify`` on the
    file with the signed checkpoint: the auditor's whole offline check, as two commands."""
    import subprocess

    from tests.e2e.helpers import SCRIPT

    holder = AgentKey.generate()
    minted = replicas.mint(holder)
    for url in replicas.urls:
        replicas.verify(url, body(minted["token"], holder))
    key_file = tmp_path / "auditor.key"
    key_file.write_text(replicas.key("auditor") + "\n")
    log, head = tmp_path / "log.jsonl", tmp_path / "checkpoint.json"
    export = subprocess.run(
        [str(SCRIPT), "audit", "export", "--service", replicas.urls[1], "--key-file",
         str(key_file), "--out", str(log), "--checkpoint", str(head)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    assert key_file.read_text().strip() not in export.stdout + export.stderr
    public = httpx.get(f"{replicas.urls[0]}/v1/receipt-keys").json()["keys"][0]["public_key"]
    check = subprocess.run(
        [str(SCRIPT), "audit", "verify", str(log), "--checkpoint", str(head), "--key", public],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("OK: ")
    refused = subprocess.run(
        [str(SCRIPT), "audit", "export", "--service", replicas.urls[0], "--out", str(log)],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "API key" in refused.stderr
