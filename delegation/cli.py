"""The ``delegation`` command: parses arguments, calls the library, prints.

Exit status: 0 on success (for ``verify``: allowed), 1 when ``verify`` denies, 2 on bad usage
or unreadable input. Errors are one line on standard error, never a traceback. Tokens and
proofs print as one line on standard output, so ``TOKEN=$(delegation mint ...)`` works.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from delegation import (
    Agent,
    AgentKey,
    ArgConstraint,
    Decision,
    DelegationError,
    Keyring,
    Request,
    Scope,
    TaskRecord,
    UnverifiedToken,
    Verifier,
    attenuate,
    decode,
    decode_public_key,
    delegate,
    encode_public_key,
    mint,
    prove,
)
from delegation import demo as demo_module
from delegation.limits import MAX_PROOF_CHARS, MAX_TOKEN_CHARS

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2
MAX_REQUEST_FILE_BYTES = 1 << 20
DEFAULT_EXPIRES_IN = 3600
STDIN = "-"
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")

_ARG_VALUES_HELP = """\
argument values: in --arg-eq and --arg-in a value that looks like a plain integer (42, -7) is an
integer, true and false are booleans, a value in double quotes ("42") is the text inside them,
and anything else is text. Types count: the integer 42 does not equal the text "42".
--arg-min and --arg-max take integers."""


_POSITIONAL_HELP = "the token (one line of base64url), or - to read it from standard input"


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2 with a one-line message."""


# --- reading input ------------------------------------------------------------------------


def _read_stdin(limit: int, what: str) -> str:
    try:
        text = sys.stdin.read(limit + 2)  # a little slack for a trailing newline
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} on standard input is not UTF-8 text") from exc
    return text.strip()


def _token_text(arg: str) -> str:
    return _read_stdin(MAX_TOKEN_CHARS, "token") if arg == STDIN else arg.strip()


def _token(arg: str) -> UnverifiedToken:
    return decode(_token_text(arg))


def _read_file(path: str, limit: int, what: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise UsageError(f"{what} {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text") from exc


def _load_request(path: str) -> Request:
    text = _read_file(path, MAX_REQUEST_FILE_BYTES, "request file")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"request file {path} is not valid JSON") from exc
    try:
        return Request.from_json(doc)
    except DelegationError as exc:
        raise UsageError(f"request file {path}: {exc}") from exc


def _load_keyring(path: str) -> Keyring:
    try:
        return Keyring.load(path)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"keyring {path} is not a readable keyring file") from exc


def _load_agent_key(path: str) -> AgentKey:
    try:
        return AgentKey.load(path)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"key file {path} is not a readable agent key file") from exc


def _public_key(text: str, flag: str) -> bytes:
    try:
        return decode_public_key(text)
    except DelegationError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def _refuse_overwrite(path: str, force: bool) -> None:
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it")


def _save(thing: Keyring | AgentKey, path: str) -> None:
    try:
        thing.save(path)  # owner-only (0600), replaced atomically
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


# --- argument types -----------------------------------------------------------------------


def _arg_value(text: str) -> str | int | bool:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    return text


def _split(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{flag} expects NAME=VALUE, got {text!r}")
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
        elif _INTEGER.fullmatch(raw):
            value = int(raw)
        else:
            raise argparse.ArgumentTypeError(f"{flag} expects NAME=INTEGER, got {text!r}")
        try:
            return ArgConstraint(name, op, value)
        except DelegationError as exc:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: {exc}") from exc

    parse.__name__ = flag  # argparse names the type in its error messages
    return parse


def _whole(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text) or int(text) < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return int(text)

    return parse


def _rfc3339(text: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (Z or +hh:mm) in {text!r}")
    return when.timestamp()


# --- printing ---------------------------------------------------------------------------


def _shown(value: object) -> str:
    """Text safe for a terminal: control characters escaped."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _task_lines(task: dict[str, Any]) -> list[str]:
    who, at = _shown(task["approved_by"]), _when(task["approved_at"])
    return [
        f"task      {_shown(task['task_id'])}, approved by {who} at {at}",
        f"          {_shown(json.dumps(task['statement'], ensure_ascii=False))}",
        f"          digest {task['digest']}",
    ]


def _chain_lines(chain: list[dict[str, Any]]) -> list[str]:
    names = [_shown(link["agent_id"]) for link in chain]
    width = max(map(len, names), default=0)
    lines = []
    for n, (name, link) in enumerate(zip(names, chain, strict=True)):
        hop = "" if link["hop_id"] is None else f"  hop id {link['hop_id']}"
        head = "chain    " if n == 0 else "         "
        lines.append(f"{head} {n} {name:<{width}}  {link['public_key']}{hop}")
    return lines


def _caveat_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            shown = _when(item) if key in ("expires", "not_before") else _shown(item)
            parts.append(f"{key} {shown}")
        return ", ".join(parts)
    return _shown(value)


def _print_decision(decision: Decision) -> None:
    doc = decision.to_json()
    print("ALLOW" if decision.allowed else f"DENY ({doc['code']})")
    if doc["task"] is not None:
        for line in _task_lines(doc["task"]):
            print(line)
    if doc["chain"]:
        print("agents    " + " -> ".join(_shown(link["agent_id"]) for link in doc["chain"]))
        for line in _chain_lines(doc["chain"]):
            print(line)
    if doc["token_id"] is not None:
        print(f"token id  {doc['token_id']}")
    for reason in doc["reasons"]:
        where = "token" if reason["hop"] is None else f"hop {reason['hop']}"
        if reason["caveat"] is not None:
            where += f", caveat {reason['caveat']}"
        print(f"reason    {reason['code']} ({where}): {_shown(reason['detail'])}")


# --- commands ---------------------------------------------------------------------------


def _scope(ns: argparse.Namespace, expires_in: int | None) -> Scope:
    return Scope(
        audiences=ns.audience or (),
        tools=ns.tool or (),
        actions=ns.action or (),
        resources=ns.resource or (),
        intents=ns.intent or (),
        args=ns.arg or (),
        expires_in=expires_in,
        max_depth=ns.max_depth,
        delegatees=ns.delegatee or (),
    )


def _emit(token: UnverifiedToken) -> int:
    text = token.encode()
    decode(text)  # never print a token that cannot be read back
    print(text)
    return EXIT_OK


def cmd_keygen(ns: argparse.Namespace) -> int:
    _refuse_overwrite(ns.out, ns.force)
    key = AgentKey.generate()
    _save(key, ns.out)
    print(encode_public_key(key.public_key))
    return EXIT_OK


def cmd_keyring_init(ns: argparse.Namespace) -> int:
    _refuse_overwrite(ns.file, ns.force)
    keyring = Keyring.generate()
    _save(keyring, ns.file)
    print(keyring.current.key_id)
    return EXIT_OK


def cmd_keyring_rotate(ns: argparse.Namespace) -> int:
    keyring = _load_keyring(ns.file).rotated()
    _save(keyring, ns.file)
    print(keyring.current.key_id)
    return EXIT_OK


def cmd_mint(ns: argparse.Namespace) -> int:
    keyring = _load_keyring(ns.keyring)
    holder = Agent(ns.holder_id, _public_key(ns.holder, "--holder"))
    now = int(time.time())
    task = TaskRecord(ns.task_id, ns.approved_by, now, ns.statement)
    expires_in = DEFAULT_EXPIRES_IN if ns.expires_in is None else ns.expires_in
    scope = _scope(ns, expires_in)
    return _emit(mint(keyring, task, holder, scope, location=ns.location, now=now))


def cmd_attenuate(ns: argparse.Namespace) -> int:
    token = _token(ns.token)
    caveats = _scope(ns, ns.expires_in).caveats(int(time.time()))
    if not caveats:
        raise UsageError("attenuate needs at least one restriction flag")
    return _emit(attenuate(token, caveats))


def cmd_delegate(ns: argparse.Namespace) -> int:
    token = _token(ns.token)
    key = _load_agent_key(ns.key)
    to = Agent(ns.agent_id, _public_key(ns.to, "--to"))
    return _emit(delegate(token, key, to, _scope(ns, ns.expires_in)))


def cmd_prove(ns: argparse.Namespace) -> int:
    token = _token(ns.token)
    key = _load_agent_key(ns.key)
    print(prove(token, key, _load_request(ns.request)))
    return EXIT_OK


def cmd_verify(ns: argparse.Namespace) -> int:
    if ns.token == STDIN and ns.proof == STDIN:
        raise UsageError("only one of TOKEN and --proof can be read from standard input")
    keyring = _load_keyring(ns.keyring)
    request = _load_request(ns.request)
    token = _token_text(ns.token)
    proof = ns.proof
    if proof is not None:
        proof = _read_stdin(MAX_PROOF_CHARS, "proof") if proof == STDIN else proof.strip()
    decision = Verifier(keyring).verify(token, request, proof, now=ns.at)
    if ns.json:
        print(json.dumps(decision.to_json(), indent=2))
    else:
        _print_decision(decision)
    return EXIT_OK if decision.allowed else EXIT_DENIED


def cmd_inspect(ns: argparse.Namespace) -> int:
    doc = _token(ns.token).describe()
    if ns.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print("UNVERIFIED: inspect reads a token; only verify checks its signatures")
    print(f"token id  {doc['token_id']}")
    print(f"key id    {doc['key_id']}")
    if doc["location"] is not None:
        print(f"location  {_shown(doc['location'])} (a hint only)")
    for line in [*_task_lines(doc["task"]), *_chain_lines(doc["chain"])]:
        print(line)
    print("caveats")
    for cav in doc["caveats"]:
        segment = "root " if cav["hop"] == 0 else f"hop {cav['hop']}"
        value = _caveat_value(cav["value"])
        print(f"  {cav['index']:>2}  {segment}  {cav['type']:<10}  {value}")
    return EXIT_OK


def cmd_demo(ns: argparse.Namespace) -> int:
    return demo_module.run()


# --- the parser -------------------------------------------------------------------------


def _add_restrictions(parser: argparse.ArgumentParser, *, minting: bool) -> None:
    group = parser.add_argument_group(
        "restrictions (repeat a flag to allow several values; --expires-in and --max-depth "
        "take one)"
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
    default = f" (default {DEFAULT_EXPIRES_IN})" if minting else ""
    group.add_argument(
        "--expires-in", type=_whole(1), metavar="SECONDS", help=f"expire after SECONDS{default}"
    )
    group.add_argument(
        "--max-depth", type=_whole(0), metavar="N", help="at most N further delegation hops"
    )
    group.add_argument(
        "--delegatee",
        metavar="PATTERN",
        help="agent ids allowed below: id, prefix* or *",
        action="append",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="delegation",
        description="Mint, narrow, delegate, prove and verify agent delegation tokens.",
        epilog="TOKEN may be - to read it from standard input. verify exits 0 on allow, 1 on "
        "deny, 2 on bad usage or unreadable input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[[argparse.Namespace], int], text: str, more: str = "", **kw: Any
    ) -> Any:
        description = f"{text}. {more}" if more else text
        sub = commands.add_parser(name, help=text, description=description, **kw)
        sub.set_defaults(run=run)
        return sub

    with_args: dict[str, Any] = {
        "epilog": _ARG_VALUES_HELP,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }

    sub = command("keygen", cmd_keygen, "create an Ed25519 agent key; print its public key")
    sub.add_argument("--out", required=True, metavar="FILE", help="key file to write (mode 0600)")
    sub.add_argument("--force", action="store_true", help="replace an existing file")

    keyring = commands.add_parser("keyring", help="create or rotate a root keyring")
    actions = keyring.add_subparsers(dest="keyring_command", required=True, metavar="ACTION")
    sub = actions.add_parser("init", help="write a new keyring; print its key id")
    sub.set_defaults(run=cmd_keyring_init)
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--force", action="store_true", help="replace an existing file")
    sub = actions.add_parser("rotate", help="add a new current key; old keys keep verifying")
    sub.set_defaults(run=cmd_keyring_rotate)
    sub.add_argument("file", metavar="FILE")

    sub = command(
        "mint",
        cmd_mint,
        "mint a root token for a human-approved task",
        "The task is recorded as approved now; the token needs at least one --audience.",
        **with_args,
    )
    sub.add_argument("--keyring", required=True, metavar="FILE")
    sub.add_argument("--task-id", required=True, metavar="ID")
    sub.add_argument("--approved-by", required=True, metavar="WHO")
    sub.add_argument("--statement", required=True, metavar="TEXT", help="what was approved")
    sub.add_argument("--holder", required=True, metavar="PUBKEY", help="first holder's key")
    sub.add_argument("--holder-id", default="orchestrator", metavar="ID", help="its agent id")
    sub.add_argument("--location", metavar="URL", help="a hint where the token is used")
    _add_restrictions(sub, minting=True)

    sub = command("attenuate", cmd_attenuate, "append narrowing caveats", **with_args)
    sub.add_argument("token", metavar="TOKEN", help=_POSITIONAL_HELP)
    _add_restrictions(sub, minting=False)

    sub = command(
        "delegate", cmd_delegate, "delegate to a sub-agent with a signed hop", **with_args
    )
    sub.add_argument("token", metavar="TOKEN", help=_POSITIONAL_HELP)
    sub.add_argument("--key", required=True, metavar="HOLDER_KEY_FILE")
    sub.add_argument("--to", required=True, metavar="PUBKEY", help="the sub-agent's public key")
    sub.add_argument("--agent-id", required=True, metavar="ID", help="the sub-agent's id")
    _add_restrictions(sub, minting=False)

    sub = command("prove", cmd_prove, "sign a request as the token's holder; print the proof")
    sub.add_argument("token", metavar="TOKEN", help=_POSITIONAL_HELP)
    sub.add_argument("--key", required=True, metavar="HOLDER_KEY_FILE")
    sub.add_argument("--request", required=True, metavar="REQUEST.json")

    sub = command(
        "verify",
        cmd_verify,
        "check a token and proof against a request",
        "Exits 0 on allow, 1 on deny, 2 on bad usage or unreadable input. Each run has its own "
        "replay memory, so a proof replayed to a later run is not detected here; a tool "
        "server keeps one verifier and its nonce store.",
    )
    sub.add_argument("token", metavar="TOKEN", help=_POSITIONAL_HELP)
    sub.add_argument("--keyring", required=True, metavar="FILE")
    sub.add_argument("--request", required=True, metavar="REQUEST.json")
    sub.add_argument("--proof", metavar="PROOF", help="proof of possession (- for stdin)")
    sub.add_argument("--json", action="store_true", help="print the decision as JSON")
    sub.add_argument(
        "--at",
        type=_rfc3339,
        metavar="RFC3339",
        help="verify as of this time, for offline analysis only (e.g. 2027-01-15T08:00:00Z)",
    )

    sub = command("inspect", cmd_inspect, "show a token's task, chain and caveats (unverified)")
    sub.add_argument("token", metavar="TOKEN", help=_POSITIONAL_HELP)
    sub.add_argument("--json", action="store_true", help="print as JSON")

    command("demo", cmd_demo, "play a whole delegation story in a temporary directory")
    return parser


def _fail(message: str) -> int:
    print(f"delegation: error: {_shown(message)}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed help, or usage and an error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        status: int = ns.run(ns)
    except UsageError as exc:
        return _fail(str(exc))
    except DelegationError as exc:
        return _fail(str(exc))
    except OSError as exc:  # e.g. standard output closed
        return _fail(f"input/output error: {exc.strerror or exc}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
