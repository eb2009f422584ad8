"""The service's storage: the same records on SQLite and on PostgreSQL, replicas that start at
once, data directories of an earlier version, and root keys rotated or retired by one replica
and honoured by another."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from delegation import Agent, AgentKey, Code, Keyring, Request, prove
from tests.conftest import POSTGRES_DSN
from verifier_service.schemas import ScopeSpec, to_scope
from verifier_service.sealing import KEK_ENV, b64, seal
from verifier_service.service import KEYRING_FILE, Conflict, NotFound, Service
from verifier_service.store import ApiKey

KEK = b64(bytes(range(32)))  # a test fixture, never a deployment's key
APPROVER = ApiKey("k-approver", "approver", "alice@example.com", ())
ADMIN = ApiKey("k-admin", "admin", "admin", ())
VERIFIER = ApiKey("k-verifier", "verifier", "tool", ("crm",))
CALL = {"audience": "crm", "tool": "crm.read", "action": "read", "resource": "crm://a/42/n"}
SCOPE = to_scope(ScopeSpec(audiences=["crm"], tools=["crm.read"], actions=["read"], expires_in=600))


def _replicas(tmp_path: Path, schema: str, count: int) -> list[Service]:
    """``count`` services on one PostgreSQL schema, each with a data directory of its own and
    the KEK from the environment, as replicas on several hosts would be."""
    return [
        Service(
            tmp_path / f"host-{i}",
            environ={KEK_ENV: KEK},
            database_url=POSTGRES_DSN,
            schema=schema,
        )
        for i in range(count)
    ]


def _call(service: Service, minted: dict[str, Any], key: AgentKey) -> Code | None:
    request = Request.from_json(CALL)
    proof = prove(minted["token"], key, request, now=service.now())
    verified = service.verify(VERIFIER, {"token": minted["token"], "request": CALL, "proof": proof})
    return verified.decision.code


def test_replicas_starting_at_once_share_one_keyring_and_one_admin_key(
    tmp_path: Path, pg_schema: str
) -> None:
    started: list[Service] = []
    errors: list[BaseException] = []
    admins: list[Path | None] = []
    gate = threading.Barrier(4)

    def start(i: int) -> None:
        try:
            gate.wait()
            service = Service(
                tmp_path / f"host-{i}",
                environ={KEK_ENV: KEK},
                database_url=POSTGRES_DSN,
                schema=pg_schema,
            )
            started.append(service)
            admins.append(service.bootstrap_admin())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len({s.keyring.to_json() for s in started}) == 1
        assert len({s.signer.key_id for s in started}) == 1
        assert len({bytes(s.approver.public_key) for s in started}) == 1
        assert sum(path is not None for path in admins) == 1
    finally:
        for service in started:
            service.close()


def test_a_data_directory_of_an_earlier_version_keeps_its_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    ring = Keyring.generate()
    sealed = seal(bytes(range(32)), KEYRING_FILE, ring.to_json().encode())
    (data / KEYRING_FILE).write_text(b64(sealed) + "\n")
    service = Service(data, environ={KEK_ENV: KEK})
    try:
        assert service.keyring.to_json() == ring.to_json()
    finally:
        service.close()
    again = Service(data, environ={KEK_ENV: KEK})
    try:
        assert again.keyring.to_json() == ring.to_json()
    finally:
        again.close()


def test_a_key_rotated_on_one_replica_verifies_on_the_other(tmp_path: Path, pg_schema: str) -> None:
    one, two = _replicas(tmp_path, pg_schema, 2)
    try:
        old = one.keyring.current.key_id
        rotated = one.rotate_keys(ADMIN)
        assert rotated["key_id"] != old
        key = AgentKey.generate()
        minted = one.mint_task(APPROVER, None, "read notes", Agent("orch", key.public_key), SCOPE)
        assert _call(two, minted, key) is None  # two learns the new key on first sight
        assert two.keyring.current.key_id == rotated["key_id"]
        states = {k["key_id"]: k["state"] for k in two.root_keys()}
        assert states == {old: "active", rotated["key_id"]: "current"}
    finally:
        one.close()
        two.close()


def test_a_key_retired_on_one_replica_is_refused_by_the_other_at_once(
    tmp_path: Path, pg_schema: str
) -> None:
    one, two = _replicas(tmp_path, pg_schema, 2)
    try:
        key = AgentKey.generate()
        old = one.keyring.current.key_id
        minted = one.mint_task(APPROVER, None, "read notes", Agent("orch", key.public_key), SCOPE)
        assert _call(two, minted, key) is None
        with pytest.raises(Conflict):
            one.retire_key(ADMIN, old)  # the current key: rotate first
        one.rotate_keys(ADMIN)
        assert one.retire_key(ADMIN, old) == {"key_id": old, "state": "retired"}
        # two has not reloaded its keyring: the shared state's key revocation denies anyway
        assert two.keyring.get(old) is not None
        assert _call(two, minted, key) is Code.REVOKED
        assert {k["key_id"]: k["state"] for k in two.root_keys()}[old] == "retired"
        with pytest.raises(NotFound):
            two.retire_key(ADMIN, old)
        feed = two.revocation_feed(0, 100)["revocations"]
        assert {"kind": "key", "value": old} in [
            {"kind": r["kind"], "value": r["value"]} for r in feed
        ]
    finally:
        one.close()
        two.close()


def test_two_replicas_rotating_at_once_keep_both_keys(tmp_path: Path, pg_schema: str) -> None:
    one, two = _replicas(tmp_path, pg_schema, 2)
    try:
        gate = threading.Barrier(2)
        made: list[str] = []

        def rotate(service: Service) -> None:
            gate.wait()
            made.append(service.rotate_keys(ADMIN)["key_id"])

        threads = [threading.Thread(target=rotate, args=(s,)) for s in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listed = {k["key_id"] for k in one.root_keys()}
        assert set(made) <= listed
        assert len(listed) == 3  # the first key and both new ones: no rotation lost
    finally:
        one.close()
        two.close()
