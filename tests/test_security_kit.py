"""``docs/security-kit.md``: its Python examples run, in order, as one program.

Each fenced ``python`` block is executed in one namespace, so a later block uses what an earlier
one defined, as a reader following the guide would; each block asserts what the guide claims.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "security-kit.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[str]:
    return BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_its_examples() -> None:
    text = "\n".join(blocks())
    assert len(blocks()) >= 6
    for needed in ("registry.register(AmountMax)", "verifier_agrees_with_model(", "families="):
        assert needed in text


def test_the_guides_examples_run_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("security_kit_guide")  # dataclasses look their module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, block in enumerate(blocks(), start=1):
        # dont_inherit: the guide's code runs as a reader's file would, without this file's
        # ``from __future__ import annotations``
        code = compile(block, f"{GUIDE.name} block {number}", "exec", dont_inherit=True)
        exec(code, module.__dict__)
