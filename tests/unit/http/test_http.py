"""``delegation.http``'s lazy exports: the wire format needs no web framework, and the rest is
imported only when named."""

from __future__ import annotations

import subprocess
import sys

import pytest

import delegation.http


def test_importing_the_package_pulls_in_no_web_framework() -> None:
    code = (
        "import sys, delegation, delegation.http; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'httpx', 'httpx2', 'anyio', 'fastapi')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    for name in delegation.http.__all__:
        assert getattr(delegation.http, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = delegation.http.NoSuchThing
