"""``delegation demo``: one approved task, an orchestrator, two sub-agents and a tool server.

Act 1 shows scope, holder binding and integrity. Act 2 shows a human approving one risky call
for the agent that asked (an approval service with its own key; the holder signs its request,
and the yes holds for that holder and chain only: its parent presenting it is denied), a
single-use token, a budget spent across both replicas, and revocation of one branch, with the
tool server's state in a SQLite file that two verifiers share.

The story runs on embedded defaults in a temporary directory and prints each step for a person
to read. Every call's outcome is checked against what the story expects: a surprise is printed
and makes the demo exit 1, so the demo doubles as a smoke test of the whole library.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    AuthoringError,
    BadDischarge,
    Budget,
    Code,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    _wire,
    delegate,
    encode_public_key,
    mint,
    prove,
    prove_for_approval,
)
from delegation._proof import Proof
from delegation._thirdparty.approval import Approver, bind_discharge, require_approval
from delegation._thirdparty.caveat import ApproverKey, bind, decode_discharge
from delegation.caveats import MaxUses
from delegation.stores import MemoryState, Revocation, RevocationKind, SQLiteState

AUDIENCE = "crm"
TASK_ID = "task-42"
APPROVER = "alice@example.com"
APPROVALS = "https://approvals.example/crm"
NEEDS_APPROVAL = "crm.update:write"
STATEMENT = "Summarise the notes of account 42 and file the summary as a new note"

ROOT_SCOPE = Scope(
    audiences=[AUDIENCE],
    tools=["crm.read", "crm.update"],
    actions=["read", "write"],
    resources=["crm://accounts/42/**"],
    intents=["summarise", "update-notes"],
    expires_in=900,
    max_depth=1,
    delegatees=["researcher", "writer"],
)
RESEARCHER_SCOPE = Scope(
    tools=["crm.read"],
    actions=["read"],
    resources=["crm://accounts/42/**"],
    intents=["summarise"],
    expires_in=600,
)
WRITER_SCOPE = Scope(
    tools=["crm.update"],
    actions=["write"],
    resources=["crm://accounts/42/notes/*"],
    intents=["update-notes"],
    args=[ArgConstraint.at_most("length", 2000)],
)
SINGLE_USE_SCOPE = Scope(
    tools=["crm.read"],
    actions=["read"],
    resources=["crm://accounts/42/contracts"],
    intents=["summarise"],
    expires_in=120,
    extra=[MaxUses(1)],
)
EXPORT_SCOPE = Scope(
    tools=["crm.read"],
    actions=["read"],
    resources=["crm://accounts/42/exports/*"],
    intents=["summarise"],
    expires_in=300,
    budgets=[Budget("pages", 50, "pages", max_per_call=20)],
)


def _read(resource: str) -> Request:
    return Request(
        audience=AUDIENCE, tool="crm.read", action="read", resource=resource, intent="summarise"
    )


def _write(resource: str, length: int) -> Request:
    note = "Renewal likely; two open tickets."
    return Request(
        audience=AUDIENCE,
        tool="crm.update",
        action="write",
        resource=resource,
        intent="update-notes",
        args={"length": length, "text": note},
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One call to the tool server, and the first reason code the story expects (None: allow)."""

    title: str
    token: str
    request: Request
    proof: Callable[[], str | None]
    expect: Code | None
    discharges: Sequence[str] = ()


Verify = Callable[[Call], object]
"""Where the story sends a call: a verifier in this process, or the verifier service
(what it returns is not looked at)."""


def _proof(token: UnverifiedToken, key: AgentKey, request: Request) -> Callable[[], str]:
    """A fresh proof by ``key`` for ``request``, made when the call is sent."""
    return lambda: prove(token, key, request)


def forged_proof(token: UnverifiedToken, key: AgentKey, request: Request) -> str:
    """A well-formed proof signed by ``key`` even though it is not the token's holder.

    ``prove`` refuses to make one (it could never verify); a thief would build it by hand.
    """
    unsigned = Proof(int(time.time()), secrets.token_bytes(16), b"")
    signature = key.sign(unsigned.message(token.token_bytes, request))
    return Proof(unsigned.issued_at, unsigned.nonce, signature).encode()


def bound_by_hand(token: UnverifiedToken, discharge: str) -> str:
    """``discharge`` bound to ``token`` without ``bind_discharge``'s check of whom it was given
    to (which refuses another chain): what a holder after someone else's approval would do."""
    raw = decode_discharge(discharge)
    signature = bind(token.raw.signature, raw.signature)
    mac = _wire.RawMacaroon(raw.identifier, raw.caveats, signature, raw.location)
    return _wire.b64encode(_wire.encode(mac))


def tampered(token: str) -> str:
    """``token`` with one character changed, inside the signature so the framing still parses."""
    i = len(token) - 10
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]


def _scope_lines(scope: Scope) -> list[str]:
    now = int(time.time())
    lines = []
    for cav in scope.caveats(now):
        value: Any = cav.describe()
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} in {v - now} s" for k, v in value.items())
        lines.append(f"{cav.name:<10} {value}")
    return lines


class _Story:
    def __init__(self, out: TextIO, workdir: Path) -> None:
        self.out = out
        self.workdir = workdir
        self.step = 0
        self.surprises = 0
        self.decisions: list[dict[str, Any]] = []
        self.act_one_calls = 0

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def heading(self, text: str) -> None:
        self.step += 1
        self.say()
        self.say(f"{self.step}. {text}")

    def save(self, name: str, thing: Keyring | AgentKey | ApproverKey) -> str:
        path = self.workdir / name
        thing.save(path)
        return f"{name} (mode {os.stat(path).st_mode & 0o777:04o})"

    def surprise(self, text: str) -> None:
        self.surprises += 1
        self.say(f"   !! {text}")

    def call(self, verifier: Verifier, call: Call) -> None:
        decision = verifier.verify(
            call.token, call.request, call.proof(), discharges=call.discharges
        )
        self.show(call, decision.to_json())

    def show(self, call: Call, decision: dict[str, Any]) -> None:
        """Print ``decision`` (the JSON form of a :class:`Decision`, as the service answers it
        too) and check it against what ``call`` expects."""
        self.decisions.append(decision)
        mark = "ALLOW" if decision["allowed"] else "DENY "
        self.say(f"   [{mark}] {call.title}")
        if decision["allowed"]:
            agents = " -> ".join(link["agent_id"] for link in decision["agents"])
            task = decision["task"]["task_id"] if decision["task"] else "?"
            self.say(f"           for {task} via {agents}")
        for b in decision["budgets"]:
            self.say(f"           budget {b['unit']}: {b['remaining']} of {b['total']} left")
        for r in decision["reasons"]:
            where = "token" if r["hop"] is None else f"hop {r['hop']}"
            where += "" if r["caveat"] is None else f", caveat {r['caveat']}"
            self.say(f"           {r['code']} ({where}): {r['detail']}")
        got = decision["code"]
        if got != call.expect:
            self.surprises += 1
            self.say(f"           !! expected {call.expect or 'allow'}, got {got or 'allow'}")

    def summary(self) -> None:
        """How the calls went, and the denial codes they showed."""
        self.say()
        decisions = self.decisions
        denied = [str(d["code"]) for d in decisions if not d["allowed"]]
        self.say(
            f"{len(decisions)} calls: {len(decisions) - len(denied)} allowed, {len(denied)} denied"
            + (", each as expected" if not self.surprises else f"; {self.surprises} surprises!")
            + f" (act 1: {self.act_one_calls}; act 2: {len(decisions) - self.act_one_calls})."
        )
        self.say("denial codes shown: " + ", ".join(dict.fromkeys(denied)))


def run(out: TextIO | None = None) -> int:
    """Play the story, printing to ``out`` (standard output). Returns 0 if all went as told."""
    out = sys.stdout if out is None else out
    with tempfile.TemporaryDirectory(prefix="delegation-demo-") as tmp:
        story = _Story(out, Path(tmp))
        _play(story)
    story.summary()
    story.say("The temporary directory is gone. Next: `delegation --help`.")
    return 0 if not story.surprises else 1


def _play(story: _Story) -> None:
    say = story.say
    say(f"delegation demo: one approved task, an orchestrator, two sub-agents (in {story.workdir})")

    story.heading("The issuer creates a root keyring: HMAC root keys that never leave it.")
    keyring = Keyring.generate()
    say(f"   {story.save('issuer-keyring.json', keyring)}, current key id {keyring.current.key_id}")

    keys = _agent_keys(story)

    story.heading("A human approves a task.")
    task = TaskRecord(
        task_id=TASK_ID, approved_by=APPROVER, approved_at=int(time.time()), statement=STATEMENT
    )
    say(f'   {task.task_id}, approved by {task.approved_by}: "{task.statement}"')

    story.heading("The issuer mints a root token for the orchestrator, bound to its key.")
    orchestrator = Agent("orchestrator", keys["orchestrator"].public_key)
    root = mint(keyring, task, orchestrator, ROOT_SCOPE)
    say(f"   root id {root.root_id}, {len(root.encode())} characters, one line")
    for line in _scope_lines(ROOT_SCOPE):
        say(f"     {line}")

    tokens = _delegate_to_sub_agents(story, root, keys)

    story.heading("Tool calls reach the CRM, which verifies each token and proof.")
    verifier = Verifier(keyring, state=MemoryState())  # one CRM process: memory is enough
    for call in _act_one_calls(tokens, keys):
        story.call(verifier, call)
    story.act_one_calls = len(story.decisions)
    _act_two(story, keyring, keys, task)


def _agent_keys(story: _Story) -> dict[str, AgentKey]:
    """The agents' keys (and mallory's, who is not part of the task), saved in the workdir."""
    story.heading("Each agent creates an Ed25519 key; only the public half is shared.")
    keys = {name: AgentKey.generate() for name in ("orchestrator", "researcher", "writer")}
    keys["mallory"] = AgentKey.generate()
    for name, key in keys.items():
        role = "  (not part of the task)" if name == "mallory" else ""
        saved = story.save(f"{name}.key.json", key)
        story.say(f"   {name:<12} {encode_public_key(key.public_key)}  {saved}{role}")
    return keys


def _delegate_to_sub_agents(
    story: _Story, root: UnverifiedToken, keys: dict[str, AgentKey]
) -> dict[str, UnverifiedToken]:
    """The orchestrator's hops to the researcher and the writer (offline: only its key signs
    them); the researcher cannot pass its token on. Each agent's token, by name."""
    say = story.say
    story.heading("The orchestrator delegates narrower scopes, signing one hop for each.")
    tokens = {"orchestrator": root}
    for name, scope in (("researcher", RESEARCHER_SCOPE), ("writer", WRITER_SCOPE)):
        to = Agent(name, keys[name].public_key)
        tokens[name] = delegate(root, keys["orchestrator"], to, scope)
        say(f"   -> {name}, hop id {tokens[name].holder.hop_id}, adds:")
        for line in _scope_lines(scope):
            say(f"        {line}")
    try:
        delegate(
            tokens["researcher"], keys["researcher"], Agent("mallory", keys["mallory"].public_key)
        )
        story.surprise("the researcher was able to delegate further")
    except AuthoringError as exc:
        say(f"   The researcher tries to pass its token on to mallory: refused ({exc}).")
    return tokens


def _act_one_calls(
    tokens: dict[str, UnverifiedToken], keys: dict[str, AgentKey], writer_note: Code | None = None
) -> list[Call]:
    """Act 1's calls: scope, holder binding and integrity. ``writer_note`` is what the writer's
    first note meets (approval_required where the root token says writes need a human)."""
    researcher, writer = tokens["researcher"], tokens["writer"]
    read_notes = _read("crm://accounts/42/notes")
    first_proof = prove(researcher, keys["researcher"], read_notes)

    def proof_by(name: str, request: Request) -> Callable[[], str]:
        return lambda: prove(tokens[name], keys[name], request)

    stolen = _read("crm://accounts/42/contracts")
    wrong_tool = Request(
        audience=AUDIENCE,
        tool="crm.update",
        action="write",
        resource="crm://accounts/42/notes/x",
        intent="summarise",
    )
    elsewhere = _read("crm://accounts/43/notes")
    dotdot = _read("crm://accounts/42/../43/notes")
    new_note = _write("crm://accounts/42/notes/summary", 640)
    long_note = _write("crm://accounts/42/notes/summary", 5000)
    return [
        Call(
            "researcher reads crm://accounts/42/notes",
            researcher.encode(),
            read_notes,
            lambda: first_proof,
            None,
        ),
        Call(
            "writer files a 640-character note",
            writer.encode(),
            new_note,
            proof_by("writer", new_note),
            writer_note,
        ),
        Call(
            "researcher calls crm.update (wrong tool)",
            researcher.encode(),
            wrong_tool,
            proof_by("researcher", wrong_tool),
            Code.TOOL_NOT_ALLOWED,
        ),
        Call(
            "researcher reads account 43 (wrong resource)",
            researcher.encode(),
            elsewhere,
            proof_by("researcher", elsewhere),
            Code.RESOURCE_NOT_ALLOWED,
        ),
        Call(
            "researcher reads crm://accounts/42/../43/notes (dot-dot trick)",
            researcher.encode(),
            dotdot,
            proof_by("researcher", dotdot),
            Code.RESOURCE_NOT_ALLOWED,
        ),
        Call(
            "writer files a 5000-character note (over its limit)",
            writer.encode(),
            long_note,
            proof_by("writer", long_note),
            Code.ARGS_NOT_ALLOWED,
        ),
        Call(
            "mallory presents the researcher's stolen token, no proof",
            researcher.encode(),
            stolen,
            lambda: None,
            Code.POP_REQUIRED,
        ),
        Call(
            "mallory presents the stolen token with a proof signed by her own key",
            researcher.encode(),
            stolen,
            lambda: forged_proof(researcher, keys["mallory"], stolen),
            Code.POP_INVALID,
        ),
        Call(
            "someone replays the researcher's first proof",
            researcher.encode(),
            read_notes,
            lambda: first_proof,
            Code.REPLAY,
        ),
        Call(
            "the researcher's token with one character changed",
            tampered(researcher.encode()),
            read_notes,
            proof_by("researcher", read_notes),
            Code.BAD_SIGNATURE,
        ),
    ]


def _act_two(story: _Story, keyring: Keyring, keys: dict[str, AgentKey], task: TaskRecord) -> None:
    say = story.say
    say()
    say(
        "Act 2: a human approves one risky call for the agent that asked; a single-use token; "
        "revoking one branch."
    )

    story.heading("An approval service creates an X25519 key; the issuer learns its public half.")
    approver_key = ApproverKey.generate()
    approver = Approver(approver_key, location=APPROVALS)
    saved = story.save("approver.key.json", approver_key)
    say(f"   approver {encode_public_key(approver_key.public_key)}  {saved}")

    story.heading(
        f"The issuer mints a new root token; its scope says {NEEDS_APPROVAL} needs a human."
    )
    orchestrator = Agent("orchestrator", keys["orchestrator"].public_key)
    root = mint(keyring, task, orchestrator, ROOT_SCOPE)
    root = require_approval(
        root, approver_key.public_key, rules=[NEEDS_APPROVAL], location=APPROVALS
    )
    say(f"   root id {root.root_id}; the approval caveat sits before any hop")
    tokens: dict[str, UnverifiedToken] = {}
    for name, scope in (("researcher", RESEARCHER_SCOPE), ("writer", WRITER_SCOPE)):
        tokens[name] = delegate(
            root, keys["orchestrator"], Agent(name, keys[name].public_key), scope
        )
        say(f"   -> {name}, hop id {tokens[name].holder.hop_id}")

    story.heading("Two CRM replicas verify, sharing one SQLite state file.")
    path = story.workdir / "crm-state.sqlite"
    SQLiteState.create(path).close()
    states = [SQLiteState(path), SQLiteState(path)]
    try:
        crm, replica = (Verifier(keyring, state=st) for st in states)
        say(f"   {path.name}: spent proofs and approvals, use counts, revocations")
        _approvals_and_limits(story, approver, keys, tokens, root, crm, replica, states[0])
    finally:
        for st in states:
            st.close()


def _approvals_and_limits(
    story: _Story,
    approver: Approver,
    keys: dict[str, AgentKey],
    tokens: dict[str, UnverifiedToken],
    root: UnverifiedToken,
    crm: Verifier,
    replica: Verifier,
    state: SQLiteState,
) -> None:
    say = story.say
    researcher, writer = tokens["researcher"], tokens["writer"]

    def proof_by(
        name: str, request: Request, token: UnverifiedToken | None = None
    ) -> Callable[[], str]:
        return lambda: prove(token or tokens[name], keys[name], request)

    note = _write("crm://accounts/42/notes/summary", 640)
    story.call(crm, Call("writer files its note, not yet approved", writer.encode(), note,
                         proof_by("writer", note), Code.APPROVAL_REQUIRED))  # fmt: skip

    story.heading("The writer signs an approval request; a human sees who asks and what, says yes.")
    ask = prove_for_approval(writer, keys["writer"], note)
    pending = approver.pending(writer, note, ask)
    if len(pending) != 1:
        story.surprise(f"expected one approval to review, found {len(pending)}")
        return
    for line in pending[0].summary().splitlines():
        say(f"   | {line}")
    unbound = approver.approve(pending[0])
    approval = bind_discharge(writer, unbound)
    say("   The discharge names this exact call, the writer's key and the chain it was shown")
    say("   (orchestrator -> writer); bound to the writer's token, it lives 300 s.")

    story.heading("Others try to use the writer's approval; then the writer uses it.")
    story.call(crm, Call("someone at the approval service presents the writer's signed request "
                         "as the call's proof", writer.encode(), note, lambda: ask,
                         Code.POP_INVALID, (approval,)))  # fmt: skip
    orchestrator = root  # its own token allows writing notes, and carries the same caveat
    try:
        bind_discharge(orchestrator, unbound)
        story.surprise("the orchestrator bound the writer's approval to its own token")
    except BadDischarge as exc:
        say(f"   The orchestrator binds the approval to its own token: refused ({exc}).")
    say("   It binds it by hand instead, and presents it with its own proof:")
    other = _write("crm://accounts/42/notes/summary", 900)
    for verifier, call in (
        (crm, Call("the orchestrator files the note with the writer's approval",
                   orchestrator.encode(), note, proof_by("orchestrator", note, orchestrator),
                   Code.WRONG_CHAIN, (bound_by_hand(orchestrator, unbound),))),
        (crm, Call("writer files the approved note", writer.encode(), note,
                   proof_by("writer", note), None, (approval,))),
        (crm, Call("writer files a different note with that approval", writer.encode(), other,
                   proof_by("writer", other), Code.APPROVAL_REQUIRED, (approval,))),
        (replica, Call("the other replica is shown the same approval again", writer.encode(),
                       note, proof_by("writer", note), Code.REPLAY, (approval,))),
    ):  # fmt: skip
        story.call(verifier, call)

    _single_use_and_budget(
        story, root, keys, lambda c: story.call(crm, c), lambda c: story.call(replica, c),
        ", at the other replica",
    )  # fmt: skip

    story.heading(
        "The issuer revokes the researcher's hop: its branch dies, the writer's lives on."
    )
    hop_id = researcher.holder.hop_id or ""
    state.revoke(Revocation(RevocationKind.TOKEN, hop_id), int(time.time()))
    say(f"   revoked token {hop_id} (the researcher's hop id)")
    notes = _read("crm://accounts/42/notes")
    story.call(crm, Call("researcher reads crm://accounts/42/notes", researcher.encode(), notes,
                         proof_by("researcher", notes), Code.REVOKED))  # fmt: skip
    second = _write("crm://accounts/42/notes/follow-up", 320)
    pending = approver.pending(writer, second, prove_for_approval(writer, keys["writer"], second))
    if len(pending) != 1:
        story.surprise(f"expected one approval to review, found {len(pending)}")
        return
    again = bind_discharge(writer, approver.approve(pending[0]))
    say("   The human approves one more note for the writer.")
    story.call(crm, Call("writer files the second approved note", writer.encode(), second,
                         proof_by("writer", second), None, (again,)))  # fmt: skip


def _single_use_and_budget(
    story: _Story,
    root: UnverifiedToken,
    keys: dict[str, AgentKey],
    first: Verify,
    other: Verify,
    elsewhere: str = "",
) -> None:
    """A single-use token and a budget, their calls sent to ``first`` and ``other`` (two
    replicas sharing state, or one service; ``elsewhere`` says which in a title)."""
    story.heading("The orchestrator grants the researcher one read of the contracts (max_uses 1).")
    to = Agent("researcher", keys["researcher"].public_key)
    single = delegate(root, keys["orchestrator"], to, SINGLE_USE_SCOPE)
    contracts = _read("crm://accounts/42/contracts")
    for send, title, expect in (
        (first, "researcher reads the contracts", None),
        (other, f"researcher reads them again{elsewhere}", Code.USES_EXHAUSTED),
    ):
        proof = _proof(single, keys["researcher"], contracts)
        send(Call(title, single.encode(), contracts, proof, expect))

    story.heading(
        "The orchestrator gives the researcher a budget: 50 pages of exports, 20 per call."
    )
    budgeted = delegate(root, keys["orchestrator"], to, EXPORT_SCOPE)
    for send, title, pages, expect in (
        (first, "researcher exports 20 pages", 20, None),
        (other, f"researcher exports 20 more{elsewhere}", 20, None),
        (first, "researcher exports 25 pages in one call", 25, Code.COST_TOO_HIGH),
        (other, "researcher exports 15 pages, with 10 left", 15, Code.BUDGET_EXCEEDED),
    ):
        export = Request(
            audience=AUDIENCE,
            tool="crm.read",
            action="read",
            resource="crm://accounts/42/exports/notes",
            intent="summarise",
            args={"pages": pages},
        )
        proof = _proof(budgeted, keys["researcher"], export)
        send(Call(title, budgeted.encode(), export, proof, expect))


__all__ = ["run"]
