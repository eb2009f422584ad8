"""Plumbing shared by the ``delegation`` command's modules: exit codes, reading input, loading
key files, parsing argument values, and text that is safe to print on a terminal.

The commands themselves live in :mod:`delegation.cli` (tokens), :mod:`delegation.cli.approval`
(approvals and discharges) and :mod:`delegation.cli.state` (revocations and shared state).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from delegation import (
    AgentKey,
    DelegationError,
    Keyring,
    MalformedRequest,
    Request,
    UnverifiedToken,
    decode,
    decode_public_key,
)
from delegation._request import loads_unique
from delegation._thirdparty.caveat import ApproverKey
from delegation._wire import b64decode
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_PROOF_CHARS, MAX_TIME, MAX_TOKEN_CHARS

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2
MAX_REQUEST_FILE_BYTES = 1 << 20
STDIN = "-"
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
POSITIONAL_HELP = "the token (one line of base64url), or - to read it from standard input"
_X25519_KEY_BYTES = 32

Run = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2 with a one-line message.

    Argument types raise it too (not ``argparse.ArgumentTypeError``): argparse lets other
    exceptions through, so a value it cannot use gets one line naming the flag instead of the
    whole usage block.
    """


class ParseError(Exception):
    """argparse could not parse the command line (``CliParser.error``); ``parser`` says where."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.message = message
        self.parser = parser


class CliParser(argparse.ArgumentParser):
    """The ``delegation`` parsers: exact flag names only, and errors raised, not exited on.

    No abbreviations: ``--hold`` for ``--holder`` would break as soon as a flag is added, and
    the values of dash-prone flags are recognised by their exact names (``main``).
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("allow_abbrev", False)
        super().__init__(*args, **kw)

    def error(self, message: str) -> NoReturn:
        raise ParseError(message, self)


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


def proof_text(arg: str) -> str:
    """A ``--proof`` value: the text given, or for ``-`` the proof on standard input."""
    return read_stdin(MAX_PROOF_CHARS, "proof") if arg == STDIN else arg.strip()


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


def load_request(path: str) -> Request:
    """The request in file ``path`` or, for ``-``, on standard input (one JSON object)."""
    if path == STDIN:
        where = "the request on standard input"
        text = read_stdin(MAX_REQUEST_FILE_BYTES, "the request")
    else:
        where = f"request file {path}"
        text = read_file(path, MAX_REQUEST_FILE_BYTES, "request file")
    try:
        doc = loads_unique(text)
    except MalformedRequest as exc:
        raise UsageError(f"{where}: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{where} is not valid JSON") from exc
    try:
        return Request.from_json(doc)
    except DelegationError as exc:
        raise UsageError(f"{where}: {exc}") from exc


def one_stdin_reader(inputs: Mapping[str, str | Sequence[str] | None]) -> None:
    """Refuse a command line that asks for two inputs from standard input (``-``).

    ``inputs`` maps each input's name as the user knows it (TOKEN, --request) to its value
    (a list for a repeatable flag).
    """
    readers = [
        name
        for name, value in inputs.items()
        if value == STDIN or (isinstance(value, list | tuple) and STDIN in value)
    ]
    if len(readers) > 1:
        raise UsageError(
            f"only one input can come from standard input, but {' and '.join(readers)} are -"
        )


def _key_file_error(exc: DelegationError, path: str, flag: str) -> UsageError:
    """The library's message, with the flag and the file it is about (once)."""
    detail = str(exc)
    if path not in detail:
        detail = f"{path}: {detail}"
    return UsageError(f"{flag} {detail}" if flag else detail)


def load_agent_key(path: str, flag: str = "--key") -> AgentKey:
    """The agent key file ``path`` (from ``keygen``). Raises UsageError naming the flag."""
    try:
        return AgentKey.load(path)
    except DelegationError as exc:
        raise _key_file_error(exc, path, flag) from exc


def load_keyring(path: str, flag: str = "--keyring") -> Keyring:
    """The keyring file ``path`` (from ``keyring init``). Raises UsageError naming the flag."""
    try:
        return Keyring.load(path)
    except DelegationError as exc:
        raise _key_file_error(exc, path, flag) from exc


def load_approver_key(path: str, flag: str = "--key") -> ApproverKey:
    """The approver key file ``path`` (from ``approver init``). Raises UsageError."""
    try:
        return ApproverKey.load(path)
    except DelegationError as exc:
        raise _key_file_error(exc, path, flag) from exc


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


_MAX_DIGITS = 30  # more digits than any limit here; int() of 5,000 would raise ValueError


def whole(flag: str, low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    """An argument type for a whole number in [low, high]. Raises UsageError naming ``flag``."""
    what = f"a whole number of {unit}" if unit else "a whole number"
    bounds = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        text = text.strip()
        value = int(text) if len(text) <= _MAX_DIGITS and INTEGER.fullmatch(text) else None
        if value is None or value < low or (high is not None and value > high):
            raise UsageError(f"{flag} takes {what}, {bounds}: not {quoted(text)}")
        return value

    parse.__name__ = flag
    return parse


def seconds_from_now(flag: str) -> Callable[[str], int]:
    """An argument type for a lifetime in seconds: at least 1, ending before ``MAX_TIME``."""
    positive = whole(flag, 1, unit="seconds")

    def parse(text: str) -> int:
        text = text.strip()
        now = int(time.time())
        positive_digits = INTEGER.fullmatch(text) and not text.startswith("-")
        if positive_digits and (len(text) > _MAX_DIGITS or now + int(text) >= MAX_TIME):
            raise UsageError(
                f"{flag} {quoted(text)} would end after {when(MAX_TIME - 1)}, the latest "
                f"time a token can carry (at most {MAX_TIME - 1 - now} seconds from now)"
            )
        return positive(text)

    parse.__name__ = flag
    return parse


def point_in_time(flag: str) -> Callable[[str], int]:
    """An argument type for a time: RFC 3339 with a zone, or Unix seconds. Raises UsageError."""

    def parse(text: str) -> int:
        text = text.strip()
        if INTEGER.fullmatch(text) and len(text) <= _MAX_DIGITS:
            seconds = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise UsageError(
                    f"{flag} takes an RFC 3339 time such as 2027-01-15T08:00:00Z, or Unix "
                    f"seconds: not {quoted(text)}"
                ) from exc
            if moment.tzinfo is None:
                raise UsageError(f"{flag}: give a time zone (Z or +hh:mm) in {quoted(text)}")
            seconds = int(moment.timestamp())
        if not 0 <= seconds < MAX_TIME:
            raise UsageError(f"{flag}: a time lies from {when(0)} to {when(MAX_TIME - 1)}")
        return seconds

    parse.__name__ = flag
    return parse


def not_in_the_future(flag: str, seconds: int, now: int) -> int:
    """``seconds``, unless it is later than ``now`` by more than the allowed clock skew."""
    if seconds > now + CLOCK_SKEW_SECONDS:
        raise UsageError(
            f"{flag} {when(seconds)} is in the future (now is {when(now)}, "
            f"allowed clock skew {CLOCK_SKEW_SECONDS} s)"
        )
    return seconds


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


def when(seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC time."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(value: object) -> str:
    """Text safe for a terminal: control characters escaped."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def quoted(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message: escaped, and cut short if it is long."""
    cut = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(shown(cut))


def note(text: str) -> None:
    """A message for the person at the terminal (standard error), control characters escaped."""
    for line in text.splitlines() or [""]:
        print(shown(line), file=sys.stderr)
