"""A policy set read from files: parsed once, its revision, reloaded atomically on change.

A loader reads the files it needs through a :class:`Reader`, which notes each file's bytes and
its stamp (device, inode, size, modification and change times, taken before the read). The
revision is a digest of every file's name and bytes, so two verifiers with the same files
report the same revision. :class:`Reloading` checks the stamps at most once per interval, on
the call path, and on a change loads the whole set again and swaps it in as one object:
a call sees the old set or the new one, never a mix. A set that no longer loads is not
replaced by the last good one: every call denies (``policy_unavailable``, unparseable) until
the files load again, so a broken update never leaves a laxer policy in force unnoticed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from delegation.policy._model import PolicyFailure, PolicyLoadError, PolicyUnavailable

log = logging.getLogger("delegation")

T = TypeVar("T")

MAX_POLICY_FILE_BYTES = 4 * 1024 * 1024
"""A policy, manifest or data file larger than this is refused."""
REVISION_CHARS = 32

Stamp = tuple[int, int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Reader:
    """Reads the files of one load of a policy set, relative to ``base`` (the directory of
    the file the set was named by), noting what it read for the revision and the watch."""

    def __init__(self, base: Path, engine: str) -> None:
        self.base = base
        self.engine = engine
        self.read: dict[Path, tuple[str, bytes, Stamp | None]] = {}

    def path(self, name: str | os.PathLike[str]) -> Path:
        return (self.base / name).resolve()

    def bytes(self, name: str | os.PathLike[str]) -> bytes:
        """The file's bytes. Raises PolicyLoadError for a missing, unreadable or huge file."""
        path = self.path(name)
        stamp = _stamp(path)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_POLICY_FILE_BYTES + 1)
        except OSError as exc:
            self.read[path] = (self._label(path), b"", stamp)  # watched: it may appear
            raise PolicyLoadError(f"cannot read {path.name}: {exc.strerror}") from exc
        if len(data) > MAX_POLICY_FILE_BYTES:
            raise PolicyLoadError(f"{path.name} is larger than {MAX_POLICY_FILE_BYTES} bytes")
        self.read[path] = (self._label(path), data, stamp)
        return data

    def text(self, name: str | os.PathLike[str]) -> str:
        """The file as UTF-8 text. Raises PolicyLoadError."""
        data = self.bytes(name)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyLoadError(f"{self.path(name).name} is not UTF-8 text") from exc

    def _label(self, path: Path) -> str:
        try:
            return path.relative_to(self.base.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def revision(self) -> str:
        return revision_of(self.engine, {label: data for label, data, _ in self.read.values()})

    def stamps(self) -> dict[Path, Stamp | None]:
        return {path: stamp for path, (_, _, stamp) in self.read.items()}


def revision_of(engine: str, files: dict[str, bytes]) -> str:
    """The revision of a policy set: SHA-256 over the engine's name and each file's name and
    bytes in name order, lengths first; its first 16 bytes in hex."""
    h = hashlib.sha256(b"delegation/v1/policy\x00")
    for part in (engine.encode(), *_parts(files)):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:REVISION_CHARS]


def _parts(files: dict[str, bytes]) -> list[bytes]:
    out: list[bytes] = []
    for name in sorted(files):
        out += [name.encode("utf-8"), files[name]]
    return out


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """One load of the set: what the engine compiled (None: it did not load), its revision,
    and why it did not load."""

    compiled: T | None
    revision: str
    problem: str | None
    stamps: dict[Path, Stamp | None]

    def get(self) -> tuple[T, str]:
        """The compiled set and its revision. Raises PolicyUnavailable (unparseable)."""
        if self.compiled is None:
            detail = f"the policy set (revision {self.revision}) does not load: {self.problem}"
            raise PolicyUnavailable(PolicyFailure.UNPARSEABLE, detail, self.revision)
        return self.compiled, self.revision


Load = Callable[[Reader], T]
"""Reads a policy set through the reader and compiles it. Raises PolicyLoadError."""


class Reloading(Generic[T]):
    """A policy set compiled by ``load`` from files under ``base``, checked for changes at
    most every ``interval`` seconds (None: never reloaded). Raises PolicyLoadError if the set
    does not load the first time."""

    def __init__(
        self,
        base: Path,
        engine: str,
        load: Load[T],
        *,
        interval: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval is not None and not interval >= 0:
            raise ValueError("the reload interval is a number of seconds >= 0, or None")
        self._base = Path(base).resolve()
        self._engine = engine
        self._load = load
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._current = self._attempt()
        if self._current.compiled is None:
            raise PolicyLoadError(self._current.problem or "the policy set does not load")
        self._next = clock() + (interval or 0.0)

    @property
    def revision(self) -> str:
        """The revision of the files in force (loaded or not)."""
        return self._current.revision

    @property
    def problem(self) -> str | None:
        """Why the files in force do not load, or None."""
        return self._current.problem

    def current(self) -> tuple[T, str]:
        """The compiled set in force and its revision, after a reload if a file changed.
        Raises PolicyUnavailable (unparseable) while the files do not load."""
        if self._interval is not None and self._clock() >= self._next:
            self.check()
        return self._current.get()

    def check(self) -> bool:
        """Reload now if a file changed (a reload already under way is not waited for).
        True if a new set (loaded or not) is in force."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._next = self._clock() + (self._interval or 0.0)
            if all(_stamp(p) == s for p, s in self._current.stamps.items()):
                return False
            attempt = self._attempt()
            if attempt.revision == self._current.revision and attempt.problem is None:
                self._current = attempt  # same bytes (touched): same set, new stamps
                return False
            self._current = attempt  # one assignment: every later call sees the new set
            if attempt.problem is None:
                log.info("policy set reloaded: revision %s", attempt.revision)
            else:
                log.error(
                    "policy set revision %s does not load: %s", attempt.revision, attempt.problem
                )
            return True
        finally:
            self._lock.release()

    def _attempt(self) -> Loaded[T]:
        reader = Reader(self._base, self._engine)
        try:
            compiled = self._load(reader)
        except PolicyLoadError as exc:
            return Loaded(None, reader.revision(), str(exc), reader.stamps())
        except Exception as exc:  # an engine's own failure to load is a load failure too
            log.exception("loading the policy set failed")
            return Loaded(None, reader.revision(), type(exc).__name__, reader.stamps())
        return Loaded(compiled, reader.revision(), None, reader.stamps())


class Fixed(Generic[T]):
    """A policy set given as text: loaded once, never reloaded."""

    def __init__(self, compiled: T, revision: str) -> None:
        self._compiled = compiled
        self.revision = revision
        self.problem: str | None = None

    def current(self) -> tuple[T, str]:
        return self._compiled, self.revision

    def check(self) -> bool:
        return False
