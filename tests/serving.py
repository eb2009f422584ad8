"""An ASGI app served by uvicorn on loopback, in a thread of the test process: the one way the
tests run a real server (the verifier service, a tool server, an MCP server)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


def serve_asgi(
    app: Any, *, port: int = 0, what: str = "the server"
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start ``app`` on ``port`` (0: a free one) and wait until it listens. Returns the
    server (set ``should_exit`` to stop it), its thread and its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{bound}"
