"""The index "Vectors by section" at the end of ``specs/README.md``: every vector is listed
under a section, every listed name or pattern names a vector, every section exists."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[2] / "specs"
VECTORS = SPECS / "vectors"
if str(VECTORS) not in sys.path:
    sys.path.insert(0, str(VECTORS))

from gen import sections  # noqa: E402


def _names() -> set[str]:
    return {
        v["name"]
        for path in VECTORS.glob("*.json")
        for v in json.loads(path.read_text(encoding="utf-8"))["vectors"]
    }


def test_every_vector_is_listed_under_a_section() -> None:
    names = _names()
    listed = {
        n
        for _, _, patterns in sections.SECTIONS
        for p in patterns
        for n in sections.matches(p, names)
    }
    assert not names - listed, f"not listed under any section: {sorted(names - listed)}"


@pytest.mark.parametrize(("spec", "heading", "patterns"), sections.SECTIONS)
def test_every_listed_name_exists(spec: str, heading: str, patterns: tuple[str, ...]) -> None:
    names = _names()
    missing = [p for p in patterns if not sections.matches(p, names)]
    assert not missing, f"{spec} {heading!r}: no vector named {missing}"


@pytest.mark.parametrize(("spec", "heading"), sorted({(s, h) for s, h, _ in sections.SECTIONS}))
def test_every_section_exists(spec: str, heading: str) -> None:
    text = (SPECS / spec).read_text(encoding="utf-8")
    headings = {m.group(1).strip() for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}
    assert heading in headings, f"{spec} has no section {heading!r}"


def test_the_index_is_the_last_section_of_the_readme() -> None:
    text = (SPECS / "README.md").read_text(encoding="utf-8")
    at = text.find("\n" + sections.HEADING + "\n")
    assert at >= 0, "specs/README.md has no index; run specs/vectors/generate.py"
    assert not re.search(r"^## ", text[at + 1 + len(sections.HEADING) :], re.MULTILINE)
    assert text[at + 1 :] == sections.render(_names())
