"""Resource and agent-id patterns: segment matching, never regular expressions from tokens.

Resources are ``scheme://seg/seg/...`` or ``/seg/seg/...``. A segment is one or more of the
characters ``A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) + , ; = : @``, and is never ``.`` or ``..``. There is
no percent-encoding, no empty segment, no query and no fragment: a resource outside this form
matches nothing, so encoded or dot-segment tricks cannot reach a sibling.

A resource pattern has the same form, where a segment may also be ``*`` (exactly one segment) or,
as the last segment only, ``**`` (zero or more trailing segments).

An agent id is 1-256 characters from ``A-Z a-z 0-9 - . _ : @ / +``. An agent-id pattern is an exact
id, ``prefix*`` (the prefix followed by anything) or ``*`` (any agent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from delegation._memo import Memo
from delegation.errors import PatternError
from delegation.limits import MAX_NAME_CHARS, MAX_RESOURCE_CHARS, MAX_RESOURCE_SEGMENTS

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()+,;=:@]+")
_AGENT_ID = re.compile(r"[A-Za-z0-9\-._:@/+]+")
ONE = "*"
REST = "**"


@dataclass(frozen=True, slots=True)
class Resource:
    scheme: str
    segments: tuple[str, ...]


_RESOURCES: Memo[str, Resource] = Memo(4096, 256 * 1024)
_PATTERNS: Memo[str, Resource] = Memo(4096, 256 * 1024)
"""Parsed resources and patterns by text: at most 4096 of each and 256 Ki characters of text
(requests name resources, so presenters choose what enters the first)."""


def parse_resource(text: str, pattern: bool = False) -> Resource:
    """Split ``text`` into scheme and segments. Raises PatternError if not canonical."""
    memo = _PATTERNS if pattern else _RESOURCES
    found = memo.get(text)  # None for a str subclass, which the memo never answers
    if found is None:
        found = _parse_resource(text, pattern)
        memo.put(text, found)
    return found


def _parse_resource(text: str, pattern: bool) -> Resource:
    what = "resource pattern" if pattern else "resource"
    if len(text) > MAX_RESOURCE_CHARS:
        raise PatternError(f"{what} is longer than {MAX_RESOURCE_CHARS} characters")
    scheme, sep, path = text.partition("://")
    if sep:
        if not _SCHEME.fullmatch(scheme):
            raise PatternError(
                f"{what} {text!r} has an invalid scheme:"
                " 1-32 of a-z 0-9 + . - starting with a letter"
            )
        if path.startswith("/"):  # file:///srv/data: the empty authority is an empty segment
            raise PatternError(
                f"{what} {text!r} has an empty segment after '{scheme}://' (an empty authority);"
                f" segments are never empty: write '/{path.lstrip('/')}' for a local path"
                f" or '{scheme}://HOST/{path.lstrip('/')}' with a host"
            )
    elif text.startswith("/"):
        scheme, path = "", text[1:]
    else:
        raise PatternError(f"{what} {text!r} must start with 'scheme://' or '/'")
    segments = tuple(path.split("/"))
    if len(segments) > MAX_RESOURCE_SEGMENTS:
        raise PatternError(f"{what} has more than {MAX_RESOURCE_SEGMENTS} segments")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if pattern and (seg == ONE or (seg == REST and i == last)):
            continue
        if seg in (".", "..") or not _SEGMENT.fullmatch(seg):
            raise PatternError(f"{what} {text!r} is not canonical: {_rule_broken(seg, i, last)}")
    return Resource(scheme, segments)


def _rule_broken(seg: str, index: int, last: int) -> str:
    """Which rule of the resource grammar a bad segment breaks, said so a person can fix it."""
    where = f"segment {index + 1}"
    if seg == "":
        if index == last:
            return f"{where} is empty (no trailing '/')"
        return f"{where} is empty (no '//')"
    if seg in (".", ".."):
        return f"{where} is a dot segment ('{seg}'): write the path it stands for"
    if "%" in seg:
        return f"{where} is percent-encoded: resources are never encoded, write the characters"
    if "?" in seg or "#" in seg:
        return f"{where} holds a query or fragment ('?', '#'): resources have neither"
    if seg in (ONE, REST):
        return f"{where} is a wildcard: '*' and a final '**' belong in patterns, not resources"
    if "*" in seg:
        return f"{where} mixes '*' with other characters: '*' is a whole segment"
    return f"{where} holds a character outside A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) + , ; = : @"


def resource_matches(pattern: Resource, resource: Resource) -> bool:
    if pattern.scheme != resource.scheme:
        return False
    segs = resource.segments
    for i, p in enumerate(pattern.segments):
        if p == REST:
            return True
        if i >= len(segs) or (p != ONE and p != segs[i]):
            return False
    return len(segs) == len(pattern.segments)


def resource_covers(outer: Resource, inner: Resource) -> bool:
    """True if every resource ``inner`` matches is matched by ``outer`` (exactly, not just soundly).

    A trailing ``**`` in ``inner`` stands for every length from its fixed prefix (at least one
    segment: a resource has one) upward; lengths past ``outer``'s own all behave alike, so
    checking up to one past it decides them all.
    """
    if outer.scheme != inner.scheme:
        return False
    segs = inner.segments
    if segs[-1] != REST:
        return _covers_shape(outer.segments, segs)
    fixed = segs[:-1]
    low = max(len(fixed), 1)
    high = max(low, min(len(outer.segments) + 1, MAX_RESOURCE_SEGMENTS))
    return all(
        _covers_shape(outer.segments, fixed + (ONE,) * (n - len(fixed)))
        for n in range(low, high + 1)
    )


def _covers_shape(outer: tuple[str, ...], shape: tuple[str, ...]) -> bool:
    """Does ``outer`` match every resource of this fixed-length shape (literals and ``*``)?"""
    for i, o in enumerate(outer):
        if o == REST:
            return len(shape) >= i
        if i >= len(shape):
            return False
        if o != ONE and o != shape[i]:
            return False
    return len(shape) == len(outer)


def check_agent_id(text: str) -> str:
    if len(text) > MAX_NAME_CHARS or not _AGENT_ID.fullmatch(text):
        raise PatternError("an agent id is 1-256 characters from A-Z a-z 0-9 - . _ : @ / +")
    return text


def check_agent_pattern(text: str) -> str:
    if text == ONE:
        return text
    check_agent_id(text[:-1] if text.endswith(ONE) else text)
    return text


def agent_matches(pattern: str, agent_id: str) -> bool:
    if pattern.endswith(ONE):
        return agent_id.startswith(pattern[:-1])
    return agent_id == pattern


def agent_covers(outer: str, inner: str) -> bool:
    """True if every agent id ``inner`` matches is matched by ``outer``."""
    if outer.endswith(ONE):
        return inner.startswith(outer[:-1])
    return inner == outer
