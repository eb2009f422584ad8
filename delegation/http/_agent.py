"""The agent's side of ``specs/http.md``, without I/O: for each request, derive the
``Request`` (from the server's route map, fetched once), sign a fresh proof, attach the
credential; on an approval-required denial, ask the approval service, poll it and retry once
with the discharges. It yields :class:`Send` and :class:`Sleep` steps that the httpx and httpx2
auth classes carry out, each with its own client and its own way to sleep.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from delegation._keys import AgentKey
from delegation._proof import prove, prove_for_approval
from delegation._request import Request
from delegation.errors import DelegationError, MalformedRequest
from delegation.http._credential import Credential
from delegation.http.routes import ROUTE_MAP_PATH, Route, RouteMap, derive_request

log = logging.getLogger("delegation.http")


class AgentError(DelegationError):
    """The agent's auth could not make the call it was asked to (its ``response``, when there
    is one, is the answer that stopped it)."""

    def __init__(self, detail: str, response: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.response = response


class RouteMapUnavailable(AgentError):
    """The server's route map cannot be read, or names another audience than the agent's."""


class ApprovalFailed(AgentError):
    """The approval service refused to ask, or answered something else than a decision."""


class ApprovalDenied(ApprovalFailed):
    """A human said no."""


class ApprovalTimedOut(ApprovalFailed):
    """No decision within the agent's timeout."""


@dataclass(frozen=True, slots=True)
class ApprovalProgress:
    """Where an approval stands: ``state`` is asked, pending, approved, denied or timed_out;
    ``waited`` and ``timeout`` in seconds."""

    state: str
    approval_id: str
    request: Request
    waited: float
    timeout: float

    def __str__(self) -> str:
        what = f"{self.request.tool} {self.request.action}"
        if self.request.resource is not None:
            what += f" on {self.request.resource}"
        return (
            f"approval {self.approval_id} of {what}: {self.state}"
            f" ({self.waited:.0f} s of {self.timeout:.0f} s)"
        )


def print_progress(progress: ApprovalProgress) -> None:
    """A ``progress`` callback that writes each step to standard error."""
    print(f"delegation: {progress}", file=sys.stderr, flush=True)


def _log_progress(progress: ApprovalProgress) -> None:
    log.info("%s", progress)


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request`` and hand its response back (its body read when ``read`` says so)."""

    request: Any
    read: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Send | Sleep
MakeRequest = Callable[..., Any]


def _always(_: Any) -> bool:
    return True


def _denied(response: Any) -> bool:
    return bool(response.status_code == 403)


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, TypeError):
        return None


@dataclass
class AgentConfig:
    token: str
    key: AgentKey
    audience: str
    routes: RouteMap | None
    request_for: Callable[[Any], Request | None] | None
    discharges: tuple[str, ...]
    approvals: str | None
    approval_timeout: float
    poll_interval: float
    progress: Callable[[ApprovalProgress], None]
    clock: Callable[[], float] = time.monotonic


class Flow:
    """The per-request flow of one agent auth; keeps the route maps it fetched, by origin."""

    def __init__(self, config: AgentConfig, make: MakeRequest) -> None:
        self.config = config
        self.make = make
        self.maps: dict[str, RouteMap] = {}

    def run(self, request: Any) -> Generator[Step, Any, None]:
        call = yield from self._call_of(request)
        if call is None:  # a public route, or one the map does not have: no credential
            yield Send(request, _always)
            return
        config = self.config
        self._sign(request, call, config.discharges)
        response = yield Send(request, _denied)
        if config.approvals is None or response.status_code != 403:
            return
        doc = _json(response)
        codes = {r.get("code") for r in doc.get("reasons", ())} if isinstance(doc, dict) else set()
        if codes != {"approval_required"}:
            return
        discharges = yield from self._approval(call, response)
        self._sign(request, call, (*config.discharges, *discharges))
        yield Send(request, _always)

    def _sign(self, request: Any, call: Request, discharges: Sequence[str]) -> None:
        proof = prove(self.config.token, self.config.key, call)
        credential = Credential(self.config.token, proof, tuple(discharges))
        request.headers["Authorization"] = credential.header()

    def _call_of(self, request: Any) -> Generator[Step, Any, Request | None]:
        config = self.config
        if config.request_for is not None:
            return config.request_for(request)
        routes = config.routes
        if routes is None:
            url = request.url
            origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
            routes = self.maps.get(origin)
            if routes is None:
                answer = yield Send(self.make("GET", origin + ROUTE_MAP_PATH), _always)
                if answer.status_code != 200:
                    raise RouteMapUnavailable(
                        f"{origin}{ROUTE_MAP_PATH} answered {answer.status_code}", answer
                    )
                try:
                    routes = RouteMap.from_json(_json(answer))
                except MalformedRequest as exc:
                    raise RouteMapUnavailable(f"{origin}: {exc.detail}", answer) from exc
                self.maps[origin] = routes
        if routes.audience != config.audience:
            # A server naming another's audience would collect proofs good over there.
            raise RouteMapUnavailable(
                f"the server's route map names audience {routes.audience!r}, "
                f"not {config.audience!r}"
            )
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        found = routes.match(request.method, raw_path)
        if found is None or not isinstance(found[0], Route):
            return None
        return derive_request(
            found[0],
            audience=config.audience,
            path_params=found[1],
            query_string=request.url.query,
            content_type=request.headers.get("content-type"),
            body=request.content,
        )

    def _approval(self, call: Request, denied: Any) -> Generator[Step, Any, list[str]]:
        config = self.config
        base = (config.approvals or "").rstrip("/")
        ask = {
            "token": config.token,
            "request": call.to_json(),
            "proof": prove_for_approval(config.token, config.key, call),
        }
        answer = yield Send(self.make("POST", base + "/v1/approvals", json=ask), _always)
        doc = _json(answer)
        if answer.status_code != 201 or not isinstance(doc, dict):
            code = doc.get("code") if isinstance(doc, dict) else None
            raise ApprovalFailed(
                f"the approval service refused to ask ({answer.status_code}, {code})", denied
            )
        approval_id, poll = str(doc.get("approval_id")), str(doc.get("poll_url"))
        started = config.clock()

        def tell(state: str) -> None:
            waited = config.clock() - started
            config.progress(
                ApprovalProgress(state, approval_id, call, waited, config.approval_timeout)
            )

        tell("asked")
        while True:
            answer = yield Send(self.make("GET", base + poll), _always)
            doc = _json(answer)
            if answer.status_code == 202:
                waited = config.clock() - started
                if waited >= config.approval_timeout:
                    tell("timed_out")
                    raise ApprovalTimedOut(
                        f"no decision on approval {approval_id} within "
                        f"{config.approval_timeout:g} s",
                        denied,
                    )
                tell("pending")
                yield Sleep(min(config.poll_interval, config.approval_timeout - waited))
                continue
            state = doc.get("state") if isinstance(doc, dict) else None
            if answer.status_code == 200 and state == "denied":
                tell("denied")
                raise ApprovalDenied(f"approval {approval_id} was denied", denied)
            discharges = doc.get("discharges") if isinstance(doc, dict) else None
            if (
                answer.status_code != 200
                or state != "approved"
                or not isinstance(discharges, list)
                or not all(isinstance(d, str) for d in discharges)
            ):
                raise ApprovalFailed(
                    f"the approval service answered {answer.status_code} to the poll", denied
                )
            tell("approved")
            return discharges


def drive_sync(flow: Generator[Step, Any, None]) -> Generator[Any, Any, None]:
    """Carry ``flow`` out as an httpx (or httpx2) ``sync_auth_flow``."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step = flow.send(None)
                continue
            response = yield step.request
            if step.read(response):
                response.read()
            step = flow.send(response)
    except StopIteration:
        return


def config(
    token: str,
    key: AgentKey,
    audience: str,
    *,
    routes: RouteMap | None = None,
    request_for: Callable[[Any], Request | None] | None = None,
    discharges: Sequence[str] = (),
    approvals: str | None = None,
    approval_timeout: float = 300.0,
    poll_interval: float = 2.0,
    progress: Callable[[ApprovalProgress], None] | None = None,
) -> AgentConfig:
    if not isinstance(token, str) or not token:
        raise AgentError("an agent's auth needs its token (text)")
    if not isinstance(key, AgentKey):
        raise AgentError("an agent's auth needs its AgentKey")
    return AgentConfig(
        token,
        key,
        audience,
        routes,
        request_for,
        tuple(discharges),
        approvals,
        approval_timeout,
        poll_interval,
        progress or _log_progress,
    )
