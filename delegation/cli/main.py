"""The ``delegation`` command: parses arguments, calls the library, prints.

Exit status: 0 on success (for ``verify``: allowed), 1 when ``verify`` denies or ``discharge``
does not approve, 2 on bad usage or unreadable input. Errors are one line on standard error,
never a traceback. Tokens, proofs and discharges print as one line each on standard output, so
``TOKEN=$(delegation mint ...)`` works.

The approval commands live in :mod:`delegation.cli.approval`, the state commands (``state
init``, ``revoke``) in :mod:`delegation.cli.state`, shared plumbing in
:mod:`delegation.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    Budget,
    Code,
    Decision,
    DelegationError,
    Keyring,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    attenuate,
    delegate,
    encode_public_key,
    mint,
    prove,
    prove_for_approval,
)
from delegation._keys import KeyPairFile
from delegation._thirdparty.caveat import ApproverKey
from delegation._thirdparty.discharges import BOUND_TWICE, UNBOUND_DISCHARGE
from delegation._wire import b64encode
from delegation.caveats import ArgOp
from delegation.caveats.budget import MAX_AMOUNT
from delegation.caveats.uses import MAX_USES_LIMIT
from delegation.cli import approval as _cli_approval
from delegation.cli import demo as demo_module
from delegation.cli import demo_service as _demo_service
from delegation.cli import policy as _cli_policy
from delegation.cli import serve as _cli_serve
from delegation.cli import state as _cli_state
from delegation.cli._common import (
    EXIT_DENIED,
    EXIT_OK,
    EXIT_USAGE,
    INTEGER,
    POSITIONAL_HELP,
    STDIN,
    CliParser,
    ParseError,
    Run,
    UsageError,
    add_command,
    agent_public_key,
    emit,
    load_agent_key,
    load_keyring,
    load_request,
    load_token,
    not_in_the_future,
    note,
    one_stdin_reader,
    point_in_time,
    proof_text,
    quoted,
    read_file,
    read_stdin,
    refuse_overwrite,
    save,
    seconds_from_now,
    shown,
    token_text,
    when,
    whole,
)
from delegation.cli._scope import EffectiveScope, effective_scope
from delegation.limits import (
    MAX_DISCHARGES,
    MAX_TOKEN_CHARS,
    POP_MAX_AGE_SECONDS,
    RESERVATION_SECONDS,
)
from delegation.policy import load_policy

DEFAULT_EXPIRES_IN = 3600
MAX_KEY_FILE_BYTES = 1 << 16
USAGE_CODE = "usage"
"""The ``code`` of the JSON object ``verify --json`` prints for bad usage or unreadable input."""
KEY_FILE_HELP = "the holder's key file (from keygen)"
REQUEST_HELP = "the call: a JSON request file, or - to read it from standard input"

_ARG_VALUES_HELP = """\
argument values: in --arg-eq and --arg-in a value that looks like a plain integer (42, -7) is an
integer, true and false are booleans, a value in double quotes ("42") is the text inside them,
and anything else is text. Types count: the integer 42 does not equal the text "42".
--arg-min and --arg-max take integers. Every argument constraint holds for every call the token
allows: a call that lacks the named argument is denied (args_not_allowed), so narrow the tool
or action too when only some calls carry it."""


# --- argument types -----------------------------------------------------------------------


def _arg_value(text: str) -> str | int | bool:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if INTEGER.fullmatch(text):
        return int(text)
    return text


def _split(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise UsageError(f"{flag} takes NAME=VALUE: not {quoted(text)}")
    return name, value


def _constraint(op: str) -> Callable[[str], ArgConstraint]:
    flag = f"--arg-{op}"

    def parse(text: str) -> ArgConstraint:
        name, raw = _split(text, flag)
        value: Any
        if op == "eq":
            value = _arg_value(raw)
        elif op == "in":
            value = tuple(_arg_value(v) for v in raw.split(","))
        elif INTEGER.fullmatch(raw):
            value = int(raw)
        else:
            raise UsageError(f"{flag} takes NAME=INTEGER: not {quoted(text)}")
        try:
            return ArgConstraint(name, ArgOp(op), value)
        except DelegationError as exc:
            raise UsageError(f"{flag} {quoted(text)}: {exc}") from exc

    parse.__name__ = flag  # argparse names the type in its error messages
    return parse


def _budget(text: str) -> Budget:
    """``--budget UNIT:TOTAL:COST[:MAX]``: COST is a whole number (the fixed cost of every
    call) or the name of the argument that carries each call's cost."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise UsageError(
            "--budget takes UNIT:TOTAL:COST or UNIT:TOTAL:COST:MAX_PER_CALL (COST a whole "
            f"number per call or the argument that carries it): not {quoted(text)}"
        )
    unit, total, cost, *cap = parts
    amount = whole("--budget TOTAL", 0, MAX_AMOUNT)
    try:
        return Budget(
            unit,
            amount(total),
            amount(cost) if INTEGER.fullmatch(cost.strip()) else cost,
            max_per_call=amount(cap[0]) if cap else None,
        )
    except DelegationError as exc:
        raise UsageError(f"--budget {quoted(text)}: {exc}") from exc


# --- printing ---------------------------------------------------------------------------


def _task_lines(task: dict[str, Any]) -> list[str]:
    who, at = shown(task["approved_by"]), when(task["approved_at"])
    return [
        f"task      {shown(task['task_id'])}, approved by {who} at {at}",
        f"          {shown(json.dumps(task['statement'], ensure_ascii=False))}",
        f"          digest {task['digest']}",
    ]


def _chain_lines(chain: list[dict[str, Any]]) -> list[str]:
    names = [shown(link["agent_id"]) for link in chain]
    width = max(map(len, names), default=0)
    lines = []
    for n, (name, link) in enumerate(zip(names, chain, strict=True)):
        hop = "" if link["hop_id"] is None else f"  hop id {link['hop_id']}"
        head = "chain    " if n == 0 else "         "
        lines.append(f"{head} {n} {name:<{width}}  {link['public_key']}{hop}")
    return lines


def _caveat_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            text = when(item) if key in ("expires", "not_before") else shown(item)
            parts.append(f"{key} {text}")
        return ", ".join(parts)
    return shown(value)


def _third_party_lines(value: dict[str, Any]) -> list[str]:
    """A third-party caveat: who must discharge it, for which calls, and its cid."""
    who = "human approval" if value["purpose"] == "approval" else "third party"
    where = "" if value["location"] is None else f" at {shown(value['location'])}"
    calls = value["applies_to"]
    calls = shown(calls) if isinstance(calls, str) else ", ".join(shown(c) for c in calls)
    return [f"{who} by {value['third_party']}{where}, for {calls}", f"cid {value['cid']}"]


def _print_decision(decision: Decision) -> None:
    doc = decision.to_json()
    print("ALLOW" if decision.allowed else f"DENY ({doc['code']})")
    if doc["task"] is not None:
        for line in _task_lines(doc["task"]):
            print(line)
    if doc["agents"]:
        print("agents    " + " -> ".join(shown(link["agent_id"]) for link in doc["agents"]))
        for line in _chain_lines(doc["agents"]):
            print(line)
    if doc["token_id"] is not None:
        print(f"token id  {doc['token_id']}")
        print(f"root id   {doc['root_id']}")
    for balance in decision.budgets:
        print(
            f"budget    {shown(balance.unit)}: {balance.remaining} of {balance.total} left "
            f"(this call {balance.charged}; hop {balance.hop}, caveat {balance.caveat})"
        )
    if decision.reservation is not None:
        print(f"reserved  {decision.reservation}  (settle it: delegation settle ID --cost UNIT=N)")
    if decision.policy is not None:
        ids = ", ".join(shown(i) for i in decision.policy.policy_ids) or "none"
        print(f"policy    revision {decision.policy.revision}, decided by {ids}")
    for reason in doc["reasons"]:
        where = "token" if reason["hop"] is None else f"hop {reason['hop']}"
        if reason["caveat"] is not None:
            where += f", caveat {reason['caveat']}"
        print(f"reason    {reason['code']} ({where}): {shown(reason['detail'])}")
    details = {reason["detail"] for reason in doc["reasons"]}
    if UNBOUND_DISCHARGE in details:
        print("hint      bind it first: delegation bind TOKEN DISCHARGE, then pass what it prints")
    if BOUND_TWICE in details:
        print("hint      `discharge TOKEN` prints bound discharges: pass them as printed, no bind")
    if any(reason["code"] == Code.WRONG_CHAIN for reason in doc["reasons"]):
        print("hint      that approval was given to another agent or chain: this token's holder")
        print("          asks for its own (prove --for-approval, then discharge --proof)")


def _ago(seconds: int, now: int) -> str:
    """``in 5 min`` or ``3 h ago``: how far ``seconds`` is from ``now``, roughly."""
    gap = abs(seconds - now)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if gap >= size:
            amount = f"{gap // size} {unit}"
            break
    else:
        amount = f"{gap} s"
    return f"in {amount}" if seconds > now else f"{amount} ago"


def _scope_lines(scope: EffectiveScope, now: int) -> list[str]:
    def names(values: tuple[str, ...] | None) -> str:
        if values is None:
            return "any"
        return ", ".join(shown(v) for v in values) or "none (the caveats exclude each other)"

    lines = [
        f"  audience  {names(scope.audiences)}",
        f"  tool      {names(scope.tools)}",
        f"  action    {names(scope.actions)}",
        f"  resource  {names(scope.resources)}",
        f"  intent    {names(scope.intents)}",
    ]
    lines += [f"  args      {shown(text)}" for text in scope.args]
    if scope.not_before is not None:
        late = " (NOT YET VALID)" if scope.not_yet_valid(now) else ""
        lines.append(f"  from      {when(scope.not_before)}, {_ago(scope.not_before, now)}{late}")
    if scope.expires is None:
        lines.append("  expires   never")
    else:
        gone = " (EXPIRED)" if scope.expired(now) else ""
        lines.append(f"  expires   {when(scope.expires)}, {_ago(scope.expires, now)}{gone}")
    return lines


def _validity_warning(scope: EffectiveScope, now: int) -> str | None:
    if scope.expired(now) and scope.expires is not None:
        return f"EXPIRED   at {when(scope.expires)} ({_ago(scope.expires, now)}): verify denies it"
    if scope.not_yet_valid(now) and scope.not_before is not None:
        return (
            f"NOT YET VALID until {when(scope.not_before)} ({_ago(scope.not_before, now)}): "
            "verify denies it until then"
        )
    return None


def _refuse_expired(token: UnverifiedToken, verb: str) -> None:
    """Extending an expired token makes nothing anyone can use: say so instead."""
    expires = effective_scope(token).expires
    now = int(time.time())
    if expires is not None and now >= expires:
        raise UsageError(
            f"cannot {verb} an expired token (it expired at {when(expires)}, "
            f"{_ago(expires, now)}): ask its issuer for a new one"
        )


# --- commands ---------------------------------------------------------------------------


def _scope(ns: argparse.Namespace, expires_in: int | None) -> Scope:
    return Scope(
        audiences=ns.audience or (),
        tools=ns.tool or (),
        actions=ns.action or (),
        resources=ns.resource or (),
        intents=ns.intent or (),
        args=ns.arg or (),
        only_args=ns.only_arg or (),
        expires_in=expires_in,
        max_depth=ns.max_depth,
        delegatees=ns.delegatee or (),
        max_uses=ns.max_uses,
        budgets=ns.budget or (),
    )


def cmd_keygen(ns: argparse.Namespace) -> int:
    refuse_overwrite(ns.out, ns.force)
    key = AgentKey.generate()
    save(key, ns.out)
    print(encode_public_key(key.public_key))
    return EXIT_OK


def cmd_pubkey(ns: argparse.Namespace) -> int:
    text = read_file(ns.file, MAX_KEY_FILE_BYTES, "key file")
    try:
        kind = json.loads(text).get("kind")
    except (ValueError, RecursionError, AttributeError):
        kind = None
    loaders: dict[str, Callable[[str], KeyPairFile]] = {
        AgentKey.KIND: AgentKey.from_json,
        ApproverKey.KIND: ApproverKey.from_json,
    }
    if kind == Keyring.KIND:
        raise UsageError(f"{ns.file} is a keyring: it holds secret root keys, not a key pair")
    if kind not in loaders:
        raise UsageError(
            f"{ns.file} is not an agent key file (from keygen) or approver key file "
            "(from approver init)"
        )
    try:
        key = loaders[kind](text)
    except DelegationError as exc:
        raise UsageError(f"{ns.file}: {exc}") from exc
    print(encode_public_key(key.public_key))
    return EXIT_OK


def cmd_keyring_init(ns: argparse.Namespace) -> int:
    refuse_overwrite(ns.file, ns.force)
    keyring = Keyring.generate()
    save(keyring, ns.file)
    print(keyring.current.key_id)
    return EXIT_OK


def cmd_keyring_rotate(ns: argparse.Namespace) -> int:
    keyring = load_keyring(ns.file, "").rotated()
    save(keyring, ns.file)
    print(keyring.current.key_id)
    return EXIT_OK


def cmd_mint(ns: argparse.Namespace) -> int:
    keyring = load_keyring(ns.keyring)
    holder = Agent(ns.holder_id, agent_public_key(ns.holder, "--holder"))
    now = int(time.time())
    approved_at = now if ns.approved_at is None else ns.approved_at
    not_in_the_future("--approved-at", approved_at, now)
    task = TaskRecord(
        task_id=ns.task_id,
        approved_by=ns.approved_by,
        approved_at=approved_at,
        statement=ns.statement,
    )
    expires_in = DEFAULT_EXPIRES_IN if ns.expires_in is None else ns.expires_in
    scope = _scope(ns, expires_in)
    token = mint(keyring, task, holder, scope, location=ns.location, now=now)
    return emit(_cli_approval.add_issuer_approval(token, ns))


def cmd_attenuate(ns: argparse.Namespace) -> int:
    token = load_token(ns.token)
    _refuse_expired(token, "attenuate")
    caveats = _scope(ns, ns.expires_in).caveats(int(time.time()))
    if not caveats:
        raise UsageError("attenuate needs at least one restriction flag")
    return emit(attenuate(token, caveats))


def cmd_delegate(ns: argparse.Namespace) -> int:
    token = load_token(ns.token)
    _refuse_expired(token, "delegate")
    key = load_agent_key(ns.key)
    to = Agent(ns.agent_id, agent_public_key(ns.to, "--to"))
    return emit(delegate(token, key, to, _scope(ns, ns.expires_in)))


def cmd_prove(ns: argparse.Namespace) -> int:
    one_stdin_reader({"TOKEN": ns.token, "--request": ns.request})
    token = load_token(ns.token)
    key = load_agent_key(ns.key)
    sign = prove_for_approval if ns.for_approval else prove
    print(sign(token, key, load_request(ns.request)))
    return EXIT_OK


def _discharges(args: list[str] | None) -> list[str]:
    out = []
    for arg in args or ():
        if arg == STDIN:  # one discharge a line, e.g. piped from `delegation discharge`
            text = read_stdin((MAX_DISCHARGES + 1) * (MAX_TOKEN_CHARS + 2), "discharges")
            out += [line.strip() for line in text.splitlines() if line.strip()]
        else:
            out.append(arg.strip())
    return out


def cmd_verify(ns: argparse.Namespace) -> int:
    inputs = {"TOKEN": ns.token, "--request": ns.request, "--proof": ns.proof}
    one_stdin_reader({**inputs, "--discharge": ns.discharge})
    keyring = Keyring.load(ns.keyring)
    request = load_request(ns.request)
    token = token_text(ns.token)
    proof = None if ns.proof is None else proof_text(ns.proof)
    discharges = _discharges(ns.discharge)
    if ns.at is not None and ns.state is not None:
        raise UsageError("--at is for offline analysis: it cannot spend state (drop --state)")
    policy = None if ns.policy is None else load_policy(ns.policy, reload_interval=None)
    if ns.state is None:  # stateless: nothing revoked is known, replay is not remembered
        verifier = Verifier(keyring, state=None, policy=policy)
        if ns.reserve:
            raise UsageError("--reserve holds budget charges in shared state: add --state FILE")
        if ns.at is None:
            decision = verifier.verify(token, request, proof, discharges=discharges)
        else:
            decision = verifier.verify_at(token, request, proof, discharges=discharges, at=ns.at)
    else:
        state = _cli_state.open_state(ns.state)
        try:
            verifier = Verifier(keyring, state=state, policy=policy)
            decision = verifier.verify(
                token, request, proof, discharges=discharges, reserve=ns.reserve
            )
        finally:
            state.close()
    if decision.code is Code.STATE_REQUIRED:
        note(
            "hint: this call must count a use, charge a budget or spend an approval, which needs "
            "shared state: "
            "verify with --state FILE (made by `delegation state init FILE`)"
            + ("; --at cannot spend state" if ns.at is not None else "")
        )
    if ns.json:
        print(json.dumps(decision.to_json(), indent=2))
    else:
        _print_decision(decision)
    return EXIT_OK if decision.allowed else EXIT_DENIED


def cmd_inspect(ns: argparse.Namespace) -> int:
    token = load_token(ns.token)
    now = int(time.time())
    scope = effective_scope(token)
    doc = token.describe()
    third_party = {i for i, raw in enumerate(token.raw.caveats) if raw.vid is not None}
    for cav in doc["caveats"]:
        if cav["index"] in third_party:  # its cid is what `discharge` takes
            cav["value"]["cid"] = b64encode(token.raw.caveats[cav["index"]].cid)
    if ns.json:
        doc["verified"] = False
        doc["effective"] = scope.to_json(now)
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print("UNVERIFIED: inspect reads a token; only verify checks its signatures")
    warning = _validity_warning(scope, now)
    if warning is not None:
        print(warning)
    print(
        f"token id  {doc['token_id']}  (this exact token: revoke --token kills it and its children)"
    )
    print(f"root id   {doc['root_id']}  (the root: revoke --token kills every token of this mint)")
    print(f"key id    {doc['key_id']}")
    if doc["location"] is not None:
        print(f"location  {shown(doc['location'])} (a hint only)")
    for line in [*_task_lines(doc["task"]), *_chain_lines(doc["agents"])]:
        print(line)
    print("caveats")
    width = max((len(cav["type"]) for cav in doc["caveats"]), default=0)
    for cav in doc["caveats"]:
        segment = "root " if cav["hop"] == 0 else f"hop {cav['hop']}"
        head = f"  {cav['index']:>2}  {segment}  {cav['type']:<{width}}  "
        if cav["index"] in third_party:
            first, *more = _third_party_lines(cav["value"])
            print(head + first)
            for line in more:
                print(" " * len(head) + line)
        else:
            print(head + _caveat_value(cav["value"]))
    print("effective scope (what all the caveats allow together; as claimed, unverified)")
    for line in _scope_lines(scope, now):
        print(line)
    return EXIT_OK


def cmd_demo(ns: argparse.Namespace) -> int:
    if ns.service is not None or ns.admin_key_file is not None:
        return _demo_service.run(ns.service, ns.admin_key_file)
    return demo_module.run()


# --- the parser -------------------------------------------------------------------------


def _add_restrictions(parser: argparse.ArgumentParser, *, minting: bool) -> None:
    group = parser.add_argument_group(
        "restrictions",
        "Repeat a flag to allow several values; --expires-in, --max-depth and --max-uses take "
        "one. Each only narrows what the token already allows.",
    )
    group.add_argument(
        "--audience", metavar="A", help="audience (service) allowed", action="append"
    )
    group.add_argument("--tool", metavar="T", help="tool allowed", action="append")
    group.add_argument("--action", metavar="X", help="action allowed", action="append")
    group.add_argument(
        "--resource",
        metavar="PATTERN",
        help="resource pattern: * one segment, ** the rest",
        action="append",
    )
    group.add_argument("--intent", metavar="LABEL", help="intent allowed", action="append")
    for op, shape, what in (
        ("eq", "K=V", "argument K equals V"),
        ("in", "K=V1,V2", "argument K is one of the values"),
        ("max", "K=N", "argument K is a number <= N"),
        ("min", "K=N", "argument K is a number >= N"),
    ):
        group.add_argument(
            f"--arg-{op}",
            dest="arg",
            metavar=shape,
            type=_constraint(op),
            help=what,
            action="append",
        )
    group.add_argument(
        "--only-arg",
        metavar="K",
        help="a call may carry only the arguments named by --only-arg (repeat for each)",
        action="append",
    )
    default = f" (default {DEFAULT_EXPIRES_IN})" if minting else ""
    group.add_argument(
        "--expires-in",
        type=seconds_from_now("--expires-in"),
        metavar="SECONDS",
        help=f"expire SECONDS from now{default}",
    )
    group.add_argument(
        "--max-depth",
        type=whole("--max-depth", 0),
        metavar="N",
        help="at most N further delegation hops",
    )
    group.add_argument(
        "--delegatee",
        metavar="PATTERN",
        help="agent ids allowed below: id, prefix* or *",
        action="append",
    )
    group.add_argument(
        "--max-uses",
        type=whole("--max-uses", 1, MAX_USES_LIMIT),
        metavar="N",
        help="at most N allowed calls, counted in verify's --state (1 = single use)",
    )
    group.add_argument(
        "--budget",
        type=_budget,
        metavar="UNIT:TOTAL:COST[:MAX]",
        help="spend at most TOTAL of UNIT in all (and MAX per call), charged in verify's "
        "--state; COST is a whole number per call or the argument that carries each call's "
        "cost, e.g. usd-cents:2000:amount:500 or search-calls:100:1; repeat for several",
        action="append",
    )


def _version() -> str:
    try:
        return importlib.metadata.version("delegation")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="delegation",
        description="Mint, narrow, delegate, prove and verify agent delegation tokens.",
        epilog="TOKEN and REQUEST.json may be - to read them from standard input (one input "
        "per command). Exit status: 0 on success (verify: allow), 1 when verify denies or "
        "discharge does not approve, 2 on bad usage or unreadable input. Start with `delegation "
        "demo`; `delegation COMMAND --help` says more.",
    )
    parser.add_argument(
        "--version", action="version", version=f"delegation {_version()}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Run, text: str, more: str = "", **kw: Any) -> Any:
        return add_command(commands, name, run, text, more, **kw)

    sub = command("keygen", cmd_keygen, "create an Ed25519 agent key; print its public key")
    sub.add_argument("--out", required=True, metavar="FILE", help="key file to write (mode 0600)")
    sub.add_argument("--force", action="store_true", help="replace an existing file")

    sub = command(
        "pubkey",
        cmd_pubkey,
        "print the public key of an agent or approver key file",
        "What --holder, --to, --approver and revoke --agent take. The key file stays private; "
        "only this line is shared.",
    )
    sub.add_argument("file", metavar="KEYFILE", help="a key file from keygen or approver init")

    keyring = commands.add_parser("keyring", help="create or rotate a root keyring")
    actions = keyring.add_subparsers(dest="keyring_command", required=True, metavar="ACTION")
    sub = actions.add_parser("init", help="write a new keyring (mode 0600); print its key id")
    sub.set_defaults(run=cmd_keyring_init)
    sub.add_argument("file", metavar="FILE", help="keyring file to write")
    sub.add_argument("--force", action="store_true", help="replace an existing file")
    sub = actions.add_parser("rotate", help="add a new current key; old keys keep verifying")
    sub.set_defaults(run=cmd_keyring_rotate)
    sub.add_argument("file", metavar="FILE", help="the keyring file, rewritten in place")

    sub = command(
        "mint",
        cmd_mint,
        "mint a root token for a human-approved task",
        "The token names the task, who approved it and when, and needs at least one --audience.",
        epilog=_ARG_VALUES_HELP,
    )
    sub.add_argument(
        "--keyring", required=True, metavar="FILE", help="the issuer's keyring (keyring init)"
    )
    sub.add_argument(
        "--task-id", required=True, metavar="ID", help="the approved task's id (revoke --task)"
    )
    sub.add_argument(
        "--approved-by", required=True, metavar="WHO", help="who approved it, e.g. an email"
    )
    sub.add_argument(
        "--statement", required=True, metavar="TEXT", help="what was approved, in words"
    )
    sub.add_argument(
        "--approved-at",
        type=point_in_time("--approved-at"),
        metavar="TIME",
        help="when it was approved: RFC 3339 (2027-01-15T08:00:00Z) or Unix seconds "
        "(default now; not in the future)",
    )
    sub.add_argument(
        "--holder",
        required=True,
        metavar="PUBKEY",
        help="the first holder's public key (keygen prints it; so does pubkey KEYFILE)",
    )
    sub.add_argument(
        "--holder-id",
        default="orchestrator",
        metavar="ID",
        help="the first holder's agent id (default orchestrator)",
    )
    sub.add_argument(
        "--location", metavar="URL", help="where the token is used (a hint only, not checked)"
    )
    _add_restrictions(sub, minting=True)
    _cli_approval.add_mint_flags(sub)

    sub = command("attenuate", cmd_attenuate, "append narrowing caveats", epilog=_ARG_VALUES_HELP)
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    _add_restrictions(sub, minting=False)

    sub = command(
        "delegate",
        cmd_delegate,
        "delegate to a sub-agent with a signed hop",
        "The holder signs a hop naming the sub-agent, which becomes the holder.",
        epilog=_ARG_VALUES_HELP,
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument(
        "--key", required=True, metavar="HOLDER_KEY_FILE", help=f"{KEY_FILE_HELP}: signs the hop"
    )
    sub.add_argument(
        "--to",
        required=True,
        metavar="PUBKEY",
        help="the sub-agent's public key (keygen prints it; so does pubkey KEYFILE)",
    )
    sub.add_argument("--agent-id", required=True, metavar="ID", help="the sub-agent's id")
    _add_restrictions(sub, minting=False)

    sub = command(
        "prove",
        cmd_prove,
        "sign a request as the token's holder; print the proof",
        "The proof goes with the call to the tool server (verify --proof). With "
        "--for-approval it is instead the holder's request to an approval service to approve "
        "the call (discharge --proof): signed under another domain, it is no proof for the "
        "call itself, so the approval service cannot make the call with it. Either is good "
        f"for {POP_MAX_AGE_SECONDS} s.",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument("--key", required=True, metavar="HOLDER_KEY_FILE", help=KEY_FILE_HELP)
    sub.add_argument("--request", required=True, metavar="REQUEST.json", help=REQUEST_HELP)
    sub.add_argument(
        "--for-approval",
        action="store_true",
        help="sign an approval request for discharge --proof, not a proof for the call",
    )

    sub = command(
        "verify",
        cmd_verify,
        "check a token and proof against a request",
        "Exits 0 on allow, 1 on deny, 2 on bad usage or unreadable input. Without --state the "
        "check is stateless: nothing is revoked, a replayed proof is not detected, and a call "
        "that must count a use (max-uses) or spend an approval is denied (state_required). "
        "With --state FILE, revocations, use counts and spent proofs and approvals live in "
        "FILE, shared by every run and process that names it.",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument(
        "--keyring", required=True, metavar="FILE", help="the keyring holding the root key"
    )
    sub.add_argument("--request", required=True, metavar="REQUEST.json", help=REQUEST_HELP)
    sub.add_argument("--proof", metavar="PROOF", help="proof of possession (- for stdin)")
    sub.add_argument(
        "--json",
        action="store_true",
        help=f'print the decision as JSON; bad usage prints {{"code": "{USAGE_CODE}", '
        '"detail": ...}',
    )
    sub.add_argument(
        "--at",
        type=point_in_time("--at"),
        metavar="TIME",
        help="verify as of this time, for offline analysis only: RFC 3339 "
        "(2027-01-15T08:00:00Z) or Unix seconds",
    )
    sub.add_argument(
        "--discharge",
        metavar="DISCHARGE",
        action="append",
        help="a bound discharge (approval) for the call; repeat for several; - reads them "
        "from stdin, one a line",
    )
    sub.add_argument(
        "--state",
        metavar="FILE",
        help="shared state file (see `state init`): revocations, use counts, budgets, replay",
    )
    sub.add_argument(
        "--reserve",
        action="store_true",
        help="hold the call's budget charges as a reservation to settle at its actual cost "
        "afterwards (delegation settle); unsettled, it stands in full after "
        f"{RESERVATION_SECONDS} s",
    )
    sub.add_argument(
        "--policy",
        metavar="FILE",
        help="also ask this policy set (.cedar, .rego or a policy.toml manifest) about a call "
        "the token allows; it can only deny (policy_denied, policy_unavailable)",
    )

    sub = command(
        "inspect",
        cmd_inspect,
        "show a token's task, chain, caveats and effective scope (unverified)",
        "Reads the token without any key: what it claims, not whether it is genuine. Marks "
        "a token that has expired or is not valid yet.",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument(
        "--json", action="store_true", help="print as JSON (the effective scope as effective)"
    )

    _cli_approval.register(commands)
    _cli_state.register(commands)
    _cli_serve.register(commands)
    _cli_policy.register(commands)
    sub = command(
        "demo",
        cmd_demo,
        "play a whole delegation story in a temporary directory",
        "With --service URL, every authority step goes through a running verifier service.",
    )
    _demo_service.add_flags(sub)
    return parser


def _fail(message: str, as_json: bool = False) -> int:
    """Bad usage or unreadable input: one line on stderr (and, for verify --json, a JSON
    object on stdout, where a script reads the decision)."""
    if as_json:
        print(json.dumps({"code": USAGE_CODE, "detail": message}, indent=2))
    print(f"delegation: error: {shown(message)}", file=sys.stderr)
    return EXIT_USAGE


def _wants_json(args: Sequence[str]) -> bool:
    """``verify ... --json``, known before (and whether or not) the rest parses."""
    return bool(args) and args[0] == "verify" and "--json" in args[1:]


_FLAG = re.compile(r"--[a-z][a-z-]*")
_VALUE_MAY_START_WITH_DASH = frozenset(
    {
        "--holder",
        "--to",
        "--approver",
        "--agent",
        "--agent-id",
        "--holder-id",
        "--delegatee",
        "--task-id",
        "--task",
        "--approved-by",
        "--statement",
        "--key-id",
        "--key",
    }
)
"""Flags whose values are public keys (base64url: '-' is a letter of its alphabet; ``receipt
verify --key``'s receipt key among them) or agent ids (which may start with '-'). argparse
would read such a value as an option."""


def _glue_dash_values(argv: Sequence[str]) -> list[str]:
    """``--to -Xy...`` becomes ``--to=-Xy...``, so a key that starts with '-' stays a value."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in _VALUE_MAY_START_WITH_DASH:
            value = next(args, None)
            if value is None:
                out.append(arg)
            elif value.startswith("-") and not _FLAG.fullmatch(value):
                out.append(f"{arg}={value}")
            else:
                out.extend((arg, value))
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = _glue_dash_values(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        try:
            ns = parser.parse_args(args)
        except ParseError as exc:
            if as_json:
                return _fail(exc.message, as_json)
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {shown(exc.message)}", file=sys.stderr)
            return EXIT_USAGE
        except SystemExit as exc:  # argparse has printed help or the version
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        status: int = ns.run(ns)
    except (UsageError, DelegationError) as exc:
        return _fail(str(exc), as_json)
    except KeyboardInterrupt:
        print("delegation: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away; what was done is done, say so by status
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        return _fail(f"input/output error: {exc.strerror or exc}", as_json)
    return status


EXIT_INTERRUPTED = 130
"""As a shell reports a command ended by SIGINT."""
EXIT_BROKEN_PIPE = 141
"""As a shell reports a command ended by SIGPIPE: output was cut off, not bad usage."""


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
