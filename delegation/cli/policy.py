"""``delegation policy test`` and ``delegation policy input``: a policy set against stored
calls, and the document a policy would see for a token and a call (``specs/policy.md``).

``policy test POLICY CALLS.jsonl`` reads one JSON object a line: a policy input document, or
``{"name": ..., "input": {...}, "expect": ...}`` with ``expect`` one of ``"allow"``,
``"deny"``, ``"unavailable"`` or the list of policy ids that must refuse it. It prints, for
each, what the set answered and which policies decided; it exits 0 when every expectation
holds, 1 when one does not, 2 when the set or a line cannot be read.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from delegation import Keyring, Verifier
from delegation._request import loads_unique
from delegation._thirdparty.discharges import check_discharges
from delegation._verifier._policy import policy_input
from delegation.caveats import default_registry
from delegation.cli._common import (
    EXIT_DENIED,
    EXIT_OK,
    POSITIONAL_HELP,
    STDIN,
    UsageError,
    add_command,
    load_request,
    one_stdin_reader,
    point_in_time,
    read_file,
    read_stdin,
    shown,
    token_text,
)
from delegation.policy import (
    Policy,
    PolicyInput,
    PolicyUnavailable,
    Verdict,
    load_policy,
)

MAX_CALLS_FILE_BYTES = 64 * 1024 * 1024
EXPECTATIONS = ("allow", "deny", "unavailable")
CASE_KEYS = {"name", "input", "expect"}


def register(commands: Any) -> None:
    parser = commands.add_parser("policy", help="test a policy set against stored calls")
    actions = parser.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    sub = add_command(
        actions,
        "test",
        cmd_policy_test,
        "evaluate a policy set on stored policy inputs; print which policy decided each",
        "POLICY is a .cedar or .rego file or a policy.toml manifest. CALLS.jsonl has one JSON "
        'object a line: a policy input, or {"name": ..., "input": {...}, "expect": "allow" | '
        '"deny" | "unavailable" | [POLICY_ID, ...]}. Exits 0 when every expectation holds, 1 '
        "when one does not, 2 on bad usage or unreadable input.",
    )
    sub.add_argument("policy", metavar="POLICY", help="the policy set (.cedar, .rego, .toml)")
    sub.add_argument("calls", metavar="CALLS.jsonl", help="stored calls (- for stdin)")
    sub.add_argument("--json", action="store_true", help="print one JSON result a line")
    sub = add_command(
        actions,
        "input",
        cmd_policy_input,
        "print the policy input a verifier would build for a token and a call",
        "Checks the token's chain (steps 1-5) under the keyring, and the discharges for the "
        "approvals the call carries; the call itself is not checked against the token. The "
        "document is one JSON line, to store for `policy test`.",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument("--keyring", required=True, metavar="FILE", help="the keyring")
    sub.add_argument("--request", required=True, metavar="REQUEST.json", help="the call")
    sub.add_argument(
        "--discharge", metavar="DISCHARGE", action="append", help="a bound approval; repeat"
    )
    sub.add_argument("--at", type=point_in_time("--at"), metavar="TIME", help="the verifier's time")


def _cases(text: str, where: str) -> list[tuple[str, PolicyInput, str | list[str] | None]]:
    out: list[tuple[str, PolicyInput, str | list[str] | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = loads_unique(line)
            if isinstance(doc, dict) and set(doc) <= CASE_KEYS and "input" in doc:
                name, expect = doc.get("name", f"line {number}"), doc.get("expect")
                if not isinstance(name, str):
                    raise ValueError("a case's name is text")
                if not (
                    expect is None
                    or expect in EXPECTATIONS
                    or (isinstance(expect, list) and all(isinstance(i, str) for i in expect))
                ):
                    raise ValueError('expect is "allow", "deny", "unavailable" or a list of ids')
                document = PolicyInput.from_json(doc["input"])
            else:
                name, expect, document = f"line {number}", None, PolicyInput.from_json(doc)
        except (ValueError, RecursionError) as exc:
            raise UsageError(f"{where} line {number}: not a policy input: {exc}") from exc
        out.append((name, document, expect))
    return out


def _outcome(policy: Policy, document: PolicyInput) -> tuple[str, Verdict | PolicyUnavailable]:
    try:
        verdict = policy.evaluate(document)
    except PolicyUnavailable as exc:
        return "unavailable", exc
    return ("allow" if verdict.allowed else "deny"), verdict


def _holds(expect: str | list[str] | None, kind: str, answer: Verdict | PolicyUnavailable) -> bool:
    if expect is None:
        return True
    if isinstance(expect, list):
        return (
            isinstance(answer, Verdict)
            and not answer.allowed
            and (sorted(answer.policy_ids) == sorted(expect))
        )
    return expect == kind


def cmd_policy_test(ns: argparse.Namespace) -> int:
    one_stdin_reader({"CALLS.jsonl": ns.calls})
    policy = load_policy(ns.policy, reload_interval=None)
    if ns.calls == STDIN:
        text, where = read_stdin(MAX_CALLS_FILE_BYTES, "the calls"), "standard input"
    else:
        text, where = read_file(ns.calls, MAX_CALLS_FILE_BYTES, "calls file"), ns.calls
    failed = 0
    try:
        for name, document, expect in _cases(text, where):
            kind, answer = _outcome(policy, document)
            ok = _holds(expect, kind, answer)
            failed += not ok
            if ns.json:
                print(json.dumps(_result(name, kind, answer, expect, ok), sort_keys=True))
            else:
                print(_line(name, kind, answer, expect, ok))
    finally:
        close = getattr(policy, "close", None)
        if close is not None:
            close()
    return EXIT_OK if not failed else EXIT_DENIED


def _result(
    name: str,
    kind: str,
    answer: Verdict | PolicyUnavailable,
    expect: str | list[str] | None,
    ok: bool,
) -> dict[str, Any]:
    if isinstance(answer, PolicyUnavailable):
        return {
            "name": name,
            "answer": kind,
            "reason": str(answer.reason),
            "revision": answer.revision,
            "policy_ids": [],
            "detail": answer.detail,
            "expect": expect,
            "ok": ok,
        }
    return {
        "name": name,
        "answer": kind,
        "revision": answer.revision,
        "policy_ids": list(answer.policy_ids),
        "detail": answer.detail,
        "expect": expect,
        "ok": ok,
    }


def _line(
    name: str,
    kind: str,
    answer: Verdict | PolicyUnavailable,
    expect: str | list[str] | None,
    ok: bool,
) -> str:
    mark = "" if expect is None else ("ok    " if ok else "FAIL  ")
    if isinstance(answer, PolicyUnavailable):
        said = f"UNAVAILABLE ({answer.reason}): {shown(answer.detail)}"
    elif answer.allowed:
        by = ", ".join(answer.policy_ids) or "no policy objected"
        said = f"ALLOW  decided by {by}"
    else:
        by = ", ".join(answer.policy_ids) or "no policy permits it"
        said = f"DENY   by {by}" + (f": {shown(answer.detail)}" if answer.detail else "")
    wanted = expect if isinstance(expect, str) else ", ".join(expect or ())
    want = "" if expect is None else f"  (expected {wanted})"
    return f"{mark}{shown(name)}: {said}{want}"


def cmd_policy_input(ns: argparse.Namespace) -> int:
    one_stdin_reader({"TOKEN": ns.token, "--request": ns.request})
    keyring = Keyring.load(ns.keyring)
    request = load_request(ns.request)
    registry = default_registry()
    chain = Verifier(keyring, state=None, registry=registry).check_chain(token_text(ns.token))
    at = int(ns.at) if ns.at is not None else int(time.time())
    given = [d.strip() for d in ns.discharge or ()]
    reasons, approvals = check_discharges(registry, chain, request, given, at)
    if reasons and ns.discharge:
        raise UsageError(f"a discharge does not hold for this call: {reasons[0].detail}")
    print(json.dumps(policy_input(chain, request, approvals, at).to_json(), sort_keys=False))
    return EXIT_OK


__all__ = ["register"]
