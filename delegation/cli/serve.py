"""The verifier service's command line: ``serve``, ``apikey create``, and an auditor's offline
``audit verify`` and ``receipt verify``.

The service lives in the ``verifier_service`` package and needs the ``service`` extra; these
commands import it only when run, so the library's own commands never need it. The auditor's
two checks need no service dependency at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from delegation.cli._common import (
    EXIT_DENIED,
    EXIT_OK,
    UsageError,
    add_command,
    read_file,
    whole,
)

MAX_AUDIT_BYTES = 1 << 30
"""An exported log read for checking: refused unread beyond this."""


def _read_log(path: str) -> list[str]:
    """An exported log's lines; refused unread when the file is over MAX_AUDIT_BYTES (its size
    is read first, so no buffer of the limit's size is ever made)."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_AUDIT_BYTES:
            raise UsageError(f"audit log {path} is over {MAX_AUDIT_BYTES} bytes")
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read audit log {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"audit log {path} is not UTF-8") from exc


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


def _open(service_module: Any, ns: argparse.Namespace) -> Any:
    """The Service the command line names: a data directory, and the replicas' stores."""
    if ns.redis_url and not ns.database_url:
        raise UsageError("--redis-url needs --database-url: the fast path sits in front of it")
    files = _policy_files(getattr(ns, "policy", None))
    try:
        policies = app_module_policies(files)
        return service_module.Service(
            Path(ns.data_dir),
            database_url=ns.database_url,
            schema=ns.schema,
            redis_url=ns.redis_url,
            policies=policies,
        )
    except Exception as exc:  # a sealed file under another KEK, a store that will not open
        # Every store's error is written to hold no secret (no URL, password or key).
        raise UsageError(f"the service cannot start: {exc}") from exc


def _policy_files(given: list[str] | None) -> dict[str, str]:
    """``--policy AUDIENCE=FILE`` values as a mapping (one set per audience)."""
    out: dict[str, str] = {}
    for text in given or ():
        audience, sep, path = text.partition("=")
        if not sep or not audience or not path:
            raise UsageError(f"--policy takes AUDIENCE=FILE, not {text!r}")
        if audience in out:
            raise UsageError(f"--policy names audience {audience!r} twice")
        out[audience] = str(Path(path).resolve())
    return out


def app_module_policies(files: dict[str, str]) -> dict[str, Any]:
    from verifier_service.app import load_policies

    return load_policies(files)


def _add_storage(sub: Any) -> None:
    sub.add_argument(
        "--database-url",
        metavar="URL",
        default=os.environ.get("DELEGATION_DATABASE_URL") or None,
        help="keep everything in PostgreSQL (postgresql://... or key=value; default "
        "$DELEGATION_DATABASE_URL), shared by replicas; without it, SQLite in --data-dir",
    )
    sub.add_argument(
        "--schema",
        default="delegation",
        metavar="NAME",
        help="the PostgreSQL schema of the token state; the service's own records go in "
        "NAME_service (default delegation)",
    )
    sub.add_argument(
        "--redis-url",
        metavar="URL",
        default=os.environ.get("DELEGATION_REDIS_URL") or None,
        help="claim proof nonces in Redis in front of PostgreSQL (redis://...; default "
        "$DELEGATION_REDIS_URL); a Redis restart costs a few seconds of refusals, never a "
        "replay (specs/state.md)",
    )


def cmd_serve(ns: argparse.Namespace) -> int:
    app_module, service_module = _service_module()
    import uvicorn

    data_dir = Path(ns.data_dir)
    service = _open(service_module, ns)
    admin = service.bootstrap_admin()
    base = f"http://{ns.host}:{ns.port}"
    where = f"data in {data_dir.resolve()}"
    if ns.database_url:
        fast = " with the Redis nonce fast path" if ns.redis_url else ""
        where = f"records in PostgreSQL schemas {ns.schema} and {ns.schema}_service{fast}"
    print(f"delegation verifier service on {base} ({where})")
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
    if ns.workers > 1:
        # Each worker process opens the data directory itself; this one made it and leaves it.
        service.close()
        os.environ[app_module.DATA_DIR_ENV] = str(data_dir.resolve())
        os.environ[app_module.DOCS_ENV] = "0" if ns.no_docs else "1"
        os.environ[app_module.DATABASE_URL_ENV] = ns.database_url or ""
        os.environ[app_module.SCHEMA_ENV] = ns.schema
        os.environ[app_module.REDIS_URL_ENV] = ns.redis_url or ""
        os.environ[app_module.POLICIES_ENV] = json.dumps(_policy_files(ns.policy))
        uvicorn.run(
            "verifier_service.app:from_environment",
            factory=True,
            host=ns.host,
            port=ns.port,
            workers=ns.workers,
            http=app_module.NO_DELAY_HTTP,
            log_level="warning",
        )
        return EXIT_OK
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
    service = _open(service_module, ns)
    try:
        print(service.create_key(ns.role, ns.principal, ns.audience or []))
    finally:
        service.close()
    return EXIT_OK


def _receipt_key(text: str) -> bytes:
    from verifier_service.sealing import unb64

    try:
        key = unb64(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UsageError("--key is the receipt key's public half: 43 characters of base64url")
    return key


def _json_file(path: str, what: str) -> Any:
    try:
        return json.loads(read_file(path, 1 << 20, what))
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON") from exc


def cmd_audit_verify(ns: argparse.Namespace) -> int:
    from verifier_service import audit

    lines = _read_log(ns.log)
    if ns.checkpoint is not None:
        if ns.key is None:
            raise UsageError("--checkpoint needs --key, the receipt key that signed it")
        checkpoint = _json_file(ns.checkpoint, "checkpoint")
        seq = audit.checkpoint_seq(checkpoint, _receipt_key(ns.key))
        if isinstance(seq, str):
            print(f"BROKEN: {seq}")
            return EXIT_DENIED
        upto = audit.check_log(lines, until=seq)
        problem = upto.problem or audit.check_checkpoint(checkpoint, upto)
        if problem is not None:
            print(f"BROKEN: {problem}")
            return EXIT_DENIED
    result = audit.check_log(lines)
    if not result.ok:
        print(f"BROKEN at record {result.at}: {result.problem}")
        return EXIT_DENIED
    signed = " and the signed checkpoint" if ns.checkpoint is not None else ""
    print(f"OK: {result.records} records, chain intact{signed}; head {result.head.hex()}")
    return EXIT_OK


EXPORT_PAGE = 10_000
"""Records per ``GET /v1/audit`` page (the route's largest)."""


def cmd_audit_export(ns: argparse.Namespace) -> int:
    """Page through ``GET /v1/audit`` of a running service into a JSON Lines file: the whole
    log from record 1 (what ``audit verify`` checks), or one task's records. With
    ``--checkpoint``, the signed head is fetched first, so the log exported covers it."""
    try:
        import httpx
    except ImportError as exc:
        raise UsageError("audit export needs httpx: pip install -e '.[service]'") from exc
    key = _api_key(ns)
    base = ns.service.rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}
    out_path = Path(ns.out)
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            if ns.checkpoint is not None:
                head = _fetched(client.get("/v1/audit/checkpoint"), "the checkpoint")
                Path(ns.checkpoint).write_text(head.text + "\n", encoding="utf-8")
            count, after, last = 0, 0, 0
            with out_path.open("w", encoding="utf-8") as out:
                while True:
                    params: dict[str, Any] = {"after": after, "limit": EXPORT_PAGE}
                    if ns.task is not None:
                        params["task"] = ns.task
                    page = _fetched(client.get("/v1/audit", params=params), "the audit log")
                    lines = [line for line in page.text.splitlines() if line.strip()]
                    if not lines:
                        break
                    for line in lines:
                        out.write(line + "\n")
                        last = int(json.loads(line)["seq"])
                    count += len(lines)
                    after = last
    except httpx.HTTPError as exc:
        raise UsageError(f"the service at {base} cannot be reached ({type(exc).__name__})") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot export the audit log: {exc}") from exc
    what = f"task {ns.task!r}'s" if ns.task is not None else "the log's"
    print(f"exported {what} {count} records (up to seq {last}) to {out_path}", file=sys.stderr)
    if ns.task is None:
        check = f"delegation audit verify {out_path}"
        if ns.checkpoint is not None:
            check += f" --checkpoint {ns.checkpoint} --key PUBKEY  (GET /v1/receipt-keys)"
        print(f"check it offline: {check}", file=sys.stderr)
    return EXIT_OK


def _api_key(ns: argparse.Namespace) -> str:
    if ns.key_file is not None:
        text = read_file(ns.key_file, 4096, "API key file").strip()
    else:
        text = os.environ.get("DELEGATION_API_KEY", "").strip()
    if not text:
        raise UsageError("give an auditor's API key: --key-file FILE or $DELEGATION_API_KEY")
    return text


def _fetched(answer: Any, what: str) -> Any:
    if answer.status_code in (401, 403):
        raise UsageError(f"the service refused the API key for {what} ({answer.status_code})")
    if answer.status_code != 200:
        raise UsageError(f"the service answered {answer.status_code} for {what}")
    return answer


def cmd_receipt_verify(ns: argparse.Namespace) -> int:
    from verifier_service import audit

    receipt = _json_file(ns.receipt, "receipt")
    records = None
    if ns.log is not None:
        lines = _read_log(ns.log)
        checked = audit.check_log(lines)
        if not checked.ok:
            print(f"BROKEN log at record {checked.at}: {checked.problem}")
            return EXIT_DENIED
        records = [json.loads(line) for line in lines if line.strip()]
    problem = audit.check_receipt(receipt, _receipt_key(ns.key), records)
    if problem is not None:
        print(f"NOT GENUINE: {problem}")
        return EXIT_DENIED
    body = receipt["body"]
    verdict = "allowed" if body.get("allowed") else f"denied ({body.get('code')})"
    found = " and its record is in the log" if records is not None else ""
    print(f"GENUINE: decision {body.get('decision_id')} {verdict}{found}")
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
    sub.add_argument(
        "--workers",
        type=whole("--workers", 1, 64),
        default=1,
        metavar="N",
        help="serve from N processes sharing the data directory (default 1)",
    )
    sub.add_argument(
        "--policy",
        action="append",
        metavar="AUDIENCE=FILE",
        help="verify calls to AUDIENCE with the policy set in FILE (.cedar, .rego or a "
        "policy.toml manifest; reloaded when it changes); repeat for several audiences",
    )
    _add_storage(sub)

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
    _add_storage(sub)

    group = commands.add_parser(
        "audit", help="export the service's audit log; check an exported log offline"
    )
    actions = group.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "export",
        help="page a running service's audit log into a JSON Lines file",
        description="Fetch every record of GET /v1/audit (or one task's) into --out, page by "
        "page; with --checkpoint, the signed head first. Needs an auditor's (or admin's) API "
        "key, from --key-file or $DELEGATION_API_KEY; never prints it.",
    )
    sub.set_defaults(run=cmd_audit_export)
    sub.add_argument("--service", required=True, metavar="URL", help="the service's base URL")
    sub.add_argument("--key-file", metavar="FILE", help="a file holding the API key")
    sub.add_argument("--out", required=True, metavar="LOG.jsonl", help="the file to write")
    sub.add_argument("--task", metavar="ID", help="only this task's records")
    sub.add_argument("--checkpoint", metavar="FILE", help="also write the signed head here")
    sub = actions.add_parser(
        "verify",
        help="recompute the hash chain of an exported log (GET /v1/audit); exit 1 if broken",
        description="Recompute every record's hash from the first (specs/service.md). With "
        "--checkpoint and --key, also check the service's signed head at its record.",
    )
    sub.set_defaults(run=cmd_audit_verify)
    sub.add_argument("log", metavar="LOG.jsonl", help="the log, as GET /v1/audit exports it")
    sub.add_argument("--checkpoint", metavar="FILE", help="GET /v1/audit/checkpoint's answer")
    sub.add_argument("--key", metavar="PUBKEY", help="the receipt key (GET /v1/receipt-keys)")

    group = commands.add_parser("receipt", help="check a decision's receipt offline")
    actions = group.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    sub = actions.add_parser(
        "verify",
        help="check that a receipt is the service's; exit 1 if not",
        description="Check the receipt's signature with the receipt key; with --log, that its "
        "audit record is in the exported log, with that hash and decision.",
    )
    sub.set_defaults(run=cmd_receipt_verify)
    sub.add_argument("receipt", metavar="RECEIPT.json", help="the receipt a verify answered")
    sub.add_argument(
        "--key", required=True, metavar="PUBKEY", help="the receipt key (GET /v1/receipt-keys)"
    )
    sub.add_argument("--log", metavar="LOG.jsonl", help="the exported audit log")
