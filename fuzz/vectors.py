"""The material the harnesses start from: every case of ``specs/vectors/*.json``.

Only the vector files are read (never the generator): a case is a token, a request, a proof,
discharges and the time, with the keys of the file it comes from. Every key here is a public
test fixture.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from delegation import AgentKey, ApproverKey, Keyring, MalformedRequest, Request, RootKey

VECTORS = Path(__file__).resolve().parents[1] / "specs" / "vectors"
TOKEN_FILES = (
    "valid",
    "integrity",
    "encoding",
    "caveats",
    "chain",
    "proof",
    "thirdparty",
    "state",
)


@dataclass(frozen=True)
class Case:
    """One call of a vector: what a verifier is given, and whether it must allow it."""

    file: str
    name: str
    token: str
    request: Request
    proof: str | None
    discharges: tuple[str, ...]
    now: int
    allowed: bool
    keyring: Keyring
    approval_proof: str | None = None
    """The holder's signed approval request (``prove_for_approval``), where the vector has one."""


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _keyring(doc: dict[str, Any]) -> Keyring:
    ring = doc["keyring"]
    keys = [RootKey(k["key_id"], bytes.fromhex(k["secret_hex"])) for k in ring["keys"]]
    return Keyring(keys, ring["current"])


@cache
def cases() -> tuple[Case, ...]:
    """Every top-level call of every token vector file whose request builds."""
    out: list[Case] = []
    for name in TOKEN_FILES:
        doc = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
        ring = _keyring(doc)
        for vector in doc["vectors"]:
            if "token" not in vector or not isinstance(vector.get("request"), dict):
                continue
            try:
                request = Request.from_json(vector["request"])
            except MalformedRequest:  # a vector of a refused request: not a call
                continue
            token = vector["token"]
            if not isinstance(token, str):
                continue
            asked = vector.get("approval_request") or {}
            out.append(
                Case(
                    file=name,
                    name=vector["name"],
                    token=token,
                    request=request,
                    proof=vector.get("proof"),
                    discharges=tuple(vector.get("discharges") or ()),
                    now=vector["now"],
                    allowed=bool(vector["expected"]["allowed"]),
                    keyring=ring,
                    approval_proof=asked.get("proof"),
                )
            )
    return tuple(out)


@cache
def approval_requests() -> dict[tuple[str, bytes], frozenset[str]]:
    """Every holder's signed approval request in the vectors, by the token and call it was
    made for (the vector's ``approval_request``, whose token may be another than the one the
    vector presents: a narrower or wider token of the same holder)."""
    out: dict[tuple[str, bytes], set[str]] = {}
    for name in TOKEN_FILES:
        doc = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
        for vector in doc["vectors"]:
            asked = vector.get("approval_request")
            if not asked or not isinstance(asked.get("proof"), str):
                continue
            try:
                digest = Request.from_json(asked["request"]).digest()
            except MalformedRequest:
                continue
            out.setdefault((asked["token"], digest), set()).add(asked["proof"])
    return {key: frozenset(proofs) for key, proofs in out.items()}


@cache
def agent_keys() -> dict[bytes, AgentKey]:
    """Every agent key the vector files list, by public key: the harnesses sign as holders."""
    keys: dict[bytes, AgentKey] = {}
    for name in TOKEN_FILES:
        doc = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
        for agent in doc.get("agents", {}).values():
            key = AgentKey.from_seed(bytes.fromhex(agent["seed_hex"]))
            keys[key.public_key] = key
    return keys


@cache
def approver_keys() -> dict[str, ApproverKey]:
    """The vectors' third parties by name."""
    doc = json.loads((VECTORS / "thirdparty.json").read_text(encoding="utf-8"))
    return {
        name: ApproverKey.from_seed(bytes.fromhex(party["seed_hex"]))
        for name, party in doc["third_parties"].items()
    }


@cache
def request_documents() -> tuple[str, ...]:
    """The JSON request texts of ``requests.json``, accepted and refused."""
    doc = json.loads((VECTORS / "requests.json").read_text(encoding="utf-8"))
    return tuple(v["request_json"] for v in doc["vectors"] if "request_json" in v)


def raw_token(text: str) -> bytes | None:
    """The binary form of a token text, or None when it is not base64url (for seeds)."""
    try:
        return _b64(text)
    except ValueError:
        return None
