"""Limits on the chain are checked before the work they bound (``specs/threats.md`` DC-7)."""

from __future__ import annotations

import pytest

from delegation import Code, Request, _crypto
from delegation.caveats import Hop
from delegation.limits import MAX_HOPS
from delegation.testing.hostile import append_caveats
from delegation.testing.world import ROOT, new_verifier, proof_for
from tests.conftest import seeded_agent

REQUEST = Request(audience="crm", tool="t.read", action="read")


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The public keys of every Ed25519 verification the verifier makes."""
    calls: list[bytes] = []
    real = _crypto.ed25519_verify

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        calls.append(public_key)
        return real(public_key, signature, message)

    monkeypatch.setattr(_crypto, "ed25519_verify", counting)
    return calls


def forged_hops(n: int) -> list[Hop]:
    """Hops any holder can append with a valid MAC, signed by nobody."""
    return [Hop(f"forged-{i}", seeded_agent(100 + i).public_key, bytes(64)) for i in range(n)]


def test_too_many_forged_hops_are_refused_before_any_hop_signature_is_checked(
    signature_checks: list[bytes],
) -> None:
    token = append_caveats(ROOT, forged_hops(MAX_HOPS + 1))
    decision = new_verifier().verify(token.encode(), REQUEST, proof_for(ROOT, REQUEST))
    assert [r.code for r in decision.reasons] == [Code.TOO_LARGE]
    assert signature_checks == []


def test_within_the_limit_the_first_forged_hop_stops_the_walk(
    signature_checks: list[bytes],
) -> None:
    token = append_caveats(ROOT, forged_hops(MAX_HOPS))
    decision = new_verifier().verify(token.encode(), REQUEST, proof_for(ROOT, REQUEST))
    assert [r.code for r in decision.reasons] == [Code.BAD_HOP]
    assert len(signature_checks) == 1
