"""The service's operations, HTTP-free: what each route asks, as library calls and records.

:class:`Service` holds the root keyring and the receipt key (sealed at rest in the data
directory), the library's state (``state.db``), the verifier, and the service's own records
(``service.db``). Every operation that the audit log must remember appends its record, and
is answered only once that record is committed. Nothing here decides anything about tokens:
the library does.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from delegation import (
    Agent,
    AgentKey,
    Approver,
    ApproverKey,
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
    bind_discharge,
    mint,
    require_approval,
)
from delegation.caveats import Validity
from delegation.errors import Code
from delegation.stores import SettledCharge, State, StateQuery, StoreUnavailable
from verifier_service.metrics import Metrics
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
from verifier_service.store import ApiKey, Approval, AuditRecord, ServiceStore, StoreError

KEYRING_FILE: Final = "keyring.sealed"
RECEIPT_KEY_FILE: Final = "receipt-key.sealed"
APPROVER_KEY_FILE: Final = "approver-key.sealed"
APPROVAL_REQUEST_SECONDS: Final = 3600
"""How long an approval request waits for a human's decision before it can no longer be
decided."""
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


TREE_RECORDS: Final = 10_000
"""Audit records one task tree is built from at most; a longer task's tree says it is partial
and where to go on (``GET /v1/audit?task=&after=`` has every record)."""
SEEN_CHAINS: Final = 65_536
"""Token ids a process remembers having recorded the chain of (``chain`` records)."""
KEY_REFRESH_SECONDS: Final = 1.0
"""At most this often, a token under a root key id this process does not know makes it look
for a keyring another replica rotated."""


class Service:
    """One service instance over ``data_dir``. ``clock`` gives Unix seconds."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        state: State | None = None,
        environ: dict[str, str] | None = None,
        database_url: str | None = None,
        schema: str = "delegation",
        redis_url: str | None = None,
        policies: Mapping[str, Any] | None = None,
    ) -> None:
        """On ``data_dir`` alone: the embedded default, every record in SQLite files there.
        With ``database_url``: replicas, the state in PostgreSQL schema ``schema`` and the
        service's records (sealed keys included) in ``<schema>_service``; the data directory
        then holds only the KEK file (when ``DELEGATION_KEK`` is not set) and the admin key.
        With ``redis_url`` too, proof nonces are claimed in Redis in front of PostgreSQL
        (:class:`~delegation.stores.redis.RedisState`). ``policies`` maps an audience to its
        policy set (``delegation.policy.load_policy``): calls to that audience are verified
        with it (step 8a), the others with none. Raises StoreError, StoreUnavailable,
        SealError, ValueError."""
        if redis_url is not None and database_url is None:
            raise ValueError("the Redis fast path sits in front of PostgreSQL: give a database URL")
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir = data_dir
        self.clock = clock
        self.schema = schema if database_url is not None else None
        self.backend = "sqlite" if database_url is None else "postgres"
        if redis_url is not None:
            self.backend = "postgres+redis"
        self._kek = load_kek(data_dir, environ)
        if database_url is None:
            self.store = ServiceStore.sqlite(data_dir / "service.db")
        else:
            self.store = ServiceStore.postgres(database_url, f"{schema}_service")
        try:
            if state is None and database_url is None:
                state = SQLiteState.create(data_dir / "state.db", group_commit=True)
            elif state is None:
                from delegation.stores.postgres import PostgresState

                state = PostgresState.create(database_url or "", schema=schema)
                if redis_url is not None:
                    from delegation.stores.redis import RedisState

                    state = RedisState(state, redis_url, prefix=f"delegation:{schema}")
            self.state = state
            self._keyring_version, self.keyring = self._load_keyring()
            seed = self._sealed(RECEIPT_KEY_FILE, lambda: secrets.token_bytes(32))
            self.signer = Signer(AgentKey.from_seed(seed))
            approver_seed = self._sealed(APPROVER_KEY_FILE, lambda: secrets.token_bytes(32))
            self.approver = Approver(ApproverKey.from_seed(approver_seed))
        except BaseException:
            self.store.close()
            if state is not None:
                state.close()
            raise
        self.policies: dict[str, Any] = dict(policies or {})
        self._keys_lock = threading.Lock()
        self._build_verifiers(self.keyring)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._keys_checked = 0.0
        self.metrics = Metrics()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="delegation-batch")

    # --- sealed key material ----------------------------------------------------------------

    def _sealed_blob(self, name: str, make: Callable[[], bytes]) -> tuple[int, bytes]:
        """The sealed blob ``name`` and its version, from the store; on the first start the
        one a data directory of an earlier version holds as a file, else a new one."""

        def first() -> bytes:
            legacy = self.data_dir / name
            if legacy.exists():
                return unb64(legacy.read_text(encoding="ascii").strip())
            return seal(self._kek, name, make())

        return self.store.sealed(name, first)

    def _sealed(self, name: str, make: Callable[[], bytes]) -> bytes:
        return unseal(self._kek, name, self._sealed_blob(name, make)[1])

    def _load_keyring(self) -> tuple[int, Keyring]:
        version, blob = self._sealed_blob(
            KEYRING_FILE, lambda: Keyring.generate().to_json().encode()
        )
        return version, Keyring.from_json(unseal(self._kek, KEYRING_FILE, blob).decode())

    def _use_keyring(self, version: int, keyring: Keyring) -> None:
        with self._keys_lock:
            if version > self._keyring_version:
                # A keyring is immutable and a verifier's caches are a function of it: a new
                # keyring means a new verifier (the old one's cached chains go with it).
                self._keyring_version, self.keyring = version, keyring
                self._build_verifiers(keyring)

    def _build_verifiers(self, keyring: Keyring) -> None:
        """The verifier for audiences without a policy set, and one per audience with one."""
        self._by_audience = {
            audience: Verifier(keyring, state=self.state, clock=self.clock, policy=policy)
            for audience, policy in self.policies.items()
        }
        self.verifier = Verifier(keyring, state=self.state, clock=self.clock)

    def refresh_keys(self, *, force: bool = False) -> bool:
        """Take the keyring another replica rotated or retired into, if it changed; at most
        every KEY_REFRESH_SECONDS unless ``force``. Whether it changed."""
        now = time.monotonic()
        if not force and now - self._keys_checked < KEY_REFRESH_SECONDS:
            return False
        self._keys_checked = now
        if self.store.sealed_version(KEYRING_FILE) == self._keyring_version:
            return False
        self._use_keyring(*self._load_keyring())
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()
        self.state.close()

    def not_ready(self) -> str | None:
        """Why a store cannot be used now (a sentence without secrets), or None when every
        one can: the service's records, the token state and, if configured, the Redis fast
        path."""
        checks: list[tuple[str, Callable[[], object]]] = [
            ("service records", self.store.ping),
            # one indexed read (a budget nobody has): the state answers, whatever its size
            ("token state", lambda: self.state.spent(bytes(32), self.now())),
        ]
        ping = getattr(self.state, "ping", None)
        if ping is not None:
            checks.append(("redis fast path", ping))
        for audience, policy in sorted(self.policies.items()):
            checks.append((f"policy set for {audience}", functools.partial(_policy_loads, policy)))
        for name, check in checks:
            try:
                check()
            except StoreUnavailable as exc:
                return f"{name}: {exc.reason} ({exc.detail})"
            except StoreError as exc:
                return f"{name}: {exc}"
        return None

    def policy_revisions(self) -> dict[str, str]:
        """Each audience's policy set revision in force."""
        return {audience: str(policy.revision) for audience, policy in self.policies.items()}

    def now(self) -> int:
        return int(self.clock())

    # --- bootstrap --------------------------------------------------------------------------

    def bootstrap_admin(self) -> Path | None:
        """On the first start, an admin key written to ``admin.key`` (0600); its path, or None
        when keys exist already."""
        made = self.store.create_first_key("admin", "admin", self.now())
        if made is None:
            return None
        _, text = made
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

    def revoke_key(self, admin: ApiKey, key_id: str) -> dict[str, Any]:
        """Revoke an API key: refused from its next request. Raises NotFound for no such
        live key, Conflict for the admin's own key (an admin cannot lock itself out)."""
        if key_id == admin.key_id:
            raise Conflict("an admin key cannot revoke itself")
        record = {"kind": "api_key_revoked", "key_id": key_id, "by": admin.principal}
        if not self.store.revoke_key(key_id, record, self.now()):
            raise NotFound(f"no live API key {key_id!r}")
        return {"key_id": key_id, "revoked": True}

    # --- tasks ------------------------------------------------------------------------------

    def mint_task(
        self,
        approver: ApiKey,
        task_id: str | None,
        statement: str,
        holder: Agent,
        scope: Scope,
        needs_approval: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A person approved a task: mint its root token for ``holder``. The approver recorded
        in the token is the credential's principal, never a name from the request. Calls
        matching ``needs_approval`` (``tool`` or ``tool:action``) need a human's yes through
        this service's approvals. Raises Conflict for a task id in use, AuthoringError (and
        friends) for a bad scope."""
        self.refresh_keys(force=True)  # mint under the current key, whoever rotated it
        now = self.now()
        task = TaskRecord(
            task_id=task_id or f"task-{secrets.token_hex(8)}",
            approved_by=approver.principal,
            approved_at=now,
            statement=statement,
        )
        token = mint(self.keyring, task, holder, scope, now=now)
        if needs_approval:
            token = require_approval(token, self.approver.public_key, rules=needs_approval)
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
        """One call: the library's decision, its audit record (committed first), a receipt.
        Raises StoreError when the record cannot be written: then there is no answer."""
        started = time.perf_counter()
        now = self.now()
        token, proof = call["token"], call.get("proof")
        try:
            request: Request | None = Request.from_json(call["request"])
        except MalformedRequest as exc:
            request, problem = None, exc
        if request is None:
            decision = Decision(False, (Reason(Code.MALFORMED, str(problem)),), at=now)
        else:
            decision = self._verify(token, request, proof, call)
            if decision.code is Code.UNKNOWN_KEY and self.refresh_keys():
                # Minted under a key another replica rotated in since: this process knows it
                # now. Step 1 denied before anything was claimed, so checking again is safe.
                decision = self._verify(token, request, proof, call)
        decision_id = secrets.token_hex(16)
        record = _decision_record(decision, decision_id, request, verifier_key)
        try:
            if decision.agents and self._first_sight(decision.token_id):
                self.store.append(_chain_record(token, decision), now)
            audited = self.store.append(record, now)
        except StoreError:
            # An allow without a trace is a hole: no answer at all (the route says 503).
            self.metrics.audit_failures.inc()
            raise
        if decision.reservation is not None:
            self.store.add_reservation(decision.reservation, verifier_key.key_id, now)
        code = "none" if decision.code is None else str(decision.code)
        self.metrics.decisions.labels(str(decision.allowed).lower(), code).inc()
        self.metrics.verify_seconds.observe(time.perf_counter() - started)
        return Verified(decision, decision_id, self._receipt(decision, decision_id, audited))

    def _first_sight(self, token_id: str | None) -> bool:
        """Whether this process has not yet recorded the chain of ``token_id``. Bounded; a
        token forgotten (or seen first by another replica) is recorded again, which the tree
        merges."""
        if token_id is None:
            return False
        with self._seen_lock:
            if token_id in self._seen:
                self._seen.move_to_end(token_id)
                return False
            self._seen[token_id] = None
            if len(self._seen) > SEEN_CHAINS:
                self._seen.popitem(last=False)
            return True

    def _verify(
        self, token: str, request: Request, proof: str | None, call: Mapping[str, Any]
    ) -> Decision:
        verifier = self._by_audience.get(request.audience, self.verifier)
        return verifier.verify(
            token,
            request,
            proof,
            discharges=call.get("discharges", ()),
            reserve=bool(call.get("reserve", False)),
        )

    def verify_many(
        self, verifier_key: ApiKey, calls: Sequence[Mapping[str, Any]]
    ) -> list[Verified]:
        """Several calls at once, answered in order. They run side by side, so their state
        claims and audit records share commits (group commit) instead of a sync each."""
        if len(calls) <= 1:
            return [self.verify(verifier_key, call) for call in calls]
        return list(self._pool.map(lambda call: self.verify(verifier_key, call), calls))

    def _receipt(
        self, decision: Decision, decision_id: str, audited: AuditRecord
    ) -> dict[str, Any]:
        return self._receipt_of(audited)

    def _receipt_of(self, audited: AuditRecord) -> dict[str, Any]:
        """The receipt of a decision record: a function of the record alone, and Ed25519
        signatures are deterministic, so the task tree hands out the very receipt the tool
        server got."""
        record = audited.record
        body = {
            "decision_id": record["decision_id"],
            "allowed": record["allowed"],
            "code": record["codes"][0] if record["codes"] else None,
            "task_id": record["task_id"],
            "token_id": record["token_id"],
            "request_digest": record.get("request_digest"),
            "at": record["at"],
            "audit_seq": audited.seq,
            "audit_hash": audited.hash.hex(),
            "key_id": self.signer.key_id,
        }
        if record.get("policy") is not None:  # a call its audience's policy set was asked about
            body["policy"] = record["policy"]
        return {"body": body, "signature": self.signer.sign(RECEIPT_DOMAIN, body)}

    # --- the task tree --------------------------------------------------------------------

    def task_tree(self, task_id: str) -> dict[str, Any]:
        """Who delegated to whom under the task, with what narrowing, and every call each
        agent made with its decision, approvals and receipt; built from the audit log alone
        (the first TREE_RECORDS of the task's records). Raises NotFound."""
        task = self.task(task_id)
        records = self.store.records(task_id=task_id, limit=TREE_RECORDS + 1)
        partial = len(records) > TREE_RECORDS
        return {
            "task": task,
            **build_tree(records[:TREE_RECORDS], self._receipt_of),
            "partial": partial,
            "next_after": records[TREE_RECORDS - 1].seq if partial else None,
        }

    def settle(
        self, verifier_key: ApiKey, reservation: str, costs: Mapping[str, int] | None
    ) -> list[SettledCharge]:
        """Settle (``costs``) or release (None) a reservation this verifier key made. Raises
        Conflict for another key's reservation (nothing changes), SettleRefused."""
        owner = self.store.reservation_owner(reservation)
        if owner is not None and owner != verifier_key.key_id:
            raise Conflict("the reservation was made for another verifier key")
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

    # --- approvals ----------------------------------------------------------------------------

    def ask_approval(
        self, token: str, request_doc: Mapping[str, Any], proof: str
    ) -> dict[str, Any]:
        """An agent asks for a human's yes to one call, authenticated by its genuine token and
        its signed approval request. Raises TokenError or Denied for a token that does not
        check out, MalformedRequest, BadProof, BadDischarge, and NotFound when the call needs
        no approval from this service, Conflict for a revoked token."""
        now = self.now()
        chain = self.verifier.check_chain(token)  # only genuine tokens may ask a human
        answer = self.state.check(StateQuery(chain.revocation_candidates()), now)
        if answer.revoked is not None:
            raise Conflict("the token is revoked: nobody will be asked to approve its calls")
        request = Request.from_json(request_doc)
        pending = self.approver.pending(token, request, proof, now=now)
        if not pending:
            raise NotFound("the call needs no approval from this service")
        first = pending[0]
        summary: dict[str, Any] = {
            "task": first.task.to_json(),
            "agents": [link.agent_id for link in first.agents],
            "asked_by": {"agent_id": first.holder.agent_id,
                         "public_key": b64(first.holder.public_key)},
            "token_id": first.token_id,
            "call": request.to_json(),
            "caveats": [p.caveat_index for p in pending],
            "text": first.summary(),
        }  # fmt: skip
        approval = Approval(
            secrets.token_hex(16), "pending", now, now + APPROVAL_REQUEST_SECONDS,
            chain.task.task_id, chain.token_id, token, dict(request_doc), proof, summary,
            None, None,
        )  # fmt: skip
        record = {"kind": "approval_request", "approval_id": approval.approval_id,
                  "task_id": approval.task_id, "token_id": approval.token_id,
                  "asked_by": first.holder.agent_id,
                  "request_digest": request.digest().hex()}  # fmt: skip
        secret = self.store.add_approval(approval, record, now)
        return {"approval_id": approval.approval_id, "poll_secret": secret}

    def pending_approvals(self, limit: int) -> list[dict[str, Any]]:
        found = self.store.approvals("pending", limit, live_at=self.now())
        return [_approval_view(a) for a in found]

    def decide(self, approver: ApiKey, approval_id: str, approve: bool) -> dict[str, Any]:
        """A person's decision on a pending approval (once, before it expires). On a yes, the
        discharges are minted for exactly the chain and holder that asked, bound to the token
        shown. Raises NotFound, Conflict."""
        found = self.store.approval(approval_id)
        if found is None:
            raise NotFound(f"no approval {approval_id!r}")
        now = self.now()
        if found.state != "pending":
            raise Conflict(f"the approval was already decided ({found.state})")
        if now >= found.expires_at:
            raise Conflict("the approval request expired before it was decided")
        discharges = None
        if approve:
            request = Request.from_json(found.request)
            # Rebuilt from what the agent sent, checked as of when it was sent.
            pending = self.approver.pending(found.token, request, found.proof, now=found.created_at)
            discharges = [
                bind_discharge(found.token, self.approver.approve(p, now=now)) for p in pending
            ]
        record = {
            "kind": "approval",
            "approval_id": approval_id,
            "task_id": found.task_id,
            "token_id": found.token_id,
            "approved": approve,
            "by": approver.principal,
        }
        state = "approved" if approve else "denied"
        if not self.store.decide(approval_id, state, approver.principal, discharges, record, now):
            raise Conflict("the approval was already decided")
        return {"approval_id": approval_id, "state": state}

    def poll(self, secret: str) -> dict[str, Any]:
        """What the agent's poll finds: pending, or the decision (handed out once). Raises
        NotFound for an unknown secret or a decision already handed out."""
        found = self.store.collect(secret)
        if found is None or found.state == "delivered":
            raise NotFound("no such approval, or its answer was already collected")
        if found.state == "pending":
            return {"state": "pending", "expires_at": found.expires_at}
        if found.state == "approved":
            return {"state": "approved", "discharges": found.discharges}
        return {"state": "denied"}

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

    # --- root keys ----------------------------------------------------------------------------

    def root_keys(self) -> list[dict[str, Any]]:
        """Each root key id and its state (current, active or retired); never key material."""
        self.refresh_keys(force=True)
        ring = self.keyring
        out = [
            {"key_id": kid, "state": "current" if kid == ring.current.key_id else "active"}
            for kid in ring.key_ids
        ]
        retired = sorted(
            r.revocation.value
            for r in self.state.revocations()
            if r.revocation.kind is RevocationKind.KEY and r.revocation.value not in ring.key_ids
        )
        return out + [{"key_id": kid, "state": "retired"} for kid in retired]

    def rotate_keys(self, admin: ApiKey) -> dict[str, Any]:
        """A fresh current root key; tokens under the older keys keep verifying."""
        fresh: list[str] = []

        def change(blob: bytes) -> bytes:
            ring = Keyring.from_json(unseal(self._kek, KEYRING_FILE, blob).decode()).rotated()
            fresh.append(ring.current.key_id)
            return seal(self._kek, KEYRING_FILE, ring.to_json().encode())

        record = {"kind": "key_rotated", "by": admin.principal}
        version, blob = self.store.replace_sealed(KEYRING_FILE, change, record, self.now())
        self._use_keyring(
            version, Keyring.from_json(unseal(self._kek, KEYRING_FILE, blob).decode())
        )
        return {"key_id": fresh[-1], "state": "current"}

    def retire_key(self, admin: ApiKey, key_id: str) -> dict[str, Any]:
        """Retire a root key: every token under it stops verifying, on every replica at once
        (a ``key`` revocation in the shared state), and it leaves the keyring. Raises NotFound
        for a key id not in the keyring, Conflict for the current key."""
        self.refresh_keys(force=True)
        if self.keyring.get(key_id) is None:
            raise NotFound(f"no root key {key_id!r} in the keyring")
        if key_id == self.keyring.current.key_id:
            raise Conflict("rotate before retiring the current key")
        now = self.now()
        self.state.revoke(Revocation(RevocationKind.KEY, key_id), now)  # first: denied at once

        def change(blob: bytes) -> bytes:
            ring = Keyring.from_json(unseal(self._kek, KEYRING_FILE, blob).decode())
            if ring.get(key_id) is None:  # another replica retired it meanwhile
                return blob
            return seal(self._kek, KEYRING_FILE, ring.without(key_id).to_json().encode())

        record = {"kind": "revocation", "revocation": "key", "value": key_id,
                  "by": admin.principal, "retired": True}  # fmt: skip
        version, blob = self.store.replace_sealed(KEYRING_FILE, change, record, now)
        self._use_keyring(
            version, Keyring.from_json(unseal(self._kek, KEYRING_FILE, blob).decode())
        )
        return {"key_id": key_id, "state": "retired"}

    # --- the record ---------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        seq, head = self.store.head()
        body = {"seq": seq, "head": head.hex(), "at": self.now(), "key_id": self.signer.key_id}
        return {"body": body, "signature": self.signer.sign(CHECKPOINT_DOMAIN, body)}

    def receipt_keys(self) -> list[dict[str, str]]:
        return [{"key_id": self.signer.key_id, "public_key": b64(self.signer.public_key)}]


def _chain_record(token: str, decision: Decision) -> dict[str, Any]:
    """What a verified chain is, recorded once per token id: its agents and what each hop
    narrowed (the caveats' public descriptions, as ``delegation inspect --json`` shows them)."""
    from delegation import decode

    caveats = [
        {"hop": cav["hop"], "type": cav["type"], "value": cav["value"]}
        for cav in decode(token).describe()["caveats"]  # describe() holds no secret
    ]
    return {
        "kind": "chain",
        "task_id": None if decision.task is None else decision.task.task_id,
        "token_id": decision.token_id,
        "root_id": decision.root_id,
        "agents": [link.to_json() for link in decision.agents],
        "caveats": caveats,
    }


def build_tree(
    records: Sequence[AuditRecord], receipt: Callable[[AuditRecord], dict[str, Any]]
) -> dict[str, Any]:
    """The task tree of a task's audit records (``specs/service.md``, "The task tree")."""
    nodes: dict[str | None, dict[str, Any]] = {}
    children: dict[str | None, list[str | None]] = {}
    by_token: dict[str, str | None] = {}
    loose: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []
    revocations: list[dict[str, Any]] = []

    def node(link: dict[str, Any], parent: str | None, narrowed: list[Any]) -> None:
        hop = link["hop_id"]
        if hop not in nodes:
            nodes[hop] = {**link, "narrowed": narrowed, "tokens": [], "calls": []}
            if hop is not None:
                children.setdefault(parent, []).append(hop)

    for audited in records:
        rec = audited.record
        kind = rec["kind"]
        if kind == "mint":
            link = {"agent_id": rec["holder_id"], "public_key": rec["holder_key"], "hop_id": None}
            node(link, None, [])
        elif kind == "chain":
            parent: str | None = None
            for index, link in enumerate(rec["agents"]):
                narrowed = [
                    {k: v for k, v in c.items() if k != "hop"}
                    for c in rec["caveats"]
                    if c["hop"] == index
                ]
                node(link, parent, narrowed)
                if not nodes[link["hop_id"]]["narrowed"]:
                    nodes[link["hop_id"]]["narrowed"] = narrowed
                parent = link["hop_id"]
            by_token[rec["token_id"]] = parent
            if rec["token_id"] not in nodes[parent]["tokens"]:
                nodes[parent]["tokens"].append(rec["token_id"])
        elif kind == "decision":
            call = {
                "seq": audited.seq,
                "at": rec["at"],
                "decision_id": rec["decision_id"],
                "allowed": rec["allowed"],
                "codes": rec["codes"],
                "call": rec.get("call"),
                "token_id": rec["token_id"],
                "receipt": receipt(audited),
            }
            hops = rec.get("hop_ids") or []
            holder = hops[-1] if hops else (None if rec.get("agents") else "?")
            if holder in nodes:
                nodes[holder]["calls"].append(call)
            else:
                loose.append(call)
        elif kind in ("approval_request", "approval"):
            approvals.append({"seq": audited.seq, **rec})
        elif kind == "revocation":
            revocations.append({"seq": audited.seq, **rec})

    def tree(hop: str | None) -> dict[str, Any]:
        return {**nodes[hop], "children": [tree(c) for c in children.get(hop, [])]}

    return {
        "root": tree(None) if None in nodes else None,
        "unattributed_calls": loose,
        "approvals": approvals,
        "revocations": revocations,
    }


def _approval_view(approval: Approval) -> dict[str, Any]:
    return {
        "approval_id": approval.approval_id,
        "state": approval.state,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
        **{k: v for k, v in approval.summary.items() if k != "caveats"},
    }


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
    if decision.policy is not None:  # the set's revision and the ids that decided
        record["policy"] = decision.policy.to_json()
    return record


def _policy_loads(policy: Any) -> None:
    """Raise StoreError while ``policy``'s files in force do not load: its audience's calls
    are all denied (``policy_unavailable``) until they do."""
    from delegation.policy import PolicyFailure, PolicyUnavailable
    from delegation.policy._model import example_input

    try:
        policy.evaluate(example_input())
    except PolicyUnavailable as exc:
        if exc.reason is PolicyFailure.UNPARSEABLE:
            raise StoreError(f"unparseable (revision {exc.revision})") from None
