"""Seeded, publicly known TEST FIXTURE keys: the one place the tests, the vector generator and
the benchmarks take their keys from. Never use one of them to protect anything.

Every key is derived in one of two ways, exactly as the code that used to build it by hand did,
so that no existing key, vector or test expectation changes:

- from a number ``n`` (0-255): the 32-byte seed or secret is ``n`` repeated 32 times, e.g.
  ``agent_key(1)`` is ``AgentKey.from_seed(b"\\x01" * 32)``;
- from a name or label: SHA-256 of ``"delegation test vectors (TEST ONLY): "`` followed by a
  label that says what the key is for (``labelled``), e.g. ``agent_key("orchestrator")`` is
  ``AgentKey.from_seed(labelled("agent seed orchestrator"))``. The test vectors in
  ``specs/vectors`` use these; their files list every seed and secret in hex.

Keys are made afresh on every call: a caller cannot change another caller's key.
"""

from __future__ import annotations

import hashlib

from delegation._keys import AgentKey, Keyring, RootKey
from delegation._thirdparty.caveat import ApproverKey

__all__ = [
    "LABEL_PREFIX",
    "NOW",
    "agent_key",
    "agent_seed",
    "approver_key",
    "approver_seed",
    "caveat_key",
    "keyring",
    "labelled",
    "root_key",
    "root_secret",
    "seed",
]

NOW = 1_800_000_000
"""The fixed clock of the tests, the vectors and the benchmarks: 2027-01-15T08:00:00Z."""

LABEL_PREFIX = "delegation test vectors (TEST ONLY): "
"""What every labelled fixture hashes before its label. Changing it changes every vector."""


def seed(n: int) -> bytes:
    """``n`` repeated 32 times (TEST FIXTURE). Raises ValueError unless 0 <= n < 256."""
    return bytes([n]) * 32


def labelled(label: str) -> bytes:
    """The 32 bytes SHA-256(``LABEL_PREFIX`` + ``label``) (TEST FIXTURE): a seed, secret or
    nonce named by what it is for (``"agent seed writer"``, ``"mint nonce root"``)."""
    return hashlib.sha256(f"{LABEL_PREFIX}{label}".encode()).digest()


def agent_seed(n_or_name: int | str) -> bytes:
    """The Ed25519 seed of test agent ``n`` (``seed(n)``) or of the vectors' agent ``name``
    (``labelled("agent seed " + name)``)."""
    if isinstance(n_or_name, int):
        return seed(n_or_name)
    return labelled(f"agent seed {n_or_name}")


def agent_key(n_or_name: int | str) -> AgentKey:
    """Test agent key ``n`` or the vectors' agent ``name`` (TEST FIXTURE; see ``agent_seed``)."""
    return AgentKey.from_seed(agent_seed(n_or_name))


def approver_seed(n_or_name: int | str) -> bytes:
    """The X25519 private key of test approver ``n`` (``seed(n)``) or of the vectors' third
    party ``name`` (``labelled("third party seed " + name)``)."""
    if isinstance(n_or_name, int):
        return seed(n_or_name)
    return labelled(f"third party seed {n_or_name}")


def approver_key(n_or_name: int | str) -> ApproverKey:
    """Test approver (third party) key ``n`` or ``name`` (TEST FIXTURE; see ``approver_seed``)."""
    return ApproverKey.from_seed(approver_seed(n_or_name))


def root_secret(n_or_key_id: int | str) -> bytes:
    """Root secret ``n`` (``seed(n)``) or the vectors' secret of root key id ``key_id``
    (``labelled("root key " + key_id)``)."""
    if isinstance(n_or_key_id, int):
        return seed(n_or_key_id)
    return labelled(f"root key {n_or_key_id}")


def root_key(n_or_key_id: int | str = 1, *, key_id: str | None = None, created: int = 0) -> RootKey:
    """A root key (TEST FIXTURE) with the secret ``root_secret(n_or_key_id)``.

    Its key id is ``key_id`` if given, else ``"test-k<n>"`` for a number and the key id itself
    for a name: ``root_key(1)`` is ``RootKey("test-k1", b"\\x01" * 32)``, ``root_key("vec-k1")``
    the vectors' key ``vec-k1``. Raises KeyringError for a key id a keyring would refuse.
    """
    if key_id is None:
        key_id = f"test-k{n_or_key_id}" if isinstance(n_or_key_id, int) else n_or_key_id
    return RootKey(key_id, root_secret(n_or_key_id), created)


def keyring(*keys: RootKey, current: str | None = None) -> Keyring:
    """A keyring of ``keys`` (``current`` mints; default the last key), or with no keys the
    tests' keyring: ``root_key(1, created=NOW)``, key id ``test-k1`` (TEST FIXTURE)."""
    return Keyring(list(keys) or [root_key(1, created=NOW)], current)


def caveat_key(label: str) -> bytes:
    """The caveat root key of the vectors' third-party caveat ``label`` (TEST FIXTURE):
    ``labelled("caveat root key " + label)``."""
    return labelled(f"caveat root key {label}")
