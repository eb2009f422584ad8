"""``delegation serve`` and ``delegation apikey create``: the verifier service's command line.

The service lives in the ``verifier_service`` package and needs the ``service`` extra; these
commands import it only when run, so the library's own commands never need it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from delegation.cli._common import EXIT_OK, UsageError, add_command, whole

DEFAULT_DATA_DIR = "delegation-data"
DEFAULT_PORT = 8700


def _service_module() -> Any:
    try:
        import uvicorn  # noqa: F401

        from verifier_service import app, service
    except ImportError as exc:
        raise UsageError(
            f"the verifier service needs the service extra (no module {exc.name!r}): "
            "pip install -e '.[service]'"
        ) from exc
    return app, service


def cmd_serve(ns: argparse.Namespace) -> int:
    app_module, service_module = _service_module()
    import uvicorn

    data_dir = Path(ns.data_dir)
    try:
        service = service_module.Service(data_dir)
    except Exception as exc:  # a sealed file under another KEK, a store that will not open
        raise UsageError(f"the service cannot start on {data_dir}: {exc}") from exc
    admin = service.bootstrap_admin()
    base = f"http://{ns.host}:{ns.port}"
    print(f"delegation verifier service on {base} (data in {data_dir.resolve()})")
    if admin is not None:
        print(f"first start: the admin API key is in {admin.resolve()} (mode 0600); keep it safe")
    print(f"API docs: {base}/docs" if not ns.no_docs else "API docs: off (--no-docs)")
    print(
        "try: curl -s -X POST "
        f'{base}/v1/apikeys -H "Authorization: Bearer $(cat {data_dir / "admin.key"})" '
        "-H 'content-type: application/json' "
        '-d \'{"role": "approver", "principal": "alice@example.com"}\'',
        flush=True,
    )
    try:
        uvicorn.run(
            app_module.create_app(service, docs=not ns.no_docs),
            host=ns.host,
            port=ns.port,
            log_level="warning",
        )
    finally:
        service.close()
    return EXIT_OK


def cmd_apikey_create(ns: argparse.Namespace) -> int:
    _, service_module = _service_module()
    if ns.role == "verifier" and not ns.audience:
        raise UsageError("a verifier key serves at least one --audience")
    service = service_module.Service(Path(ns.data_dir))
    try:
        print(service.create_key(ns.role, ns.principal, ns.audience or []))
    finally:
        service.close()
    return EXIT_OK


def register(commands: Any) -> None:
    sub = add_command(
        commands,
        "serve",
        cmd_serve,
        "run the verifier service on its embedded default (SQLite in --data-dir)",
        "Holds the root keys (sealed under a key-encryption key: DELEGATION_KEK, or the "
        "0600 file kek in the data directory), mints tokens for approved tasks, verifies "
        "tool servers' calls, takes revocations and keeps a hash-chained audit log. The first "
        "start writes an admin API key to admin.key in the data directory.",
    )
    sub.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"where the service keeps its files (default ./{DEFAULT_DATA_DIR})",
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sub.add_argument(
        "--port",
        type=whole("--port", 1, 65535),
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    sub.add_argument("--no-docs", action="store_true", help="switch the interactive API docs off")

    keys = commands.add_parser("apikey", help="make API keys for the verifier service")
    actions = keys.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "create",
        help="make an API key with one role; print it once",
        description="Make an API key for the service in --data-dir (run it where the service "
        "keeps its files). The key is printed once and stored hashed.",
    )
    sub.set_defaults(run=cmd_apikey_create)
    sub.add_argument(
        "--role",
        required=True,
        choices=("admin", "approver", "verifier", "auditor"),
        help="admin (keys, revocations), approver (tasks), verifier (verify, settle, the "
        "revocation feed) or auditor (the audit log)",
    )
    sub.add_argument(
        "--principal",
        required=True,
        metavar="WHO",
        help="who holds it: an approver's name is what minted tokens record",
    )
    sub.add_argument(
        "--audience",
        action="append",
        metavar="A",
        help="an audience a verifier key serves (repeat for several)",
    )
    sub.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the service's data directory (default ./{DEFAULT_DATA_DIR})",
    )
