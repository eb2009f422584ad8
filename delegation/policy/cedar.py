"""Cedar policies over the verified chain, in process (``cedarpy``; the ``cedar`` extra).

The mapping of ``specs/policy.md`` ("Cedar"): the principal is the holder's
``Delegation::Agent`` (by public key, ``in`` the agent that delegated to it and ``in`` the
``Delegation::Task``), the action is ``Action::"<the call's action>"``, the resource is
``Delegation::Resource::"<the call's resource>"`` (``in`` its ``Delegation::Tool``, ``in`` its
``Delegation::Audience``), and the context holds the task, the call's intent, its declared
arguments, the approvals it carries and the verifier's clock. Every policy carries an
``@id("...")``, unique in its set: that id is what a decision names; an ``@reason("...")``
is shown to the presenter when the policy refuses.

A set is parsed and validated once against the schema shipped beside this module
(``delegation.cedarschema``), with the ``Args`` type and the actions the set declares; its
entities file holds the ``Delegation::Group`` and ``Delegation::Approver`` entities (who is
in which group). Cedar's own semantics apply: a call is allowed when some policy permits it
and none forbids it, so a set of ``forbid`` rules starts with one ``permit(principal, action,
resource);``. A policy that errors while evaluating (a Cedar type error) would be skipped by
Cedar; here it denies (``policy_unavailable``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

from delegation._keys import encode_public_key
from delegation.policy._files import Fixed, Reader, Reloading, revision_of
from delegation.policy._model import (
    PolicyFailure,
    PolicyInput,
    PolicyLoadError,
    PolicyUnavailable,
    Verdict,
)

ENGINE = "cedar"
SCHEMA_FILE = "delegation.cedarschema"
DEFAULT_TIMEOUT = 0.25
"""Seconds a Cedar evaluation may take before the call is denied (``timeout``)."""
STATIC_TYPES = ("Delegation::Group", "Delegation::Approver")
"""The entity types an entities file may hold; everything else comes from the chain."""

_TYPE = re.compile(r"Long|String|Bool|Set<(Long|String|Bool)>")
_MAX_ARGS = 64


def schema_text() -> str:
    """The Cedar schema shipped with the library (without the set's ``Args`` and actions)."""
    return resources.files("delegation.policy").joinpath(SCHEMA_FILE).read_text("utf-8")


def full_schema(args: Mapping[str, str], actions: Sequence[str]) -> str:
    """The shipped schema with ``type Args`` and the actions, as a set is validated against.
    Raises PolicyLoadError for an argument type outside ``Long``, ``String``, ``Bool`` and
    ``Set<...>`` of those."""
    if len(args) > _MAX_ARGS:
        raise PolicyLoadError(f"a policy set declares at most {_MAX_ARGS} arguments")
    fields = []
    for name, kind in sorted(args.items()):
        if not isinstance(name, str) or not name or not isinstance(kind, str):
            raise PolicyLoadError("each declared argument is a name and a Cedar type")
        if not _TYPE.fullmatch(kind):
            raise PolicyLoadError(
                f"argument {name!r}: the type is Long, String, Bool or Set<...> of one"
            )
        fields.append(f"  {json.dumps(name)}?: {kind},")
    names = ", ".join(json.dumps(a) for a in sorted(set(actions) or {"call"}))
    return (
        f"{schema_text()}\ntype Args = {{\n"
        + "\n".join(fields)
        + f"\n}};\naction {names} appliesTo {{\n"
        "  principal: [Delegation::Agent],\n"
        "  resource: [Delegation::Resource],\n"
        "  context: Delegation::Context,\n"
        "};\n"
    )


@dataclass(frozen=True, slots=True)
class _Compiled:
    policies: cedarpy.PolicySet
    entities: cedarpy.Entities
    approvers: frozenset[str]
    """Approvers the entities file names: the chain's approver is not added again."""
    ids: Mapping[str, str]
    """Cedar's positional policy id -> the policy's @id."""
    reasons: Mapping[str, str]
    """Cedar's positional policy id -> its @reason, where it has one."""
    args: Mapping[str, str]


def compile_set(
    sources: Sequence[tuple[str, str]],
    entities: str | None,
    args: Mapping[str, str],
    actions: Sequence[str] = (),
) -> _Compiled:
    """Parse and validate a Cedar policy set: ``sources`` are (file name, policy text).
    Raises PolicyLoadError naming the file or policy at fault."""
    if not sources:
        raise PolicyLoadError("a Cedar policy set has at least one policy file")
    for name, text in sources:
        try:
            cedarpy.PolicySet.from_str(text)
        except ValueError as exc:
            raise PolicyLoadError(f"{name} does not parse: {_first_line(exc)}") from exc
    text = "\n".join(t for _, t in sources)
    est = json.loads(cedarpy.policies_to_json_str(text))
    if est.get("templates"):
        raise PolicyLoadError("Cedar templates are not supported: link them into policies")
    ids: dict[str, str] = {}
    reasons: dict[str, str] = {}
    named: set[str] = set()
    for positional, policy in est["staticPolicies"].items():
        notes = policy.get("annotations", {})
        policy_id = notes.get("id")
        if not isinstance(policy_id, str) or not policy_id:
            raise PolicyLoadError(f'every policy has an @id("..."); {positional} has none')
        if policy_id in ids.values():
            raise PolicyLoadError(f"two policies have the @id {policy_id!r}")
        try:
            Verdict.deny("r", [policy_id], notes.get("reason") or "")
        except ValueError as exc:
            raise PolicyLoadError(f"policy {policy_id!r}: {exc}") from exc
        ids[positional] = policy_id
        if notes.get("reason"):
            reasons[positional] = notes["reason"]
        named |= _actions(policy)
    undeclared = sorted(named - set(actions)) if actions else []
    if undeclared:
        raise PolicyLoadError(f"the set names actions it does not declare: {undeclared}")
    try:
        schema = cedarpy.Schema.from_str(full_schema(args, [*actions, *named]))
    except ValueError as exc:
        raise PolicyLoadError(f"the schema does not parse: {_first_line(exc)}") from exc
    checked = cedarpy.validate_policies(text, schema)
    if not checked.validation_passed:
        shown = [f"{ids.get(e.policy_id, e.policy_id)}: {e.error}" for e in checked.errors[:3]]
        raise PolicyLoadError("the set does not validate: " + "; ".join(shown))
    static, approvers = _static_entities(entities, schema)
    return _Compiled(cedarpy.PolicySet.from_str(text), static, approvers, ids, reasons, dict(args))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["?"])[0][:200]


def _actions(node: Any) -> set[str]:
    """Every ``Action::"..."`` a policy names, in its scope or its conditions."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "Action" and isinstance(node.get("id"), str):
            found.add(node["id"])
        for value in node.values():
            found |= _actions(value)
    elif isinstance(node, list):
        for value in node:
            found |= _actions(value)
    return found


def _static_entities(
    text: str | None, schema: cedarpy.Schema
) -> tuple[cedarpy.Entities, frozenset[str]]:
    if text is None:
        return cedarpy.Entities.from_json_str("[]"), frozenset()
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PolicyLoadError(f"the entities file is not JSON: {exc}") from exc
    if not isinstance(doc, list):
        raise PolicyLoadError("the entities file is a JSON list of Cedar entities")
    approvers = set()
    for entity in doc:
        uid = entity.get("uid") if isinstance(entity, dict) else None
        kind = uid.get("type") if isinstance(uid, dict) else None
        if kind not in STATIC_TYPES:
            raise PolicyLoadError(f"the entities file holds only {' and '.join(STATIC_TYPES)}")
        if kind == "Delegation::Approver":
            approvers.add(str(uid["id"]))  # type: ignore[index]
    try:
        return cedarpy.Entities.from_json_str(text, schema), frozenset(approvers)
    except ValueError as exc:
        raise PolicyLoadError(f"the entities do not validate: {_first_line(exc)}") from exc


class CedarPolicy:
    """A Cedar policy set as a :class:`delegation.policy.Policy`. Build it with
    :meth:`from_files` (reloaded when a file changes) or :meth:`from_text`.

    ``timeout``: an evaluation that takes longer denies (``policy_unavailable``, timeout).
    Cedar evaluation terminates, in time bounded by the set and the input, so the limit is
    checked when it returns: a slow set never decides, though the call waits for it.
    """

    def __init__(
        self,
        holder: Reloading[_Compiled] | Fixed[_Compiled],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not timeout > 0:
            raise ValueError("a policy's timeout is a number of seconds above 0")
        self._holder = holder
        self._timeout = timeout
        self._clock = clock

    @classmethod
    def from_files(
        cls,
        policies: Sequence[str | Path],
        *,
        entities: str | Path | None = None,
        args: Mapping[str, str] | None = None,
        actions: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        reload_interval: float | None = 1.0,
        base: str | Path | None = None,
    ) -> CedarPolicy:
        """The set in ``policies`` (``.cedar`` files) with its ``entities`` file, checked for
        changes every ``reload_interval`` seconds. ``args`` declares the call arguments the
        policies read, by name, with their Cedar types; ``actions``, if given, the only
        actions they may name. Paths are relative to ``base`` (default: the first file's
        directory). Raises PolicyLoadError."""
        if not policies:
            raise PolicyLoadError("a Cedar policy set has at least one policy file")
        files = [Path(p) for p in policies]
        root = Path(base) if base is not None else files[0].resolve().parent
        declared = dict(args or {})

        def load(reader: Reader) -> _Compiled:
            return compile_set(
                [(p.name, reader.text(p)) for p in files],
                None if entities is None else reader.text(entities),
                declared,
                actions,
            )

        return cls(Reloading(root, ENGINE, load, interval=reload_interval), timeout=timeout)

    @classmethod
    def from_text(
        cls,
        policies: str,
        *,
        entities: str | None = None,
        args: Mapping[str, str] | None = None,
        actions: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> CedarPolicy:
        """A set given as text (``entities`` as the JSON text of an entities file), never
        reloaded. Raises PolicyLoadError."""
        compiled = compile_set([("policies", policies)], entities, dict(args or {}), actions)
        files = {"policies": policies.encode()}
        if entities is not None:
            files["entities"] = entities.encode()
        return cls(Fixed(compiled, revision_of(ENGINE, files)), timeout=timeout)

    @property
    def revision(self) -> str:
        """The revision of the set in force."""
        return self._holder.revision

    def reload(self) -> bool:
        """Check the files now; True if a new set (loaded or not) is in force."""
        return self._holder.check()

    def evaluate(self, document: PolicyInput) -> Verdict:
        """Cedar's answer for the call. Raises PolicyUnavailable."""
        compiled, revision = self._holder.current()
        started = self._clock()
        try:
            request, delta = cedar_request(document, compiled.args, compiled.approvers)
        except PolicyUnavailable as exc:
            exc.revision = revision
            raise
        try:
            entities = compiled.entities.with_added_json_str(json.dumps(delta))
            answer = cedarpy.is_authorized(request, compiled.policies, entities)
        except ValueError as exc:
            raise PolicyUnavailable(PolicyFailure.ERROR, _first_line(exc), revision) from exc
        if self._clock() - started > self._timeout:
            detail = f"the Cedar evaluation took longer than {self._timeout} s"
            raise PolicyUnavailable(PolicyFailure.TIMEOUT, detail, revision)
        errors = answer.diagnostics.errors
        if errors:
            raise PolicyUnavailable(PolicyFailure.ERROR, str(errors[0])[:300], revision)
        deciding = tuple(sorted(compiled.ids.get(p, p) for p in answer.diagnostics.reasons))
        if answer.decision == cedarpy.Decision.Allow:
            return Verdict.allow(revision, deciding)
        if answer.decision != cedarpy.Decision.Deny:
            detail = f"Cedar answered {answer.decision.value}"
            raise PolicyUnavailable(PolicyFailure.ERROR, detail, revision)
        said = [compiled.reasons[p] for p in answer.diagnostics.reasons if p in compiled.reasons]
        return Verdict.deny(revision, deciding, "; ".join(said)[:512])


def _uid(kind: str, value: str) -> dict[str, str]:
    return {"type": kind, "id": value}


def _ref(kind: str, value: str) -> dict[str, dict[str, str]]:
    return {"__entity": _uid(kind, value)}


def cedar_request(
    document: PolicyInput,
    declared: Mapping[str, str],
    static_approvers: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Cedar request and the entities of one call (``specs/policy.md``, "Cedar").
    Raises PolicyUnavailable for a declared argument whose value is not of its type."""
    task, call = document.task, document.request
    task_uid = _uid("Delegation::Task", task.task_id)
    task_attrs: dict[str, Any] = {
        "approver": _ref("Delegation::Approver", task.approved_by),
        "approved_at": task.approved_at,
        "statement": task.statement,
        "digest": task.digest(),
    }
    if document.task_intents is not None:
        task_attrs["intents"] = list(document.task_intents)
    entities: list[dict[str, Any]] = [{"uid": task_uid, "attrs": task_attrs, "parents": []}]
    if task.approved_by not in static_approvers:
        approver = _uid("Delegation::Approver", task.approved_by)
        entities.append({"uid": approver, "attrs": {}, "parents": []})
    parent: dict[str, str] | None = None
    for agent in document.chain:
        key = encode_public_key(agent.public_key)
        uid = _uid("Delegation::Agent", key)
        attrs: dict[str, Any] = {
            "id": agent.agent_id,
            "key": key,
            "depth": agent.depth,
            "narrowed": sorted({n.type for n in agent.narrowed}),
        }
        if agent.hop_id is not None:
            attrs["hop_id"] = agent.hop_id
        parents = [task_uid] if parent is None else [task_uid, parent]
        entities.append({"uid": uid, "attrs": attrs, "parents": parents})
        parent = uid
    audience = _uid("Delegation::Audience", call.audience)
    tool = _uid("Delegation::Tool", call.tool)
    resource = _uid("Delegation::Resource", call.resource or "")
    entities += [
        {"uid": audience, "attrs": {}, "parents": []},
        {"uid": tool, "attrs": {}, "parents": [audience]},
        {
            "uid": resource,
            "attrs": {} if call.resource is None else {"path": call.resource},
            "parents": [tool],
        },
    ]
    context: dict[str, Any] = {
        "task": {"__entity": task_uid},
        "agents": sorted({a.agent_id for a in document.chain}),
        "audience": call.audience,
        "tool": call.tool,
        "args": cedar_args(call.args, declared),
        "approvals": sorted({encode_public_key(a.service) for a in document.approvals}),
        "now": {"__extn": {"fn": "datetime", "arg": _rfc3339(document.time)}},
        "time": document.time,
        "expires": document.expires,
        "depth": document.depth,
        "token_id": document.token_id,
        "root_id": document.root_id,
        "key_id": document.key_id,
    }
    if call.intent is not None:
        context["intent"] = call.intent
    request = {
        "principal": parent,
        "action": _uid("Action", call.action),
        "resource": resource,
        "context": context,
    }
    return request, entities


def _rfc3339(when: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


_LONG = range(-(2**63), 2**63)


def _fits(value: Any, kind: str) -> bool:
    if kind == "Long":
        return type(value) is int and value in _LONG
    if kind == "String":
        return type(value) is str
    if kind == "Bool":
        return type(value) is bool
    inner = kind[4:-1]  # Set<...>
    return type(value) is list and all(_fits(v, inner) for v in value)


def cedar_args(args: Mapping[str, Any], declared: Mapping[str, str]) -> dict[str, Any]:
    """The call's declared arguments, checked against their declared types (an argument the
    set does not declare is not shown to it). Raises PolicyUnavailable for a value of another
    type: a rule about it could not be evaluated, and would be skipped."""
    out = {}
    for name, kind in declared.items():
        if name not in args:
            continue
        value = args[name]
        if not _fits(value, kind):
            detail = f"the argument {name!r} is not a {kind}, as the policy set declares"
            raise PolicyUnavailable(PolicyFailure.ERROR, detail)
        out[name] = value
    return out
