"""Local mode following the verifier service's revocation feed (``GET /v1/revocations``).

A :class:`RevocationFeed` polls the feed in a background thread and records each revocation
in a local State; its :attr:`~RevocationFeed.state` is that State behind a guard that refuses
to answer (``store_unavailable``) while the last successful poll is older than
``max_staleness`` seconds, or before the first one: a verifier that may have missed a
revocation denies rather than allows (Fly drops its whole cache).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import httpx

from delegation.stores import (
    Revocation,
    RevocationKind,
    RevocationRecord,
    SettledCharge,
    State,
    StateAnswer,
    StateQuery,
    StoreUnavailable,
    UnavailableReason,
)

log = logging.getLogger("delegation.http")

PAGE = 1000


class RevocationFeed:
    """Follows ``url``'s revocations with ``api_key`` (a verifier, auditor or admin key) into
    ``state``, every ``interval`` seconds. ``clock`` is monotonic seconds."""

    def __init__(
        self,
        url: str,
        api_key: str,
        state: State,
        *,
        max_staleness: float = 30.0,
        interval: float = 2.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 0 < interval < max_staleness:
            raise ValueError("the feed is polled more often than its staleness bound")
        self.max_staleness = max_staleness
        self.interval = interval
        self.cursor = 0
        self._inner = state
        self._clock = clock
        self._last_ok: float | None = None
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: State = _Guarded(state, self)
        """The state to verify with: ``state``, refusing while the feed is stale."""

    @property
    def age(self) -> float | None:
        """Seconds since the last successful poll; None before the first."""
        return None if self._last_ok is None else self._clock() - self._last_ok

    def fresh(self) -> bool:
        age = self.age
        return age is not None and age <= self.max_staleness

    def poll(self) -> int:
        """Fetch and record every revocation past the cursor; returns how many. Raises
        httpx.HTTPError, or ValueError for an answer that is not the feed (the cursor then
        stays where it was)."""
        started = self._clock()
        applied = 0
        while True:
            answer = self._http.get("/v1/revocations", params={"since": self.cursor, "limit": PAGE})
            answer.raise_for_status()
            doc = answer.json()
            items, cursor = doc["revocations"], doc["cursor"]
            if not isinstance(items, list) or type(cursor) is not int:
                raise ValueError("not a revocation feed")
            for item in items:
                kind = RevocationKind.TOKEN if item["kind"] == "hop" else item["kind"]
                revoked_at = item["revoked_at"]
                if type(revoked_at) is not int:
                    raise ValueError("a revocation's time is an integer")
                self._inner.revoke(Revocation(kind, item["value"]), revoked_at)
                applied += 1
            self.cursor = cursor
            if len(items) < PAGE:
                break
        self._last_ok = started  # fresh as of when this poll began
        return applied

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # keep trying; staleness makes the verifier deny
                log.warning("the revocation feed could not be read: %s", type(exc).__name__)
            self._stop.wait(self.interval)

    def start(self) -> RevocationFeed:
        """Poll once now (so a reachable service is followed from the first call), then in a
        background thread. Returns the feed."""
        try:
            self.poll()
        except Exception as exc:
            log.warning("the revocation feed could not be read: %s", type(exc).__name__)
        self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()

    def __enter__(self) -> RevocationFeed:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class _Guarded:
    """A State that refuses to answer a check while its feed is stale."""

    def __init__(self, inner: State, feed: RevocationFeed) -> None:
        self._inner = inner
        self._feed = feed

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if not self._feed.fresh():
            raise StoreUnavailable(
                UnavailableReason.UNREACHABLE,
                f"the revocation feed is older than {self._feed.max_staleness:g} s",
            )
        return self._inner.check(query, now)

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        return self._inner.settle(reservation, costs, now)

    def spent(self, key: bytes, now: int) -> int:
        return self._inner.spent(key, now)

    def revoke(self, revocation: Revocation, now: int) -> None:
        self._inner.revoke(revocation, now)

    def revocations(self) -> list[RevocationRecord]:
        return self._inner.revocations()

    def close(self) -> None:
        self._inner.close()
