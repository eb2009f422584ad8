"""Plumbing shared by the ``delegation`` command's modules: exit codes, reading input, loading
key files, parsing argument values, and text that is safe to print on a terminal.

The commands themselves live in :mod:`delegation.cli` (tokens), :mod:`delegation.cli.approval`
(approvals and discharges) and :mod:`delegation.cli.state` (revocations and shared state).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from delegation import (
    AgentKey,
    DelegationError,
    Keyring,
    Request,
    UnverifiedToken,
    decode,
    decode_public_key,
)
from delegation._wire import b64decode
from delegation.limits import MAX_TOKEN_CHARS
from delegation.thirdparty.caveat import ApproverKey

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2
MAX_REQUEST_FILE_BYTES = 1 << 20
STDIN = "-"
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
POSITIONAL_HELP = "the token (one line of base64url), or - to read it from standard input"
_X25519_KEY_BYTES = 32

Run = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2 with a one-line message."""


# --- reading input ------------------------------------------------------------------------


def read_stdin(limit: int, what: str) -> str:
    try:
        text = sys.stdin.read(limit + 2)  # a little slack for a trailing newline
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} on standard input is not UTF-8 text") from exc
    return text.strip()


def token_text(arg: str) -> str:
    return read_stdin(MAX_TOKEN_CHARS, "token") if arg == STDIN else arg.strip()


def load_token(arg: str) -> UnverifiedToken:
    return decode(token_text(arg))


def read_file(path: str, limit: int, what: str) -> str:
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


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are distinct: two readers must never see two different calls."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _DuplicateKey(key)
        doc[key] = value
    return doc


def load_request(path: str) -> Request:
    text = read_file(path, MAX_REQUEST_FILE_BYTES, "request file")
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise UsageError(f"request file {path} repeats the key {exc.args[0]!r}") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"request file {path} is not valid JSON") from exc
    try:
        return Request.from_json(doc)
    except DelegationError as exc:
        raise UsageError(f"request file {path}: {exc}") from exc


def agent_public_key(text: str, flag: str) -> bytes:
    """An agent's Ed25519 public key, screened for unsafe points."""
    try:
        return decode_public_key(text)
    except DelegationError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def approver_public_key(text: str, flag: str) -> bytes:
    """An approval service's X25519 public key: unpadded base64url of 32 bytes.

    Not ``decode_public_key``, which screens Ed25519 points and would refuse good X25519 keys.
    """
    try:
        raw = b64decode(text.strip(), 64, "approver public key")
    except DelegationError as exc:
        raise UsageError(f"{flag}: {exc}") from exc
    if len(raw) != _X25519_KEY_BYTES:
        raise UsageError(f"{flag}: an approver public key is {_X25519_KEY_BYTES} bytes")
    return raw


# --- writing files ------------------------------------------------------------------------


def refuse_overwrite(path: str, force: bool) -> None:
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it")


def save(thing: Keyring | AgentKey | ApproverKey, path: str) -> None:
    try:
        thing.save(path)  # owner-only (0600), replaced atomically
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def emit(token: UnverifiedToken) -> int:
    text = token.encode()
    decode(text)  # never print a token that cannot be read back
    print(text)
    return EXIT_OK


# --- argument types -----------------------------------------------------------------------


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not INTEGER.fullmatch(text) or int(text) < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        if high is not None and int(text) > high:
            raise argparse.ArgumentTypeError(f"expected a whole number <= {high}, got {text!r}")
        return int(text)

    return parse


def add_command(
    commands: Any, name: str, run: Run, text: str, more: str = "", **kw: Any
) -> argparse.ArgumentParser:
    """Add sub-command ``name`` to the ``commands`` sub-parsers; ``run`` carries it out."""
    description = f"{text}. {more}" if more else text
    sub: argparse.ArgumentParser = commands.add_parser(
        name, help=text, description=description, **kw
    )
    sub.set_defaults(run=run)
    return sub


# --- printing -----------------------------------------------------------------------------


def shown(value: object) -> str:
    """Text safe for a terminal: control characters escaped."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def note(text: str) -> None:
    """A message for the person at the terminal (standard error), control characters escaped."""
    for line in text.splitlines() or [""]:
        print(shown(line), file=sys.stderr)
