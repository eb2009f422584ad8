"""The verifier service: one place that mints, verifies, revokes and remembers (issue 7).

A thin adapter over the ``delegation`` library: routes translate JSON to library calls, the
stores implement the library's State protocol, and nothing about tokens is decided here. Every
decision, mint and revocation is appended to a hash-chained audit log before it is answered,
and every decision comes with a receipt the service signs.

Installed with the ``service`` extra; ``delegation serve`` starts it (``specs/service.md``).
"""
