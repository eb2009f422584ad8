"""``delegation serve --workers N``: uvicorn binds the listening socket with ``proto`` 0, and
asyncio then leaves Nagle's algorithm on for every accepted connection (each response waited
some 40 ms for the client's delayed ACK). The service's HTTP protocol turns it off itself."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from verifier_service.app import NoDelayH11Protocol


async def _accepted_nodelay(protocol: Any) -> int:
    config = uvicorn.Config(app=_app, log_level="warning")
    config.load()
    state = ServerState()
    listener = socket.socket(family=socket.AF_INET)  # as uvicorn's bind_socket makes it
    assert listener.proto == 0
    listener.bind(("127.0.0.1", 0))
    seen: list[int] = []

    def make() -> asyncio.Protocol:
        made: asyncio.Protocol = (protocol or NoDelayH11Protocol)(config, state, {})
        original = made.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            original(transport)
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        made.connection_made = connection_made  # type: ignore[method-assign]
        return made

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    writer.close()
    server.close()
    return seen[0]


async def _app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError


def test_accepted_connections_have_nagle_off() -> None:
    assert asyncio.run(_accepted_nodelay(None)) == 1


def test_without_it_asyncio_leaves_nagle_on_for_such_a_socket() -> None:
    """The reason the protocol exists: with uvicorn's own, the option stays 0."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    assert asyncio.run(_accepted_nodelay(H11Protocol)) == 0
