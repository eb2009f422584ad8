"""An agent's MCP session that presents its delegation chain on every tool call.

:class:`DelegatedSession` wraps the SDK's ``ClientSession`` (or anything with its
``list_tools`` and ``call_tool``). Each ``call_tool`` derives the call's ``Request`` from the
``audience`` the agent means to call (its own, pinned: never one a server tells it, or a hostile
server that published another server's audience would collect proofs good over there) and the
tool's declaration (published by the server in ``tools/list``, ``_meta["delegation"]``),
signs a fresh proof for exactly that call with the agent's key, and sends the ``dlg1.``
credential in the call's ``_meta["delegation/credential"]``, which every transport carries.
When the server answers ``approval_required`` and names the service's approvals route, it asks
the service for a human's yes to this one call (its token and a signed approval request),
polls until the human decides or ``approval_timeout`` passes (``on_progress`` hears each poll),
and calls once more with the discharges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from delegation._keys import AgentKey
from delegation._proof import prove, prove_for_approval
from delegation.errors import DelegationError
from delegation.http._credential import Credential
from delegation.mcp.server import META_CREDENTIAL, META_DECLARATION, ToolDeclaration


class ApprovalRefused(DelegationError):
    """The human said no, the request expired undecided, or the service refused to ask."""


class DelegatedSession:
    """``session`` with ``token`` held by ``key``, calling the server whose audience is
    ``audience``; ``discharges`` are sent with every call."""

    def __init__(
        self,
        session: Any,
        token: str,
        key: AgentKey,
        *,
        audience: str,
        discharges: Sequence[str] = (),
        approval_timeout: float = 300.0,
        poll_every: float = 1.0,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.token = token
        self.audience = audience
        self._key = key
        self._discharges = tuple(discharges)
        self._timeout = approval_timeout
        self._poll_every = poll_every
        self._progress = on_progress or (lambda _line: None)
        self._declared: dict[str, ToolDeclaration] = {}

    async def list_tools(self) -> Any:
        """The server's ``tools/list`` (the tools this token may call, when it filters), and
        each tool's declaration remembered for the calls."""
        listed = await self.session.list_tools()
        for tool in listed.tools:
            doc = (tool.meta or {}).get(META_DECLARATION)
            # A server naming another audience than the one pinned is not the server this
            # session means to call: its tools get no proof.
            if isinstance(doc, Mapping) and doc.get("audience", self.audience) == self.audience:
                self._declared[tool.name] = ToolDeclaration.from_json(doc)
        return listed

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Call ``name`` with a proof for exactly this call; through a human's approval when
        the server says one is missing (once). Raises MalformedRequest for a tool the server
        declared no check for (or arguments its template cannot take), ApprovalRefused."""
        args = dict(arguments or {})
        if name not in self._declared:
            await self.list_tools()
        if name not in self._declared:
            from delegation.errors import MalformedRequest

            raise MalformedRequest(f"the server declares no delegation check for tool {name!r}")
        request = self._declared[name].request(self.audience, name, args)
        result = await self._call(name, args, request, self._discharges)
        body = (result.meta or {}).get(META_DECLARATION) if result.is_error else None
        if not isinstance(body, Mapping) or body.get("code") != "approval_required":
            return result
        approvals = body.get("approvals")
        if not isinstance(approvals, str):
            return result  # the server names no service to ask: the denial stands
        discharges = await self._approved(approvals, request)
        return await self._call(name, args, request, (*self._discharges, *discharges))

    async def _call(
        self, name: str, args: dict[str, Any], request: Any, discharges: Sequence[str]
    ) -> Any:
        proof = prove(self.token, self._key, request)
        credential = Credential(self.token, proof, tuple(discharges)).encode()
        return await self.session.call_tool(name, args, meta={META_CREDENTIAL: credential})

    async def _approved(self, approvals: str, request: Any) -> list[str]:
        """Ask the service for a human's yes to ``request``; the discharges once given."""
        import httpx2 as httpx

        ask = {
            "token": self.token,
            "request": request.to_json(),
            "proof": prove_for_approval(self.token, self._key, request),
        }
        async with httpx.AsyncClient(timeout=30) as http:
            asked = await http.post(approvals, json=ask)
            if asked.status_code != 201:
                raise ApprovalRefused(
                    f"the service would not ask for an approval ({asked.status_code})"
                )
            found = asked.json()
            poll = httpx.URL(approvals).join(found["poll_url"])
            self._progress(f"waiting for a human's approval ({found['approval_id']})")
            deadline = time.monotonic() + self._timeout
            while True:
                answer = await http.get(poll)
                if answer.status_code == 200:
                    decided = answer.json()
                    if decided.get("state") != "approved":
                        raise ApprovalRefused("the human said no")
                    self._progress("approved")
                    return list(decided["discharges"])
                if answer.status_code != 202:
                    raise ApprovalRefused(f"the approval is gone ({answer.status_code})")
                if time.monotonic() > deadline:
                    raise ApprovalRefused(
                        f"no decision within {self._timeout:.0f} s; the request stays pending"
                    )
                self._progress("still waiting for a human's approval")
                await anyio.sleep(self._poll_every)
