"""The service's Prometheus metrics, in a registry of its own (one per Service, so several
services in one process, as in the tests, never share counters).

- ``delegation_decisions_total{allowed, code}``: verify answers, by outcome and first code;
- ``delegation_verify_seconds``: time to decide and record one call (library and audit log);
- ``delegation_audit_write_failures_total``: records that could not be written (each such
  operation was refused, never answered);
- ``delegation_store_unavailable_total``: operations refused because a store did not answer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "delegation_decisions_total",
            "verify answers by outcome and first reason code",
            ["allowed", "code"],
            registry=self.registry,
        )
        self.verify_seconds = Histogram(
            "delegation_verify_seconds",
            "time to decide and record one call",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "delegation_audit_write_failures_total",
            "audit records that could not be written (the operation was refused)",
            registry=self.registry,
        )
        self.store_unavailable = Counter(
            "delegation_store_unavailable_total",
            "operations refused because a store did not answer",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
