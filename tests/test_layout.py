"""Tests mirror the code (STYLE.md), and are named after what they test, never after a review.

The mirror of ``delegation/a/b.py`` is ``tests/unit/a/test_b.py``, a leading underscore dropped
from every part: ``_crypto/ed25519.py`` -> ``crypto/test_ed25519.py``, ``cli/_scope.py`` ->
``cli/test_scope.py``. A package whose code sits in its ``__init__.py`` is tested as a module,
by ``test_<package>.py`` inside its folder or beside it: ``verifier/__init__.py`` ->
``test_verifier.py``, ``_crypto/__init__.py`` -> ``crypto/test_crypto.py``. Exempt: an
``__init__.py`` that defines nothing (it only re-exports; the curated ``delegation/__init__.py``
is checked by ``test_exported_members.py``), ``__main__.py``, and ``delegation/testing/`` (test
support shipped with the library, exercised by the tests that use it).

A module tested somewhere else is in ``ALLOWLIST`` with the file or folder that tests it; a unit
test file that mirrors no module is in ``EXTRA_UNIT_FILES`` with the module it tests.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "delegation"
TESTS = ROOT / "tests"
UNIT = TESTS / "unit"

ALLOWLIST: dict[str, tuple[str, str]] = {
    # module: (where it is tested, why not at the mirrored path)
    "delegation/_version.py": (
        "tests/unit/test_exported_members.py",
        "one constant; the exported-members test checks that __version__ is text",
    ),
    "delegation/caveats/__init__.py": (
        "tests/unit/caveats/test_registry.py",
        "only default_registry(), tested with the registry it builds",
    ),
    "delegation/caveats/_body.py": (
        "tests/unit/caveats",
        "the body readers of every family, run by each family's bad-body tests",
    ),
    "delegation/caveats/call.py": (
        "tests/unit/thirdparty/test_approval.py",
        "the call caveat exists for approval discharges, whose tests pin it to one call",
    ),
    "delegation/cli/main.py": ("tests/e2e/test_cli.py", "the command line is tested end to end"),
    "delegation/cli/_common.py": (
        "tests/e2e/test_cli.py",
        "input, key-file and flag handling, through the commands that use them",
    ),
    "delegation/cli/approval.py": ("tests/e2e/test_cli_approval.py", "end to end"),
    "delegation/cli/state.py": ("tests/e2e/test_cli_state.py", "end to end"),
    "delegation/cli/policy.py": ("tests/e2e/test_cli_policy.py", "end to end"),
    "delegation/cli/demo.py": ("tests/e2e/test_cli.py", "test_demo_plays_the_whole_story"),
    "delegation/cli/serve.py": ("tests/e2e/test_serve.py", "end to end, a real server process"),
    "delegation/_verifier/_chain.py": (
        "tests/unit/test_verifier.py",
        "steps 1-5, tested through Verifier.check_chain until the verifier's tests split",
    ),
    "delegation/_verifier/_request.py": (
        "tests/unit/test_verifier.py",
        "steps 6-9, tested through Verifier.authorize and verify until the verifier's tests split",
    ),
}

EXTRA_UNIT_FILES: dict[str, str] = {
    # unit test file that mirrors no module: the module it tests
    "tests/unit/test_exported_members.py": "delegation/__init__.py",
    "tests/unit/test_cbor_bounds.py": "delegation/_cbor.py",
    "tests/unit/test_verifier_inputs.py": "delegation/_verifier/__init__.py",
    "tests/unit/test_verifier_cache.py": "delegation/_verifier/__init__.py",
    # the HMAC chain as the _crypto package re-exports it; test_chain.py has the rest of chain.py
    "tests/unit/crypto/test_crypto.py": "delegation/_crypto/chain.py",
    "tests/unit/crypto/test_signing.py": "delegation/_crypto/ed25519.py",  # test_ed25519: screening
    # no module outside _crypto imports a primitive
    "tests/unit/crypto/test_boundary.py": "delegation/_crypto/__init__.py",
    # no MAC or secret compared with ==, anywhere in delegation/; the one helper in _crypto
    "tests/unit/crypto/test_constant_time.py": "delegation/_crypto/__init__.py",
    # the State protocol as a verifier asks it (revocations, use limits), on both stores
    "tests/unit/stores/test_state.py": "delegation/stores/base.py",
    # budgets and reservations in the State protocol, on both stores
    "tests/unit/stores/test_budget_state.py": "delegation/stores/base.py",
    # budgets at verification: step 7's per-call rules, step 9's charges, settle and release
    "tests/unit/verifier/test_budgets.py": "delegation/_verifier/_request.py",
}

FORBIDDEN = re.compile(r"review|finding", re.IGNORECASE)
"""Words that name where a test came from rather than what it tests."""


def _bare(part: str) -> str:
    return part.removeprefix("_")


def _defines_code(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def modules() -> tuple[Path, ...]:
    """Every library module that needs tests."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "testing" or rel.name == "__main__.py":
            continue
        if rel.name == "__init__.py" and not _defines_code(path):
            continue
        found.append(path)
    return tuple(found)


def mirrors(module: Path) -> tuple[Path, ...]:
    """Where the tests of ``module`` belong (any one of them will do)."""
    rel = module.relative_to(PACKAGE)
    folders = [_bare(part) for part in rel.parts[:-1]]
    if rel.name != "__init__.py":
        return (UNIT.joinpath(*folders, f"test_{_bare(module.stem)}.py"),)
    if not folders:  # delegation/__init__.py: the curated API
        return (UNIT / "test_exported_members.py",)
    *parents, package = folders
    return (
        UNIT.joinpath(*parents, package, f"test_{package}.py"),
        UNIT.joinpath(*parents, f"test_{package}.py"),
    )


def test_the_walk_finds_the_library() -> None:
    """Guards the tests below against a walk that silently finds nothing."""
    found = {_rel(m) for m in modules()}
    assert len(found) >= 30
    assert {
        "delegation/_verifier/__init__.py",
        "delegation/_crypto/chain.py",
        "delegation/_crypto/ed25519.py",
        "delegation/caveats/hop.py",
        "delegation/stores/sqlite.py",
    } <= found
    assert "delegation/stores/__init__.py" not in found  # re-exports only
    assert "delegation/testing/fixtures.py" not in found  # test support
    assert mirrors(PACKAGE / "_crypto" / "ed25519.py") == (UNIT / "crypto" / "test_ed25519.py",)
    assert mirrors(PACKAGE / "cli" / "_scope.py") == (UNIT / "cli" / "test_scope.py",)
    assert UNIT / "test_verifier.py" in mirrors(PACKAGE / "verifier" / "__init__.py")


def test_every_module_has_a_test_file_at_its_mirrored_path() -> None:
    missing = [
        f"{_rel(m)}: expected {' or '.join(_rel(p) for p in mirrors(m))}"
        for m in modules()
        if _rel(m) not in ALLOWLIST and not any(p.is_file() for p in mirrors(m))
    ]
    assert missing == [], "add the test file, or an ALLOWLIST entry saying where it is tested"


def test_the_allowlist_names_real_modules_tested_where_it_says() -> None:
    needing = {_rel(m): m for m in modules()}
    for module, (tested_in, why) in ALLOWLIST.items():
        assert module in needing, f"{module}: not a module that needs tests; drop the entry"
        assert not any(p.is_file() for p in mirrors(needing[module])), (
            f"{module} now has its mirrored test file; drop the entry"
        )
        assert (ROOT / tested_in).exists(), f"{module}: {tested_in} does not exist"
        assert why


def test_every_unit_test_file_mirrors_a_module() -> None:
    support = sorted((PACKAGE / "testing").rglob("*.py"))
    mirrored = {p for m in (*modules(), *support) for p in mirrors(m)}
    for extra, module in EXTRA_UNIT_FILES.items():
        assert (ROOT / extra).is_file(), f"{extra} is gone; drop the entry"
        assert (ROOT / module).is_file(), f"{extra} names {module}, which does not exist"
    strays = [
        _rel(path)
        for path in sorted(UNIT.rglob("test_*.py"))
        if path not in mirrored and _rel(path) not in EXTRA_UNIT_FILES
    ]
    assert strays == [], "name each after the module it tests, or list it in EXTRA_UNIT_FILES"


def test_tests_are_named_after_what_they_test() -> None:
    named = [
        _rel(p)
        for p in sorted(TESTS.rglob("*"))
        if "__pycache__" not in p.parts and FORBIDDEN.search(p.name)
    ]
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and FORBIDDEN.search(node.name):
                named.append(f"{_rel(path)}::{node.name}")
    assert named == [], "name a test after what it tests, not after where it came from"


def test_every_test_folder_is_a_package() -> None:
    """The tests import each other as ``tests.unit...``: a folder without ``__init__.py``
    would be collected under another module name, or not be importable at all."""
    folders = {p.parent for p in TESTS.rglob("*.py")}
    missing = [_rel(f) for f in sorted(folders) if not (f / "__init__.py").is_file()]
    assert missing == []
