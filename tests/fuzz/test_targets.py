"""The fuzz targets (``fuzz/targets.py``) hold on their seeds and catch what they must.

These run without atheris: a target is a plain function of bytes. Every seed (the vectors)
passes; and with a verifier that allows everything put in the real one's place, each oracle
fires, so an oracle that could never catch anything is caught here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from delegation import Code, Decision, Reason, Request, UnverifiedToken, decode
from delegation.testing.hostile import append_raw_caveats
from fuzz import targets
from fuzz.targets import TARGETS, Crash, _header, _proof_pool, _verify_pool


class _AllowsEverything:
    """A broken verifier: every call allowed."""

    def verify_at(
        self,
        token: str | UnverifiedToken,
        request: Request,
        proof: str | None,
        *,
        discharges: Sequence[str] = (),
        at: float,
    ) -> Decision:
        return Decision(True)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_passes_its_target(name: str) -> None:
    run, seeds = TARGETS[name]
    inputs = list(seeds())
    assert inputs, f"{name} has no seeds"
    for data in inputs:
        run(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_and_empty_inputs_are_fine(name: str) -> None:
    run = TARGETS[name][0]
    for data in (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00", b"\xff" * 3, b"\x00\x00\x01\xff"):
        run(data)


def test_typed_refuses_internal_error_and_non_decisions() -> None:
    with pytest.raises(Crash):
        targets.typed(Decision(False, (Reason(Code.INTERNAL_ERROR, "bug"),)))
    with pytest.raises(Crash):
        targets.typed("allow")
    assert targets.typed(Decision(False, (Reason(Code.EXPIRED, "late"),))).allowed is False


def test_the_verify_oracles_catch_a_verifier_that_allows_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(targets, "_stateless", lambda keyring: _AllowsEverything())
    index = next(i for i, c in enumerate(_verify_pool()) if c.allowed and c.file == "valid")
    with pytest.raises(Crash, match="not the vector's own"):
        targets.verify(_header(index, 0) + b"AgE")
    targets.verify(_header(index, 0) + _verify_pool()[index].token.encode())


def test_the_widening_oracle_catches_an_allowed_child_of_a_denied_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class _AllowsLonger(_AllowsEverything):
        def verify_at(self, token: object, *args: object, **kwargs: object) -> Decision:
            if isinstance(token, UnverifiedToken):
                return Decision(False, (Reason(Code.EXPIRED, "late"),))
            return Decision(True)

    monkeypatch.setattr(targets, "_stateless", lambda keyring: _AllowsLonger())
    index = next(i for i, c in enumerate(_verify_pool()) if c.allowed and c.file == "valid")
    with pytest.raises(Crash, match="widened"):
        targets.verify(_header(index, 1) + b"\x82\x19\x04\x00\x00")


def test_the_proof_oracle_catches_an_allow_of_another_proof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(targets, "_stateless", lambda keyring: _AllowsEverything())
    index = next(i for i, c in enumerate(_proof_pool()) if c.proof)
    with pytest.raises(Crash, match="not the vector's own"):
        targets.proof(_header(index, 0) + b"hAEa")


def test_appending_an_application_caveat_to_a_denied_call_keeps_it_denied() -> None:
    pool = _verify_pool()
    denied = [i for i, c in enumerate(pool) if not c.allowed and c.file == "caveats"][:5]
    assert denied
    for index in denied:
        targets.verify(_header(index, 1) + b"\x82\x19\x04\x00\x00")


def test_an_appended_caveat_keeps_a_valid_mac() -> None:
    case = next(c for c in _verify_pool() if c.allowed and c.file == "valid")
    child = append_raw_caveats(decode(case.token), [b"\x82\x19\x04\x00\x00"])
    assert child.raw.caveats[-1].cid == b"\x82\x19\x04\x00\x00"
    assert child.raw.signature != decode(case.token).raw.signature
