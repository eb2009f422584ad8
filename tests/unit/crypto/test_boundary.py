"""Every primitive lives in ``delegation._crypto`` (STYLE.md, "Recipes over primitives").

A static check of the package's source: no module outside ``delegation/_crypto/`` imports pyca
``cryptography``, PyNaCl (``nacl``), ``hmac``, ``hashlib`` or ``_hashlib``, at any level
(function bodies and ``TYPE_CHECKING`` blocks included), by statement or by
``__import__``/``import_module``. The exceptions are listed below with their reasons, and each
must still be needed. Tests, the vector generator and benchmarks are outside the package and
free to rebuild constructions independently.
"""

from __future__ import annotations

import ast
import pathlib

import delegation

PACKAGE = pathlib.Path(delegation.__file__).parent
CRYPTO = PACKAGE / "_crypto"
BANNED = frozenset({"cryptography", "nacl", "hmac", "hashlib", "_hashlib"})

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("_request.py", "hashlib"): (
        "Request.digest: SHA-256 over public request fields (specs/proof-of-possession.md); no "
        "key, no MAC, nothing secret. A candidate for _crypto.request_digest with the other "
        "domain-separated messages when request.py is next reworked."
    ),
    ("_task.py", "hashlib"): (
        "TaskRecord.digest: a hex SHA-256 of the task's public CBOR, for display and audit."
    ),
    ("policy/_files.py", "hashlib"): (
        "A policy set's revision: a keyless SHA-256 over the policy files' public names and "
        "bytes (specs/policy.md), to name which set decided; nothing secret, no MAC."
    ),
    ("http/routes.py", "hashlib"): (
        "The body digest of a digest-bound route (specs/http.md): SHA-256 of the public body "
        "bytes the holder's proof then binds; no key, nothing secret."
    ),
    ("testing/fixtures.py", "hashlib"): (
        "Publicly known TEST FIXTURE seeds: SHA-256 of a label, so every test key is derived "
        "from its name. Nothing it makes may protect anything."
    ),
    ("testing/model.py", "hashlib"): (
        "The reference model computes the public chain digests D[0..n] itself, from "
        "specs/token-format.md section 7, so it shares no code with the verifier."
    ),
}
"""(module path under delegation/, banned module) -> why it is not a primitive."""
EXCEPTION_ATTRIBUTES = frozenset({"sha256"})
"""What an excepted module may use of hashlib: a plain, keyless hash."""


def _sources() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if CRYPTO not in p.parents)


def _imported(tree: ast.AST) -> set[str]:
    """Top-level names of every module the source imports, however it does it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if name in ("__import__", "import_module") and isinstance(first, ast.Constant):
                names.add(str(first.value).split(".")[0])
    return names


def _hashlib_attributes(tree: ast.AST) -> set[str]:
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "hashlib"
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "hashlib":
            used.update(alias.name for alias in node.names)
    return used


def test_no_module_outside_crypto_imports_a_primitive() -> None:
    offenders = []
    for path in _sources():
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), rel)
        for name in sorted(_imported(tree) & BANNED):
            if (rel, name) not in EXCEPTIONS:
                offenders.append(f"delegation/{rel} imports {name}")
    assert offenders == []


def test_every_exception_is_still_needed_and_only_hashes() -> None:
    for rel, name in EXCEPTIONS:
        tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"), rel)
        assert name in _imported(tree), f"delegation/{rel} no longer needs its exception"
        assert _hashlib_attributes(tree) <= EXCEPTION_ATTRIBUTES, rel


def test_the_checker_sees_every_way_of_importing() -> None:
    source = """
import hmac as h
from hashlib import sha256
from cryptography.hazmat.primitives import hashes
from nacl.bindings import crypto_sign_open
def f():
    import _hashlib
if TYPE_CHECKING:
    from cryptography.exceptions import InvalidTag
__import__("hmac")
importlib.import_module("cryptography.hazmat")
from . import hashlib_helpers
"""
    assert _imported(ast.parse(source)) == BANNED  # a relative import is the package's own


def test_crypto_sits_below_the_protocol_layers() -> None:
    """_crypto deals in bytes: of the package it imports the codecs and itself, never errors,
    caveats or tokens, so no protocol meaning can creep into a primitive."""
    allowed = ("delegation._cbor", "delegation._wire", "delegation._crypto")
    offenders = []
    for path in sorted(CRYPTO.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), path.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                modules = [f"{base}.{a.name}" if base == "delegation" else base for a in node.names]
            else:
                continue
            offenders += [
                f"{path.name} imports {m}"
                for m in modules
                if (m.startswith("delegation") or m.startswith("."))
                and not any(m == a or m.startswith(a + ".") for a in allowed)
            ]
    assert offenders == []
