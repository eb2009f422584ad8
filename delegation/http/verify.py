"""The middleware's two modes behind one interface: a verifier in this process (a keyring and
a State) or the verifier service's ``POST /v1/verify`` (:mod:`delegation.http.remote`).

Either answers a :class:`Verdict`; the handler of an allowed call gets a :class:`Granted`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio.to_thread

from delegation._decision import Decision
from delegation._keys import Keyring
from delegation._request import Request
from delegation._task import Link, TaskRecord
from delegation._verifier import Verifier
from delegation.caveats import Registry
from delegation.stores import State


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verifier's answer: the library's decision and, from the service, its id and receipt."""

    decision: Decision
    decision_id: str | None = None
    receipt: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Granted:
    """What the handler of an allowed call is given: the call as checked and the decision."""

    request: Request
    decision: Decision
    decision_id: str | None = None
    receipt: dict[str, Any] | None = None

    @property
    def task(self) -> TaskRecord:
        """What the human approved (an allow always names it)."""
        assert self.decision.task is not None  # an allow has a verified chain
        return self.decision.task

    @property
    def approver(self) -> str:
        return self.task.approved_by

    @property
    def agents(self) -> tuple[Link, ...]:
        """The chain of agents, root holder first."""
        return self.decision.agents

    @property
    def holder(self) -> Link:
        """The agent that made this call (the last of ``agents``)."""
        return self.decision.agents[-1]


class CallVerifier(Protocol):
    """What the middleware asks: one call, decided. Never raises for a bad input or a
    verifier that cannot answer: that is a denying decision (``store_unavailable``)."""

    async def verify(
        self, token: str, request: Request, proof: str | None, discharges: Sequence[str]
    ) -> Verdict: ...


class LocalVerifier:
    """Verifies in this process, with ``keyring`` and ``state`` (a MemoryState, SQLiteState,
    PostgresState or RedisState; :attr:`delegation.http.RevocationFeed.state` to follow the
    service's revocations). The check runs in a worker thread, off the event loop."""

    def __init__(
        self,
        keyring: Keyring,
        state: State | None,
        *,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = Verifier(keyring, state=state, registry=registry, clock=clock)

    async def verify(
        self, token: str, request: Request, proof: str | None, discharges: Sequence[str]
    ) -> Verdict:
        check = functools.partial(
            self.verifier.verify, token, request, proof, discharges=tuple(discharges)
        )
        return Verdict(await anyio.to_thread.run_sync(check))
