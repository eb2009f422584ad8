"""``DelegationMiddleware``: every call to a declared route is verified before its handler runs.

Pure ASGI around a Starlette or FastAPI app: the route is found with the app's own router (the
route that will run is the route that was checked), the body is read once within a cap and
handed on unchanged, the ``Authorization`` header is removed before the handler, and a denial
is answered here (``specs/http.md``). The handler of an allowed call finds a
:class:`~delegation.http.Granted` with :func:`granted`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.routing import Match

from delegation._decision import Reason
from delegation.errors import Code, MalformedRequest
from delegation.http._credential import BadCredential, from_headers, without_authorization
from delegation.http._denial import NOT_DECLARED, Answer, denial, refusal
from delegation.http.routes import (
    PUBLIC,
    ROUTE_MAP_PATH,
    Declaration,
    MappedRoute,
    Route,
    RouteMap,
    declaration_of,
    derive_request,
)
from delegation.http.verify import CallVerifier, Granted

log = logging.getLogger("delegation.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "delegation"
MAX_BODY_BYTES = 1 << 20


def granted(request: Any) -> Granted:
    """The :class:`Granted` of the call a handler serves (a Starlette ``Request``, or
    anything with its ``scope``). Raises LookupError on a route the middleware did not check
    (a public one)."""
    found = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(found, Granted):
        raise LookupError("this call was not checked by DelegationMiddleware")
    return found


class DelegationMiddleware:
    """Verify every call to a declared route with ``verifier`` (a
    :class:`~delegation.http.LocalVerifier` or :class:`~delegation.http.RemoteVerifier`)
    for ``audience``. ``app.add_middleware(DelegationMiddleware, verifier=..., audience=...)``.

    ``router`` is the router whose routes are declared (default: the app's, from the scope);
    ``max_body_bytes`` caps a body; ``resource_metadata`` is a protected resource metadata
    URL to name in challenges; ``route_map`` serves the route map at ``ROUTE_MAP_PATH``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: CallVerifier,
        audience: str,
        router: Any = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        resource_metadata: str | None = None,
        route_map: bool = True,
        public_paths: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.audience = audience
        self.router = router
        self.max_body_bytes = max_body_bytes
        self.resource_metadata = resource_metadata
        self.route_map = route_map
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        if scope["type"] != "http":  # a websocket carries no per-message proof: refused
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            await self._http(scope, receive, send)
        except Exception:  # never a 500 that leaks: a bug here denies
            log.exception("DelegationMiddleware failed")
            reason = Reason(Code.INTERNAL_ERROR, "internal error while verifying")
            await _send(send, denial([reason], realm=self.audience))

    def _closing(self, send: Send) -> Send:
        """``send`` that first closes the verifier's connections (remote mode) when the app
        has shut down."""

        async def closing(message: Message) -> None:
            close = getattr(self.verifier, "aclose", None)
            if message["type"] == "lifespan.shutdown.complete" and close is not None:
                await close()
            await send(message)

        return closing

    def _routes(self, scope: Scope) -> Sequence[Any]:
        router = self.router
        if router is None:
            app = scope.get("app")
            router = getattr(app, "router", None)
        routes = getattr(router, "routes", None)
        if routes is None:
            raise LookupError("no router: pass DelegationMiddleware(router=...)")
        return list(routes)

    def published(self, routes: Sequence[Any]) -> RouteMap:
        """The route map of ``routes``: every declared or public route, in router order."""
        out = []
        for route, prefix in _walk(routes, ""):
            declared = declaration_of(getattr(route, "endpoint", None))
            methods = getattr(route, "methods", None)
            if declared is None or not methods:
                continue
            out.append(MappedRoute(tuple(sorted(methods)), prefix + route.path, declared))
        return RouteMap(self.audience, out)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        routes = self._routes(scope)
        if self.route_map and scope["path"] == ROUTE_MAP_PATH and scope["method"] == "GET":
            doc = self.published(routes).to_json()
            await _send(send, Answer(200, (("content-type", "application/json"),), doc))
            return
        if scope["path"] in self.public_paths:
            await self.app(_stripped(scope), receive, send)
            return
        matched, declared, child = _match(routes, scope)
        if not matched:  # no handler runs: the app answers 404, 405 or a redirect
            await self.app(_stripped(scope), receive, send)
            return
        if declared is PUBLIC:
            await self.app(_stripped(scope), receive, send)
            return
        if not isinstance(declared, Route):
            detail = "this route declares no tool and action, and is not public"
            answer = refusal(
                403, NOT_DECLARED, detail, realm=self.audience, metadata=self.resource_metadata
            )
            await _send(send, answer)
            return
        try:
            credential = from_headers(scope.get("headers", ()))
        except BadCredential as exc:
            reason = Reason(exc.code, exc.detail)
            await _send(send, self._denial([reason], None))
            return
        body = await _read_body(scope, receive, self.max_body_bytes)
        if body is None:
            detail = f"the body is over {self.max_body_bytes} bytes"
            answer = refusal(413, str(Code.TOO_LARGE), detail, realm=self.audience, metadata=None)
            await _send(send, answer)
            return
        try:
            request = derive_request(
                declared,
                audience=self.audience,
                path_params=child.get("path_params", {}),
                query_string=scope.get("query_string", b""),
                content_type=_header(scope, b"content-type"),
                body=body,
            )
        except MalformedRequest as exc:
            answer = refusal(
                400, str(Code.MALFORMED), exc.detail, realm=self.audience, metadata=None
            )
            await _send(send, answer)
            return
        verdict = await self.verifier.verify(
            credential.token, request, credential.proof, credential.discharges
        )
        if not verdict.decision.allowed:
            await _send(send, self._denial(verdict.decision.reasons, verdict.decision_id))
            return
        inner = _stripped(scope)
        inner["state"] = {
            **scope.get("state", {}),
            STATE_KEY: Granted(request, verdict.decision, verdict.decision_id, verdict.receipt),
        }
        await self.app(inner, _replay(body, receive), send)

    def _denial(self, reasons: Sequence[Reason], decision_id: str | None) -> Answer:
        return denial(
            reasons,
            realm=self.audience,
            decision_id=decision_id,
            metadata=self.resource_metadata,
        )


def _walk(routes: Sequence[Any], prefix: str) -> list[tuple[Any, str]]:
    out = []
    for route in routes:
        inner = getattr(route, "routes", None)
        if inner and not hasattr(route, "endpoint"):  # a Mount: its routes, under its path
            out += _walk(inner, prefix + getattr(route, "path", ""))
        else:
            out.append((route, prefix))
    return out


def _match(routes: Sequence[Any], scope: Scope) -> tuple[bool, Declaration | None, Scope]:
    """The route the router will run, as Starlette's Router picks it (first full match;
    a partial one, the wrong method, runs no handler): (matched, declaration, child scope)."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            inner = getattr(route, "routes", None)
            if inner and "endpoint" in child and not hasattr(route, "endpoint"):
                merged = {**scope, **child}
                found, declared, deeper = _match(inner, merged)
                if found:
                    return True, declared, {**child, **deeper}
                return False, None, {}
            return True, declaration_of(child.get("endpoint")), child
    return False, None, {}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _stripped(scope: Scope) -> Scope:
    inner = dict(scope)
    inner["headers"] = without_authorization(list(scope.get("headers", ())))
    return inner


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is over ``limit`` (declared or streamed)."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: nothing will be answered or run
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send(send: Send, answer: Answer) -> None:
    body = answer.encoded()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
