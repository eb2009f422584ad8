"""The service's operations, HTTP-free: what each route asks, as library calls and records.

:class:`Service` holds the root keyring and the receipt key (sealed at rest in the data
directory), the library's state (``state.db``), the verifier, and the service's own records
(``service.db``). Every operation that the audit log must remember appends its record, and
is answered only once that record is committed. Nothing here decides anything about tokens:
the library does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from delegation import (
    Agent,
    AgentKey,
    Decision,
    Keyring,
    MalformedRequest,
    Reason,
    Request,
    Revocation,
    RevocationKind,
    Scope,
    SQLiteState,
    TaskRecord,
    Verifier,
    mint,
)
from delegation.caveats import Validity
from delegation.errors import Code
from delegation.stores import SettledCharge, State
from verifier_service.sealing import (
    CHECKPOINT_DOMAIN,
    RECEIPT_DOMAIN,
    Signer,
    b64,
    load_kek,
    seal,
    unb64,
    unseal,
    write_private,
)
from verifier_service.store import ApiKey, AuditRecord, ServiceStore

KEYRING_FILE: Final = "keyring.sealed"
RECEIPT_KEY_FILE: Final = "receipt-key.sealed"
ADMIN_KEY_FILE: Final = "admin.key"


class NotFound(Exception):
    """No such task (or other named thing)."""


class Conflict(Exception):
    """The thing exists already, or is in a state that forbids the operation."""


@dataclass(frozen=True, slots=True)
class Verified:
    decision: Decision
    decision_id: str
    receipt: dict[str, Any]


def _load_sealed(path: Path, kek: bytes, make: Callable[[], bytes]) -> bytes:
    """The plaintext sealed in ``path``, made (and sealed) by ``make`` on the first start."""
    if not path.exists():
        write_private(path, b64(seal(kek, path.name, make())) + "\n")
    return unseal(kek, path.name, unb64(path.read_text(encoding="ascii").strip()))


class Service:
    """One service instance over ``data_dir``. ``clock`` gives Unix seconds."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        state: State | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir = data_dir
        self.clock = clock
        kek = load_kek(data_dir, environ)
        keyring_json = _load_sealed(
            data_dir / KEYRING_FILE, kek, lambda: Keyring.generate().to_json().encode()
        )
        self.keyring = Keyring.from_json(keyring_json.decode())
        seed = _load_sealed(data_dir / RECEIPT_KEY_FILE, kek, lambda: secrets.token_bytes(32))
        self.signer = Signer(AgentKey.from_seed(seed))
        if state is None:
            state_path = data_dir / "state.db"
            state = SQLiteState.create(state_path)
        self.state = state
        self.store = ServiceStore(data_dir / "service.db")
        self.verifier = Verifier(self.keyring, state=self.state, clock=clock)

    def close(self) -> None:
        self.store.close()
        self.state.close()

    def now(self) -> int:
        return int(self.clock())

    # --- bootstrap --------------------------------------------------------------------------

    def bootstrap_admin(self) -> Path | None:
        """On the first start, an admin key written to ``admin.key`` (0600); its path, or None
        when keys exist already."""
        if self.store.has_keys():
            return None
        _, text = self.store.create_key("admin", "admin", (), self.now())
        path = self.data_dir / ADMIN_KEY_FILE
        write_private(path, text + "\n")
        return path

    def create_key(self, role: str, principal: str, audiences: Sequence[str]) -> str:
        key, text = self.store.create_key(role, principal, tuple(audiences), self.now())
        self.store.append(
            {"kind": "api_key", "key_id": key.key_id, "role": role, "principal": principal,
             "audiences": list(audiences)},
            self.now(),
        )  # fmt: skip
        return text

    # --- tasks ------------------------------------------------------------------------------

    def mint_task(
        self,
        approver: ApiKey,
        task_id: str | None,
        statement: str,
        holder: Agent,
        scope: Scope,
    ) -> dict[str, Any]:
        """A person approved a task: mint its root token for ``holder``. The approver recorded
        in the token is the credential's principal, never a name from the request. Raises
        Conflict for a task id in use, AuthoringError (and friends) for a bad scope."""
        now = self.now()
        task = TaskRecord(
            task_id=task_id or f"task-{secrets.token_hex(8)}",
            approved_by=approver.principal,
            approved_at=now,
            statement=statement,
        )
        token = mint(self.keyring, task, holder, scope, now=now)
        expires = min(
            (c.expires for c in token.unsafe_caveats() if isinstance(c, Validity) and c.expires),
            default=now,
        )
        row = {
            "task_id": task.task_id,
            "approved_by": task.approved_by,
            "approved_at": now,
            "statement": task.statement,
            "holder_id": holder.agent_id,
            "holder_key": b64(holder.public_key),
            "token_id": token.token_id,
            "root_id": token.root_id,
            "expires_at": expires,
        }
        record = {
            "kind": "mint",
            "task_id": task.task_id,
            "approved_by": task.approved_by,
            "task_digest": task.digest(),
            "holder_id": holder.agent_id,
            "holder_key": row["holder_key"],
            "token_id": token.token_id,
            "root_id": token.root_id,
            "key_id": token.identifier.key_id,
            "expires_at": expires,
            "caveats": [c.name for c in token.unsafe_caveats()],
        }
        try:
            self.store.add_task(row, record, now)
        except KeyError as exc:
            raise Conflict(f"task {task.task_id!r} exists already") from exc
        return {**row, "token": token.encode()}

    def task(self, task_id: str) -> dict[str, Any]:
        found = self.store.task(task_id)
        if found is None:
            raise NotFound(f"no task {task_id!r}")
        return found

    def close_task(self, approver: ApiKey, task_id: str) -> dict[str, Any]:
        """Revoke everything under the task (once) and record who closed it."""
        self.task(task_id)
        now = self.now()
        self.state.revoke(Revocation(RevocationKind.TASK, task_id), now)
        record = {"kind": "revocation", "revocation": "task", "value": task_id,
                  "task_id": task_id, "by": approver.principal}  # fmt: skip
        self.store.close_task(task_id, record, now)
        return self.task(task_id)

    # --- verify -----------------------------------------------------------------------------

    def verify(self, verifier_key: ApiKey, call: Mapping[str, Any]) -> Verified:
        """One call: the library's decision, its audit record (committed first), a receipt."""
        now = self.now()
        token, proof = call["token"], call.get("proof")
        try:
            request: Request | None = Request.from_json(call["request"])
        except MalformedRequest as exc:
            request, problem = None, exc
        if request is None:
            decision = Decision(False, (Reason(Code.MALFORMED, str(problem)),), at=now)
        else:
            decision = self.verifier.verify(
                token,
                request,
                proof,
                discharges=call.get("discharges", ()),
                reserve=bool(call.get("reserve", False)),
            )
        decision_id = secrets.token_hex(16)
        record = _decision_record(decision, decision_id, request, verifier_key)
        audited = self.store.append(record, now)
        return Verified(decision, decision_id, self._receipt(decision, decision_id, audited))

    def _receipt(
        self, decision: Decision, decision_id: str, audited: AuditRecord
    ) -> dict[str, Any]:
        body = {
            "decision_id": decision_id,
            "allowed": decision.allowed,
            "code": None if decision.code is None else str(decision.code),
            "task_id": None if decision.task is None else decision.task.task_id,
            "token_id": decision.token_id,
            "request_digest": audited.record.get("request_digest"),
            "at": audited.record["at"],
            "audit_seq": audited.seq,
            "audit_hash": audited.hash.hex(),
            "key_id": self.signer.key_id,
        }
        return {"body": body, "signature": self.signer.sign(RECEIPT_DOMAIN, body)}

    def settle(
        self, verifier_key: ApiKey, reservation: str, costs: Mapping[str, int] | None
    ) -> list[SettledCharge]:
        if costs is None:
            settled = self.verifier.release(reservation)
        else:
            settled = self.verifier.settle(reservation, costs)
        self.store.append(
            {"kind": "settle", "reservation": reservation, "by": verifier_key.key_id,
             "charges": [[c.unit, c.held, c.charged] for c in settled]},
            self.now(),
        )  # fmt: skip
        return settled

    # --- revocations --------------------------------------------------------------------------

    def revoke(self, admin: ApiKey, kind: str, value: str) -> dict[str, Any]:
        """``kind`` is token, task, hop (a hop id: the token kind), agent or key."""
        revocation = Revocation(
            RevocationKind.TOKEN if kind == "hop" else RevocationKind(kind), value
        )
        now = self.now()
        self.state.revoke(revocation, now)
        audited = self.store.append(
            {"kind": "revocation", "revocation": kind, "value": revocation.value,
             "by": admin.principal},
            now,
        )  # fmt: skip
        return {"kind": kind, "value": revocation.value, "revoked_at": now, "cursor": audited.seq}

    def revocation_feed(self, since: int, limit: int) -> dict[str, Any]:
        records = self.store.records(after=since, kind="revocation", limit=limit)
        items = [
            {"cursor": r.seq, "kind": r.record["revocation"], "value": r.record["value"],
             "revoked_at": r.record["at"]}
            for r in records
        ]  # fmt: skip
        return {"revocations": items, "cursor": items[-1]["cursor"] if items else since}

    # --- the record ---------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        seq, head = self.store.head()
        body = {"seq": seq, "head": head.hex(), "at": self.now(), "key_id": self.signer.key_id}
        return {"body": body, "signature": self.signer.sign(CHECKPOINT_DOMAIN, body)}

    def receipt_keys(self) -> list[dict[str, str]]:
        return [{"key_id": self.signer.key_id, "public_key": b64(self.signer.public_key)}]


def _decision_record(
    decision: Decision, decision_id: str, request: Request | None, key: ApiKey
) -> dict[str, Any]:
    """What the log keeps of a decision: ids and digests, never the token, proof or
    discharges."""
    record: dict[str, Any] = {
        "kind": "decision",
        "decision_id": decision_id,
        "allowed": decision.allowed,
        "codes": [str(r.code) for r in decision.reasons],
        "reasons": [[str(r.code), r.hop, r.caveat] for r in decision.reasons],
        "task_id": None if decision.task is None else decision.task.task_id,
        "token_id": decision.token_id,
        "root_id": decision.root_id,
        "agents": [link.agent_id for link in decision.agents],
        "hop_ids": [link.hop_id for link in decision.agents[1:]],
        "verifier": key.key_id,
    }
    if request is not None:
        record["request_digest"] = request.digest().hex()
        record["call"] = {"audience": request.audience, "tool": request.tool,
                          "action": request.action, "resource": request.resource}  # fmt: skip
    if decision.budgets:
        record["budgets"] = [[b.unit, b.charged, b.spent, b.total] for b in decision.budgets]
    if decision.reservation is not None:
        record["reservation"] = decision.reservation
    return record
