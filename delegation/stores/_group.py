"""Group commit: many threads' writes in one transaction, one sync to disk.

A durable write costs a sync of the disk (milliseconds), whatever it writes. When many threads
write at once (a service verifying concurrent calls), each submits its job and waits; one
committer thread takes every job waiting, runs them in order inside one transaction, commits
once, and hands each job its own answer. A job alone is committed at once, so nothing waits
for company: latency at concurrency 1 is a plain commit, and throughput under load grows with
the batch. Each job keeps its own all-or-nothing (the owner runs it under a savepoint), and
an answer is handed back only once the commit that holds it is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Job(Generic[T]):
    """One submitted piece of work: ``run`` sets ``answer`` or ``error``."""

    __slots__ = ("answer", "done", "error", "payload")

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.answer: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommitter(Generic[T]):
    """Runs submitted jobs in batches on one thread. ``run_batch(jobs)`` must set every job's
    answer or error (and must not raise); ``closed_error()`` is what a job submitted after
    :meth:`close` raises."""

    def __init__(
        self,
        run_batch: Callable[[list[Job[T]]], None],
        closed_error: Callable[[], BaseException],
        *,
        max_batch: int = 256,
        name: str = "delegation-group-commit",
    ) -> None:
        self._run_batch = run_batch
        self._closed_error = closed_error
        self._max = max_batch
        self._cond = threading.Condition()
        self._queue: list[Job[T]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, payload: Any) -> T:
        job: Job[T] = Job(payload)
        with self._cond:
            if self._closed:
                raise self._closed_error()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.answer  # type: ignore[return-value]

    def close(self) -> None:
        """Finish what was submitted, then stop; later submits raise ``closed_error()``."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                self._run_batch(batch)
            except BaseException as exc:  # run_batch broke its promise: fail the batch closed
                for job in batch:
                    if job.answer is None and job.error is None:
                        job.error = exc
            finally:
                for job in batch:
                    if job.answer is None and job.error is None:
                        job.error = self._closed_error()
                    job.done.set()
