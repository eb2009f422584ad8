"""What a policy sees and what it answers (``specs/policy.md``).

A policy is asked only about a call that every caveat, every discharge and the proof allow,
and only ever adds a denial: it cannot allow what the token does not. It sees the verified
chain's public facts (the task, the agents with what each hop narrowed, the approvals the
call carries), the call and the verifier's context, and never a secret: no token, proof or
discharge text, no signature, no chain state, no root or caveat key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, runtime_checkable

from delegation._keys import decode_public_key, encode_public_key
from delegation._printable import is_printable
from delegation._request import Request
from delegation._task import TaskRecord
from delegation._wire import b64decode, b64encode
from delegation.errors import DelegationError

INPUT_VERSION = 1
"""The version of the input document; a change a policy could notice gets a new one."""

MAX_ID_CHARS = 128
"""A policy id or a revision is printable text of at most this many characters."""
MAX_POLICY_IDS = 32
"""At most this many deciding policy ids are reported; a verdict with more is refused."""
MAX_DETAIL_CHARS = 512


class PolicyFailure(StrEnum):
    """Why a policy could not answer: the detail of a ``policy_unavailable`` reason."""

    ERROR = "error"
    """The engine or a policy failed while evaluating (a type error, a builtin error, a bug)."""
    UNPARSEABLE = "unparseable"
    """The policy set in force does not parse or validate (after a reload, say)."""
    TIMEOUT = "timeout"
    """The evaluation took longer than the policy's time limit."""


class PolicyUnavailable(DelegationError):
    """Raised by a policy that cannot answer; the verifier denies with ``policy_unavailable``.

    ``detail`` goes to the verifier's log, not to the presenter, who is told the reason only.
    """

    def __init__(self, reason: PolicyFailure, detail: str, revision: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.revision = revision


class PolicyLoadError(DelegationError):
    """A policy set that cannot be loaded: a missing or unreadable file, a manifest, policy
    or data file that does not parse or validate. Raised when a policy is built (the caller's
    configuration is wrong); after that, a set that stops loading denies instead."""


class Narrowed(NamedTuple):
    """One caveat a link of the chain added: its index in the token, its family's name and
    its public description (as ``delegation inspect`` shows it)."""

    caveat: int
    type: str
    value: Any


@dataclass(frozen=True, slots=True)
class PolicyAgent:
    """One agent of the chain: the root holder (depth 0, no hop id) or a delegatee, with the
    caveats that stand in its segment: the root's scope, or what its hop narrowed."""

    agent_id: str
    public_key: bytes
    hop_id: str | None
    depth: int
    narrowed: tuple[Narrowed, ...]

    def to_json(self, *, narrowed: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agent_id": self.agent_id,
            "public_key": encode_public_key(self.public_key),
            "hop_id": self.hop_id,
            "depth": self.depth,
        }
        if narrowed:
            doc["narrowed"] = [
                {"caveat": n.caveat, "type": n.type, "value": n.value} for n in self.narrowed
            ]
        return doc


@dataclass(frozen=True, slots=True)
class PolicyApproval:
    """A human approval this call carries (step 7 checked its discharge: this exact call, this
    chain). ``service`` is the approval service's public key the token's caveat names."""

    service: bytes
    location: str | None
    hop: int
    caveat: int

    def to_json(self) -> dict[str, Any]:
        return {
            "service": b64encode(self.service),
            "location": self.location,
            "hop": self.hop,
            "caveat": self.caveat,
        }


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """Everything a policy is shown about one call; :meth:`to_json` is the document of
    ``specs/policy.md``. Built by the verifier from a verified chain, fresh for every call."""

    task: TaskRecord
    task_intents: tuple[str, ...] | None
    """The intents the task's root scope declares (the intent caveats before the first hop,
    intersected), sorted; None when it declares none."""
    chain: tuple[PolicyAgent, ...]
    request: Request
    approvals: tuple[PolicyApproval, ...]
    time: int
    """The verifier's clock, Unix seconds."""
    expires: int
    """The token's earliest expiry."""
    token_id: str
    root_id: str
    key_id: str

    @property
    def holder(self) -> PolicyAgent:
        """The agent that presented the token and signed the call's proof."""
        return self.chain[-1]

    @property
    def depth(self) -> int:
        """How many signed hops the chain has: 0 for the root holder's own call."""
        return len(self.chain) - 1

    @classmethod
    def from_json(cls, doc: object) -> PolicyInput:
        """Read a stored document (``delegation policy test``): exactly the shape
        :meth:`to_json` writes, with the task's digest, the holder and the depth agreeing with
        the rest. Raises ValueError (MalformedRequest, MalformedToken among them)."""
        return _read_input(doc)

    def to_json(self) -> dict[str, Any]:
        task = self.task
        return {
            "version": INPUT_VERSION,
            "task": {
                "id": task.task_id,
                "approver": task.approved_by,
                "approved_at": task.approved_at,
                "statement": task.statement,
                "digest": task.digest(),
                "intents": None if self.task_intents is None else list(self.task_intents),
            },
            "chain": [agent.to_json() for agent in self.chain],
            "holder": self.holder.to_json(narrowed=False),
            "request": {
                "audience": self.request.audience,
                "tool": self.request.tool,
                "action": self.request.action,
                "resource": self.request.resource,
                "intent": self.request.intent,
                "args": _copy(self.request.args),
            },
            "approvals": [a.to_json() for a in self.approvals],
            "context": {
                "time": self.time,
                "expires": self.expires,
                "depth": self.depth,
                "token_id": self.token_id,
                "root_id": self.root_id,
                "key_id": self.key_id,
            },
        }


def _object(doc: object, keys: Sequence[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or list(doc) != list(keys):
        raise ValueError(f"{what} is an object with exactly {', '.join(keys)}, in that order")
    return doc


def _int(value: object, what: str) -> int:
    if type(value) is not int:
        raise ValueError(f"{what} is an integer")
    return value


def _str(value: object, what: str, *, optional: bool = False) -> Any:
    if (value is None and optional) or isinstance(value, str):
        return value
    raise ValueError(f"{what} is text{' or null' if optional else ''}")


def _read_input(doc: object) -> PolicyInput:
    try:
        return _read_input_unchecked(doc)
    except (DelegationError, TypeError) as exc:  # a field the library's own types refuse
        raise ValueError(str(exc)) from exc


def _read_input_unchecked(doc: object) -> PolicyInput:
    top = _object(
        doc,
        ("version", "task", "chain", "holder", "request", "approvals", "context"),
        "a policy input",
    )
    if top["version"] != INPUT_VERSION:
        raise ValueError(f"a policy input's version is {INPUT_VERSION}")
    t = _object(
        top["task"], ("id", "approver", "approved_at", "statement", "digest", "intents"), "task"
    )
    task = TaskRecord(
        task_id=t["id"],
        approved_by=t["approver"],
        approved_at=t["approved_at"],
        statement=t["statement"],
    )
    if t["digest"] != task.digest():
        raise ValueError("the task's digest is not the digest of its fields")
    intents = t["intents"]
    if intents is not None and not (
        isinstance(intents, list) and all(isinstance(i, str) for i in intents)
    ):
        raise ValueError("the task's intents are a list of texts, or null")
    if not isinstance(top["chain"], list) or not top["chain"]:
        raise ValueError("the chain is a non-empty list of agents")
    chain = []
    for depth, a in enumerate(top["chain"]):
        a = _object(a, ("agent_id", "public_key", "hop_id", "depth", "narrowed"), "an agent")
        if a["depth"] != depth or (a["hop_id"] is None) != (depth == 0):
            raise ValueError("agent depths count from 0, and only the root holder has no hop id")
        narrowed = []
        if not isinstance(a["narrowed"], list):
            raise ValueError("an agent's narrowed is a list")
        for n in a["narrowed"]:
            n = _object(n, ("caveat", "type", "value"), "a narrowing caveat")
            narrowed.append(
                Narrowed(
                    _int(n["caveat"], "a caveat index"),
                    _str(n["type"], "a caveat type"),
                    json_view(n["value"]),
                )
            )
        chain.append(
            PolicyAgent(
                _str(a["agent_id"], "an agent id"),
                decode_public_key(_str(a["public_key"], "a public key")),
                _str(a["hop_id"], "a hop id", optional=True),
                depth,
                tuple(narrowed),
            )
        )
    if top["holder"] != chain[-1].to_json(narrowed=False):
        raise ValueError("the holder is the chain's last agent")
    r = top["request"]
    if not isinstance(r, dict):
        raise ValueError("the request is an object")
    request = Request.from_json(
        {k: v for k, v in r.items() if v is not None or k not in ("resource", "intent")}
    )
    if not isinstance(top["approvals"], list):
        raise ValueError("the approvals are a list")
    approvals = []
    for a in top["approvals"]:
        a = _object(a, ("service", "location", "hop", "caveat"), "an approval")
        approvals.append(
            PolicyApproval(
                b64decode(
                    _str(a["service"], "an approval service key"), 64, "approval service key"
                ),
                _str(a["location"], "a location", optional=True),
                _int(a["hop"], "an approval's hop"),
                _int(a["caveat"], "an approval's caveat"),
            )
        )
    c = _object(
        top["context"], ("time", "expires", "depth", "token_id", "root_id", "key_id"), "the context"
    )
    if c["depth"] != len(chain) - 1:
        raise ValueError("the context's depth is the number of hops in the chain")
    return PolicyInput(
        task=task,
        task_intents=None if intents is None else tuple(intents),
        chain=tuple(chain),
        request=request,
        approvals=tuple(approvals),
        time=_int(c["time"], "the time"),
        expires=_int(c["expires"], "the expiry"),
        token_id=_str(c["token_id"], "the token id"),
        root_id=_str(c["root_id"], "the root id"),
        key_id=_str(c["key_id"], "the key id"),
    )


def _copy(value: Any) -> Any:
    """A deep copy of a request argument (JSON values only, as the request checked): a policy
    that changes its document changes nothing the verifier holds."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def json_view(value: Any, depth: int = 0) -> Any:
    """A caveat description as JSON: byte strings as unpadded base64url, map keys as text.
    Raises ValueError for anything else a description should not hold."""
    if depth > 16:
        raise ValueError("a caveat description nests too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return b64encode(value)
    if isinstance(value, list | tuple):
        return [json_view(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_view(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"a caveat description holds a {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A policy's answer. ``allowed`` False denies the call (``policy_denied``), naming
    ``policy_ids``, the policies that refused it; ``detail`` is shown to the presenter.
    ``revision`` names the policy set that answered. Raises ValueError for values outside
    ``specs/policy.md`` (the verifier then denies with ``policy_unavailable``)."""

    allowed: bool
    revision: str
    policy_ids: tuple[str, ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        if type(self.allowed) is not bool:
            raise ValueError("a verdict's allowed is True or False")
        _label(self.revision, "a revision")
        if not isinstance(self.policy_ids, tuple) or len(self.policy_ids) > MAX_POLICY_IDS:
            raise ValueError(f"policy ids are a tuple of at most {MAX_POLICY_IDS}")
        for policy_id in self.policy_ids:
            _label(policy_id, "a policy id")
        if not isinstance(self.detail, str) or len(self.detail) > MAX_DETAIL_CHARS:
            raise ValueError(f"a verdict's detail is text of at most {MAX_DETAIL_CHARS} chars")
        if self.detail and not is_printable(self.detail):
            raise ValueError("a verdict's detail holds control characters")

    @classmethod
    def allow(cls, revision: str, policy_ids: Sequence[str] = ()) -> Verdict:
        return cls(True, revision, tuple(policy_ids))

    @classmethod
    def deny(cls, revision: str, policy_ids: Sequence[str], detail: str = "") -> Verdict:
        return cls(False, revision, tuple(policy_ids), detail)


def _label(value: object, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise ValueError(f"{what} is text of 1 to {MAX_ID_CHARS} characters")
    if not is_printable(value):
        raise ValueError(f"{what} holds control characters")


@runtime_checkable
class Policy(Protocol):
    """The policy hook a :class:`delegation.Verifier` is given (``policy=``).

    ``evaluate`` answers a :class:`Verdict` or raises :class:`PolicyUnavailable`; anything
    else it raises or returns denies the call with ``policy_unavailable``. It is called at most
    once per call, only for a call nothing else denied, and before anything is spent; it must
    not keep the document. It may be called from several threads at once.
    """

    def evaluate(self, document: PolicyInput) -> Verdict: ...


def example_input() -> PolicyInput:
    """A fixed, made-up document of the spec's shape (``specs/policy.md``, "Example"): what a
    policy set is tried on when it is loaded. Its keys are the public keys of the test
    fixtures agent 1 and agent 2 (``delegation.testing.fixtures``)."""
    orchestrator = bytes.fromhex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
    researcher = bytes.fromhex("8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")
    return PolicyInput(
        task=TaskRecord(
            task_id="task-42",
            approved_by="alice@example.com",
            approved_at=1799999940,
            statement="Summarise account 42's notes",
        ),
        task_intents=("summarise",),
        chain=(
            PolicyAgent(
                "orchestrator",
                orchestrator,
                None,
                0,
                (
                    Narrowed(0, "validity", {"expires": 1800003600}),
                    Narrowed(1, "audience", ["crm"]),
                    Narrowed(2, "tool", ["crm.read"]),
                    Narrowed(3, "intent", ["summarise"]),
                ),
            ),
            PolicyAgent(
                "researcher",
                researcher,
                "075cc3a0286223bb9504bfe3067c4e6c",
                1,
                (Narrowed(5, "resource", ["crm://accounts/42/notes/*"]),),
            ),
        ),
        request=Request(
            audience="crm",
            tool="crm.read",
            action="read",
            resource="crm://accounts/42/notes/7",
            intent="summarise",
            args={"limit": 10},
        ),
        approvals=(),
        time=1800000000,
        expires=1800003600,
        token_id="016dfc22ec394a59ba7f9c04a49ae262",  # noqa: S106 (an id, not a secret)
        root_id="da2de9235e8d5036b8f7da02a4b7173b",
        key_id="k-2026-11",
    )
