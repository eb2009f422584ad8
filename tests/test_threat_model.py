"""``specs/threats.md`` cites only tests, vectors and reason codes that exist.

The threat model is a set of markdown tables with fixed columns (see its "Reading the tables").
Each row's evidence cites tests as ``tests/PATH.py::test_NAME`` and vectors as
``specs/vectors/FILE.json#NAME``; its codes are ``delegation.Code`` values. A renamed test, a
dropped vector or a retired code fails here instead of leaving the document quietly wrong.
What this cannot check is whether a cited test proves its row: reviewers do that.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from delegation import Code

ROOT = Path(__file__).resolve().parents[1]
THREATS = ROOT / "specs" / "threats.md"
VECTORS = ROOT / "specs" / "vectors"

HEADER = ("id", "attack", "defence", "codes", "evidence", "status")
STATUSES = {"tested", "gap", "in flight", "planned (verifier service)"}
NO_TEST = "no test yet"
SECTIONS = (
    "Token integrity",
    "Caveat semantics",
    "Delegation chain",
    "Third-party caveats and discharges",
    "Holder binding and replay",
    "Revocation and keys",
    "Encoding",
    "Service",
)
ROW_ID = re.compile(r"[A-Z]{2}-[1-9][0-9]*")
BACKTICKED = re.compile(r"`([^`]*)`")
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::((?:\w+::)?test_\w+)")
VECTOR_REF = re.compile(r"(specs/vectors/\w+\.json)#(\w+)")


@dataclass(frozen=True)
class Row:
    section: str
    line: int
    cells: dict[str, str]

    @property
    def id(self) -> str:
        return self.cells["id"]

    def citations(self) -> list[str]:
        return BACKTICKED.findall(self.cells["evidence"])

    def codes(self) -> list[str]:
        return BACKTICKED.findall(self.cells["codes"])


def _cells(line: str) -> tuple[str, ...]:
    inner = line.strip()
    assert inner.startswith("|"), line
    assert inner.endswith("|"), line
    return tuple(cell.strip() for cell in inner[1:-1].split("|"))


@cache
def rows() -> tuple[Row, ...]:
    """Every row of every table whose header is HEADER, with the section it sits in."""
    found: list[Row] = []
    section = ""
    lines = THREATS.read_text(encoding="utf-8").splitlines()
    in_table = False
    for number, line in enumerate(lines, start=1):
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells == HEADER:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("- "):
            continue
        assert len(cells) == len(HEADER), f"line {number}: {len(cells)} cells, want 6"
        found.append(Row(section, number, dict(zip(HEADER, cells, strict=True))))
    return tuple(found)


@cache
def defined_tests(path: str) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function defined in a test module."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(n for n in names if n.split("::")[-1].startswith("test_"))


@cache
def vector_names(path: str) -> frozenset[str]:
    doc = json.loads((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(v["name"] for v in doc["vectors"])


def ids(row: Row) -> str:
    return row.id


def test_the_document_has_rows_in_every_section() -> None:
    sections = {row.section for row in rows()}
    for section in SECTIONS:
        assert section in sections, f"no rows under '## {section}'"
    assert len(rows()) >= 50


def test_row_ids_are_well_formed_and_unique() -> None:
    seen: dict[str, int] = {}
    for row in rows():
        assert ROW_ID.fullmatch(row.id), f"line {row.line}: bad id {row.id!r}"
        assert row.id not in seen, f"{row.id} on lines {seen[row.id]} and {row.line}"
        seen[row.id] = row.line


@pytest.mark.parametrize("row", rows(), ids=ids)
def test_every_cited_code_is_a_reason_code(row: Row) -> None:
    known = {code.value for code in Code}
    if row.cells["codes"] == "none":
        return
    assert row.codes(), f"{row.id}: codes must be backticked reason codes or 'none'"
    assert BACKTICKED.sub("", row.cells["codes"]).replace(",", "").strip() == "", row.id
    for code in row.codes():
        assert code in known, f"{row.id}: {code!r} is not a delegation.Code value"


@pytest.mark.parametrize("row", rows(), ids=ids)
def test_every_cited_test_and_vector_exists(row: Row) -> None:
    for citation in row.citations():
        if test := TEST_REF.fullmatch(citation):
            path, name = test.groups()
            assert (ROOT / path).is_file(), f"{row.id}: no file {path}"
            assert name in defined_tests(path), f"{row.id}: no test {name} in {path}"
        elif vector := VECTOR_REF.fullmatch(citation):
            path, name = vector.groups()
            assert (ROOT / path).is_file(), f"{row.id}: no vector file {path}"
            assert name in vector_names(path), f"{row.id}: no vector {name} in {path}"
        else:
            pytest.fail(f"{row.id}: {citation!r} is neither tests/...py::test_... nor a vector")


@pytest.mark.parametrize("row", rows(), ids=ids)
def test_status_and_evidence_agree(row: Row) -> None:
    status, evidence = row.cells["status"], row.cells["evidence"]
    assert status in STATUSES, f"{row.id}: unknown status {status!r}"
    if status == "tested":
        assert row.citations(), f"{row.id}: a tested row cites its tests or vectors"
        assert NO_TEST not in evidence, row.id
    elif status == "gap":
        assert evidence == NO_TEST, f"{row.id}: a gap says '{NO_TEST}' and cites nothing"
    else:
        assert row.citations() or evidence == NO_TEST, row.id
    if row.citations():
        leftover = BACKTICKED.sub("", evidence).replace(";", "").strip()
        assert leftover == "", f"{row.id}: evidence holds text besides citations: {leftover!r}"


def test_service_rows_are_planned_until_the_service_exists() -> None:
    service = [row for row in rows() if row.section == "Service"]
    if not (ROOT / "verifier_service").exists():
        assert all(row.cells["status"] == "planned (verifier service)" for row in service)


def test_every_reason_code_stops_some_attack() -> None:
    cited = {code for row in rows() for code in row.codes()}
    missing = sorted(code.value for code in Code if code.value not in cited)
    assert not missing, f"reason codes no row of specs/threats.md names: {missing}"


def test_the_parser_sees_what_a_reader_sees() -> None:
    """Guards the tests above against a parser that silently finds nothing."""
    by_id = {row.id: row for row in rows()}
    assert by_id["TI-1"].section == "Token integrity"
    assert "tests/property/test_tamper.py::test_any_byte_change_is_an_opaque_integrity_denial" in (
        by_id["TI-1"].citations()
    )
    assert by_id["TP-16"].cells["status"] == "tested"
    assert by_id["TP-16"].codes() == ["wrong_chain"]
    table_lines = [
        line
        for line in THREATS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and ROW_ID.match(line[2:])
    ]
    assert len(table_lines) == len(rows())
