"""Inputs the long fuzz runs stopped at, kept and replayed by their target.

Each file in ``tests/fuzz/regressions/`` is named ``TARGET-what-it-was``; its target must
accept it. ``docs/fuzzing.md`` says what each one found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS

REGRESSIONS = sorted((Path(__file__).parent / "regressions").iterdir())


def test_there_are_regressions_and_each_names_its_target() -> None:
    assert REGRESSIONS
    for path in REGRESSIONS:
        assert path.name.split("-", 1)[0] in TARGETS, path.name


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_each_regression_passes_its_target(path: Path) -> None:
    TARGETS[path.name.split("-", 1)[0]][0](path.read_bytes())
