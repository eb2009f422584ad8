"""Approvals on the command line: ``approver init``, ``require-approval``, ``discharge``, ``bind``,
and the issuer's ``mint --needs-approval``.

How a call gets approved:

- The holder signs its request: ``delegation prove TOKEN --key AGENT_KEY --request CALL.json
  --for-approval`` prints an approval request (a proof under another domain than a call proof,
  so the approval service cannot make the call with it).
- The approver: ``delegation discharge TOKEN --key APPROVER_FILE --request CALL.json --proof
  PROOF`` checks that the token's holder signed that request, shows what is asked (task, chain
  of agents, who asked, the call), asks for a yes on a terminal (or takes ``--yes``), and prints
  one discharge per approval the call needs, already bound to that token. The approval holds for
  that holder and that chain only: another agent, the parent or a child presenting it is
  denied (``wrong_chain``), and ``bind`` refuses to bind it to their tokens.

A third party that is not a human approval (a purpose-0 caveat) may discharge a bare caveat id:
``delegation inspect TOKEN`` prints each third-party caveat's ``cid`` (also in ``inspect
--json``, as ``value.cid``); ``delegation discharge CID --key ... --request CALL.json --yes``
prints an unbound discharge, which the holder binds to the exact token it will present with
``delegation bind TOKEN DISCHARGE``. An approval caveat's cid is refused: an approval needs the
token, the call and the holder's signed request.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from delegation import (
    BadDischarge,
    BadProof,
    DelegationError,
    Request,
    TokenError,
    TokenTooLarge,
    UnverifiedToken,
    decode,
    encode_public_key,
)
from delegation._crypto import ed25519_verify
from delegation._proof import Proof
from delegation._thirdparty.approval import (
    APPROVAL_TTL_SECONDS,
    MAX_APPROVAL_TTL_SECONDS,
    Approver,
    PendingApproval,
    bind_discharge,
    require_approval,
)
from delegation._thirdparty.caveat import ApproverKey, Rule, ThirdPartyCaveat, decode_discharge
from delegation._wire import b64decode
from delegation.cli._common import (
    EXIT_DENIED,
    EXIT_OK,
    POSITIONAL_HELP,
    STDIN,
    UsageError,
    add_command,
    approver_public_key,
    emit,
    load_approver_key,
    load_request,
    load_token,
    note,
    one_stdin_reader,
    proof_text,
    quoted,
    read_stdin,
    refuse_overwrite,
    save,
    token_text,
    whole,
)
from delegation.limits import MAX_TOKEN_CHARS

NOT_APPROVED = "delegation: not approved (pass --yes after a human has reviewed it)"
DECLINED = "delegation: not approved"
PROOF_NEEDED = (
    "discharge TOKEN needs --proof PROOF: the holder's signed request, from `delegation prove "
    "TOKEN --key AGENT_KEY --request CALL.json --for-approval`"
)
CALL_PROOF = (
    "--proof is a proof for the call itself (from `prove`), not an approval request: the "
    "holder signs that with `prove --for-approval`"
)
APPROVAL_CID = (
    "that caveat asks for a human approval, which is given to the agent that asks: an approval "
    "needs the token, the call and the holder's signed request (discharge TOKEN --request "
    "CALL.json --proof PROOF), not a bare caveat id"
)
BOUND_NOTE = (
    "(the approval is bound to this holder and this chain of agents; the tool server verifies "
    "the chain when the approval is used)"
)


def _rule(flag: str) -> Callable[[str], Rule]:
    """An argument type for TOOL or TOOL:ACTION. Raises UsageError naming ``flag``."""

    def parse(text: str) -> Rule:
        try:
            return Rule.parse(text)
        except DelegationError as exc:
            raise UsageError(f"{flag} takes TOOL or TOOL:ACTION: not {quoted(text)}") from exc

    parse.__name__ = flag
    return parse


def _require(
    token: UnverifiedToken, approver: bytes, rules: Sequence[Rule], location: str | None, flag: str
) -> UnverifiedToken:
    try:
        return require_approval(token, approver, rules=rules, location=location)
    except ValueError as exc:  # a low-order X25519 point fails the key exchange
        raise UsageError(f"{flag}: not a usable X25519 public key") from exc


# --- the issuer, at mint time -------------------------------------------------------------


def add_mint_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "approvals",
        "The issuer adds the approval caveat before any hop: no sub-agent can drop it.",
    )
    group.add_argument(
        "--needs-approval",
        metavar="TOOL[:ACTION]",
        type=_rule("--needs-approval"),
        action="append",
        help="calls of this tool (and action) need a human approval; repeat for several",
    )
    group.add_argument(
        "--approver",
        metavar="PUBKEY",
        help="the approval service's public key (approver init prints it; so does pubkey)",
    )
    group.add_argument(
        "--approval-location", metavar="URL", help="where to ask for approval (a hint only)"
    )


def add_issuer_approval(token: UnverifiedToken, ns: argparse.Namespace) -> UnverifiedToken:
    """Apply ``mint``'s approval flags to the freshly minted ``token``."""
    if not ns.needs_approval:
        if ns.approver is not None or ns.approval_location is not None:
            raise UsageError("--approver and --approval-location go with --needs-approval")
        return token
    if ns.approver is None:
        raise UsageError("--needs-approval needs --approver PUBKEY (see `approver init`)")
    approver = approver_public_key(ns.approver, "--approver")
    return _require(token, approver, ns.needs_approval, ns.approval_location, "--approver")


# --- commands -----------------------------------------------------------------------------


def cmd_approver_init(ns: argparse.Namespace) -> int:
    refuse_overwrite(ns.out, ns.force)
    key = ApproverKey.generate()
    save(key, ns.out)
    print(encode_public_key(key.public_key))
    return EXIT_OK


def cmd_require_approval(ns: argparse.Namespace) -> int:
    token = load_token(ns.token)
    approver = approver_public_key(ns.approver, "--approver")
    return emit(_require(token, approver, ns.rule or (), ns.location, "--approver"))


def _token_or_cid(text: str) -> UnverifiedToken | bytes:
    try:
        return decode(text)
    except TokenTooLarge:
        raise
    except TokenError:
        pass
    try:
        cid = b64decode(text, MAX_TOKEN_CHARS, "caveat id")
        ThirdPartyCaveat.decode(cid)
    except TokenTooLarge:
        raise
    except TokenError as exc:
        raise UsageError(
            "expected a token, or a third-party caveat id (cid) as `delegation inspect` shows it"
        ) from exc
    return cid


def _call(request: Request) -> str:
    return json.dumps(request.to_json(), ensure_ascii=False, sort_keys=True)


def _applies(caveat: ThirdPartyCaveat) -> str:
    return ", ".join(str(r) for r in caveat.rules) or "every call"


def _approved(ns: argparse.Namespace) -> bool:
    """``--yes``, or the person at the terminal, who has just read what is asked, says yes.

    Without a terminal to ask on, only ``--yes`` approves: standard input is a pipe, a file or
    one of this command's inputs, or standard error (where the summary went) is not on screen.
    """
    if ns.yes:
        return True
    asked_for_input = STDIN in (ns.subject, ns.request, ns.proof)
    if asked_for_input or not (sys.stdin.isatty() and sys.stderr.isatty()):
        note(NOT_APPROVED)
        return False
    print("approve? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if answer.strip().lower() in ("y", "yes"):
        return True
    if not answer:  # end of input: the prompt's line was never finished
        print(file=sys.stderr)
    note(DECLINED)
    return False


def _is_call_proof(token: UnverifiedToken, request: Request, text: str) -> bool:
    """Whether ``text`` is the holder's proof for the call itself rather than an approval
    request: the likely mistake of a holder that forgot ``--for-approval``."""
    try:
        proof = Proof.decode(text)
    except TokenError:
        return False
    message = proof.message(token.token_bytes, request)
    return ed25519_verify(token.holder.public_key, proof.signature, message)


def _pending(
    approver: Approver, token: UnverifiedToken, request: Request, proof: str
) -> list[PendingApproval]:
    """What the holder asks of ``approver``. Raises UsageError for a proof that does not
    show the token's holder asked for this call."""
    try:
        return approver.pending(token, request, proof)
    except BadProof as exc:
        if _is_call_proof(token, request, proof):
            raise UsageError(CALL_PROOF) from exc
        raise UsageError(f"--proof: {exc}") from exc


def _discharge_token(
    approver: Approver, token: UnverifiedToken, request: Request, ns: argparse.Namespace
) -> int:
    if ns.proof is None:
        raise UsageError(PROOF_NEEDED)
    pending = _pending(approver, token, request, proof_text(ns.proof))
    if not pending:
        mine = [
            c
            for c in token.unsafe_caveats()
            if isinstance(c, ThirdPartyCaveat) and c.third_party == approver.public_key
        ]
        who = f"approver {encode_public_key(approver.public_key)}"
        if not mine:
            note(f"delegation: the token asks nothing of {who}")
        else:
            covers = "; ".join(_applies(c) for c in mine)
            note(f"delegation: that call needs no approval from {who} (it covers: {covers})")
        return EXIT_DENIED
    for n, item in enumerate(pending, 1):
        where = "" if item.caveat.location is None else f", asked at {item.caveat.location}"
        note(f"approval {n} of {len(pending)} (caveat {item.caveat_index}{where}):")
        note("\n".join(f"  {line}" for line in item.summary().splitlines()))
    note(BOUND_NOTE)
    if not _approved(ns):
        return EXIT_DENIED
    for item in pending:
        print(bind_discharge(token, approver.approve(item, ttl=ns.ttl)))
    once = ", once" if all(item.caveat.is_approval for item in pending) else ""
    holder = token.holder.agent_id
    note(f"approved: valid {ns.ttl} s, for this call by {holder} through this chain only{once}")
    note("(already bound to the token: pass it to verify --discharge as it is, without bind)")
    return EXIT_OK


def _discharge_cid(
    approver: Approver,
    key: ApproverKey,
    cid: bytes,
    request: Request,
    ns: argparse.Namespace,
) -> int:
    caveat = ThirdPartyCaveat.decode(cid)
    if caveat.third_party != key.public_key:
        raise UsageError("that caveat is addressed to another approver key")
    if caveat.is_approval:
        raise UsageError(APPROVAL_CID)
    if ns.proof is not None:
        raise UsageError("--proof goes with a TOKEN: a bare caveat id is discharged for any holder")
    contents = key.open_ticket(caveat.ticket)
    if not caveat.applies_to(request):
        covers = _applies(caveat)
        note(f"delegation: that call needs no discharge for this caveat (it covers: {covers})")
        return EXIT_DENIED
    note(f"third-party discharge for the tokens of root {contents.root_id}, covering: "
         f"{_applies(caveat)}")  # fmt: skip
    note(f"  call: {_call(request)}")
    note("(a bare caveat id names no task or agents: give the token to see them)")
    if not _approved(ns):
        return EXIT_DENIED
    print(approver.discharge_ticket(cid, request, ttl=ns.ttl))
    note("approved: the holder binds it with `delegation bind TOKEN DISCHARGE`")
    return EXIT_OK


def cmd_discharge(ns: argparse.Namespace) -> int:
    one_stdin_reader({"TOKEN_OR_CID": ns.subject, "--request": ns.request, "--proof": ns.proof})
    key = load_approver_key(ns.key)
    request = load_request(ns.request)
    subject = _token_or_cid(token_text(ns.subject))
    approver = Approver(key)
    if isinstance(subject, UnverifiedToken):
        return _discharge_token(approver, subject, request, ns)
    return _discharge_cid(approver, key, subject, request, ns)


def cmd_bind(ns: argparse.Namespace) -> int:
    one_stdin_reader({"TOKEN": ns.token, "DISCHARGE": ns.discharge.strip()})
    token = load_token(ns.token)
    text = ns.discharge.strip()
    if text == STDIN:
        text = read_stdin(MAX_TOKEN_CHARS, "discharge")
    discharge = decode_discharge(text)
    if not any(c.vid is not None and c.cid == discharge.identifier for c in token.raw.caveats):
        raise UsageError("the discharge answers none of this token's third-party caveats")
    try:
        print(bind_discharge(token, text))
    except BadDischarge as exc:  # an approval given to another holder or chain
        raise UsageError(f"cannot bind it to this token: {exc}") from exc
    return EXIT_OK


# --- the parser ---------------------------------------------------------------------------


def register(commands: Any) -> None:
    """Add ``approver``, ``require-approval``, ``discharge`` and ``bind`` to the sub-parsers."""
    approver = commands.add_parser("approver", help="create an approval service's key")
    actions = approver.add_subparsers(dest="approver_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "init",
        help="write a new X25519 approver key (mode 0600); print its public key",
        description="Write a new X25519 key for an approval service; print its public key, "
        "which the issuer passes to mint --approver.",
    )
    sub.set_defaults(run=cmd_approver_init)
    sub.add_argument("--out", required=True, metavar="FILE", help="key file to write (mode 0600)")
    sub.add_argument("--force", action="store_true", help="replace an existing file")

    sub = add_command(
        commands,
        "require-approval",
        cmd_require_approval,
        "add a human-approval caveat (holder side); print the token",
        "Any holder may restrict itself this way; only the issuer's caveats (mint "
        "--needs-approval) are the issuer's requirement.",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument(
        "--approver",
        required=True,
        metavar="PUBKEY",
        help="the approval service's public key (approver init prints it; so does pubkey)",
    )
    sub.add_argument(
        "--approval-location",
        "--location",
        dest="location",
        metavar="URL",
        help="where to ask for approval (a hint only), as mint --approval-location",
    )
    sub.add_argument(
        "--rule",
        metavar="TOOL[:ACTION]",
        type=_rule("--rule"),
        action="append",
        help="only these calls need approval (repeat for several; default every call)",
    )

    sub = add_command(
        commands,
        "discharge",
        cmd_discharge,
        "approve one call: print a discharge (approver side)",
        "Given a TOKEN and the holder's signed request (--proof, from prove --for-approval), "
        "checks that the token's holder asked for this call, shows what is asked (task, "
        "agents, who asked, the call) on standard error, asks for a yes on a terminal "
        "(elsewhere only --yes approves), and prints one discharge per approval the call "
        "needs, already bound to that token: it holds for that holder and chain only. Given "
        "the caveat id (cid, from inspect) of a third party that is not a human approval, "
        "prints an unbound discharge for `bind`. Exits 1 if not approved or if the call needs "
        "no approval from this key.",
    )
    sub.add_argument(
        "subject", metavar="TOKEN_OR_CID", help="the token, a caveat id (cid), or - for stdin"
    )
    sub.add_argument(
        "--key",
        required=True,
        metavar="APPROVER_FILE",
        help="the approval service's key file (approver init)",
    )
    sub.add_argument(
        "--request",
        required=True,
        metavar="REQUEST.json",
        help="the call to approve: a JSON request file, or - to read it from standard input",
    )
    sub.add_argument(
        "--proof",
        metavar="PROOF",
        help="with a TOKEN (required): the holder's signed request, from prove "
        "--for-approval (- for stdin)",
    )
    sub.add_argument(
        "--yes",
        action="store_true",
        help="approve without asking: a human has reviewed this call",
    )
    sub.add_argument(
        "--ttl",
        type=whole("--ttl", 1, MAX_APPROVAL_TTL_SECONDS, unit="seconds"),
        default=APPROVAL_TTL_SECONDS,
        metavar="SECONDS",
        help=f"how long the approval lives (default {APPROVAL_TTL_SECONDS}, "
        f"at most {MAX_APPROVAL_TTL_SECONDS})",
    )

    sub = add_command(
        commands,
        "bind",
        cmd_bind,
        "bind an unbound discharge to the token it will travel with (holder side)",
        "A bound discharge works with that exact token only. `discharge TOKEN` output is "
        "already bound; do not bind it again. An approval given to another holder or chain "
        "is refused: it would be denied (wrong_chain).",
    )
    sub.add_argument("token", metavar="TOKEN", help=POSITIONAL_HELP)
    sub.add_argument("discharge", metavar="DISCHARGE", help="the discharge, or - for stdin")
