"""Per-route declarations, and the one function that turns an HTTP request into a ``Request``.

The server and the agent derive the ``Request`` with :func:`derive_request` from the same
declaration: the server from its router's match, the agent from the published route map
(:class:`RouteMap`, ``GET /.well-known/delegation``). ``specs/http.md``, "HTTP request to
Request": every path parameter, query parameter and JSON body member is in the ``Request``, so
the proof binds everything a handler reads but headers.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from delegation._request import ArgValue, Request, loads_unique
from delegation.errors import MalformedRequest, MisuseError

ROUTE_MAP_PATH = "/.well-known/delegation"
ROUTE_MAP_FORMAT = "delegation-http/1"
BODY_DIGEST_ARG = "body_sha256"
ATTRIBUTE = "__delegation_route__"
"""Where :func:`protect` and :func:`public` leave the declaration on an endpoint."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_CONVERTORS: dict[str, tuple[str, Callable[[str], str | int]]] = {
    "str": ("[^/]+", str),
    "int": ("[0-9]+", int),
    "path": (".*", str),
    "uuid": (
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        lambda v: str(uuid.UUID(v)),
    ),
}

F = TypeVar("F", bound=Callable[..., Any])


class BodyBinding(StrEnum):
    """How a route's body is bound: its JSON members as arguments, its bytes by digest, or
    no body at all."""

    JSON = "json"
    DIGEST = "digest"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Route:
    """What a call to one route is: ``tool`` and ``action``, a ``resource`` template such as
    ``crm://accounts/{account_id}/notes`` (placeholders are path parameters), an ``intent``
    and the body binding. Raises MisuseError for a template that is not one."""

    tool: str
    action: str
    resource: str | None = None
    intent: str | None = None
    body: BodyBinding = BodyBinding.JSON

    def __post_init__(self) -> None:
        check_template(self.resource)
        object.__setattr__(self, "body", BodyBinding(self.body))

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.resource or ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "action": self.action,
            "resource": self.resource,
            "intent": self.intent,
            "body": str(self.body),
        }


class _Public:
    """The declaration of a route that reads no credential."""

    def __repr__(self) -> str:
        return "PUBLIC"


PUBLIC = _Public()
Declaration = Route | _Public


def protect(
    tool: str,
    action: str,
    resource: str | None = None,
    *,
    intent: str | None = None,
    body: BodyBinding | str = BodyBinding.JSON,
) -> Callable[[F], F]:
    """Declare what calling the decorated endpoint is; put it under the route decorator::

        @app.post("/accounts/{account_id}/notes")
        @protect("crm.notes.create", "write", "crm://accounts/{account_id}/notes")
        async def add_note(account_id: int, note: Note) -> dict[str, str]: ...

    The endpoint itself is returned unchanged."""
    route = Route(tool, action, resource, intent, BodyBinding(body))

    def mark(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, route)
        return endpoint

    return mark


def public(endpoint: F) -> F:
    """Declare an endpoint that needs no credential (health, docs)."""
    setattr(endpoint, ATTRIBUTE, PUBLIC)
    return endpoint


def declaration_of(endpoint: object) -> Declaration | None:
    found = getattr(endpoint, ATTRIBUTE, None)
    return found if isinstance(found, Route | _Public) else None


def _text(value: object) -> str:
    """A path parameter as resource text: text as it is, an integer in decimal."""
    return value if isinstance(value, str) else str(value)


def check_template(template: str | None) -> None:
    """Raise MisuseError unless ``template``'s only braces are ``{name}`` placeholders."""
    if template is not None:
        rest = _PLACEHOLDER.sub("", template)
        if "{" in rest or "}" in rest:
            raise MisuseError(f"a resource template's placeholders are {{name}}: {rest!r}")


def fill_template(template: str, values: Mapping[str, object], source: str) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``: non-empty text, or an
    integer in decimal (never a boolean). Raises MalformedRequest naming ``source`` (where
    the values come from) for one missing or of another kind. The HTTP route's path
    parameters and the MCP tool's arguments fill their templates by this one rule."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise MalformedRequest(f"the resource names {name!r}, which the {source} has not")
        value = values[name]
        if type(value) is int:
            return str(value)
        if isinstance(value, str) and value:
            return value
        raise MalformedRequest(
            f"the {source}'s {name!r} fills the resource: non-empty text or an integer"
        )

    return _PLACEHOLDER.sub(fill, template)


def derive_request(
    route: Route,
    *,
    audience: str,
    path_params: Mapping[str, object],
    query_string: bytes | str = b"",
    content_type: str | None = None,
    body: bytes = b"",
) -> Request:
    """The ``Request`` of one call to ``route`` (``specs/http.md``). Raises MalformedRequest."""
    args: dict[str, ArgValue] = {}

    def add(name: str, value: ArgValue, source: str) -> None:
        if name in args:
            raise MalformedRequest(f"the argument {name[:40]!r} is given twice ({source})")
        args[name] = value

    resource = None
    if route.resource is not None:
        texts = {name: _text(value) for name, value in path_params.items()}
        resource = fill_template(route.resource, texts, "path")
    named = set(route.placeholders)
    for name, value in path_params.items():
        if name not in named:
            if isinstance(value, str) and not value:
                raise MalformedRequest(f"the path parameter {name!r} is empty")
            plain = value if isinstance(value, str | int) and not isinstance(value, bool) else None
            add(name, _text(value) if plain is None else plain, "path")
    query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    for name, value in parse_qsl(query, keep_blank_values=True):
        add(name, value, "query")
    for name, value in _body_args(route.body, content_type, body).items():
        add(name, value, "body")
    return Request(
        audience=audience,
        tool=route.tool,
        action=route.action,
        resource=resource,
        intent=route.intent,
        args=args,
    )


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("", "application/json"):
        return True
    kind, _, sub = media.partition("/")
    return kind == "application" and sub.endswith("+json")


def _body_args(binding: BodyBinding, content_type: str | None, body: bytes) -> dict[str, Any]:
    if binding is BodyBinding.DIGEST:
        return {BODY_DIGEST_ARG: hashlib.sha256(body).hexdigest()}
    if not body:
        return {}
    if binding is BodyBinding.NONE:
        raise MalformedRequest("this route takes no body")
    if not _is_json(content_type):
        raise MalformedRequest("this route's body is JSON (Content-Type: application/json)")
    try:
        doc = loads_unique(body)
    except (ValueError, RecursionError):  # a repeated member is MalformedRequest already
        raise MalformedRequest("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise MalformedRequest("a JSON body is an object, whose members are the arguments")
    return doc


@dataclass(frozen=True, slots=True)
class MappedRoute:
    """One entry of a route map: the router's path template and methods, and what it is."""

    methods: tuple[str, ...]
    path: str
    route: Declaration

    def to_json(self) -> dict[str, Any]:
        head: dict[str, Any] = {"methods": list(self.methods), "path": self.path}
        if isinstance(self.route, _Public):
            return {**head, "public": True}
        return {**head, **self.route.to_json()}


class RouteMap:
    """A server's published declarations (``GET /.well-known/delegation``): what an agent
    needs to derive the ``Request`` the server will check its proof against."""

    def __init__(self, audience: str, routes: Sequence[MappedRoute]) -> None:
        self.audience = audience
        self.routes = tuple(routes)
        self._compiled = [(_compile(r.path), r) for r in self.routes]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ROUTE_MAP_FORMAT,
            "audience": self.audience,
            "routes": [r.to_json() for r in self.routes],
        }

    @classmethod
    def from_json(cls, doc: object) -> RouteMap:
        """Read a published map. Raises MalformedRequest for one this version cannot read."""
        if not isinstance(doc, dict) or doc.get("format") != ROUTE_MAP_FORMAT:
            raise MalformedRequest(f"a route map is a {ROUTE_MAP_FORMAT} document")
        audience, entries = doc.get("audience"), doc.get("routes")
        if not isinstance(audience, str) or not isinstance(entries, list):
            raise MalformedRequest("a route map has an audience and a list of routes")
        routes = []
        for entry in entries:
            try:
                methods = tuple(str(m).upper() for m in entry["methods"])
                path = entry["path"]
                declared: Declaration
                if entry.get("public") is True:
                    declared = PUBLIC
                else:
                    declared = Route(
                        entry["tool"],
                        entry["action"],
                        entry.get("resource"),
                        entry.get("intent"),
                        BodyBinding(entry.get("body", "json")),
                    )
                if not isinstance(path, str):
                    raise TypeError(path)
            except (KeyError, TypeError, ValueError, MisuseError) as exc:
                raise MalformedRequest("a route map entry cannot be read") from exc
            routes.append(MappedRoute(methods, path, declared))
        return cls(audience, routes)

    def match(self, method: str, raw_path: str) -> tuple[Declaration, dict[str, object]] | None:
        """The first route for ``method`` whose template matches the percent-decoded path,
        with its converted path parameters; None if none does."""
        path = unquote(raw_path)
        for pattern, mapped in self._compiled:
            found = pattern.fullmatch(path)
            if found is None or method.upper() not in mapped.methods:
                continue
            params: dict[str, object] = {}
            for name, value in found.groupdict().items():
                convert = _CONVERTORS[_convertor_of(mapped.path, name)][1]
                params[name] = convert(value)
            return mapped.route, params
        return None


def _convertor_of(template: str, name: str) -> str:
    for found in _PATH_PARAM.finditer(template):
        if found.group(1) == name:
            return found.group(2) or "str"
    return "str"


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for found in _PATH_PARAM.finditer(template):
        out.append(re.escape(template[pos : found.start()]))
        kind = found.group(2) or "str"
        if kind not in _CONVERTORS:
            raise MalformedRequest(f"unknown path convertor {kind!r}")
        out.append(f"(?P<{found.group(1)}>{_CONVERTORS[kind][0]})")
        pos = found.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))
