"""MCP servers and clients with delegation chains (the ``mcp`` extra): every ``tools/call``
checked before the tool runs (:class:`DelegatedTools`), the SDK's own auth plumbing kept
(:class:`DelegationTokenVerifier`), and an agent's session that signs each call
(:class:`DelegatedSession`). ``specs/http.md``, "MCP tools/call"."""

from delegation.mcp.client import DelegatedSession
from delegation.mcp.server import (
    META_CREDENTIAL,
    META_DECLARATION,
    DelegatedTools,
    DelegationTokenVerifier,
    ToolDeclaration,
    current_grant,
)

__all__ = [
    "META_CREDENTIAL",
    "META_DECLARATION",
    "DelegatedSession",
    "DelegatedTools",
    "DelegationTokenVerifier",
    "ToolDeclaration",
    "current_grant",
]
