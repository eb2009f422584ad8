"""The integrations' overhead per call (issue 8): a FastAPI route behind ``DelegationMiddleware``
beside the same route bare, and an MCP tool behind ``DelegatedTools`` beside the same tool bare,
each beside the in-process verify of the same call, as ratios. Reported, never asserted.

    .venv/bin/python benchmarks/bench_http.py            # a minute; writes results/http.md
    .venv/bin/python benchmarks/bench_http.py --calls 300 --no-write

Everything runs in one process with no network (httpx's ASGI transport, the MCP SDK's in-memory
client), so the numbers are the CPU cost of each layer: wall time per call, one call at a time,
medians of 5 rounds. The agent's side (a fresh proof per call, with ``DelegationAuth`` or
``DelegatedSession``) is inside the protected numbers, as a real agent pays it; the bare
numbers have no proof to sign. Every protected call is checked to be allowed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from mcp import Client
from mcp.server import MCPServer

from delegation import (
    Agent,
    AgentKey,
    Keyring,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    Verifier,
    mint,
    prove,
)
from delegation.http import DelegationAuth, DelegationMiddleware, LocalVerifier, protect
from delegation.mcp import DelegatedSession, DelegatedTools

HERE = Path(__file__).resolve().parent
ROUNDS = 5


def _token(keyring: Keyring, key: AgentKey) -> str:
    task = TaskRecord(task_id="t-1", approved_by="alice@example.com",
                      approved_at=int(time.time()), statement="bench")  # fmt: skip
    scope = Scope(audiences=["crm"], resources=["crm://accounts/**"], expires_in=3600)
    return mint(keyring, task, Agent("agent", key.public_key), scope).encode()


def _app(protected: bool, keyring: Keyring) -> FastAPI:
    app = FastAPI()

    async def handler(account_id: int, request: HttpRequest) -> dict[str, int]:
        return {"account": account_id}

    endpoint: Any = handler
    if protected:
        endpoint = protect("crm.notes.read", "read", "crm://accounts/{account_id}/notes")(handler)
    app.get("/accounts/{account_id}/notes")(endpoint)
    if protected:
        verifier = LocalVerifier(keyring, MemoryState())
        app.add_middleware(DelegationMiddleware, verifier=verifier, audience="crm")
    return app


async def _rounds(call: Callable[[], Awaitable[None]], calls: int) -> float:
    """Median microseconds per call over ROUNDS rounds of ``calls`` calls."""
    for _ in range(20):
        await call()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        times.append(1e6 * (time.perf_counter() - started) / calls)
    return statistics.median(times)


async def _http(calls: int, keyring: Keyring, key: AgentKey, token: str) -> dict[str, float]:
    out = {}
    for name, protected in (("bare", False), ("protected", True)):
        transport = httpx.ASGITransport(app=_app(protected, keyring))
        auth = DelegationAuth(token, key, audience="crm") if protected else None
        async with httpx.AsyncClient(transport=transport, base_url="http://crm", auth=auth) as c:

            async def call(client: httpx.AsyncClient = c) -> None:
                answer = await client.get("/accounts/42/notes")
                if answer.status_code != 200:
                    raise SystemExit(f"a timed HTTP call was refused: {answer.text}")

            out[name] = await _rounds(call, calls)
    return out


def _mcp_server(protected: bool, keyring: Keyring) -> MCPServer:
    server = MCPServer("crm")

    def read_notes(account_id: str) -> str:
        return account_id

    if protected:
        tools = DelegatedTools(LocalVerifier(keyring, MemoryState()), audience="crm")
        tools.tool(server, action="read", resource="crm://accounts/{account_id}/notes")(read_notes)
        tools.install(server)
    else:
        server.tool()(read_notes)
    return server


async def _mcp(calls: int, keyring: Keyring, key: AgentKey, token: str) -> dict[str, float]:
    out = {}
    for name, protected in (("bare", False), ("protected", True)):
        async with Client(_mcp_server(protected, keyring)) as client:
            session: Any = DelegatedSession(client, token, key, audience="crm")
            caller = session if protected else client

            async def call(caller: Any = caller) -> None:
                result = await caller.call_tool("read_notes", {"account_id": "42"})
                if result.is_error:
                    raise SystemExit(f"a timed MCP call was refused: {result.content}")

            out[name] = await _rounds(call, calls)
    return out


def _verify_alone(calls: int, keyring: Keyring, key: AgentKey, token: str) -> float:
    """The in-process verify of the HTTP route's call, a fresh proof each (signed outside the
    timing: the verifier's share alone)."""
    verifier = Verifier(keyring, state=MemoryState())
    request = Request.from_json({"audience": "crm", "tool": "crm.notes.read", "action": "read",
                                 "resource": "crm://accounts/42/notes",
                                 "args": {"account_id": 42}})  # fmt: skip
    proofs = [prove(token, key, request) for _ in range(calls * ROUNDS + 20)]
    for proof in proofs[:20]:
        assert verifier.verify(token, request, proof).allowed
    times = []
    for r in range(ROUNDS):
        chunk = proofs[20 + r * calls : 20 + (r + 1) * calls]
        started = time.perf_counter()
        for proof in chunk:
            if not verifier.verify(token, request, proof).allowed:
                raise SystemExit("an in-process verify was not an allow")
        times.append(1e6 * (time.perf_counter() - started) / calls)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per round")
    parser.add_argument("--no-write", action="store_true")
    ns = parser.parse_args(argv)
    keyring, key = Keyring.generate(), AgentKey.generate()
    token = _token(keyring, key)
    http = anyio.run(_http, ns.calls, keyring, key, token)
    mcp = anyio.run(_mcp, ns.calls, keyring, key, token)
    verify = _verify_alone(ns.calls, keyring, key, token)
    sign = _sign_alone(ns.calls, key, token)
    text = _render(http, mcp, verify, sign, ns.calls)
    print(text)
    if not ns.no_write:
        (HERE / "results" / "http.md").write_text(text, encoding="utf-8")
    return 0


def _sign_alone(calls: int, key: AgentKey, token: str) -> float:
    request = Request.from_json({"audience": "crm", "tool": "crm.notes.read", "action": "read",
                                 "resource": "crm://accounts/42/notes"})  # fmt: skip
    started = time.perf_counter()
    for _ in range(calls):
        prove(token, key, request)
    return 1e6 * (time.perf_counter() - started) / calls


def _render(
    http: dict[str, float], mcp: dict[str, float], verify: float, sign: float, calls: int
) -> str:
    def row(name: str, numbers: dict[str, float]) -> str:
        bare, protected = numbers["bare"], numbers["protected"]
        extra = protected - bare
        return (
            f"| {name} | {bare:.0f} | {protected:.0f} | {protected / bare:.2f}x | {extra:.0f} |"
            f" {extra / verify:.2f}x |"
        )

    return "\n".join(
        [
            "# The integrations' overhead per call (issue 8)",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.platform()}",
            f"- python: {platform.python_version()}; load average at the end: "
            + " / ".join(f"{x:.2f}" for x in os.getloadavg()),
            f"- {calls} calls per round, median of {ROUNDS} rounds, one call at a time, in one"
            " process without network (httpx's ASGI transport; the MCP SDK's in-memory client);"
            " local mode, MemoryState; every protected call checked to be allowed",
            "- command: `python benchmarks/bench_http.py`",
            "",
            "| layer | bare handler, us | protected, us | protected / bare | added, us |"
            " added / in-process verify |",
            "|---|---:|---:|---:|---:|---:|",
            row("FastAPI route + DelegationMiddleware, httpx + DelegationAuth", http),
            row("MCP tool + DelegatedTools, SDK client + DelegatedSession", mcp),
            "",
            f"In-process verify of the same call (fresh proof, MemoryState): {verify:.0f} us; the"
            f" agent's proof signature: {sign:.0f} us. What a protected call adds beyond those two"
            " is the layer's own work: reading the credential, deriving the `Request` (both"
            " sides), the denial-or-grant plumbing.",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
