"""``delegation demo --service URL``: the demo's story, every authority step at a running
verifier service, over HTTP (``specs/service.md``).

An admin key makes the story's API keys; the approver's key mints the task's root token for
the orchestrator; the orchestrator delegates offline, as in the in-process demo; the CRM, a
tool server with a verifier key, verifies every call at the service and checks the receipt
it signs; the writer asks the service for a human's yes, the human decides, the writer's poll
collects the discharge; an admin revokes the researcher's branch; an auditor reads the task's
records and checks the whole log against the signed checkpoint, as ``delegation audit
verify`` does offline.

httpx is imported only when this mode runs: the plain demo needs only the core install. A
service that cannot be reached, or that refuses the admin key, is a one-line error (exit 2);
an answer the story does not expect is a surprise (exit 1), as in the in-process demo. No API
key and no poll secret is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from delegation import (
    AgentKey,
    Code,
    DelegationError,
    Request,
    Scope,
    UnverifiedToken,
    decode,
    decode_public_key,
    encode_public_key,
    prove_for_approval,
)
from delegation.cli._common import UsageError, read_file, shown
from delegation.cli.demo import (
    APPROVER,
    AUDIENCE,
    NEEDS_APPROVAL,
    ROOT_SCOPE,
    STATEMENT,
    TASK_ID,
    Call,
    _act_one_calls,
    _agent_keys,
    _delegate_to_sub_agents,
    _proof,
    _read,
    _scope_lines,
    _single_use_and_budget,
    _Story,
    _write,
)
from verifier_service import audit

if TYPE_CHECKING:
    import httpx

ADMIN_KEY_ENV = "DELEGATION_ADMIN_KEY"
TIMEOUT_SECONDS = 10.0
POLL = "GET /v1/approvals/poll/{secret}"
"""How a poll is named in messages: its path holds the secret that collects the discharge."""
AUDIT_PAGE = 10000
"""Records per ``GET /v1/audit`` (the route's largest ``limit``)."""


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service",
        metavar="URL",
        help="play the story against a running verifier service (delegation serve), e.g. "
        "http://127.0.0.1:8700 (needs httpx)",
    )
    parser.add_argument(
        "--admin-key-file",
        metavar="FILE",
        help="with --service: a file holding the service's admin API key (its first start "
        f"writes DATA_DIR/admin.key); default: the environment variable {ADMIN_KEY_ENV}",
    )


class Unexpected(Exception):
    """The service answered a step of the story otherwise than the story expects."""

    def __init__(self, text: str, status: int = 0, code: str = "") -> None:
        super().__init__(text)
        self.status, self.code = status, code


def run(url: str | None, admin_key_file: str | None, out: TextIO | None = None) -> int:
    """Play the story against the service at ``url``, printing to ``out`` (standard output).
    Returns 0 if all went as told, 1 on a surprise. Raises UsageError for a service that cannot
    be reached or refuses the admin key."""
    if url is None:
        raise UsageError("--admin-key-file goes with --service URL")
    base = _base_url(url)
    admin = _admin_key(admin_key_file)
    httpx = _httpx()
    out = sys.stdout if out is None else out
    with (
        tempfile.TemporaryDirectory(prefix="delegation-demo-") as tmp,
        httpx.Client(base_url=base, timeout=TIMEOUT_SECONDS) as client,
    ):
        story = _ServiceStory(out, Path(tmp), _Http(httpx, client, base))
        try:
            _play(story, admin)
        except Unexpected as exc:
            story.surprise(f"{exc}; the story stops here")
        except (KeyError, TypeError, AttributeError) as exc:  # an answer of another shape
            story.surprise(f"an answer is not of the shape the story reads ({exc!r}); it stops")
    story.summary()
    story.say(
        "The temporary directory is gone; the service keeps the task, its records and the "
        "story's three API keys."
    )
    return 0 if not story.surprises else 1


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(
            f"--service takes the service's base URL, e.g. http://127.0.0.1:8700, "
            f"not {shown(url)!r}"
        )
    return url.rstrip("/")


def _admin_key(path: str | None) -> str:
    if path is not None:
        key, where = read_file(path, 4096, "admin key file").strip(), f"admin key file {path}"
    else:
        key, where = os.environ.get(ADMIN_KEY_ENV, "").strip(), ADMIN_KEY_ENV
        if not key:
            raise UsageError(
                "demo --service needs the service's admin API key: --admin-key-file FILE (the "
                f"service's first start writes DATA_DIR/admin.key) or {ADMIN_KEY_ENV}"
            )
    if not key.isascii() or not key.isprintable() or " " in key:
        raise UsageError(f"{where} does not hold an API key (one line: dlg_...)")
    return key


def _httpx() -> ModuleType:
    try:
        import httpx
    except ImportError as exc:
        # Not the service extra's advice: it has no httpx (the service never calls out).
        raise UsageError(
            "demo --service needs httpx, which is not installed: pip install -e '.[service]'"
        ) from exc
    return httpx


class _Http:
    """The service's routes as the story takes them: an answer with another status than the
    step expects raises Unexpected; a service out of reach raises UsageError."""

    def __init__(self, httpx: ModuleType, client: httpx.Client, url: str) -> None:
        self.httpx, self.client, self.url = httpx, client, url

    def send(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        expect: int = 200,
        route: str | None = None,
    ) -> httpx.Response:
        route = route or f"{method} {path}"
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        try:
            response = self.client.request(method, path, headers=headers, json=body, params=params)
        except self.httpx.HTTPError as exc:
            raise UsageError(
                f"cannot reach the verifier service at {self.url} ({route}): "
                f"{exc or type(exc).__name__}"
            ) from exc
        if response.status_code != expect:
            code, detail = _refusal(response)
            raise Unexpected(
                f"{route} answered {response.status_code} {code}: {detail} (expected {expect})",
                response.status_code,
                code,
            )
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        response = self.send(method, path, **kw)
        try:
            return response.json()
        except ValueError as exc:
            raise Unexpected(f"{kw.get('route') or path} answered something not JSON") from exc


def _refusal(response: httpx.Response) -> tuple[str, str]:
    """A refusal's ``{code, detail}``, cut short; or what stands in for them."""
    try:
        doc = response.json()
    except ValueError:
        return "(not JSON)", shown(response.text[:80])
    if not isinstance(doc, dict):
        return "(no code)", ""
    return shown(doc.get("code", "(no code)")), shown(str(doc.get("detail", ""))[:200])


def _key_id(api_key: str) -> str:
    """The public id in ``dlg_<key_id>_<secret>`` (what the audit log names), never the key."""
    parts = api_key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "dlg" else "?"


class _ServiceStory(_Story):
    def __init__(self, out: TextIO, workdir: Path, http: _Http) -> None:
        super().__init__(out, workdir)
        self.http = http
        self.api_keys: dict[str, str] = {}
        self.receipt_keys: dict[str, bytes] = {}
        self.asked = 0

    def verify(self, call: Call) -> dict[str, Any]:
        """Send ``call`` to ``POST /v1/verify`` as the CRM; show and check the decision and its
        receipt. Returns the answer."""
        body = {
            "token": call.token,
            "request": call.request.to_json(),
            "proof": call.proof(),
            "discharges": list(call.discharges),
        }
        answer: dict[str, Any] = self.http.json(
            "POST", "/v1/verify", key=self.api_keys["verifier"], body=body
        )
        self.show(call, answer)
        receipt = answer.get("receipt")
        signed = receipt.get("body") if isinstance(receipt, dict) else None
        if not isinstance(signed, dict):
            self.surprise("the answer carries no receipt")
            return answer
        key = self.receipt_keys.get(signed.get("key_id", ""))
        problem = (
            "it is signed by a key the service does not list"
            if key is None
            else audit.check_receipt(receipt, key, None)
        )
        said = {k: signed.get(k) for k in ("decision_id", "allowed", "code")}
        if problem is None and said != {k: answer.get(k) for k in said}:
            problem = "it names another decision than the answer"
        if problem is not None:
            self.surprise(f"the receipt does not hold: {problem}")
        else:
            self.say(
                f"           decision {answer['decision_id']}, receipt signed by "
                f"{signed['key_id']} for audit record {signed['audit_seq']}"
            )
        return answer


def _play(story: _ServiceStory, admin: str) -> None:
    say, http = story.say, story.http
    _connect(story)
    made = _api_keys(story, admin)  # before a word is printed: a refused key is the error
    say(
        f"delegation demo --service {http.url}: one approved task, an orchestrator, two "
        f"sub-agents; every authority step at the verifier service (in {story.workdir})"
    )
    say(
        f"   it is up (GET /healthz), and signs receipts and checkpoints with key "
        f"{', '.join(story.receipt_keys)} (GET /v1/receipt-keys)"
    )
    story.heading("An admin makes the story's API keys (POST /v1/apikeys), each shown once.")
    for line in made:
        say(f"   {line}")
    say("   The demo keeps them in memory only, and prints none of them.")

    keys = _agent_keys(story)
    root = _mint(story, keys)
    tokens = _delegate_to_sub_agents(story, root, keys)
    say("   (offline: a hop needs only its signer's key; the service sees it with each call)")

    story.heading("Tool calls reach the CRM, which has the service verify each (POST /v1/verify).")
    for call in _act_one_calls(tokens, keys, writer_note=Code.APPROVAL_REQUIRED):
        story.verify(call)
    story.act_one_calls = len(story.decisions)
    _act_two(story, keys, tokens)
    _audit(story, root.task.task_id)


def _connect(story: _ServiceStory) -> None:
    """That a verifier service answers at the URL; the keys it signs receipts with."""
    http = story.http
    try:
        health = http.json("GET", "/healthz")
    except Unexpected as exc:
        raise UsageError(
            f"{http.url} does not answer as a delegation verifier service "
            f"(GET /healthz: {exc.status or 'not JSON'})"
        ) from exc
    if health != {"status": "ok"}:
        raise UsageError(f"{http.url} does not answer as a delegation verifier service")
    for k in http.json("GET", "/v1/receipt-keys")["keys"]:
        story.receipt_keys[k["key_id"]] = decode_public_key(k["public_key"])


def _api_keys(story: _ServiceStory, admin: str) -> list[str]:
    """The approver's, the CRM's and the auditor's API keys, made with the admin key; a line
    for each, naming its public key id. Raises UsageError when the service refuses the key."""
    story.api_keys["admin"] = admin
    lines = []
    for role, principal, audiences, does in (
        ("approver", APPROVER, [], "mints tasks, decides approvals"),
        ("verifier", "crm-tool-server", [AUDIENCE], f"verifies calls to {AUDIENCE}"),
        ("auditor", "auditor@example.com", [], "reads the audit log"),
    ):
        body = {"role": role, "principal": principal, "audiences": audiences}
        try:
            made = story.http.json("POST", "/v1/apikeys", key=admin, body=body, expect=201)
        except Unexpected as exc:
            if exc.status in (401, 403):
                raise UsageError(
                    f"the verifier service at {story.http.url} refused the admin key "
                    f"({exc.status} {exc.code})"
                ) from exc
            raise
        story.api_keys[role] = made["api_key"]
        lines.append(f"{role:<9} key id {_key_id(made['api_key'])}, {principal}: {does}")
    return lines


def _scope_body(scope: Scope) -> dict[str, Any]:
    """``scope`` as ``POST /v1/tasks`` takes it: the story's root scope is lists of names, an
    expiry and a depth. Raises ValueError for restrictions this does not carry over."""
    unset = (scope.expires, scope.not_before, scope.max_uses)
    if scope.args or scope.only_args or scope.budgets or scope.extra or unset != (None,) * 3:
        raise ValueError("only lists of names, expires_in and max_depth are carried over")
    body: dict[str, Any] = {"expires_in": scope.expires_in, "max_depth": scope.max_depth}
    for name in ("audiences", "tools", "actions", "resources", "intents", "delegatees"):
        body[name] = list(getattr(scope, name))
    return body


def _mint(story: _ServiceStory, keys: dict[str, AgentKey]) -> UnverifiedToken:
    story.heading(
        f"{APPROVER} approves a task; the service mints its root token for the "
        "orchestrator (POST /v1/tasks)."
    )
    task_id = f"{TASK_ID}-{secrets.token_hex(4)}"  # a task id is taken once per service
    public = encode_public_key(keys["orchestrator"].public_key)
    body = {
        "task_id": task_id,
        "statement": STATEMENT,
        "holder": {"agent_id": "orchestrator", "public_key": public},
        "scope": _scope_body(ROOT_SCOPE),
        "needs_approval": [NEEDS_APPROVAL],
    }
    minted = story.http.json(
        "POST", "/v1/tasks", key=story.api_keys["approver"], body=body, expect=201
    )
    try:
        root = decode(minted["token"])
    except DelegationError as exc:
        raise Unexpected(f"the token the service minted does not decode: {exc}") from exc
    task = root.task
    story.say(f'   {task.task_id}, approved by {task.approved_by}: "{task.statement}"')
    story.say(
        f"   root id {root.root_id}, token id {root.token_id}, {len(minted['token'])} "
        "characters; its caveats:"
    )
    for line in _scope_lines(ROOT_SCOPE):
        story.say(f"     {line}")
    approvals = [c.describe() for c in root.unsafe_caveats() if c.name == "third_party"]
    if [a.get("applies_to") for a in approvals] == [[NEEDS_APPROVAL]]:
        story.say(f"     approval   {NEEDS_APPROVAL}: a human says yes at the service")
    else:
        story.surprise(f"the token does not say {NEEDS_APPROVAL} needs a human's yes")
    if (task.task_id, task.approved_by) != (task_id, APPROVER):
        story.surprise(f"the token names task {task.task_id!r} approved by {task.approved_by!r}")
    if root.holder.public_key != keys["orchestrator"].public_key:
        story.surprise("the root token is bound to another key than the orchestrator's")
    return root


def _act_two(
    story: _ServiceStory, keys: dict[str, AgentKey], tokens: dict[str, UnverifiedToken]
) -> None:
    say = story.say
    say()
    say(
        "Act 2: a human approves the writer's note at the service; a single-use token; a "
        "budget; revoking one branch."
    )
    writer, root = tokens["writer"], tokens["orchestrator"]
    note = _write("crm://accounts/42/notes/summary", 640)
    [approval], ask = _approve(story, writer, keys["writer"], note, tell=True)
    other = _write("crm://accounts/42/notes/summary", 900)
    for call in (
        Call("someone at the service presents the writer's signed request as the call's proof",
             writer.encode(), note, lambda: ask, Code.POP_INVALID, (approval,)),
        Call("the orchestrator presents the writer's approval with its own token",
             root.encode(), note, _proof(root, keys["orchestrator"], note), Code.BAD_DISCHARGE,
             (approval,)),
        Call("writer files the approved note", writer.encode(), note,
             _proof(writer, keys["writer"], note), None, (approval,)),
        Call("writer files a different note with that approval", writer.encode(), other,
             _proof(writer, keys["writer"], other), Code.APPROVAL_REQUIRED, (approval,)),
        Call("writer presents the same approval again", writer.encode(), note,
             _proof(writer, keys["writer"], note), Code.REPLAY, (approval,)),
    ):  # fmt: skip
        story.verify(call)

    _single_use_and_budget(story, root, keys, story.verify, story.verify)

    story.heading(
        "An admin revokes the researcher's hop (POST /v1/revocations): its branch "
        "dies, the writer's lives on."
    )
    researcher = tokens["researcher"]
    hop_id = researcher.holder.hop_id or ""
    admin, verifier = story.api_keys["admin"], story.api_keys["verifier"]
    revocation = {"kind": "hop", "value": hop_id}
    revoked = story.http.json("POST", "/v1/revocations", key=admin, body=revocation, expect=201)
    since = {"since": revoked["cursor"] - 1}
    feed = story.http.json("GET", "/v1/revocations", key=verifier, params=since)["revocations"]
    say(
        f"   revoked {revoked['kind']} {revoked['value']} (the researcher's hop id); the feed "
        f"local verifiers follow (GET /v1/revocations) lists it at cursor {revoked['cursor']}"
    )
    if revocation not in [{"kind": r["kind"], "value": r["value"]} for r in feed]:
        story.surprise("the revocation feed does not list it")
    notes = _read("crm://accounts/42/notes")
    story.verify(Call("researcher reads crm://accounts/42/notes", researcher.encode(), notes,
                      _proof(researcher, keys["researcher"], notes), Code.REVOKED))  # fmt: skip
    second = _write("crm://accounts/42/notes/follow-up", 320)
    again, _ = _approve(story, writer, keys["writer"], second, tell=False)
    story.verify(Call("writer files the second approved note", writer.encode(), second,
                      _proof(writer, keys["writer"], second), None, tuple(again)))  # fmt: skip

    task_id = root.task.task_id
    story.heading(
        f"{APPROVER} closes the task (POST /v1/tasks/{{id}}/close): everything under it is revoked."
    )
    closed = story.http.json("POST", f"/v1/tasks/{task_id}/close", key=story.api_keys["approver"])
    say(f"   {task_id} closed at {closed.get('closed_at')}")
    story.verify(Call("the orchestrator reads crm://accounts/42/notes", root.encode(), notes,
                      _proof(root, keys["orchestrator"], notes), Code.REVOKED))  # fmt: skip


def _approve(
    story: _ServiceStory, token: UnverifiedToken, key: AgentKey, request: Request, *, tell: bool
) -> tuple[list[str], str]:
    """The holder asks the service for a human's yes to ``request``, the human (the approver
    key) says yes, the holder's poll collects the discharges, bound to its token. ``tell``
    shows each step; otherwise one line says it happened. Returns the discharges and the
    holder's signed approval request."""
    http, say = story.http, story.say
    if tell:
        story.heading(
            "The writer asks the service for a human's yes (POST /v1/approvals), "
            "signing its request."
        )
    ask = prove_for_approval(token, key, request)
    body = {"token": token.encode(), "request": request.to_json(), "proof": ask}
    asked = http.json("POST", "/v1/approvals", body=body, expect=201)
    story.asked += 1
    approval_id, poll = asked["approval_id"], asked["poll_url"]
    http.send("GET", poll, expect=202, route=POLL)
    approver = story.api_keys["approver"]
    listed = http.json(
        "GET", "/v1/approvals", key=approver, params={"state": "pending", "limit": AUDIT_PAGE}
    )["approvals"]
    mine = [a for a in listed if a.get("approval_id") == approval_id]
    if len(mine) != 1:
        raise Unexpected(f"approval {approval_id} is not among the pending approvals")
    if tell:
        say(
            f"   approval {approval_id}; the writer's poll (GET /v1/approvals/poll/...) says "
            "pending. Its URL holds a secret: only the writer can collect the answer."
        )
        story.heading(
            "The human lists the pending approvals (GET /v1/approvals), sees who "
            "asks and what, and says yes."
        )
        for line in str(mine[0].get("text", "")).splitlines():
            say(f"   | {shown(line)}")
    path = f"/v1/approvals/{approval_id}/decision"
    decided = http.json("POST", path, key=approver, body={"approve": True})
    if decided.get("state") != "approved":
        raise Unexpected(f"the decision is {decided.get('state')!r}, not approved")
    if tell:
        http.send("POST", path, key=approver, body={"approve": False}, expect=409)
        say(f"   POST {path}: approved; a second decision is refused (409 already_decided)")
        story.heading(
            "The writer's poll collects the discharge, bound to its token; others try to use it."
        )
    collected = http.json("GET", poll, route=POLL)
    discharges = collected.get("discharges")
    if collected.get("state") != "approved" or not isinstance(discharges, list):
        raise Unexpected(f"the poll answered {collected.get('state')!r}, not approved")
    http.send("GET", poll, expect=404, route=POLL)
    if tell:
        say(
            f"   approved: {len(discharges)} discharge, for this call, this holder and this "
            "chain; a second poll finds nothing (404): it is handed over once"
        )
    else:
        say("   The writer asks for one more note; the human says yes; its poll collects it.")
    return [str(d) for d in discharges], ask


def _audit(story: _ServiceStory, task_id: str) -> None:
    """The auditor's view: the task's records, then the whole log against the signed
    checkpoint, as ``delegation audit verify`` checks an export."""
    http, say = story.http, story.say
    auditor = story.api_keys["auditor"]
    story.heading(
        f"An auditor reads the task's records (GET /v1/audit?task={task_id}) and "
        "checks the log against its signed checkpoint."
    )
    text = http.send(
        "GET", "/v1/audit", key=auditor, params={"task": task_id, "limit": AUDIT_PAGE}
    ).text
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    kinds = Counter(r.get("kind") for r in records)
    # A chain record is written the first time the service sees a verified token (its agents
    # and what each hop narrowed): each token whose decisions name agents has one.
    chains = {r.get("token_id") for r in records if r.get("kind") == "chain"}
    seen = {r.get("token_id") for r in records if r.get("kind") == "decision" and r.get("agents")}
    if seen - chains:
        story.surprise("a verified token has no chain record")
    n_chains = kinds.pop("chain", 0)
    say(
        f"   {len(records) - n_chains} records: "
        + ", ".join(f"{kind} {n}" for kind, n in kinds.items())
        + f"; and {n_chains} chain records (each verified token's agents and narrowing, once)"
    )
    answered = [d for d in story.decisions if (d.get("task") or {}).get("task_id") == task_id]
    expected = {
        "mint": 1,
        "decision": len(answered),
        "approval_request": story.asked,
        "approval": story.asked,
        "revocation": 1,
    }
    if kinds != Counter(expected):
        story.surprise(f"expected {expected}")
    logged = {r.get("decision_id") for r in records if r.get("kind") == "decision"}
    if {d["decision_id"] for d in answered} <= logged:
        say(
            f"   each of the CRM's {len(answered)} answers for the task is there, by its "
            "decision id"
        )
    else:
        story.surprise("some of the CRM's answers have no record")
    paths: dict[str, list[bool]] = {}
    for r in records:
        if r.get("kind") == "decision":
            paths.setdefault(" -> ".join(r.get("agents", [])), []).append(bool(r["allowed"]))
    say("   the agents' paths, from the decision records:")
    for agents, allowed in paths.items():
        say(f"     {agents:<28} {len(allowed):>2} calls, {sum(allowed)} allowed")

    checkpoint = http.json("GET", "/v1/audit/checkpoint", key=auditor)  # first: the log has it
    log: list[str] = []
    while True:
        page = http.send(
            "GET", "/v1/audit", key=auditor, params={"after": len(log), "limit": AUDIT_PAGE}
        ).text.splitlines()
        log += [line for line in page if line.strip()]
        if len(page) < AUDIT_PAGE:
            break
    key_id = checkpoint.get("body", {}).get("key_id", "")
    public = story.receipt_keys.get(key_id, b"")
    seq = audit.checkpoint_seq(checkpoint, public)
    problem = seq if isinstance(seq, str) else None
    if isinstance(seq, int):
        upto = audit.check_log(log, until=seq)
        problem = upto.problem or audit.check_checkpoint(checkpoint, upto)
    if problem is not None:
        story.surprise(f"the log does not hold against the checkpoint: {problem}")
    else:
        say(
            f"   the checkpoint at record {seq}, signed by {key_id}: the log's records 1 to "
            f"{seq} recompute to its head {checkpoint['body']['head'][:16]}..."
        )
    pub = encode_public_key(public) if public else "PUBKEY"
    say("   An auditor checks the same offline with the library alone (checkpoint first):")
    bearer = '-H "Authorization: Bearer $AUDITOR_KEY"'
    say(f"     curl -s {bearer} {http.url}/v1/audit/checkpoint > checkpoint.json")
    say(f"     curl -s {bearer} '{http.url}/v1/audit?limit={AUDIT_PAGE}' > audit.jsonl")
    say(f"     delegation audit verify audit.jsonl --checkpoint checkpoint.json --key {pub}")


__all__ = ["ADMIN_KEY_ENV", "add_flags", "run"]
