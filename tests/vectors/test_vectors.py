"""Run every vector in ``specs/vectors/*.json`` against a fresh verifier.

Each vector states the expected decision as its reasons, in order, each a code with its hop
and caveat positions (see the README there):
with its discharges, a revocation store filled before the first presentation, and possibly
one store that cannot answer. A vector with an ``approval_request`` also states the approval
service's side: what the reference approver answers the holder's signed request. The keys in
those files are TEST-ONLY fixtures.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from delegation import (
    Approver,
    ApproverKey,
    Code,
    Decision,
    Keyring,
    MalformedRequest,
    Request,
    StoreUnavailable,
    TokenError,
    Verifier,
)
from delegation._keys import RootKey
from delegation.policy import PolicyFailure, PolicyInput, PolicyUnavailable, Verdict
from delegation.stores import (
    MemoryState,
    Revocation,
    RevocationKind,
    SettleReason,
    SettleRefused,
    State,
    StateAnswer,
    StateQuery,
    UnavailableReason,
)

VECTORS_DIR = Path(__file__).resolve().parents[2] / "specs" / "vectors"
FORMAT = "delegation-test-vectors/6"
REQUESTS_FILE = "requests.json"
SERVICE_FILE = "service.json"
HTTP_FILE = "http.json"
"""The HTTP wire-format vectors (tests/vectors/test_http_vectors.py)."""
"""The file of the service's record vectors (tests/vectors/test_service_vectors.py)."""
"""The file of request vectors (JSON request text and what building it gives); every other
file holds decision vectors."""
REQUEST_FILE_KEYS = {"format", "description", "vectors"}
REQUEST_VECTOR_KEYS = {"name", "description", "request_json", "expected"}
FILE_KEYS = {"format", "description", "keyring", "agents", "vectors"}
OPTIONAL_FILE_KEYS = {"third_parties"}
VECTOR_KEYS = {"name", "description", "token", "request", "proof", "now", "expected"}
OPTIONAL_VECTOR_KEYS = {
    "keyring",
    "then",
    "discharges",
    "state",
    "store_failure",
    "stateless",
    "approval_request",
    "reserve",
    "policy",
}
STEP_KEYS = {"request", "proof", "now", "expected"}
OPTIONAL_STEP_KEYS = {"token", "discharges", "reserve", "policy"}
POLICY_KEYS = {"answer", "revision", "policy_ids", "detail"}
OPTIONAL_POLICY_KEYS = {"reason", "input"}
SETTLE_STEP_KEYS = {"settle", "now", "expected"}
SETTLED_KEYS = {"unit", "total", "held", "charged", "spent"}
BALANCE_KEYS = {"unit", "total", "charged", "spent", "remaining", "hop", "caveat"}
STATE_KEYS = {"revocations"}
STORES = {"revocations", "nonces", "uses", "budgets"}
EXPECTED_KEYS = {
    "allowed",
    "reasons",
    "agents",
    "task_id",
    "key_id",
    "root_id",
    "token_id",
    "expires",
}
REASON_KEYS = {"code", "hop", "caveat"}
LINK_KEYS = {"agent_id", "public_key", "hop_id"}
OPTIONAL_EXPECTED_KEYS = {"budgets", "policy"}
APPROVAL_REQUEST_KEYS = {
    "third_party",
    "token",
    "request",
    "proof",
    "now",
    "approval_id_hex",
    "ttl",
    "expected",
}

Json = dict[str, Any]


def _all_files() -> list[Path]:
    return sorted(VECTORS_DIR.glob("*.json"))


def _files() -> list[Path]:
    """The files of decision vectors."""
    return [
        path for path in _all_files() if path.name not in (REQUESTS_FILE, SERVICE_FILE, HTTP_FILE)
    ]


def _load(path: Path) -> Json:
    doc: Json = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _cases() -> Iterator[Any]:
    for path in _files():
        doc = _load(path)
        # A file without vectors fails test_vector_files_are_well_formed, not collection.
        for vector in doc.get("vectors", []):
            yield pytest.param(doc, vector, id=vector.get("name", path.name))


def _keyring(spec: Json) -> Keyring:
    keys = [RootKey(k["key_id"], bytes.fromhex(k["secret_hex"])) for k in spec["keys"]]
    return Keyring(keys, spec["current"])


class _Failing(MemoryState):
    """State whose store named by ``store_failure`` cannot answer: every check that needs it
    raises StoreUnavailable (revocations: every check; nonces: checks that claim a nonce;
    uses: checks that count uses or spend approvals; budgets: checks that charge budgets)."""

    def __init__(self, failing: str | None) -> None:
        super().__init__()
        self.failing = failing

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        if (
            self.failing == "revocations"
            or (self.failing == "nonces" and query.nonce is not None)
            or (self.failing == "uses" and query.spend)
            or (self.failing == "budgets" and query.charges)
        ):
            raise StoreUnavailable(UnavailableReason.UNREACHABLE, f"vector: {self.failing} down")
        return super().check(query, now)


class _Scripted:
    """The vector's policy (``policy``, policy.md "Vectors"): it answers as the presentation's
    ``policy`` says, and fails the vector if it is shown another document than ``input``."""

    def __init__(self, spec: Json) -> None:
        self.spec = spec
        self.shown: list[Json] = []

    def evaluate(self, document: PolicyInput) -> Verdict:
        shown = document.to_json()
        self.shown.append(shown)
        spec = self.spec
        if "input" in spec:
            assert shown == spec["input"], f"the policy was shown {shown}"
        if spec["answer"] == "unavailable":
            raise PolicyUnavailable(PolicyFailure(spec["reason"]), "vector", spec["revision"])
        if spec["answer"] == "deny":
            return Verdict.deny(spec["revision"], spec["policy_ids"], spec["detail"])
        return Verdict.allow(spec["revision"], spec["policy_ids"])


def _verifier(doc: Json, vector: Json, clock: list[int]) -> Verifier:
    """A fresh verifier with the vector's keyring and state (or none), the failing store, and
    its scripted policy (or none)."""
    keyring = _keyring(vector["keyring"] if "keyring" in vector else doc["keyring"])
    state: State | None = None
    if not vector.get("stateless", False):
        state = _Failing(vector.get("store_failure"))
        for kind, value in vector.get("state", {}).get("revocations", []):
            state.revoke(Revocation(RevocationKind(kind), value), vector["now"])
    policy = _Scripted(vector["policy"]) if "policy" in vector else None
    return Verifier(keyring, state=state, policy=policy, clock=lambda: clock[0])


def _check(decision: Decision, expected: Json, now: int, where: str) -> None:
    """The decision is the one expected: its reasons with their positions, in order, and what
    it names of the token (all null or empty before the MAC checks out); its ``at`` is the
    presentation's clock."""
    answer = decision.to_json()
    got = {
        "allowed": decision.allowed,
        "reasons": [{k: r[k] for k in REASON_KEYS} for r in answer["reasons"]],
        "agents": [{k: link[k] for k in LINK_KEYS} for link in answer["agents"]],
        "task_id": None if decision.task is None else decision.task.task_id,
        "key_id": decision.key_id,
        "root_id": decision.root_id,
        "token_id": decision.token_id,
        "expires": decision.expires,
    }
    want = {k: v for k, v in expected.items() if k not in OPTIONAL_EXPECTED_KEYS}
    assert got == want, f"{where}: got {answer}"
    assert decision.at == now, where
    balances = [b.to_json() for b in decision.budgets]
    assert balances == expected.get("budgets", []), f"{where}: budgets {balances}"
    said = None if decision.policy is None else decision.policy.to_json()
    assert said == expected.get("policy"), f"{where}: policy {said}"


def _settle(verifier: Verifier, step: Json, reservations: dict[int, str | None]) -> None:
    """A settle step: settle (or release) the reservation an earlier presentation made."""
    asked, expected = step["settle"], step["expected"]
    reservation = reservations[asked["of"]]
    assert reservation is not None, f"presentation {asked['of']} made no reservation"
    if "refused" in expected:
        with pytest.raises(SettleRefused) as refused:
            _settle_call(verifier, reservation, asked["costs"])
        assert str(refused.value.reason) == expected["refused"]
        return
    settled = _settle_call(verifier, reservation, asked["costs"])
    got = [
        {"unit": c.unit, "total": c.total, "held": c.held, "charged": c.charged, "spent": c.spent}
        for c in settled
    ]
    assert got == expected["settled"]


def _settle_call(verifier: Verifier, reservation: str, costs: Json | None) -> list[Any]:
    if costs is None:
        return verifier.release(reservation)
    return verifier.settle(reservation, costs)


@pytest.mark.parametrize(("doc", "vector"), list(_cases()))
def test_vector(doc: Json, vector: Json, caplog: pytest.LogCaptureFixture) -> None:
    clock = [vector["now"]]
    verifier = _verifier(doc, vector, clock)
    steps = [vector, *vector.get("then", [])]
    caplog.set_level(logging.ERROR, logger="delegation")
    reservations: dict[int, str | None] = {}
    for index, step in enumerate(steps):
        clock[0] = step["now"]
        if "settle" in step:
            _settle(verifier, step, reservations)
            continue
        token = step.get("token", vector["token"])
        if isinstance(verifier._policy, _Scripted):
            verifier._policy.spec = step.get("policy", vector["policy"])
        decision = verifier.verify(
            token,
            Request.from_json(step["request"]),
            step["proof"],
            discharges=step.get("discharges", []),
            reserve=step.get("reserve", False),
        )
        reservations[index] = decision.reservation
        reserves = step.get("reserve", False) and decision.allowed and bool(decision.budgets)
        assert (decision.reservation is not None) == reserves, f"presentation {index}"
        # A denial that came from an unexpected exception inside the verifier is a crash
        # dressed as a code: the verifier logs it, and the vector fails here.
        crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert not crashes, f"presentation {index}: the verifier crashed: {crashes}"
        _check(decision, step["expected"], step["now"], f"presentation {index}")


def _approval_cases() -> Iterator[Any]:
    for path in _files():
        doc = _load(path)
        for vector in doc.get("vectors", []):
            if "approval_request" in vector:
                yield pytest.param(doc, vector["approval_request"], id=vector["name"])


@pytest.mark.parametrize(("doc", "asked"), list(_approval_cases()))
def test_approval_request(doc: Json, asked: Json) -> None:
    """The approval service's side: the reference approver, with the third party's key and no
    location, answers the holder's signed approval request as the vector says."""
    seed = bytes.fromhex(doc["third_parties"][asked["third_party"]]["seed_hex"])
    approver = Approver(ApproverKey.from_seed(seed))
    request = Request.from_json(asked["request"])
    expected = asked["expected"]
    if "error" in expected:
        with pytest.raises(TokenError) as refused:
            approver.pending(asked["token"], request, asked["proof"], now=asked["now"])
        assert str(refused.value.code) == expected["error"]
        return
    (pending,) = approver.pending(asked["token"], request, asked["proof"], now=asked["now"])
    assert pending.caveat_index == expected["caveat"]
    approval_id = bytes.fromhex(asked["approval_id_hex"])
    discharge = approver._approve(pending, asked["now"], asked["ttl"], approval_id)
    assert discharge == expected["discharge"]


def test_vector_files_are_well_formed() -> None:
    files = _files()
    assert files, "no vector files found"
    names: list[str] = []
    for path in files:
        doc = _load(path)
        assert FILE_KEYS <= set(doc) <= FILE_KEYS | OPTIONAL_FILE_KEYS, path.name
        assert doc["format"] == FORMAT, path.name
        assert doc["vectors"], f"{path.name} has no vectors"
        for vector in doc["vectors"]:
            names.append(vector["name"])
            assert VECTOR_KEYS <= set(vector) <= VECTOR_KEYS | OPTIONAL_VECTOR_KEYS, vector["name"]
            assert vector.get("store_failure", "revocations") in STORES, vector["name"]
            if "stateless" in vector:
                assert vector["stateless"] is True, vector["name"]
                assert not {"state", "store_failure"} & set(vector), vector["name"]
            state = vector.get("state", {"revocations": []})
            assert set(state) == STATE_KEYS, vector["name"]
            for kind, value in state["revocations"]:
                assert isinstance(value, str), vector["name"]
                Revocation(RevocationKind(kind), value)  # a known kind, a well-formed value
            if "approval_request" in vector:
                asked = vector["approval_request"]
                assert set(asked) == APPROVAL_REQUEST_KEYS, vector["name"]
                assert asked["third_party"] in doc["third_parties"], vector["name"]
                assert len(bytes.fromhex(asked["approval_id_hex"])) == 16, vector["name"]
                answer = asked["expected"]
                assert set(answer) in ({"error"}, {"caveat", "discharge"}), vector["name"]
                if "error" in answer:
                    Code(answer["error"])
            for index, step in enumerate([vector, *vector.get("then", [])]):
                if "policy" in step:
                    spec = step["policy"]
                    assert "policy" in vector, vector["name"]  # a step changes the answer
                    assert POLICY_KEYS <= set(spec) <= POLICY_KEYS | OPTIONAL_POLICY_KEYS
                    assert spec["answer"] in ("allow", "deny", "unavailable"), vector["name"]
                    assert ("reason" in spec) == (spec["answer"] == "unavailable")
                    if "reason" in spec:
                        PolicyFailure(spec["reason"])
                if "settle" in step:
                    assert set(step) == SETTLE_STEP_KEYS, vector["name"]
                    assert set(step["settle"]) == {"of", "costs"}, vector["name"]
                    assert 0 <= step["settle"]["of"] < index, vector["name"]
                    answer = step["expected"]
                    assert set(answer) in ({"refused"}, {"settled"}), vector["name"]
                    if "refused" in answer:
                        SettleReason(answer["refused"])
                    for charge in answer.get("settled", []):
                        assert set(charge) == SETTLED_KEYS, vector["name"]
                    continue
                if "reserve" in step:
                    assert step["reserve"] is True, vector["name"]
                allowed_keys = (
                    STEP_KEYS | OPTIONAL_STEP_KEYS | (set(vector) if step is vector else set())
                )
                assert STEP_KEYS <= set(step) <= allowed_keys, vector["name"]
                discharges = step.get("discharges", [])
                assert isinstance(discharges, list), vector["name"]
                assert all(isinstance(d, str) for d in discharges), vector["name"]
                expected = step["expected"]
                optional = OPTIONAL_EXPECTED_KEYS & set(expected)
                assert set(expected) == EXPECTED_KEYS | optional, vector["name"]
                for balance in expected.get("budgets", []):
                    assert set(balance) == BALANCE_KEYS, vector["name"]
                assert all(set(link) == LINK_KEYS for link in expected["agents"]), vector["name"]
                assert (expected["root_id"] is None) == (not expected["agents"]), vector["name"]
                assert expected["allowed"] == (not expected["reasons"]), vector["name"]
                for reason in expected["reasons"]:
                    assert set(reason) == REASON_KEYS, vector["name"]
                    Code(reason["code"])  # every expected code is in the vocabulary
                    hop, caveat = reason["hop"], reason["caveat"]
                    assert (hop is None) == (caveat is None), vector["name"]
                    for position in (hop, caveat):
                        assert position is None or (type(position) is int and position >= 0), (
                            vector["name"]
                        )
    assert len(names) == len(set(names)), "vector names must be unique across files"


def test_every_reason_code_has_a_vector() -> None:
    seen: set[str] = set()
    for path in _files():
        for vector in _load(path).get("vectors", []):
            for step in [vector, *vector.get("then", [])]:
                seen.update(r["code"] for r in step["expected"].get("reasons", []))
    # Discharges, revocations and failing stores are all describable; a bug is not: no correct
    # input makes a correct verifier say internal_error, so no vector can pin it.
    exempt = {str(Code.INTERNAL_ERROR)}
    missing = {str(c) for c in Code} - seen - exempt
    assert not missing, f"no vector expects {sorted(missing)}"


def test_every_store_and_revocation_kind_has_a_vector() -> None:
    failing: set[str] = set()
    kinds: set[str] = set()
    for path in _files():
        for vector in _load(path).get("vectors", []):
            failing.add(vector.get("store_failure", ""))
            kinds.update(kind for kind, _ in vector.get("state", {}).get("revocations", []))
    assert failing >= STORES, f"no vector fails {sorted(STORES - failing)}"
    assert {str(k) for k in RevocationKind} <= kinds, "a revocation kind has no vector"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_vectors_are_regenerated() -> None:
    """The committed files are exactly what the seeded generator writes (its --check mode)."""
    assert _generator().main(["--check"]) == 0, "run: python specs/vectors/generate.py"


def test_every_vector_file_is_generated_and_loaded() -> None:
    generated = set(_generator().render_all())
    on_disk = {p.name for p in _all_files()}
    loaded = {path.name for path in _files() if _load(path).get("vectors")}
    assert on_disk == generated == loaded | {REQUESTS_FILE, SERVICE_FILE, HTTP_FILE}


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are distinct (proof-of-possession.md, the JSON request shape)."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _RepeatedKey(key)
        doc[key] = value
    return doc


def _request_cases() -> Iterator[Any]:
    doc = _load(VECTORS_DIR / REQUESTS_FILE)
    for vector in doc["vectors"]:
        yield pytest.param(vector, id=vector["name"])


@pytest.mark.parametrize("vector", list(_request_cases()))
def test_request_vector(vector: Json) -> None:
    """Read the JSON text (a repeated key anywhere is refused), build the request; the text is
    refused (``malformed``) or the request's digest is the vector's."""
    expected = vector["expected"]
    answer: Json
    try:
        doc = json.loads(vector["request_json"], object_pairs_hook=_unique_keys)
        answer = {"digest": Request.from_json(doc).digest().hex()}
    except _RepeatedKey:
        answer = {"error": "malformed"}  # the reader refuses it before any request is built
    except MalformedRequest as refused:
        answer = {"error": str(refused.code)}
    assert answer == expected


def test_request_file_is_well_formed() -> None:
    doc = _load(VECTORS_DIR / REQUESTS_FILE)
    assert set(doc) == REQUEST_FILE_KEYS
    assert doc["format"] == FORMAT
    assert doc["vectors"]
    for vector in doc["vectors"]:
        assert set(vector) == REQUEST_VECTOR_KEYS, vector.get("name")
        assert isinstance(vector["request_json"], str), vector["name"]
        expected = vector["expected"]
        assert expected == {"error": "malformed"} or (
            set(expected) == {"digest"} and len(bytes.fromhex(expected["digest"])) == 32
        ), vector["name"]
    decisions = {v["name"] for path in _files() for v in _load(path)["vectors"]}
    assert not decisions & {v["name"] for v in doc["vectors"]}, "names are unique across files"
    refused = [v for v in doc["vectors"] if "error" in v["expected"]]
    assert refused, "some requests are refused"
    assert len(refused) < len(doc["vectors"]), "and some, just inside a rule, accepted"
