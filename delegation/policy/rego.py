"""Rego (OPA's language) policies over the verified chain, in process (``regopy``, the Python
bindings of rego-cpp; the ``rego`` extra).

A set is one or more modules in ``package delegation`` (Rego v1 syntax) and optionally a data
document (``data``, a JSON object: groups, thresholds). ``input`` is the document of
``specs/policy.md``. The verifier asks for ``data.delegation.deny``, a set whose members are
policy ids (text) or objects ``{"id": ..., "reason": ...}``: an empty set lets the call
through, a non-empty one denies it naming those ids, and anything else (undefined, not a set,
another kind of member, an evaluation error) denies with ``policy_unavailable``. Built-in
errors are errors (``strict_built_in_errors``), never a silently undefined rule.

Evaluations run on a small pool of worker threads, each with its own interpreter (an
interpreter is not shared between threads), so that ``timeout`` is a real deadline: rego-cpp
releases the interpreter lock while it evaluates, and a call whose evaluation has not
answered in time is denied while the worker finishes on its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regopy

from delegation.policy._files import Fixed, Reader, Reloading, revision_of
from delegation.policy._model import (
    MAX_DETAIL_CHARS,
    MAX_POLICY_IDS,
    PolicyFailure,
    PolicyInput,
    PolicyLoadError,
    PolicyUnavailable,
    Verdict,
    example_input,
)

ENGINE = "rego"
QUERY = "data.delegation.deny"
DEFAULT_TIMEOUT = 0.25
"""Seconds a Rego evaluation may take before the call is denied (``timeout``)."""
DEFAULT_WORKERS = 4


@dataclass(frozen=True, slots=True, eq=False)
class _Compiled:
    """A set's sources; each worker thread builds its own interpreter from them."""

    modules: tuple[tuple[str, str], ...]
    data: str | None
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def interpreter(self) -> tuple[regopy.Interpreter, regopy.Bundle]:
        """This thread's interpreter for the set, and the query compiled into a bundle.
        Raises regopy.RegoError for a set that does not compile."""
        cached = getattr(self._local, "built", None)
        if cached is None:
            rego = regopy.Interpreter()
            rego.strict_built_in_errors = True
            for name, text in self.modules:
                rego.add_module(name, text)
            if self.data is not None:
                rego.add_data_json(self.data)
            cached = (rego, rego.build(QUERY))
            self._local.built = cached
        return cached


def compile_set(modules: Sequence[tuple[str, str]], data: str | None) -> _Compiled:
    """Check a Rego set: every module parses and compiles, and ``data.delegation.deny`` is a
    set for the spec's example input. Raises PolicyLoadError."""
    if not modules:
        raise PolicyLoadError("a Rego policy set has at least one module")
    if data is not None:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise PolicyLoadError(f"the data file is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise PolicyLoadError("the data file is a JSON object")
    compiled = _Compiled(tuple(modules), data)
    try:
        rego, bundle = compiled.interpreter()
        if not bundle.ok():
            raise PolicyLoadError("the set does not compile")
        deny_set(_run(rego, bundle, example_input().to_json()), "r")
    except PolicyUnavailable as exc:
        raise PolicyLoadError(f"on the example input, {exc.detail}") from exc
    except Exception as exc:  # RegoError, or regopy failing to read rego-cpp's own error
        raise PolicyLoadError(f"the set does not compile: {_first_line(exc)}") from exc
    finally:
        compiled._local.built = None  # the loading thread evaluates nothing more
    return compiled


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])[:300] or type(exc).__name__


def _run(rego: regopy.Interpreter, bundle: regopy.Bundle, document: dict[str, Any]) -> Any:
    try:
        rego.set_input(regopy.Input(document))
        out = rego.query_bundle(bundle)
    except regopy.RegoError:
        raise
    except Exception as exc:  # regopy failing to read rego-cpp's answer (an error's text)
        detail = f"the Rego evaluation failed ({type(exc).__name__})"
        raise PolicyUnavailable(PolicyFailure.ERROR, detail) from exc
    if not out.ok():
        raise PolicyUnavailable(PolicyFailure.ERROR, "the Rego evaluation failed")
    if len(out) == 0 or not out[0].expressions:
        raise PolicyUnavailable(PolicyFailure.ERROR, f"{QUERY} is undefined")
    return out[0].expressions[0]


def deny_set(value: Any, revision: str) -> Verdict:
    """The verdict for the value of ``data.delegation.deny``. Raises PolicyUnavailable."""
    if not isinstance(value, list):
        detail = f"{QUERY} is a {type(value).__name__}, not a set"
        raise PolicyUnavailable(PolicyFailure.ERROR, detail, revision)
    ids: set[str] = set()
    said: list[str] = []
    for member in value:
        if isinstance(member, str):
            ids.add(member)
        elif (
            isinstance(member, dict)
            and isinstance(member.get("id"), str)
            and isinstance(member.get("reason", ""), str)
            and set(member) <= {"id", "reason"}
        ):
            ids.add(member["id"])
            if member.get("reason"):
                said.append(member["reason"])
        else:
            detail = f"a member of {QUERY} is neither a policy id nor {{id, reason}}"
            raise PolicyUnavailable(PolicyFailure.ERROR, detail, revision)
    if not ids:
        return Verdict.allow(revision)
    shown = sorted(ids)
    detail = "; ".join(sorted(set(said)))
    if len(shown) > MAX_POLICY_IDS:
        detail = f"and {len(shown) - MAX_POLICY_IDS} more policies; {detail}"
        shown = shown[:MAX_POLICY_IDS]
    try:
        return Verdict.deny(revision, shown, detail[:MAX_DETAIL_CHARS])
    except ValueError as exc:
        raise PolicyUnavailable(PolicyFailure.ERROR, f"a deny member: {exc}", revision) from exc


class RegoPolicy:
    """A Rego policy set as a :class:`delegation.policy.Policy`. Build it with
    :meth:`from_files` (reloaded when a file changes) or :meth:`from_text`.

    ``timeout`` seconds per evaluation on ``workers`` threads; ``timeout=None`` evaluates in
    the calling thread, with no deadline.
    """

    def __init__(
        self,
        holder: Reloading[_Compiled] | Fixed[_Compiled],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError("a policy's timeout is a number of seconds above 0, or None")
        if type(workers) is not int or workers < 1:
            raise ValueError("a Rego policy has at least one worker thread")
        self._holder = holder
        self._timeout = timeout
        self._pool = (
            None
            if timeout is None
            else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delegation-rego")
        )

    @classmethod
    def from_files(
        cls,
        modules: Sequence[str | Path],
        *,
        data: str | Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        workers: int = DEFAULT_WORKERS,
        reload_interval: float | None = 1.0,
        base: str | Path | None = None,
    ) -> RegoPolicy:
        """The set in ``modules`` (``.rego`` files) with its ``data`` file, checked for
        changes every ``reload_interval`` seconds. Paths are relative to ``base`` (default:
        the first file's directory). Raises PolicyLoadError."""
        if not modules:
            raise PolicyLoadError("a Rego policy set has at least one module")
        files = [Path(m) for m in modules]
        root = Path(base) if base is not None else files[0].resolve().parent

        def load(reader: Reader) -> _Compiled:
            return compile_set(
                [(p.name, reader.text(p)) for p in files],
                None if data is None else reader.text(data),
            )

        holder = Reloading(root, ENGINE, load, interval=reload_interval)
        return cls(holder, timeout=timeout, workers=workers)

    @classmethod
    def from_text(
        cls,
        modules: str | Mapping[str, str],
        *,
        data: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        workers: int = DEFAULT_WORKERS,
    ) -> RegoPolicy:
        """A set given as text (one module, or modules by name; ``data`` as JSON text), never
        reloaded. Raises PolicyLoadError."""
        named = {"policy.rego": modules} if isinstance(modules, str) else dict(modules)
        compiled = compile_set(sorted(named.items()), data)
        files = {name: text.encode() for name, text in named.items()}
        if data is not None:
            files["data.json"] = data.encode()
        holder = Fixed(compiled, revision_of(ENGINE, files))
        return cls(holder, timeout=timeout, workers=workers)

    @property
    def revision(self) -> str:
        """The revision of the set in force."""
        return self._holder.revision

    def reload(self) -> bool:
        """Check the files now; True if a new set (loaded or not) is in force."""
        return self._holder.check()

    def close(self) -> None:
        """Stop the worker threads (after the evaluations under way)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def evaluate(self, document: PolicyInput) -> Verdict:
        """The set's answer for the call. Raises PolicyUnavailable."""
        compiled, revision = self._holder.current()
        doc = document.to_json()
        if self._pool is None:
            return _evaluate(compiled, doc, revision)
        try:
            future = self._pool.submit(_evaluate, compiled, doc, revision)
        except RuntimeError as exc:  # the pool was closed
            raise PolicyUnavailable(PolicyFailure.ERROR, "the policy is closed", revision) from exc
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            future.cancel()
            detail = f"the Rego evaluation took longer than {self._timeout} s"
            raise PolicyUnavailable(PolicyFailure.TIMEOUT, detail, revision) from None


def _evaluate(compiled: _Compiled, document: dict[str, Any], revision: str) -> Verdict:
    try:
        rego, bundle = compiled.interpreter()
        return deny_set(_run(rego, bundle, document), revision)
    except PolicyUnavailable as exc:
        exc.revision = revision
        raise
    except regopy.RegoError as exc:
        detail = f"the Rego evaluation failed: {_first_line(exc)}"
        raise PolicyUnavailable(PolicyFailure.ERROR, detail, revision) from exc
