"""Timing: every op in one batch per round, all ops of all depths interleaved in each round, so
machine noise hits them alike; per-op medians over the rounds; ratios as medians of per-round
ratios (paired). Batches are calibrated to a time budget; GC is off while timing.

An op's inputs (tokens, proofs, fresh verifiers) are made before any timing, one per call it
will make: ``make(n)`` returns a call that may run ``n`` times.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from workload import Timed

CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}
WARM_UP_CALLS = 5
CALIBRATION_CALLS = 20


@dataclass(frozen=True)
class Op:
    """One column at one depth."""

    name: str
    depth: int
    make: Callable[[int], Timed]


Key = tuple[str, int]
"""(op name, depth)"""


@dataclass(frozen=True)
class Samples:
    """Per-call microseconds of every op, one sample per round, and the batch sizes."""

    per_round: dict[Key, list[float]]
    batch: dict[Key, int]
    rounds: int

    def median(self, name: str, depth: int) -> float:
        return statistics.median(self.per_round[name, depth])

    def paired(self, ratio: Callable[[Callable[[str, int], float]], float]) -> float:
        """The median over rounds of ``ratio(us)``, where ``us(name, depth)`` is that round's
        time: a ratio of ops timed in the same round, so load that hit the round hit both."""
        values = []
        for r in range(self.rounds):

            def us(name: str, depth: int, r: int = r) -> float:
                return self.per_round[name, depth][r]

            values.append(ratio(us))
        return statistics.median(values)


def _batch_ns(clock: Callable[[], int], call: Timed, n: int) -> int:
    start = clock()
    for _ in range(n):
        call()
    return clock() - start


def measure(
    ops: list[Op],
    rounds: int,
    batch_ns: int,
    clock: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Samples:
    """Calibrate and prepare every op, then time them all, interleaved, ``rounds`` times.

    GC is off throughout: the inputs made for thousands of calls would make every collection
    long, and land one in whichever op happened to be timed.
    """
    tick = CLOCKS[clock]
    batch: dict[Key, int] = {}
    calls: dict[Key, Timed] = {}
    gc.collect()
    gc.disable()
    try:
        for op in ops:
            key = (op.name, op.depth)
            probe = op.make(WARM_UP_CALLS + CALIBRATION_CALLS)
            _batch_ns(tick, probe, WARM_UP_CALLS)
            probe_ns = _batch_ns(tick, probe, CALIBRATION_CALLS)
            batch[key] = max(1, int(batch_ns * CALIBRATION_CALLS / max(probe_ns, 1)))
            progress(f"prepare {op.name} D={op.depth}: {batch[key]} calls x {rounds} rounds")
            calls[key] = op.make(batch[key] * rounds)
        per_round: dict[Key, list[float]] = {key: [] for key in calls}
        gc.collect()
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}")
            for key, call in calls.items():
                per_round[key].append(_batch_ns(tick, call, batch[key]) / batch[key] / 1000)
    finally:
        gc.enable()
    return Samples(per_round, batch, rounds)
