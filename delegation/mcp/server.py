"""MCP servers built with the official ``mcp`` SDK, every ``tools/call`` checked against the
delegation chain before the tool runs (``specs/http.md``, "MCP tools/call").

:class:`DelegatedTools` holds what each tool is (its action, resource template and intent),
and installs itself on an :class:`mcp.server.MCPServer` as a middleware of the SDK's (it sees
each decoded message, after the transport, before the handler):

- ``tools/call``: the call becomes the library's ``Request`` (the server's audience, the tool's
  name, its declared action and intent, the resource template filled from the arguments, the
  arguments). The credential comes from the call's ``_meta["delegation/credential"]`` (every
  transport) or else the ``Authorization`` header of its HTTP request (streamable HTTP); a
  call carrying both must carry the same token. The verifier (a :class:`LocalVerifier` or the
  service, :class:`RemoteVerifier`: the same interface) decides. A denied call is a tool
  error (``isError``) whose text and ``_meta["delegation"]`` are the denial body, with the
  service's approvals URL when a human's yes is what is missing; the tool never runs. An
  allowed call runs with :func:`current_grant` naming the task, the approver and the chain.
- ``tools/list``: each tool carries its declaration in ``_meta["delegation"]``, so that a
  client derives the same ``Request`` as the server; with ``filter_list``, tools the token's
  scope could never allow are left out (the token's claims, unverified: a convenience for the
  agent, not a check; every call is checked).

:class:`DelegationTokenVerifier` is the SDK's ``TokenVerifier`` hook, so that its own auth
plumbing keeps working over streamable HTTP (the 401 with ``WWW-Authenticate`` pointing at the
protected resource metadata, ``get_access_token()`` inside tools): it admits a request whose
``Authorization`` header holds a well-formed ``dlg1.`` credential and answers an
``AccessToken`` with the token's claims, marked unverified; the chain itself is verified per
call, above.

Needs the ``mcp`` extra.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from mcp.server.auth.provider import AccessToken
from mcp.types import CallToolResult, ListToolsResult, TextContent

from delegation._decision import Reason
from delegation._request import Request
from delegation._token import decode
from delegation.caveats import Tool, Validity
from delegation.errors import Code, DelegationError, MalformedRequest, MisuseError
from delegation.http._credential import BadCredential, Credential
from delegation.http._denial import denial
from delegation.http.routes import check_template, fill_template
from delegation.http.verify import CallVerifier, Granted

META_CREDENTIAL: Final = "delegation/credential"
"""Where a ``tools/call`` carries its credential (``dlg1.`` text) on any transport."""
META_DECLARATION: Final = "delegation"
"""Where ``tools/list`` puts each tool's declaration, and a denial its body."""
NOT_DECLARED: Final = "not_declared"

F = TypeVar("F", bound=Callable[..., Any])

_grant: contextvars.ContextVar[Granted | None] = contextvars.ContextVar(
    "delegation_mcp_grant", default=None
)


def current_grant() -> Granted | None:
    """The verified call running now (its ``Request`` and decision: task, approver, chain of
    agents), inside a tool that :class:`DelegatedTools` let through; None elsewhere."""
    return _grant.get()


@dataclass(frozen=True, slots=True)
class ToolDeclaration:
    """What a call to one tool is: ``action``, a ``resource`` template (``{name}`` filled from
    the call's arguments) and an ``intent``. Raises MisuseError for a template that is not
    one."""

    action: str
    resource: str | None = None
    intent: str | None = None

    def __post_init__(self) -> None:
        check_template(self.resource)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "resource": self.resource, "intent": self.intent}

    @classmethod
    def from_json(cls, doc: object) -> ToolDeclaration:
        """A declaration as ``tools/list`` publishes it. Raises MalformedRequest."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("action"), str):
            raise MalformedRequest("a tool's delegation declaration names its action")
        resource, intent = doc.get("resource"), doc.get("intent")
        if not isinstance(resource, str | None) or not isinstance(intent, str | None):
            raise MalformedRequest("a tool's resource template and intent are text or null")
        try:
            return cls(doc["action"], resource, intent)
        except MisuseError as exc:
            raise MalformedRequest(str(exc)) from None

    def request(self, audience: str, tool: str, arguments: Mapping[str, Any]) -> Request:
        """The ``Request`` of a call of ``tool`` with ``arguments``: the one both sides
        derive. Raises MalformedRequest (a placeholder missing from the arguments, or not
        text or an integer; arguments the library's request shape refuses)."""
        if not isinstance(arguments, Mapping):
            raise MalformedRequest("a tool call's arguments are an object")
        resource = None
        if self.resource is not None:
            resource = fill_template(self.resource, arguments, "call's arguments")
        doc: dict[str, Any] = {"audience": audience, "tool": tool, "action": self.action,
                               "args": dict(arguments)}  # fmt: skip
        if resource is not None:
            doc["resource"] = resource
        if self.intent is not None:
            doc["intent"] = self.intent
        return Request.from_json(doc)


class DelegatedTools:
    """The delegation check of one MCP server: ``verifier`` decides, ``audience`` is the
    server's own (its declared resource), ``approvals_url`` the service's approvals route an
    agent asks when a human's yes is missing (``POST {approvals_url}``)."""

    def __init__(
        self,
        verifier: CallVerifier,
        *,
        audience: str,
        approvals_url: str | None = None,
        filter_list: bool = True,
    ) -> None:
        self._verifier = verifier
        self.audience = audience
        self.approvals_url = approvals_url
        self._filter = filter_list
        self._tools: dict[str, ToolDeclaration] = {}

    def declare(
        self, name: str, action: str, resource: str | None = None, intent: str | None = None
    ) -> ToolDeclaration:
        declared = ToolDeclaration(action, resource, intent)
        self._tools[name] = declared
        return declared

    def tool(
        self,
        server: Any,
        *,
        action: str,
        resource: str | None = None,
        intent: str | None = None,
        name: str | None = None,
        **tool_options: Any,
    ) -> Callable[[F], F]:
        """``@tools.tool(server, action=..., resource=...)``: the SDK's ``@server.tool()``
        and this tool's declaration in one."""

        def decorator(fn: F) -> F:
            tool_name = name or fn.__name__
            self.declare(tool_name, action, resource, intent)
            server.tool(name=tool_name, **tool_options)(fn)
            return fn

        return decorator

    def install(self, server: Any) -> None:
        """Put the check in front of ``server`` (an ``MCPServer``): its innermost middleware."""
        server.middleware.append(self)

    # --- the SDK's middleware ---------------------------------------------------------------

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.method == "tools/call":
            return await self._call(ctx, call_next)
        if ctx.method == "tools/list":
            return self._listed(ctx, await call_next(ctx))
        return await call_next(ctx)

    async def _call(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        name = params.get("name")
        arguments = params.get("arguments") or {}
        declared = self._tools.get(name) if isinstance(name, str) else None
        if declared is None:
            return self._refused(NOT_DECLARED, "this tool declares no delegation check")
        try:
            credential = self._credential(ctx, params)
            request = declared.request(self.audience, name, arguments)  # type: ignore[arg-type]
        except BadCredential as exc:
            return self._denied([Reason(exc.code, exc.detail)], None)
        except DelegationError as exc:
            return self._denied([Reason(Code.MALFORMED, str(exc)[:300])], None)
        verdict = await self._verifier.verify(
            credential.token, request, credential.proof, credential.discharges
        )
        decision = verdict.decision
        if not decision.allowed:
            return self._denied(list(decision.reasons), verdict.decision_id)
        grant = Granted(request, decision, verdict.decision_id, verdict.receipt)
        token = _grant.set(grant)
        try:
            return await call_next(ctx)
        finally:
            _grant.reset(token)

    def _credential(self, ctx: Any, params: Mapping[str, Any]) -> Credential:
        meta = params.get("_meta")
        in_meta = meta.get(META_CREDENTIAL) if isinstance(meta, Mapping) else None
        header = _authorization(ctx)
        from_header = None if header is None else Credential.parse(header)
        if in_meta is not None:
            if not isinstance(in_meta, str):
                raise BadCredential(Code.MALFORMED, "the call's credential is dlg1. text")
            credential = Credential.parse("Bearer " + in_meta)
            if from_header is not None and from_header.token != credential.token:
                # Two tokens for one call: refused, never chosen between.
                raise BadCredential(
                    Code.MALFORMED, "the call's credential and its Authorization header differ"
                )
            return credential
        if from_header is None:
            raise BadCredential(Code.TOKEN_REQUIRED, "no delegation credential for this call")
        return from_header

    def _denied(self, reasons: list[Reason], decision_id: str | None) -> CallToolResult:
        body = denial(reasons, realm=self.audience, decision_id=decision_id).body
        codes = [str(r.code) for r in reasons]
        if str(Code.APPROVAL_REQUIRED) in codes and self.approvals_url is not None:
            body["approvals"] = self.approvals_url
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(body, ensure_ascii=False))],
            is_error=True,
            _meta={META_DECLARATION: body},
        )

    def _refused(self, code: str, detail: str) -> CallToolResult:
        reason = {"code": code, "hop": None, "caveat": None, "detail": detail}
        body = {"error": "insufficient_scope", "code": code, "reasons": [reason]}
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(body))],
            is_error=True,
            _meta={META_DECLARATION: body},
        )

    def _listed(self, ctx: Any, result: Any) -> Any:
        """The ``tools/list`` result (its wire form: the chain hands middleware dicts) with
        each declared tool's declaration, undeclared tools and those the token cannot call
        left out."""
        if isinstance(result, ListToolsResult):
            result = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return result
        allowed = self._allowed_tools(ctx) if self._filter else None
        tools = []
        for tool in result["tools"]:
            name = tool.get("name") if isinstance(tool, dict) else None
            declared = self._tools.get(name) if isinstance(name, str) else None
            if declared is None:
                continue  # an undeclared tool is refused: not offered either
            if allowed is not None and not allowed(name):  # type: ignore[arg-type]
                continue
            meta = dict(tool.get("_meta") or {})
            meta[META_DECLARATION] = {"audience": self.audience, **declared.to_json()}
            tools.append({**tool, "_meta": meta})
        return {**result, "tools": tools}

    def _allowed_tools(self, ctx: Any) -> Callable[[str], bool] | None:
        """What the token's claimed tool lists allow (None: cannot tell, list everything)."""
        header = _authorization(ctx)
        if header is None:
            return None
        try:
            token = decode(Credential.parse(header).token)
        except (BadCredential, DelegationError):
            return lambda _name: False
        allowed = _claimed_tools(token)
        if allowed is None:
            return None
        return lambda name: name in allowed


def _authorization(ctx: Any) -> str | None:
    """The ``Authorization`` header of the HTTP request that carried this message, if any
    (None on stdio). More than one is refused as malformed."""
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    values = headers.getlist("authorization") if hasattr(headers, "getlist") else []
    if len(values) > 1:
        raise BadCredential(Code.MALFORMED, "more than one Authorization header")
    return values[0] if values else None


class DelegationTokenVerifier:
    """The SDK's ``TokenVerifier``: admits a well-formed ``dlg1.`` credential (the chain is
    verified per call) and describes it, unverified, to ``get_access_token()``."""

    def __init__(self, audience: str) -> None:
        self.audience = audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            credential = Credential.parse("Bearer " + token)
            parsed = decode(credential.token)
        except (BadCredential, DelegationError):
            return None
        expiries = [c.expires for c in parsed.unsafe_caveats() if type(c) is Validity]
        expires = min((e for e in expiries if e is not None), default=None)
        return AccessToken(
            token=token,
            client_id=parsed.holder.agent_id,
            scopes=[],
            expires_at=expires,
            resource=self.audience,
            claims={
                "verified": False,
                "task_id": parsed.task.task_id,
                "token_id": parsed.token_id,
                "agents": [link.agent_id for link in parsed.agents()],
            },
        )


def _claimed_tools(token: Any) -> set[str] | None:
    """The tools every ``tool`` caveat of ``token`` names (None: no caveat narrows them)."""
    allowed: set[str] | None = None
    for cav in token.unsafe_caveats():
        if type(cav) is Tool:
            allowed = set(cav.names) if allowed is None else allowed & set(cav.names)
    return allowed
