"""The request a tool server checks a token against.

The verifier builds it from what it knows itself: its own audience name, the parsed route (tool,
action, resource), the call's arguments. Time is not part of it: the verifier passes its own
clock in. Nothing here comes from a client-supplied header or timestamp.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

from delegation._memo import Memo
from delegation._printable import is_printable
from delegation.errors import MalformedRequest
from delegation.limits import (
    MAX_ARG_VALUE_CHARS,
    MAX_CBOR_DEPTH,
    MAX_NAME_CHARS,
    MAX_REQUEST_ARGS,
    MAX_REQUEST_TEXT_CHARS,
    MAX_REQUEST_VALUES,
)

ArgValue = str | int | float | bool | None | list[Any] | dict[str, Any]

_REQUEST_DOMAIN = b"delegation/v1/request\x00"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One tool call, by keyword: ``Request(audience=..., tool=..., action=...)``.

    ``resource`` and ``intent`` may be None when the call has none. Raises MalformedRequest.
    """

    audience: str
    tool: str
    action: str
    resource: str | None = None
    intent: str | None = None
    args: Mapping[str, ArgValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("audience", "tool", "action"):
            _name(getattr(self, name), name)
        for name in ("resource", "intent"):
            value = getattr(self, name)
            if value is not None:
                _name(value, name, MAX_ARG_VALUE_CHARS if name == "resource" else MAX_NAME_CHARS)
        if not isinstance(self.args, Mapping):
            raise MalformedRequest("args must be a mapping")
        if len(self.args) > MAX_REQUEST_ARGS:
            raise MalformedRequest(f"a request has at most {MAX_REQUEST_ARGS} arguments")
        budget = _Budget()
        for key, value in self.args.items():
            _name(key, "argument name")
            _arg(value, 0, budget)
        object.__setattr__(self, "args", dict(self.args))

    @classmethod
    def from_json(cls, doc: object) -> Request:
        """Build from the JSON request-file shape. Raises MalformedRequest."""
        if not isinstance(doc, dict):
            raise MalformedRequest("a request is a JSON object")
        unknown = set(doc) - {"audience", "tool", "action", "resource", "intent", "args"}
        if unknown:
            names = ", ".join(sorted(repr(k)[:40] for k in unknown)[:5])
            raise MalformedRequest(f"unknown request fields: {names}")
        try:
            return cls(
                audience=doc["audience"],
                tool=doc["tool"],
                action=doc["action"],
                resource=doc.get("resource"),
                intent=doc.get("intent"),
                args=doc.get("args", {}),
            )
        except KeyError as exc:
            raise MalformedRequest(f"request is missing {exc.args[0]!r}") from exc

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"audience": self.audience, "tool": self.tool, "action": self.action}
        if self.resource is not None:
            doc["resource"] = self.resource
        if self.intent is not None:
            doc["intent"] = self.intent
        doc["args"] = dict(self.args)
        return doc

    def digest(self) -> bytes:
        """SHA-256 over the canonical CBOR of every field: what a proof of possession binds.

        The array of five texts (or nulls) and the arguments map is assembled here, with cbor2
        encoding only a non-empty map (floats take its shortest-form rules); a property holds
        it to ``cbor2.dumps(fields, canonical=True)``."""
        args = cbor2.dumps(self.args, canonical=True) if self.args else b"\xa0"
        encoded = b"".join(
            (
                _REQUEST_DOMAIN,
                b"\x86",
                _cbor_text(self.audience),
                _cbor_text(self.tool),
                _cbor_text(self.action),
                b"\xf6" if self.resource is None else _cbor_text(self.resource),
                b"\xf6" if self.intent is None else _cbor_text(self.intent),
                args,
            )
        )
        return hashlib.sha256(encoded).digest()


_TEXTS_MAX = 1024
_TEXT_MEMO_CHARS = 128
_TEXTS: Memo[str, bytes] = Memo(_TEXTS_MAX, _TEXTS_MAX * _TEXT_MEMO_CHARS)
"""Encoded request texts, by text: audiences, tools and actions recur on every call. At most
``_TEXTS_MAX`` entries of at most ``_TEXT_MEMO_CHARS`` characters each."""


def _cbor_text(value: str) -> bytes:
    """A text string in canonical CBOR: its head, shortest form, then its UTF-8 bytes."""
    encoded = _TEXTS.get(value)  # None for a str subclass, which the memo never answers
    if encoded is None:
        encoded = _encode_text(value)
        if len(value) <= _TEXT_MEMO_CHARS:
            _TEXTS.put(value, encoded)
    return encoded


def _encode_text(value: str) -> bytes:
    data = value.encode("utf-8")
    n = len(data)
    if n < 24:
        return bytes((0x60 | n,)) + data
    if n < 0x100:
        return bytes((0x78, n)) + data
    if n < 0x10000:
        return b"\x79" + n.to_bytes(2, "big") + data
    return b"\x7a" + n.to_bytes(4, "big") + data  # a request's texts are far shorter


def _name(value: object, what: str, limit: int = MAX_NAME_CHARS) -> None:
    if not isinstance(value, str) or not value:
        raise MalformedRequest(f"{what} must be non-empty text")
    if len(value) > limit:
        raise MalformedRequest(f"{what} is longer than {limit} characters")
    if not is_printable(value):
        raise MalformedRequest(f"{what} holds control characters")


class _Budget:
    """What a request's arguments may still hold; spent before each value is looked into, so
    the walk stops after at most MAX_REQUEST_VALUES values whatever the arguments share."""

    __slots__ = ("chars", "values")

    def __init__(self) -> None:
        self.values = MAX_REQUEST_VALUES
        self.chars = MAX_REQUEST_TEXT_CHARS

    def spend(self, chars: int = 0) -> None:
        self.values -= 1
        self.chars -= chars
        if self.values < 0:
            raise MalformedRequest(f"the arguments hold more than {MAX_REQUEST_VALUES} values")
        if self.chars < 0:
            raise MalformedRequest(
                f"the arguments hold more than {MAX_REQUEST_TEXT_CHARS} characters of text"
            )


def _text(value: str, budget: _Budget) -> None:
    budget.spend(len(value))
    if len(value) > MAX_ARG_VALUE_CHARS:
        raise MalformedRequest(f"a text argument is longer than {MAX_ARG_VALUE_CHARS}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: not text that can be signed
        raise MalformedRequest("a text argument is not valid Unicode") from exc


def _arg(value: object, depth: int, budget: _Budget) -> None:
    if depth > MAX_CBOR_DEPTH:
        raise MalformedRequest("an argument is nested too deeply")
    if not isinstance(value, str):  # text spends its characters too, in _text
        budget.spend()
    if value is None or isinstance(value, bool | int):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise MalformedRequest("an integer argument is out of range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedRequest("a number argument is NaN or infinite")
        return
    if isinstance(value, str):
        _text(value, budget)
        return
    if isinstance(value, list | dict):
        if len(value) > MAX_REQUEST_ARGS:
            raise MalformedRequest(f"an argument holds more than {MAX_REQUEST_ARGS} items")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise MalformedRequest("argument object keys must be text")
                _text(key, budget)
                _arg(item, depth + 1, budget)
        else:
            for item in value:
                _arg(item, depth + 1, budget)
        return
    raise MalformedRequest(f"an argument has unsupported type {type(value).__name__}")


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _RepeatedKey(key)
        doc[key] = value
    return doc


def loads_unique(text: str | bytes) -> Any:
    """JSON text as the request shape is read (proof-of-possession.md, the JSON request shape):
    an object that repeats a key, at any depth, is refused, so that two readers of one text
    never see two different calls. Raises MalformedRequest for a repeated key, ValueError (or
    RecursionError) for text that is not JSON."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise MalformedRequest(f"the JSON repeats the key {str(exc.args[0])[:40]!r}") from None
