"""Helpers for tests and for security engineers who test their own use of ``delegation``.

Nothing here is part of the library's API for authorising anything. ``fixtures`` holds the
seeded keys that this project's tests, test vectors (``specs/vectors``) and benchmarks are
built from.

EVERY KEY IN THIS PACKAGE IS A TEST FIXTURE. Each one is derived from a small number or a fixed
label written in the source, so it is publicly known: it must never protect anything. Use
``AgentKey.generate()``, ``ApproverKey.generate()`` and ``Keyring.generate()`` for real keys.

This package needs only the library's own dependencies (``cryptography`` and ``cbor2``).
"""
