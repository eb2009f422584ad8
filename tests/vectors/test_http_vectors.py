"""The HTTP wire-format vectors (``specs/vectors/http.json``, http.md) against
``delegation.http``: the credential header, the derivation of the ``Request``, the route map's
matching, the status of denials, and whole calls verified with the library's verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from delegation import Keyring, RootKey, Verifier
from delegation._decision import Reason
from delegation.errors import Code, MalformedRequest
from delegation.http import PUBLIC, BadCredential, Credential, Route, RouteMap, derive_request
from delegation.http._credential import from_headers
from delegation.http._denial import denial, status_of
from delegation.http.routes import BodyBinding

FILE = Path(__file__).resolve().parents[2] / "specs" / "vectors" / "http.json"
DOC: dict[str, Any] = json.loads(FILE.read_text(encoding="utf-8"))
KINDS = {"credential", "derive", "match", "status", "call"}


def _vectors(kind: str) -> list[Any]:
    found = [v for v in DOC["vectors"] if v["kind"] == kind]
    assert found, kind
    return [pytest.param(v, id=v["name"]) for v in found]


def test_every_vector_has_a_known_kind() -> None:
    assert {v["kind"] for v in DOC["vectors"]} == KINDS
    assert DOC["format"] == "delegation-test-vectors/6"


def _route(doc: dict[str, Any]) -> Route:
    return Route(
        doc["tool"], doc["action"], doc.get("resource"), doc.get("intent"), BodyBinding(doc["body"])
    )


@pytest.mark.parametrize("vector", _vectors("credential"))
def test_credential(vector: dict[str, Any]) -> None:
    headers = [(b"authorization", v.encode("latin-1")) for v in vector["given"]["authorization"]]
    expected = vector["expected"]
    if "code" in expected:
        with pytest.raises(BadCredential) as caught:
            from_headers([(b"host", b"x"), *headers])
        assert caught.value.code == expected["code"]
        answer = denial([Reason(caught.value.code, caught.value.detail)], realm="crm")
        assert answer.status == expected["status"]
        return
    got = from_headers(headers)
    assert got == Credential(expected["token"], expected["proof"], tuple(expected["discharges"]))
    assert Credential.parse(got.header()) == got  # it writes what it reads


@pytest.mark.parametrize("vector", _vectors("derive"))
def test_derive(vector: dict[str, Any]) -> None:
    given, expected = vector["given"], vector["expected"]

    def derive() -> Any:
        return derive_request(
            _route(given["route"]),
            audience=given["audience"],
            path_params=given["path_params"],
            query_string=given["query_string"].encode("latin-1"),
            content_type=given["content_type"],
            body=given["body"].encode("utf-8"),
        )

    if "code" in expected:
        with pytest.raises(MalformedRequest):
            derive()
        assert expected == {"code": "malformed", "status": 400}
        return
    request = derive()
    want = dict(expected["request"])
    got = request.to_json()
    assert {**got, "resource": got.get("resource"), "intent": got.get("intent")} == want
    types = {k: type(v) for k, v in got["args"].items()}
    assert types == {k: type(v) for k, v in want["args"].items()}  # 42.0 is not 42
    assert request.digest().hex() == expected["digest"]


@pytest.mark.parametrize("vector", _vectors("match"))
def test_match(vector: dict[str, Any]) -> None:
    routes = RouteMap.from_json(DOC["route_map"])
    found = routes.match(vector["given"]["method"], vector["given"]["path"])
    expected = vector["expected"]
    if expected["route"] is None:
        assert found is None
        return
    assert found is not None
    entry = routes.routes[expected["route"]].route
    assert found[0] is entry or (entry is PUBLIC and found[0] is PUBLIC)
    assert found[1] == expected["path_params"]
    assert [type(v) for v in found[1].values()] == [
        type(v) for v in expected["path_params"].values()
    ]


@pytest.mark.parametrize("vector", _vectors("status"))
def test_status(vector: dict[str, Any]) -> None:
    codes = vector["given"]["codes"]
    status, error = status_of(codes)
    assert status == vector["expected"]["status"]
    answer = denial([Reason(Code(c), "x") for c in codes], realm="crm")
    assert answer.status == status
    assert answer.body.get("error") == vector["expected"]["error"]
    assert (error if codes != ["token_required"] else None) == vector["expected"]["error"]


@pytest.mark.parametrize("vector", _vectors("call"))
def test_call(vector: dict[str, Any]) -> None:
    given, expected = vector["given"], vector["expected"]
    credential = Credential.parse(given["authorization"])
    routes = RouteMap.from_json(DOC["route_map"])
    found = routes.match(given["method"], given["path"])
    assert found is not None
    route, params = found
    assert isinstance(route, Route)
    request = derive_request(
        route,
        audience="crm",
        path_params=params,
        query_string=given["query_string"],
        content_type=given["content_type"],
        body=given["body"].encode(),
    )
    assert request.digest().hex() == expected["request_digest"]
    spec = DOC["keyring"]
    keys = [RootKey(k["key_id"], bytes.fromhex(k["secret_hex"])) for k in spec["keys"]]
    verifier = Verifier(Keyring(keys, spec["current"]), state=None)
    decision = verifier.verify_at(
        credential.token,
        request,
        credential.proof,
        discharges=credential.discharges,
        at=given["now"],
    )
    assert decision.allowed is expected["allowed"]
    assert [str(r.code) for r in decision.reasons] == expected["codes"]
