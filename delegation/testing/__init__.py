"""The security engineers' kit: test what ``delegation`` (and your own caveat families) allow.

Nothing here authorises anything. The modules:

- ``fixtures``: the seeded, publicly known keys the tests, vectors and benchmarks are built
  from (needs only the library's own dependencies);
- ``world``: a fixed keyring, task, agents and clock, with helpers to mint, prove and verify;
- ``strategies``: Hypothesis strategies for keys, agents, scopes, requests in and out of a
  scope, chains of tokens with their holders' keys, and approval discharges;
- ``hostile``: what a hostile holder or thief does (append caveats and hops with a valid MAC,
  tamper with, truncate, splice and re-spell tokens; boundary times; look-alike names);
- ``model``: a reference model of the authorization semantics, written from
  ``specs/caveats.md``, and the differential check of a verifier against it.

All but ``fixtures`` need the ``testing`` extra (``pip install 'delegation[testing]'``).
The guide is ``docs/security-kit.md``.

EVERY KEY IN THIS PACKAGE IS A TEST FIXTURE. Each one is derived from a small number or a fixed
label written in the source, so it is publicly known: it must never protect anything. Use
``AgentKey.generate()``, ``ApproverKey.generate()`` and ``Keyring.generate()`` for real keys.
"""
