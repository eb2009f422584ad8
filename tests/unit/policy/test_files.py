"""A policy set from files (``delegation/policy/_files.py``): its revision, and a reload that
swaps the whole set at once, or denies while the files do not load."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from delegation.policy import PolicyFailure, PolicyLoadError, PolicyUnavailable
from delegation.policy._files import MAX_POLICY_FILE_BYTES, Reader, Reloading, revision_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def words(reader: Reader) -> tuple[str, ...]:
    """A toy engine: the set is the words of a.txt and b.txt; 'broken' does not load."""
    text = reader.text("a.txt") + " " + reader.text("b.txt")
    if "broken" in text:
        raise PolicyLoadError("a word does not parse")
    return tuple(text.split())


def write(path: Path, text: str) -> None:
    """Replace the file as an editor or a deploy should: a new file renamed over the old."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write(tmp_path / "a.txt", "alpha")
    write(tmp_path / "b.txt", "beta")
    return tmp_path


def test_the_revision_is_a_digest_of_the_engine_names_and_bytes() -> None:
    one = revision_of("cedar", {"a": b"x", "b": b"y"})
    assert len(one) == 32
    assert one == revision_of("cedar", {"b": b"y", "a": b"x"})  # order of reading is no part
    assert one != revision_of("rego", {"a": b"x", "b": b"y"})
    assert one != revision_of("cedar", {"a": b"xb", "": b"y"})  # lengths delimit
    assert one != revision_of("cedar", {"a": b"y", "b": b"x"})


def test_a_change_is_picked_up_after_the_interval_and_swapped_whole(files: Path) -> None:
    clock = Clock()
    held = Reloading(files, "toy", words, interval=1.0, clock=clock)
    first, rev1 = held.current()
    assert first == ("alpha", "beta")
    write(files / "a.txt", "gamma")
    clock.now += 0.5
    assert held.current() == (first, rev1)  # not checked yet
    clock.now += 0.6
    second, rev2 = held.current()
    assert second == ("gamma", "beta")
    assert rev2 != rev1
    assert rev2 == revision_of("toy", {"a.txt": b"gamma", "b.txt": b"beta"})


def test_a_set_that_stops_loading_denies_until_it_loads_again(files: Path) -> None:
    clock = Clock()
    held = Reloading(files, "toy", words, interval=0, clock=clock)
    write(files / "b.txt", "broken")
    with pytest.raises(PolicyUnavailable) as caught:
        held.current()
    assert caught.value.reason is PolicyFailure.UNPARSEABLE
    assert caught.value.revision == held.revision
    assert held.problem == "a word does not parse"
    write(files / "b.txt", "delta")
    assert held.current()[0] == ("alpha", "delta")
    assert held.problem is None


def test_a_file_that_disappears_denies(files: Path) -> None:
    held = Reloading(files, "toy", words, interval=0)
    (files / "a.txt").unlink()
    with pytest.raises(PolicyUnavailable, match=r"cannot read a\.txt"):
        held.current()
    write(files / "a.txt", "back")
    assert held.current()[0] == ("back", "beta")


def test_touching_a_file_keeps_the_set_and_its_revision(files: Path) -> None:
    held = Reloading(files, "toy", words, interval=0)
    before = held.current()
    os.utime(files / "a.txt", ns=(1, 1))
    assert held.check() is False
    assert held.current() == before


def test_never_reloaded_with_no_interval(files: Path) -> None:
    held = Reloading(files, "toy", words, interval=None)
    write(files / "a.txt", "gamma")
    assert held.current()[0] == ("alpha", "beta")
    assert held.check() is True  # an explicit check still reloads
    assert held.current()[0] == ("gamma", "beta")


def test_a_set_that_does_not_load_at_first_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="cannot read"):
        Reloading(tmp_path, "toy", words)
    write(tmp_path / "a.txt", "x")
    write(tmp_path / "b.txt", "broken")
    with pytest.raises(PolicyLoadError, match="parse"):
        Reloading(tmp_path, "toy", words)
    with pytest.raises(ValueError, match="interval"):
        Reloading(tmp_path, "toy", words, interval=-1)


def test_huge_and_non_utf8_files_are_refused(files: Path) -> None:
    (files / "a.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyLoadError, match="UTF-8"):
        Reloading(files, "toy", words)
    (files / "a.txt").write_bytes(b"a" * (MAX_POLICY_FILE_BYTES + 1))
    with pytest.raises(PolicyLoadError, match="larger"):
        Reloading(files, "toy", words)


def test_calls_during_a_reload_see_the_old_set_or_the_new_one(files: Path) -> None:
    gate = threading.Event()
    release = threading.Event()

    def slow(reader: Reader) -> tuple[str, ...]:
        out = words(reader)
        if out[0] == "gamma":
            gate.set()
            release.wait(5)
        return out

    held = Reloading(files, "toy", slow, interval=0)
    write(files / "a.txt", "gamma")
    loader = threading.Thread(target=held.check)
    loader.start()
    assert gate.wait(5)
    assert held.current()[0] == ("alpha", "beta")  # the reload under way is not waited for
    release.set()
    loader.join(5)
    assert held.current()[0] == ("gamma", "beta")
