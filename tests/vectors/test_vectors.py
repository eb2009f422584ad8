"""Run every vector in ``specs/vectors/*.json`` against a fresh verifier.

Each vector states the expected decision as reason codes, in order (see the README there).
The keys in those files are TEST-ONLY fixtures.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from delegation import Code, Decision, Keyring, Request, Verifier
from delegation.keys import RootKey

VECTORS_DIR = Path(__file__).resolve().parents[2] / "specs" / "vectors"
FORMAT = "delegation-test-vectors/1"
FILE_KEYS = {"format", "description", "keyring", "agents", "vectors"}
VECTOR_KEYS = {"name", "description", "token", "request", "proof", "now", "expected"}
OPTIONAL_VECTOR_KEYS = {"keyring", "then"}
STEP_KEYS = {"request", "proof", "now", "expected"}
EXPECTED_KEYS = {"allowed", "codes"}
ALLOWED_KEYS = {"chain", "task_id", "token_id"}

Json = dict[str, Any]


def _files() -> list[Path]:
    return sorted(VECTORS_DIR.glob("*.json"))


def _load(path: Path) -> Json:
    doc: Json = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _cases() -> Iterator[Any]:
    for path in _files():
        doc = _load(path)
        # A file without vectors fails test_vector_files_are_well_formed, not collection.
        for vector in doc.get("vectors", []):
            yield pytest.param(doc, vector, id=vector.get("name", path.name))


def _keyring(spec: Json) -> Keyring:
    keys = [RootKey(k["key_id"], bytes.fromhex(k["secret_hex"])) for k in spec["keys"]]
    return Keyring(keys, spec["current"])


def _check(decision: Decision, expected: Json, where: str) -> None:
    codes = [str(r.code) for r in decision.reasons]
    assert (decision.allowed, codes) == (expected["allowed"], expected["codes"]), (
        f"{where}: got {decision.to_json()['reasons']}"
    )
    if decision.allowed:
        chain = [
            {
                "agent_id": link["agent_id"],
                "public_key": link["public_key"],
                "hop_id": link["hop_id"],
            }
            for link in decision.to_json()["chain"]
        ]
        assert chain == expected["chain"], where
        assert decision.task is not None
        assert decision.task.task_id == expected["task_id"], where
        assert decision.token_id == expected["token_id"], where


@pytest.mark.parametrize(("doc", "vector"), list(_cases()))
def test_vector(doc: Json, vector: Json, caplog: pytest.LogCaptureFixture) -> None:
    clock = [vector["now"]]
    keyring = _keyring(vector["keyring"] if "keyring" in vector else doc["keyring"])
    verifier = Verifier(keyring, clock=lambda: clock[0])
    steps = [vector, *vector.get("then", [])]
    caplog.set_level(logging.ERROR, logger="delegation")
    for index, step in enumerate(steps):
        clock[0] = step["now"]
        token = step.get("token", vector["token"])
        decision = verifier.verify(token, Request.from_json(step["request"]), step["proof"])
        # A denial that came from an unexpected exception inside the verifier is a crash
        # dressed as a code: the verifier logs it, and the vector fails here.
        crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert not crashes, f"presentation {index}: the verifier crashed: {crashes}"
        _check(decision, step["expected"], f"presentation {index}")


def test_vector_files_are_well_formed() -> None:
    files = _files()
    assert files, "no vector files found"
    names: list[str] = []
    for path in files:
        doc = _load(path)
        assert set(doc) == FILE_KEYS, path.name
        assert doc["format"] == FORMAT, path.name
        assert doc["vectors"], f"{path.name} has no vectors"
        for vector in doc["vectors"]:
            names.append(vector["name"])
            assert VECTOR_KEYS <= set(vector) <= VECTOR_KEYS | OPTIONAL_VECTOR_KEYS, vector["name"]
            for step in [vector, *vector.get("then", [])]:
                assert set(step) >= STEP_KEYS, vector["name"]
                expected = step["expected"]
                extra = ALLOWED_KEYS if expected["allowed"] else set()
                assert set(expected) == EXPECTED_KEYS | extra, vector["name"]
                assert expected["allowed"] == (not expected["codes"]), vector["name"]
                for code in expected["codes"]:
                    Code(code)  # every expected code is in the vocabulary
    assert len(names) == len(set(names)), "vector names must be unique across files"


def test_every_reason_code_has_a_vector() -> None:
    seen = set()
    for path in _files():
        for vector in _load(path).get("vectors", []):
            for step in [vector, *vector.get("then", [])]:
                seen.update(step["expected"]["codes"])
    # These need a failing or pre-filled store, or a discharge, which vector files do not
    # describe yet; every other code must have a vector.
    not_describable = {
        Code.STORE_UNAVAILABLE,
        Code.REVOKED,
        Code.DISCHARGE_REQUIRED,
        Code.BAD_DISCHARGE,
    }
    missing = {str(c) for c in Code if c not in not_describable} - seen
    assert not missing, f"no vector expects {sorted(missing)}"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_vectors_are_regenerated() -> None:
    """The committed files are exactly what the seeded generator writes (its --check mode)."""
    assert _generator().main(["--check"]) == 0, "run: python specs/vectors/generate.py"


def test_every_vector_file_is_generated_and_loaded() -> None:
    generated = set(_generator().render_all())
    on_disk = {p.name for p in _files()}
    loaded = {path.name for path in _files() if _load(path).get("vectors")}
    assert on_disk == generated == loaded
