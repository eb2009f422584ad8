"""A clock a test can move: verifiers take their time from their clock alone."""

from __future__ import annotations


class Clock:
    """``Verifier(..., clock=Clock(NOW))``; set ``clock.now`` to move time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
