"""Shared fixtures. Keys here are TEST FIXTURES ONLY (``delegation.testing.fixtures``): fixed
seeds, publicly known, never use them for real."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from delegation import (
    Agent,
    AgentKey,
    Keyring,
    MemoryState,
    Request,
    Scope,
    SQLiteState,
    State,
    TaskRecord,
    UnverifiedToken,
    Verifier,
)
from delegation._token import _mint
from delegation.testing import fixtures

# Hypothesis: no per-example deadline and no "data generation too slow" health check. Both
# are timings, and a loaded 2-core CI machine must not turn a law that holds into a failure.
settings.register_profile("delegation", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("delegation")

NOW = fixtures.NOW
"""A fixed clock for tests: 2027-01-15T08:00:00Z."""


def seeded_agent(n: int) -> AgentKey:
    """Deterministic Ed25519 key number ``n`` (test fixture only): ``fixtures.agent_key(n)``."""
    return fixtures.agent_key(n)


@pytest.fixture
def now() -> int:
    return NOW


@pytest.fixture
def keyring() -> Keyring:
    return fixtures.keyring()


@pytest.fixture
def orchestrator() -> AgentKey:
    return seeded_agent(1)


@pytest.fixture
def researcher() -> AgentKey:
    return seeded_agent(2)


@pytest.fixture
def writer() -> AgentKey:
    return seeded_agent(3)


@pytest.fixture
def task() -> TaskRecord:
    return TaskRecord(
        task_id="task-42",
        approved_by="alice@example.com",
        approved_at=NOW - 60,
        statement="Summarise account 42's notes",
    )


@pytest.fixture
def root_scope() -> Scope:
    return Scope(
        audiences=["crm"],
        tools=["crm.read", "crm.update"],
        actions=["read", "write"],
        resources=["crm://accounts/42/**"],
        intents=["summarise", "update-notes"],
        expires=NOW + 3600,
        max_depth=2,
    )


@pytest.fixture
def root_token(
    keyring: Keyring, task: TaskRecord, orchestrator: AgentKey, root_scope: Scope
) -> UnverifiedToken:
    return _mint(
        keyring,
        task,
        Agent("orchestrator", orchestrator.public_key),
        root_scope,
        now=NOW,
        nonce=b"\x00" * 16,
        location=None,
    )


@pytest.fixture
def verifier(keyring: Keyring) -> Verifier:
    return Verifier(keyring, state=MemoryState(), clock=lambda: NOW)


@pytest.fixture
def read_request() -> Request:
    return Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="summarise",
    )


POSTGRES_DSN = os.environ.get("DELEGATION_TEST_POSTGRES", "host=127.0.0.1 port=5432 dbname=test")
"""The real PostgreSQL server the PostgreSQL state's tests use (``.ci/run`` starts it). Each
test gets a schema of its own, dropped afterwards."""


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema name in the test database; dropped with everything in it after."""
    import psycopg
    from psycopg import sql

    name = f"t_{secrets.token_hex(8)}"
    yield name
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        # the service keeps its own records beside the state, in NAME_service
        for schema in (name, f"{name}_service"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def make_state(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> State:
    """A new, empty state of ``kind``: memory, sqlite (a file in ``tmp_path``), sqlite-group
    (the same with group commit) or postgres (a schema of its own on the real server)."""
    if kind == "memory":
        return MemoryState()
    if kind in ("sqlite", "sqlite-group"):
        path = tmp_path / f"state-{secrets.token_hex(4)}.db"
        return SQLiteState.create(path, group_commit=kind == "sqlite-group")
    from delegation.stores.postgres import PostgresState

    return PostgresState.create(POSTGRES_DSN, schema=request.getfixturevalue("pg_schema"))


STATE_KINDS = ("memory", "sqlite", "sqlite-group", "postgres")
