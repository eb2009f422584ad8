"""The HTTP routes: JSON in, :class:`~verifier_service.service.Service` calls, JSON out.

A denial is a normal 200 answer; 4xx is only for a request the service cannot read, or one it
must refuse (no credential, the wrong role, a body over the cap). Error bodies are
``{"code", "detail"}`` and never echo a token, proof or secret. No input yields a 500: an
unexpected exception is logged and answered ``{"code": "internal_error"}``, and that is a bug.
"""

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from delegation import (
    Agent,
    BadProof,
    DelegationError,
    Denied,
    MalformedRequest,
    SettleRefused,
    StoreUnavailable,
    TokenError,
    decode_public_key,
)
from delegation._request import loads_unique
from delegation.limits import MAX_NAME_CHARS
from verifier_service import schemas
from verifier_service.service import Conflict, NotFound, Service, Verified
from verifier_service.store import ApiKey, StoreError

log = logging.getLogger("verifier_service")
MAX_BODY_BYTES = 1 << 20
"""A request body larger than this is refused (413) before it is read whole."""


def _answer(verified: Verified) -> dict[str, Any]:
    return {
        **verified.decision.to_json(),
        "decision_id": verified.decision_id,
        "receipt": verified.receipt,
    }


class Refused(Exception):
    """An HTTP refusal with a stable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class BodyCap:
    """ASGI middleware: the body is read here, at most ``limit`` bytes of it; a body over the
    cap (declared or streamed) is 413 before the route sees any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False
        if body and _repeats_a_key(body):
            await _refuse(send, 422, "invalid_request", "the body repeats a key in an object")
            return

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: a disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _repeats_a_key(body: bytes) -> bool:
    """Whether a JSON body repeats a key in some object (two readers could see two different
    calls: the tool server the first, this service the last). Not JSON at all is left to the
    route's own parsing, which refuses it."""
    try:
        loads_unique(body)
    except MalformedRequest:
        return True
    except (ValueError, RecursionError):
        return False
    return False


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, "too_large", f"the body is over {limit} bytes")


async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"code": code, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def create_app(service: Service, *, docs: bool = True, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(
        title="delegation verifier service",
        version="1",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )

    def caller(*roles: str) -> Callable[..., ApiKey]:
        def check(authorization: Annotated[str | None, Header()] = None) -> ApiKey:
            if authorization is None or not authorization.startswith("Bearer "):
                raise Refused(401, "unauthenticated", "send Authorization: Bearer <api key>")
            key = service.store.authenticate(authorization.removeprefix("Bearer ").strip())
            if key is None:
                raise Refused(401, "unauthenticated", "the API key is not valid")
            if key.role not in roles:
                raise Refused(403, "forbidden", f"this route needs the role {' or '.join(roles)}")
            return key

        return check

    # Annotated aliases, evaluated here (this module has no postponed annotations), so that
    # FastAPI sees each route's role at once.
    AsApprover = Annotated[ApiKey, Depends(caller("approver"))]
    AsReader = Annotated[ApiKey, Depends(caller("approver", "auditor"))]
    AsVerifier = Annotated[ApiKey, Depends(caller("verifier"))]
    AsAdmin = Annotated[ApiKey, Depends(caller("admin"))]
    AsFeedReader = Annotated[ApiKey, Depends(caller("verifier", "admin", "auditor"))]
    AsAuditor = Annotated[ApiKey, Depends(caller("auditor", "admin"))]
    Cursor = Annotated[int, Query(ge=0, le=2**62)]
    # Names in paths and queries follow the library's rule (printable, bounded), like bodies:
    # a control character never reaches a store, where some cannot even be held.
    TaskId = Annotated[str, Path(min_length=1, max_length=MAX_NAME_CHARS), schemas.Printable]
    ApprovalId = Annotated[str, Path(min_length=1, max_length=64), schemas.Printable]
    KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    ApiKeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
    Limit = Annotated[int, Query(ge=1, le=10000)]

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        # No such task, approval, key or API key: one answer for every route.
        return JSONResponse({"code": "not_found", "detail": str(exc)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "the body is not valid"
        return JSONResponse({"code": "invalid_request", "detail": detail[:300]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"code": code, "detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"code": "store_unavailable", "detail": str(exc.reason)}, 503)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        log.error("service store failed: %s", exc)
        return JSONResponse(
            {"code": "store_unavailable", "detail": "the service store failed"}, 503
        )

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in a route")
        return JSONResponse({"code": "internal_error", "detail": "see the service log"}, 500)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        why = service.not_ready()
        if why is not None:
            return JSONResponse({"code": "not_ready", "detail": why}, status_code=503)
        return JSONResponse(
            {"status": "ready", "storage": service.backend, "policies": service.policy_revisions()}
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/receipt-keys")
    def receipt_keys() -> dict[str, Any]:
        return {"keys": service.receipt_keys()}

    @app.post("/v1/tasks", status_code=201)
    def new_task(body: schemas.NewTask, key: AsApprover) -> dict[str, Any]:
        try:
            holder = Agent(body.holder.agent_id, decode_public_key(body.holder.public_key))
            scope = schemas.to_scope(body.scope)
            minted = service.mint_task(
                key, body.task_id, body.statement, holder, scope, body.needs_approval
            )
        except Conflict as exc:
            raise Refused(409, "task_exists", str(exc)) from exc
        except (DelegationError, ValueError) as exc:
            raise Refused(422, "invalid_task", str(exc)[:300]) from exc
        return {k: minted[k] for k in ("task_id", "token", "token_id", "root_id", "expires_at")}

    @app.get("/v1/tasks/{task_id}")
    def get_task(task_id: TaskId, _: AsReader) -> dict[str, Any]:
        return service.task(task_id)

    @app.post("/v1/tasks/{task_id}/close")
    def close_task(task_id: TaskId, key: AsApprover) -> dict[str, Any]:
        return service.close_task(key, task_id)

    @app.get("/v1/tasks/{task_id}/tree")
    def task_tree(task_id: TaskId, _: AsReader) -> dict[str, Any]:
        return service.task_tree(task_id)

    @app.get("/v1/keys")
    def keys(_: AsAdmin) -> dict[str, Any]:
        return {"keys": service.root_keys()}

    @app.post("/v1/keys/rotate", status_code=201)
    def rotate(key: AsAdmin) -> dict[str, Any]:
        return service.rotate_keys(key)

    @app.post("/v1/keys/{key_id}/retire")
    def retire(key_id: KeyId, key: AsAdmin) -> dict[str, Any]:
        try:
            return service.retire_key(key, key_id)
        except Conflict as exc:
            raise Refused(409, "current_key", str(exc)) from exc

    def one(key: ApiKey, call: schemas.Call) -> dict[str, Any]:
        audience = call.request.get("audience")
        if audience not in key.audiences:
            raise Refused(403, "wrong_audience_for_key",
                          "this verifier key does not serve the request's audience")  # fmt: skip
        return _answer(service.verify(key, call.model_dump()))

    @app.post("/v1/verify")
    def verify(body: schemas.Call, key: AsVerifier) -> dict[str, Any]:
        return one(key, body)

    @app.post("/v1/verify/batch")
    def verify_batch(body: schemas.Batch, key: AsVerifier) -> dict[str, Any]:
        for call in body.calls:  # refuse the whole batch before spending anything
            if call.request.get("audience") not in key.audiences:
                raise Refused(403, "wrong_audience_for_key",
                              "this verifier key does not serve a request's audience")  # fmt: skip
        verified = service.verify_many(key, [call.model_dump() for call in body.calls])
        return {"results": [_answer(v) for v in verified]}

    @app.post("/v1/settle")
    def settle(body: schemas.Settle, key: AsVerifier) -> dict[str, Any]:
        try:
            settled = service.settle(key, body.reservation, body.costs)
        except Conflict as exc:
            raise Refused(403, "not_your_reservation", str(exc)) from exc
        except SettleRefused as exc:
            raise Refused(409, str(exc.reason), exc.detail) from exc
        return {"settled": [
            {"unit": c.unit, "total": c.total, "held": c.held, "charged": c.charged,
             "spent": c.spent} for c in settled
        ]}  # fmt: skip

    @app.post("/v1/approvals", status_code=201)
    def ask_approval(body: schemas.ApprovalRequest) -> dict[str, Any]:
        """The agent asks, with its token and its signed approval request (no API key)."""
        try:
            asked = service.ask_approval(body.token, body.request, body.proof)
        except BadProof as exc:
            raise Refused(401, "pop_invalid", exc.detail) from exc
        except NotFound as exc:
            raise Refused(422, "no_approval_needed", str(exc)) from exc
        except Conflict as exc:
            raise Refused(403, "revoked", str(exc)) from exc
        except MalformedRequest as exc:
            raise Refused(422, "invalid_request", str(exc)[:300]) from exc
        except Denied as exc:
            code = str(exc.reasons[0].code) if exc.reasons else "malformed"
            raise Refused(422, code, "the token does not check out") from exc
        except TokenError as exc:
            raise Refused(422, str(exc.code), "the token does not check out") from exc
        poll = f"/v1/approvals/poll/{asked['poll_secret']}"
        return {"approval_id": asked["approval_id"], "poll_url": poll}

    @app.get("/v1/approvals/poll/{secret}")
    def poll(secret: Annotated[str, Path(max_length=64)]) -> JSONResponse:
        answer = service.poll(secret)
        return JSONResponse(answer, status_code=202 if answer["state"] == "pending" else 200)

    @app.get("/v1/approvals")
    def approvals(
        _: AsApprover,
        state: Annotated[str, Query(pattern="^pending$")] = "pending",
        limit: Limit = 100,
    ) -> dict[str, Any]:
        return {"approvals": service.pending_approvals(limit)}

    @app.post("/v1/approvals/{approval_id}/decision")
    def decide(
        approval_id: ApprovalId,
        body: schemas.ApprovalDecision,
        key: AsApprover,
    ) -> dict[str, Any]:
        try:
            return service.decide(key, approval_id, body.approve)
        except Conflict as exc:
            raise Refused(409, "already_decided", str(exc)) from exc

    @app.post("/v1/revocations", status_code=201)
    def revoke(body: schemas.NewRevocation, key: AsAdmin) -> dict[str, Any]:
        try:
            return service.revoke(key, body.kind, body.value)
        except DelegationError as exc:  # InvalidRevocation: a value that could never match
            raise Refused(422, "invalid_revocation", str(exc)[:300]) from exc

    @app.get("/v1/revocations")
    def revocations(_: AsFeedReader, since: Cursor = 0, limit: Limit = 1000) -> dict[str, Any]:
        return service.revocation_feed(since, limit)

    @app.post("/v1/apikeys", status_code=201)
    def new_key(body: schemas.NewApiKey, _: AsAdmin) -> dict[str, Any]:
        if body.role == "verifier" and not body.audiences:
            raise Refused(422, "invalid_request", "a verifier key serves at least one audience")
        return {"api_key": service.create_key(body.role, body.principal, body.audiences)}

    @app.post("/v1/apikeys/{key_id}/revoke")
    def revoke_api_key(key_id: ApiKeyId, key: AsAdmin) -> dict[str, Any]:
        try:
            return service.revoke_key(key, key_id)
        except Conflict as exc:
            raise Refused(409, "own_key", str(exc)) from exc

    @app.get("/v1/audit")
    def audit(
        _: AsAuditor,
        after: Cursor = 0,
        task: Annotated[
            Annotated[str, schemas.Printable] | None,
            Query(min_length=1, max_length=MAX_NAME_CHARS),
        ] = None,
        limit: Limit = 1000,
    ) -> PlainTextResponse:
        records = service.store.records(after=after, task_id=task, limit=limit)
        lines = "".join(json.dumps(r.line(), sort_keys=True) + "\n" for r in records)
        return PlainTextResponse(lines, media_type="application/jsonl")

    @app.get("/v1/audit/checkpoint")
    def checkpoint(_: AsAuditor) -> dict[str, Any]:
        return service.checkpoint()

    app.add_middleware(BodyCap, limit=max_body)
    return app


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

    With ``--workers N`` uvicorn binds the listening socket itself as
    ``socket.socket(family=...)``, whose ``proto`` is 0, and asyncio sets ``TCP_NODELAY`` only on
    sockets whose ``proto`` is ``IPPROTO_TCP``: every response then waited for the client's
    delayed ACK (about 40 ms at concurrency 1, measured). This protocol sets it itself."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]


NO_DELAY_HTTP = "verifier_service.app:NoDelayH11Protocol"
"""What ``delegation serve --workers N`` gives uvicorn as ``http``."""

DATA_DIR_ENV = "DELEGATION_SERVICE_DATA_DIR"
DOCS_ENV = "DELEGATION_SERVICE_DOCS"
DATABASE_URL_ENV = "DELEGATION_SERVICE_DATABASE_URL"
SCHEMA_ENV = "DELEGATION_SERVICE_SCHEMA"
REDIS_URL_ENV = "DELEGATION_SERVICE_REDIS_URL"
POLICIES_ENV = "DELEGATION_SERVICE_POLICIES"
"""``--workers N``: the policy files by audience, as a JSON object."""


def load_policies(files: dict[str, str]) -> dict[str, Any]:
    """The policy set of each audience, from its file. Raises PolicyLoadError."""
    if not files:
        return {}
    from delegation.policy import load_policy

    return {audience: load_policy(path) for audience, path in files.items()}


def from_environment() -> FastAPI:
    """The app for one of ``delegation serve --workers N``'s processes: each opens the data
    directory named in the environment (made by the first start, in the parent) for itself.
    The state, the audit log and the approvals are SQLite files that every process shares, each
    write one transaction under SQLite's write lock, so the processes agree exactly."""
    import os
    from pathlib import Path

    service = Service(
        Path(os.environ[DATA_DIR_ENV]),
        database_url=os.environ.get(DATABASE_URL_ENV) or None,
        schema=os.environ.get(SCHEMA_ENV) or "delegation",
        redis_url=os.environ.get(REDIS_URL_ENV) or None,
        policies=load_policies(json.loads(os.environ.get(POLICIES_ENV) or "{}")),
    )
    return create_app(service, docs=os.environ.get(DOCS_ENV, "1") == "1")
