"""The vector generator's modules (run ``specs/vectors/generate.py``, not this package).

``fixtures`` holds the fixed material and the helpers that build honest and hostile tokens,
``render`` the vector-file model and its JSON. Every other module builds one vector file,
``<name>.py`` (or the package ``<name>/``) for ``<name>.json``, with ``build() -> VectorFile``.

ALL KEYS HERE ARE TEST-ONLY FIXTURES (``delegation.testing.fixtures``); never use one for real.
"""
