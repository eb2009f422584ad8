"""Printable text over Unicode 14.0.0 (``delegation/_printable.py``; ``specs/token-format.md``,
"Printable text"): the same verdict on every Python, whatever its Unicode tables."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from delegation import _printable
from delegation._printable import _BOUNDS, is_printable

ON_14 = unicodedata.unidata_version == "14.0.0"
SPEC_SHA256 = "0b5c47779e0e2d6340b5d169792cf48595ad12e87bf92402e1f91f7394b390a6"


def _ranges() -> list[tuple[int, int]]:
    return [(_BOUNDS[i], _BOUNDS[i + 1] - 1) for i in range(0, len(_BOUNDS), 2)]


def test_the_table_is_the_specs_700_ranges_with_its_checksum() -> None:
    ranges = _ranges()
    assert len(ranges) == 700
    assert sum(b - a + 1 for a, b in ranges) == 144_516
    text = "".join(f"{a:04X}..{b:04X}\n" for a, b in ranges)
    assert hashlib.sha256(text.encode()).hexdigest() == SPEC_SHA256
    assert list(_BOUNDS) == sorted(set(_BOUNDS))


@pytest.mark.skipif(not ON_14, reason="the table is held to CPython 3.11's Unicode 14.0.0")
def test_the_table_is_str_isprintable_on_every_code_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_printable, "_NATIVE", False)  # take the table path
    wrong = [cp for cp in range(0x110000) if is_printable(chr(cp)) != chr(cp).isprintable()]
    assert wrong == []


def test_newer_characters_are_refused_whatever_the_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # U+11F00 (Kawi, Unicode 15.0) is printable to CPython 3.12's tables, not to 14.0.0's.
    monkeypatch.setattr(_printable, "_NATIVE", False)
    assert not is_printable("a\U00011f00")
    assert is_printable("caf\u00e9 \u4e2d")
    assert not is_printable("tab\there")
    assert is_printable("")
