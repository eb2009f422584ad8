"""A policy set named by one file: a ``.cedar`` or ``.rego`` file, or a TOML manifest.

A manifest (``specs/policy.md``, "Policy files") names the engine, the policy files and the
engine's side files, relative to the manifest's directory::

    engine = "cedar"                  # or "rego"
    policies = ["base.cedar", "payments.cedar"]
    entities = "groups.json"          # cedar: Group and Approver entities
    actions = ["read", "write"]       # cedar, optional: the only actions policies may name
    timeout = 0.25                    # seconds, optional
    [args]                            # cedar: the call arguments policies read, and types
    amount = "Long"

    engine = "rego"
    policies = ["payments.rego"]
    data = "limits.json"              # rego: the data document
    workers = 4                       # rego, optional

The engine is imported only here, when a set asks for it: the core library never imports
``cedarpy`` or ``regopy``. The manifest is read again on every reload with its files; only
``engine``, ``timeout`` and ``workers`` are fixed when the policy is built.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delegation.policy._files import Reader, Reloading
from delegation.policy._model import Policy, PolicyLoadError

ENGINES = {
    "cedar": ("delegation.policy.cedar", ".cedar"),
    "rego": ("delegation.policy.rego", ".rego"),
}
_KEYS = {
    "cedar": {"engine", "policies", "entities", "args", "actions", "timeout"},
    "rego": {"engine", "policies", "data", "timeout", "workers"},
}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A policy set's manifest, as read (paths relative to its directory)."""

    engine: str
    policies: tuple[str, ...]
    entities: str | None = None
    data: str | None = None
    args: Mapping[str, str] | None = None
    actions: tuple[str, ...] = ()
    timeout: float | None = None
    workers: int | None = None


def read_manifest(text: str) -> Manifest:
    """Parse a manifest. Raises PolicyLoadError for TOML that does not parse, an unknown
    engine or key, or a value of the wrong type."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyLoadError(f"the manifest is not TOML: {exc}") from exc
    engine = doc.get("engine")
    if engine not in ENGINES:
        raise PolicyLoadError(f"the manifest's engine is one of {sorted(ENGINES)}")
    unknown = sorted(set(doc) - _KEYS[engine])
    if unknown:
        raise PolicyLoadError(f"unknown keys for a {engine} manifest: {unknown}")
    policies = doc.get("policies")
    if not _texts(policies) or not policies:
        raise PolicyLoadError("the manifest's policies is a non-empty list of file names")
    args = doc.get("args")
    if args is not None and not (
        isinstance(args, dict) and all(isinstance(v, str) for v in args.values())
    ):
        raise PolicyLoadError("the manifest's [args] maps argument names to Cedar types")
    actions = doc.get("actions", [])
    if not _texts(actions):
        raise PolicyLoadError("the manifest's actions is a list of action names")
    for key in ("entities", "data"):
        if key in doc and not isinstance(doc[key], str):
            raise PolicyLoadError(f"the manifest's {key} is a file name")
    timeout = doc.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise PolicyLoadError("the manifest's timeout is a number of seconds above 0")
    workers = doc.get("workers")
    if workers is not None and (type(workers) is not int or not 1 <= workers <= 64):
        raise PolicyLoadError("the manifest's workers is a whole number from 1 to 64")
    return Manifest(
        engine,
        tuple(policies),
        doc.get("entities"),
        doc.get("data"),
        args,
        tuple(actions),
        None if timeout is None else float(timeout),
        workers,
    )


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def engine_module(engine: str) -> Any:
    """The engine's module, imported now. Raises PolicyLoadError if its extra is missing."""
    name = ENGINES[engine][0]
    try:
        return importlib.import_module(name)  # the extra's import, only when a set needs it
    except ImportError as exc:
        raise PolicyLoadError(
            f"the {engine} engine needs its extra: pip install 'delegation[{engine}]'"
        ) from exc


def _compile(module: Any, manifest: Manifest, reader: Reader) -> Any:
    sources = [(name, reader.text(name)) for name in manifest.policies]
    if manifest.engine == "cedar":
        entities = None if manifest.entities is None else reader.text(manifest.entities)
        return module.compile_set(sources, entities, dict(manifest.args or {}), manifest.actions)
    data = None if manifest.data is None else reader.text(manifest.data)
    return module.compile_set(sources, data)


def load_policy(path: str | Path, *, reload_interval: float | None = 1.0) -> Policy:
    """The policy set ``path`` names: a ``.cedar`` file, a ``.rego`` file, or a ``.toml``
    manifest; reloaded when one of its files changes (checked at most every
    ``reload_interval`` seconds; None: never). Raises PolicyLoadError."""
    path = Path(path)
    for engine, (_, suffix) in ENGINES.items():
        if path.suffix == suffix:
            manifest = Manifest(engine, (path.name,))
            break
    else:
        if path.suffix != ".toml":
            raise PolicyLoadError("a policy file is .cedar, .rego or a .toml manifest")
        try:
            manifest = read_manifest(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyLoadError(f"cannot read the manifest {path.name}") from exc
    module = engine_module(manifest.engine)
    named_by = path.name if path.suffix == ".toml" else None

    def load(reader: Reader) -> Any:
        current = manifest
        if named_by is not None:
            current = read_manifest(reader.text(named_by))
            if current.engine != manifest.engine:
                raise PolicyLoadError("the manifest's engine changed: restart the verifier")
        return _compile(module, current, reader)

    holder = Reloading(path.resolve().parent, manifest.engine, load, interval=reload_interval)
    options: dict[str, Any] = {}
    if manifest.timeout is not None:
        options["timeout"] = manifest.timeout
    if manifest.workers is not None:
        options["workers"] = manifest.workers
    cls = module.CedarPolicy if manifest.engine == "cedar" else module.RegoPolicy
    policy: Policy = cls(holder, **options)
    return policy
