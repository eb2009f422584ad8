"""Every comparison of a MAC, signature, key or secret is constant-time (``specs/threats.md``
TI-11): the library's source holds no ``==``/``!=`` with such a value on either side, and the one
comparison helper is ``hmac.compare_digest``."""

from __future__ import annotations

import ast
import inspect
import pathlib

import delegation
from delegation import _crypto

SECRET_WORDS = {"signature", "sig", "mac", "secret", "tag", "derived", "seed"}
"""Words of a variable or attribute name (split on ``_``) that mark secret or MAC bytes."""
PACKAGE = pathlib.Path(delegation.__file__).parent


def _names(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr, *_names(node.value)]
    if isinstance(node, ast.Subscript):
        return _names(node.value)
    return []


def _looks_secret(node: ast.expr) -> bool:
    # UPPER_CASE names are constants (field numbers, lengths), never secret values
    return any(
        word in SECRET_WORDS
        for name in _names(node)
        if not name.isupper()
        for word in name.lower().split("_")
    )


def test_no_secret_is_compared_with_equality() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            ops = [type(op) for op in node.ops]
            # len(signature) != 64 is fine: a call's name is the function's, not the value's
            if any(op in (ast.Eq, ast.NotEq) for op in ops) and any(map(_looks_secret, sides)):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_the_mac_comparison_is_compare_digest() -> None:
    source = inspect.getsource(_crypto.macs_equal)
    assert "compare_digest" in source
    assert _crypto.macs_equal(b"\x01" * 32, b"\x01" * 32)
    assert not _crypto.macs_equal(b"\x01" * 32, b"\x01" * 31 + b"\x02")
