"""The vector generator itself: one builder module per vector file, and a ``--check`` that
fails on a changed, missing or extra JSON file (CI relies on it instead of a git diff).

Every check runs on a copy of ``specs/vectors/*.json`` in a scratch directory.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

VECTORS_DIR = Path(__file__).resolve().parents[2] / "specs" / "vectors"
SHARED = {"fixtures", "render", "sections"}
"""The modules of ``gen`` that build no vector file."""


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    return _generator()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A scratch directory holding the committed vector files."""
    for path in VECTORS_DIR.glob("*.json"):
        shutil.copy2(path, tmp_path / path.name)
    return tmp_path


def test_every_vector_file_has_exactly_one_builder_module(generate: ModuleType) -> None:
    gen = sys.modules["gen"]
    modules = [sys.modules[build.__module__] for build in generate.BUILDERS]
    stems = [module.__name__.removeprefix("gen.") for module in modules]
    assert len(stems) == len(set(stems)), "a module is listed twice in BUILDERS"
    in_package = {info.name for info in pkgutil.iter_modules(gen.__path__)} - SHARED
    assert set(stems) == in_package, "every builder module is listed in BUILDERS, and only those"
    for build, stem in zip(generate.BUILDERS, stems, strict=True):
        assert build.__name__ == "build", stem
        assert build().filename == f"{stem}.json", f"gen.{stem} must build {stem}.json"
    on_disk = {path.name for path in VECTORS_DIR.glob("*.json")}
    assert {f"{stem}.json" for stem in stems} == on_disk


def test_check_passes_on_the_committed_files(generate: ModuleType, copy: Path) -> None:
    assert generate.main(["--check"], directory=copy) == 0


def test_check_fails_on_a_changed_file(
    generate: ModuleType, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy / "proof.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"replay"', '"pop_invalid"', 1), encoding="utf-8")
    assert path.read_text(encoding="utf-8") != text
    assert generate.main(["--check"], directory=copy) == 1
    assert "proof.json: differs" in capsys.readouterr().err


def test_check_fails_on_a_file_that_differs_only_in_whitespace(
    generate: ModuleType, copy: Path
) -> None:
    path = copy / "valid.json"
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    assert generate.main(["--check"], directory=copy) == 1


def test_check_fails_on_a_missing_file(
    generate: ModuleType, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "state.json").unlink()
    assert generate.main(["--check"], directory=copy) == 1
    assert "state.json: differs" in capsys.readouterr().err


def test_check_fails_on_an_extra_file(
    generate: ModuleType, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "handmade.json").write_text("{}\n", encoding="utf-8")
    assert generate.main(["--check"], directory=copy) == 1
    assert "handmade.json: not written by generate.py" in capsys.readouterr().err


def test_writing_reproduces_the_committed_files_and_keeps_an_extra_one(
    generate: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "handmade.json").write_text("{}\n", encoding="utf-8")
    assert generate.main([], directory=tmp_path) == 0
    assert "warning: handmade.json" in capsys.readouterr().err
    for path in VECTORS_DIR.glob("*.json"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "handmade.json").exists()
    assert generate.main(["--check"], directory=tmp_path) == 1
