"""``specs/threats.md``'s last table names the kit's tools for every attack class.

Every row of the threat tables is in exactly one attack class; every tool named is a public
name of ``delegation.testing`` (``module.name``) or a fuzz target (``fuzz:TARGET``). A renamed
strategy, a dropped harness or a new threat row nobody classed fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from fuzz.targets import TARGETS
from tests.test_threat_model import BACKTICKED, ROW_ID, rows

THREATS = Path(__file__).resolve().parents[1] / "specs" / "threats.md"
SECTION = "## The kit: attack classes and the tools that attack them"
HEADER = ("attack class", "rows", "strategies and helpers", "fuzz harnesses")


def kit_rows() -> list[tuple[str, ...]]:
    text = THREATS.read_text(encoding="utf-8")
    assert SECTION in text
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    cells = [tuple(c.strip() for c in line.strip()[1:-1].split("|")) for line in lines]
    assert cells[0] == HEADER
    return [row for row in cells[2:] if len(row) == len(HEADER)]


def test_every_threat_row_is_in_exactly_one_attack_class() -> None:
    """A class names rows by id (``TI-1``) or by prefix (``US-*``: every row of the prefix
    that no class names by id). A prefix may match no row yet (a section still to come)."""
    explicit: list[str] = []
    prefixes: list[str] = []
    for row in kit_rows():
        for part in (p.strip() for p in row[1].split(",")):
            if re.fullmatch(r"[A-Z]{2}-\*", part):
                prefixes.append(part[:3])
            else:
                assert ROW_ID.fullmatch(part), part
                explicit.append(part)
    assert len(explicit) == len(set(explicit)), "a row is named twice"
    assert len(prefixes) == len(set(prefixes)), "a prefix is named twice"
    known = {row.id for row in rows()}
    assert set(explicit) <= known, sorted(set(explicit) - known)
    unclassed = sorted(i for i in known - set(explicit) if i[:3] not in prefixes)
    assert not unclassed, f"threat rows in no attack class: {unclassed}"


def test_every_tool_named_exists() -> None:
    for row in kit_rows():
        for cell in row[2:]:
            tools = BACKTICKED.findall(cell)
            assert tools or cell == "none", row[0]
            for tool in tools:
                if tool.startswith("fuzz:"):
                    assert tool.removeprefix("fuzz:") in TARGETS, tool
                    continue
                module, _, name = tool.partition(".")
                assert re.fullmatch(r"\w+", module), tool
                found = importlib.import_module(f"delegation.testing.{module}")
                assert name in found.__all__, tool


def test_the_kit_attacks_most_classes() -> None:
    attacked = [row for row in kit_rows() if row[2] != "none" or row[3] != "none"]
    assert 4 * len(attacked) >= 3 * len(kit_rows())  # 17 of 22 when this was written
