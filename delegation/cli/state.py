"""``delegation state init``, ``revoke``, ``revocations list``, ``budget`` and ``settle``: the
SQLite state file verifiers share.

One file holds revocations, use counts and spent proof nonces and approvals
(:class:`delegation.stores.SQLiteState`). Only a file made by ``state init`` is ever opened:
``verify --state FILE`` and ``revoke`` refuse a missing file rather than start from an empty
one (a mistyped path must not silently forget every revocation), and refuse any other file,
another program's database included, without writing to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from delegation import Keyring, Verifier
from delegation._keys import encode_public_key
from delegation._verifier import settle
from delegation._wire import b64decode
from delegation.cli._common import (
    EXIT_OK,
    INTEGER,
    UsageError,
    add_command,
    load_token,
    quoted,
    shown,
    token_text,
)
from delegation.errors import DelegationError
from delegation.stores import (
    InvalidRevocation,
    Revocation,
    RevocationKind,
    SettledCharge,
    SettleRefused,
    SQLiteState,
    StoreUnavailable,
    UnavailableReason,
)

_HOP_ID = re.compile(r"[0-9a-fA-F]{32}")
_INIT_HINT = {UnavailableReason.UNREACHABLE, UnavailableReason.NOT_A_STATE_FILE}


def open_state(path: str) -> SQLiteState:
    """Open a state file made by ``state init``. Raises UsageError saying why it cannot be used."""
    if not os.path.lexists(path):
        raise UsageError(
            f"state file {path} does not exist; create it with `delegation state init {path}`"
        )
    try:
        return SQLiteState(path)
    except StoreUnavailable as exc:
        hint = ""
        if exc.reason in _INIT_HINT and "state init" not in str(exc):
            hint = "; make a state file with `delegation state init NEW_FILE`"
        raise UsageError(f"{path} is not a usable state file: {exc}{hint}") from exc


def cmd_state_init(ns: argparse.Namespace) -> int:
    path = ns.file
    if os.path.lexists(path):
        raise UsageError(f"{path} already exists; a state file is never replaced")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError as exc:
        raise UsageError(f"{path} already exists; a state file is never replaced") from exc
    except OSError as exc:
        raise UsageError(f"cannot create state file {path}: {exc.strerror}") from exc
    try:
        SQLiteState.create(path).close()
    except StoreUnavailable as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)  # the empty file this command made, nothing else
        raise UsageError(f"cannot create state file {path}: {exc}") from exc
    print(f"{path}: empty state file (revocations, use counts, spent proofs and approvals)")
    return EXIT_OK


def _revocation(ns: argparse.Namespace) -> tuple[Revocation, str]:
    """What ``ns`` asks to revoke, and what that kills. Raises UsageError for bad input."""
    try:
        return _requested(ns)
    except InvalidRevocation as exc:
        raise UsageError(str(exc)) from exc


def _requested(ns: argparse.Namespace) -> tuple[Revocation, str]:
    token_kind = RevocationKind.TOKEN
    if ns.token is not None:
        token = load_token(ns.token)
        what = f"this token (task {token.task.task_id}, held by {token.holder.agent_id})"
        return Revocation(token_kind, token.token_id), f"{what} and all it derives"
    if ns.hop is not None:
        if not _HOP_ID.fullmatch(ns.hop):
            raise UsageError(f"--hop: a hop id is 32 hex digits, got {ns.hop!r}")
        return Revocation(token_kind, ns.hop.lower()), "that hop and every token below it"
    if ns.task is not None:
        return Revocation(RevocationKind.TASK, ns.task), "every token for that task"
    if ns.agent is not None:
        try:
            raw = b64decode(ns.agent.strip(), 64, "agent public key")
        except DelegationError as exc:
            raise UsageError(f"--agent: {exc}") from exc
        if len(raw) != 32:
            raise UsageError("--agent: an agent public key is 32 bytes")
        key = encode_public_key(raw)
        return Revocation(RevocationKind.AGENT, key), "every chain that passes through that key"
    return Revocation(RevocationKind.KEY, ns.key_id), "every token minted under that root key"


def cmd_revoke(ns: argparse.Namespace) -> int:
    revocation, meaning = _revocation(ns)
    state = open_state(ns.state)
    try:
        state.revoke(revocation, int(time.time()))
    finally:
        state.close()
    print(f"revoked {revocation.kind} {shown(revocation.value)}: {shown(meaning)}")
    return EXIT_OK


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_revocations_list(ns: argparse.Namespace) -> int:
    state = open_state(ns.state)
    try:
        records = state.revocations()
    finally:
        state.close()
    if ns.json:
        doc = {
            "revocations": [
                {"kind": str(r.kind), "value": r.value, "revoked_at": at} for r, at in records
            ]
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if not records:
        print(f"{ns.state}: nothing is revoked")
    for revocation, at in records:
        print(f"{_when(at)}  {revocation.kind:<5}  {shown(revocation.value)}")
    return EXIT_OK


def _cost(text: str) -> tuple[str, int]:
    unit, sep, amount = text.rpartition("=")
    if not sep or not unit or not INTEGER.fullmatch(amount.strip()) or amount.strip()[0] == "-":
        raise UsageError(f"--cost takes UNIT=AMOUNT, a whole number: not {quoted(text)}")
    return unit, int(amount)


def cmd_settle(ns: argparse.Namespace) -> int:
    costs = dict(_cost(text) for text in ns.cost or ())
    if ns.release and costs:
        raise UsageError("--release gives everything back: it takes no --cost")
    state = open_state(ns.state)
    try:
        settled = settle(state, ns.reservation, None if ns.release else costs, int(time.time()))
    except SettleRefused as exc:
        raise UsageError(f"settle refused ({exc.reason}): {exc}") from exc
    finally:
        state.close()
    if ns.json:
        print(json.dumps({"settled": [_settled_json(c) for c in settled]}, indent=2))
        return EXIT_OK
    verb = "released" if ns.release else "settled"
    print(f"{verb} reservation {ns.reservation}")
    for c in settled:
        left = "no longer kept" if c.spent is None else f"{c.total - c.spent} of {c.total} left"
        print(f"  {shown(c.unit)}: charged {c.charged} of {c.held} reserved; {left}")
    return EXIT_OK


def _settled_json(c: SettledCharge) -> dict[str, Any]:
    return {
        "unit": c.unit,
        "total": c.total,
        "held": c.held,
        "charged": c.charged,
        "spent": c.spent,
        "remaining": None if c.spent is None else c.total - c.spent,
    }


def cmd_budget(ns: argparse.Namespace) -> int:
    keyring = Keyring.load(ns.keyring)
    token = token_text(ns.token)
    state = open_state(ns.state)
    try:
        balances = Verifier(keyring, state=state).balances(token)
    finally:
        state.close()
    if ns.json:
        doc = [{k: v for k, v in b.to_json().items() if k != "charged"} for b in balances]
        print(json.dumps({"budgets": doc}, indent=2))
        return EXIT_OK
    if not balances:
        print("the token has no budget")
    for b in balances:
        print(
            f"{shown(b.unit)}: {b.remaining} of {b.total} left, {b.spent} spent "
            f"(hop {b.hop}, caveat {b.caveat})"
        )
    return EXIT_OK


def register(commands: Any) -> None:
    """Add ``state``, ``revoke``, ``revocations``, ``budget`` and ``settle`` to the
    ``delegation`` command."""
    state = commands.add_parser("state", help="create the state file verifiers share")
    actions = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "init",
        help="create an empty state file (mode 0600)",
        description="Create an empty SQLite state file for revocations, use counts and spent "
        "proofs and approvals. verify --state and revoke open only a file made this way.",
    )
    sub.set_defaults(run=cmd_state_init)
    sub.add_argument("file", metavar="FILE", help="the state file to create (refused if it exists)")

    sub = add_command(
        commands,
        "revoke",
        cmd_revoke,
        "revoke a token, a hop, a task, an agent key or a root key id",
        "Recorded in the state file, which must exist (state init): a mistyped path must not "
        "record a revocation where no verifier looks. Every verify --state FILE denies "
        "what it covers with `revoked`. A token or hop revocation kills that branch only: its "
        "siblings live on.",
    )
    sub.add_argument("--state", required=True, metavar="FILE", help="the shared state file")
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--token",
        metavar="TOKEN",
        help="this exact token and everything derived from it (- for stdin)",
    )
    which.add_argument(
        "--hop", metavar="HOP_ID", help="one hop (as inspect shows it) and its branch"
    )
    which.add_argument("--task", metavar="ID", help="every token for a task")
    which.add_argument("--agent", metavar="PUBKEY", help="every chain through an agent's key")
    which.add_argument("--key-id", metavar="KID", help="every token under a root key id")

    listing = commands.add_parser("revocations", help="show what a state file revokes")
    actions = listing.add_subparsers(dest="revocations_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "list",
        help="list every revocation in a state file, oldest first",
        description="List every revocation recorded in the state file: when (UTC), the kind "
        "(token: a root, token or hop id; task; agent; key: a root key id) and the value.",
    )
    sub.set_defaults(run=cmd_revocations_list)
    sub.add_argument("--state", required=True, metavar="FILE", help="the shared state file")
    sub.add_argument("--json", action="store_true", help="print as JSON")

    sub = add_command(
        commands,
        "budget",
        cmd_budget,
        "show what is left of each budget of a token",
        "Checks the token under the keyring first (its signatures, not a call), then reads "
        "each budget's balance from the state file: what it and every token sharing the "
        "budget have spent.",
    )
    sub.add_argument("token", metavar="TOKEN", help="the token (- for stdin)")
    sub.add_argument("--keyring", required=True, metavar="FILE", help="the keyring")
    sub.add_argument("--state", required=True, metavar="FILE", help="the shared state file")
    sub.add_argument("--json", action="store_true", help="print as JSON")

    sub = add_command(
        commands,
        "settle",
        cmd_settle,
        "settle a budget reservation at the call's actual cost, or release it",
        "verify --reserve holds a call's budget charges under a reservation id. Settle it "
        "once the call's real cost is known: each unit's charge drops to the --cost given (at "
        "most what was reserved) and the rest goes back to the budget; a unit not given "
        "stays as reserved. --release gives it all back. Unsettled, a reservation stands in "
        "full once it expires.",
    )
    sub.add_argument("reservation", metavar="RESERVATION", help="the id verify printed")
    sub.add_argument("--state", required=True, metavar="FILE", help="the shared state file")
    sub.add_argument(
        "--cost",
        metavar="UNIT=AMOUNT",
        action="append",
        help="the call's actual cost in UNIT; repeat for several units",
    )
    sub.add_argument("--release", action="store_true", help="give the whole reservation back")
    sub.add_argument("--json", action="store_true", help="print as JSON")
