"""``delegation.testing.fixtures``: every seeded key keeps the value it had when it was built by
hand, so tests, vectors and benchmarks that moved to it did not change. All keys are TEST-ONLY.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from delegation import AgentKey, encode_public_key
from delegation._thirdparty.caveat import ApproverKey
from delegation.testing import fixtures


def test_numbered_keys_are_the_byte_repeated() -> None:
    assert fixtures.seed(1) == b"\x01" * 32
    assert fixtures.agent_key(5).public_key == AgentKey.from_seed(bytes([5]) * 32).public_key
    assert fixtures.approver_key(0x51).public_key == ApproverKey.from_seed(b"\x51" * 32).public_key
    assert fixtures.root_secret(1) == b"\x01" * 32
    # pinned, so a change to the derivation cannot hide behind changing both sides
    assert encode_public_key(fixtures.agent_key(1).public_key) == (
        "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w"
    )
    assert encode_public_key(fixtures.approver_key(0x51).public_key) == (
        "rZCKinCKygdYjNp8TtPkTUlmqAqauy8eS7rFPGdBTjQ"
    )


def test_named_keys_are_the_vectors_keys() -> None:
    """The values in specs/vectors/*.json (``keyring``, ``agents``, ``third_parties``)."""
    assert (
        fixtures.labelled("x") == hashlib.sha256(b"delegation test vectors (TEST ONLY): x").digest()
    )
    assert fixtures.root_secret("vec-k1").hex() == (
        "27739f8e80452cd1315a51647202d9e144d4eff171047d0b1350ef906de1e7b6"
    )
    assert fixtures.agent_seed("orchestrator").hex() == (
        "e328b501c122e219922307ded85e646eb625836ceea47e59280e094cba5939cb"
    )
    assert encode_public_key(fixtures.agent_key("orchestrator").public_key) == (
        "56ZFVg6kBfs5xhpgyMeiDkFlqUiootyWl93fKNAYBPI"
    )
    assert fixtures.approver_seed("notary").hex() == (
        "0a2b4deede263377a0178107d35ef52fb7bad856efa4c4a153f218779f1e983e"
    )
    assert fixtures.caveat_key("c") == fixtures.labelled("caveat root key c")


def test_root_keys_and_keyrings() -> None:
    key = fixtures.root_key(2)
    assert (key.key_id, key.secret, key.created) == ("test-k2", b"\x02" * 32, 0)
    assert fixtures.root_key(1, key_id="bench-k1", created=7).key_id == "bench-k1"
    assert fixtures.root_key("vec-k1").secret == fixtures.root_secret("vec-k1")
    default = fixtures.keyring().current
    assert (default.key_id, default.secret, default.created) == (
        "test-k1",
        b"\x01" * 32,
        1_800_000_000,
    )
    ring = fixtures.keyring(fixtures.root_key(1), fixtures.root_key(2), current="test-k1")
    assert ring.current.key_id == "test-k1"
    assert ring.get("test-k2") == fixtures.root_key(2)


def test_a_number_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="range"):
        fixtures.agent_key(256)


def test_needs_only_the_core_dependencies() -> None:
    code = (
        "import sys, delegation.testing.fixtures; "
        "sys.exit(1 if {'hypothesis', 'pytest'} & set(sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
