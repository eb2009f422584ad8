"""``DelegationAuth2``: an ``httpx2.Auth`` that makes every request of an agent's client carry
its credential (``specs/http.md``)::

    auth = DelegationAuth2(token, key, audience="crm", approvals="https://approvals.example")
    with httpx2.Client(base_url="https://crm.example", auth=auth) as crm:
        crm.post("/accounts/42/notes", json={"text": "called back"})

Per request it derives the call from the server's route map (fetched once per origin; the
map must name ``audience``, the agent's own idea of whom it calls), signs a fresh proof and
sends ``Authorization: Bearer dlg1...``. On a 403 that only needs a human's approval, and with
``approvals`` (the approval service's URL), it asks, reports ``progress`` while it waits (at
most ``approval_timeout`` seconds), and sends the call once more with the discharges. Raises
:class:`~delegation.http.ApprovalDenied`, :class:`~delegation.http.ApprovalTimedOut`,
:class:`~delegation.http.ApprovalFailed` or :class:`~delegation.http.RouteMapUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence

import anyio
import httpx2

from delegation._keys import AgentKey
from delegation._request import Request
from delegation.http import _agent
from delegation.http._agent import ApprovalProgress
from delegation.http.routes import RouteMap


class DelegationAuth2(httpx2.Auth):
    """The agent's token and key, for an ``httpx2.Client`` or ``AsyncClient``. ``routes``
    gives the route map instead of fetching it; ``request_for(httpx_request)`` derives the
    call another way (None: send no credential); ``discharges`` go with every call."""

    requires_request_body = True

    def __init__(
        self,
        token: str,
        key: AgentKey,
        *,
        audience: str,
        routes: RouteMap | None = None,
        request_for: Callable[[httpx2.Request], Request | None] | None = None,
        discharges: Sequence[str] = (),
        approvals: str | None = None,
        approval_timeout: float = 300.0,
        poll_interval: float = 2.0,
        progress: Callable[[ApprovalProgress], None] | None = None,
    ) -> None:
        settings = _agent.config(
            token,
            key,
            audience,
            routes=routes,
            request_for=request_for,
            discharges=discharges,
            approvals=approvals,
            approval_timeout=approval_timeout,
            poll_interval=poll_interval,
            progress=progress,
        )
        self._flow = _agent.Flow(settings, httpx2.Request)

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        request.read()
        yield from _agent.drive_sync(self._flow.run(request))

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        flow = self._flow.run(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _agent.Sleep):
                    await anyio.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                response = yield step.request
                if step.read(response):
                    await response.aread()
                step = flow.send(response)
        except StopIteration:
            return
