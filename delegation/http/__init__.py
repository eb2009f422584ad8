"""Tool servers and agents over HTTP (``specs/http.md``; the ``http`` extra).

Server side: :class:`DelegationMiddleware` in front of a Starlette or FastAPI app, routes
declared with :func:`protect` (or :func:`public`), calls verified by a :class:`LocalVerifier`
(a keyring and a State, optionally following the service's revocations with a
:class:`RevocationFeed`) or a :class:`RemoteVerifier` (the service's ``/v1/verify``); the
handler reads :func:`granted`. Agent side: :class:`DelegationAuth` for httpx
(:class:`DelegationAuth2` for httpx2) signs every request.

The wire format, the route declarations and the agent's errors need nothing beyond the core
library; the rest is imported when first named, so ``import delegation.http`` pulls in no web
framework (Starlette for the middleware, httpx or httpx2 for the clients).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from delegation.http._agent import (
    AgentError,
    ApprovalDenied,
    ApprovalFailed,
    ApprovalProgress,
    ApprovalTimedOut,
    RouteMapUnavailable,
    print_progress,
)
from delegation.http._credential import MAX_CREDENTIAL_CHARS, BadCredential, Credential
from delegation.http.routes import (
    PUBLIC,
    ROUTE_MAP_PATH,
    BodyBinding,
    Route,
    RouteMap,
    derive_request,
    protect,
    public,
)

if TYPE_CHECKING:
    from delegation.http.asgi import DelegationMiddleware, granted
    from delegation.http.client import DelegationAuth
    from delegation.http.client2 import DelegationAuth2
    from delegation.http.feed import RevocationFeed
    from delegation.http.remote import RemoteVerifier
    from delegation.http.verify import CallVerifier, Granted, LocalVerifier, Verdict

_LAZY = {
    "DelegationMiddleware": "delegation.http.asgi",
    "granted": "delegation.http.asgi",
    "DelegationAuth": "delegation.http.client",
    "DelegationAuth2": "delegation.http.client2",
    "RevocationFeed": "delegation.http.feed",
    "RemoteVerifier": "delegation.http.remote",
    "CallVerifier": "delegation.http.verify",
    "Granted": "delegation.http.verify",
    "LocalVerifier": "delegation.http.verify",
    "Verdict": "delegation.http.verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'delegation.http' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "MAX_CREDENTIAL_CHARS",
    "PUBLIC",
    "ROUTE_MAP_PATH",
    "AgentError",
    "ApprovalDenied",
    "ApprovalFailed",
    "ApprovalProgress",
    "ApprovalTimedOut",
    "BadCredential",
    "BodyBinding",
    "CallVerifier",
    "Credential",
    "DelegationAuth",
    "DelegationAuth2",
    "DelegationMiddleware",
    "Granted",
    "LocalVerifier",
    "RemoteVerifier",
    "RevocationFeed",
    "Route",
    "RouteMap",
    "RouteMapUnavailable",
    "Verdict",
    "derive_request",
    "granted",
    "print_progress",
    "protect",
    "public",
]
