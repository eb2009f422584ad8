"""A flat PyJWT EdDSA chain: D + 1 JWTs, each signed by the previous holder, and a proof JWT.

The root JWT, signed by the issuer's key, grants the root scope (``aud``, ``tools``,
``actions``, ``resources``, ``exp``) to the first agent's key (``cnf``). Hop i is a JWT signed
by the current holder naming the next agent's key, its parent (``prn``: SHA-256 of the parent
JWT) and the three narrowings (``exp``, ``tools``, ``resources``; claims it omits are
inherited). The chain travels as one text, the JWTs joined by ``~``; the call adds a proof JWT
signed by the last holder over the call, the chain's SHA-256 (``ath``), ``iat`` and ``jti``.

The verify is ``jwt.decode`` (PyJWT, OpenSSL Ed25519 through pyca cryptography) of each JWT
with the key the previous one names (D + 2 signatures, D + 1 keys loaded from raw bytes), the
parent links, that each hop narrows (``exp`` no later, ``tools`` a subset, every resource
pattern under one of the parent's), the call against the last scope, the proof's binding and
age, and its ``jti`` claimed in a dict (the replay check; shared by the cold verifiers, as our
MemoryState is). Our fixed clock is checked instead of PyJWT's reading of the system clock.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from typing import Any

import jwt  # type: ignore[import-not-found, unused-ignore]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.types import Options  # type: ignore[import-not-found, unused-ignore]
from workload import (
    HOP_RESOURCE,
    HOP_TOOL,
    NOW,
    ROOT_ACTIONS,
    ROOT_RESOURCE,
    ROOT_TOOLS,
    TTL,
    Call,
    System,
    hop_expiry,
    resource_allowed,
)

ALGORITHMS = ["EdDSA"]
OPTIONS: Options = {"verify_exp": False, "verify_aud": False, "verify_iat": False}
POP_MAX_AGE = 60
_ids = itertools.count(1)


class Denied(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(key: Ed25519PrivateKey) -> str:
    return _b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _digest(text: str) -> str:
    return _b64(hashlib.sha256(text.encode()).digest())


def _narrows(child: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    """The child's scope, its omitted claims inherited. Raises Denied if it widens."""
    scope = {**parent, **child}
    if scope["exp"] > parent["exp"]:
        raise Denied("a later expiry")
    for claim in ("aud", "tools", "actions"):
        if not set(scope[claim]) <= set(parent[claim]):
            raise Denied(f"wider {claim}")
    for pattern in scope["resources"]:  # each under one of the parent's
        if not any(resource_allowed(p, pattern) for p in parent["resources"]):
            raise Denied("a wider resource")
    return scope


def verify_chain(
    root: Ed25519PublicKey, text: str, proof: str, call: Call, seen: dict[str, int]
) -> None:
    """Raises Denied (or a PyJWT error) unless the chain and proof allow ``call`` at NOW."""
    key = root
    scope: dict[str, Any] | None = None
    parent = None
    for part in text.split("~"):
        claims = jwt.decode(part, key, algorithms=ALGORITHMS, options=OPTIONS)
        if parent is not None and claims.pop("prn") != _digest(parent):
            raise Denied("not the parent's child")
        holder = claims.pop("cnf")
        scope = claims if scope is None else _narrows(claims, scope)
        key = Ed25519PublicKey.from_public_bytes(_unb64(holder))
        parent = part
    assert scope is not None
    if not scope["exp"] > NOW:
        raise Denied("expired")
    if call.audience not in scope["aud"] or call.tool not in scope["tools"]:
        raise Denied("audience or tool")
    if call.action not in scope["actions"]:
        raise Denied("action")
    if not any(resource_allowed(p, call.resource) for p in scope["resources"]):
        raise Denied("resource")
    pop = jwt.decode(proof, key, algorithms=ALGORITHMS, options=OPTIONS)
    if pop["ath"] != _digest(text) or not 0 <= NOW - pop["iat"] <= POP_MAX_AGE:
        raise Denied("the proof is for another chain, or too old")
    if (pop["aud"], pop["tool"], pop["action"], pop["resource"]) != (
        call.audience,
        call.tool,
        call.action,
        call.resource,
    ):
        raise Denied("the proof is for another call")
    if pop["jti"] in seen:
        raise Denied("replay")
    seen[pop["jti"]] = pop["iat"]


Item = tuple[str, str, Call]


class JwtChain(System[Item]):
    """Cold: a new chain of new keys. Warm: the same chain again, a proof per call. PyJWT
    keeps nothing between calls, so the two differ only in their inputs."""

    name = "PyJWT chain"
    signatures = ("D + 2", "D + 2")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.issuer = Ed25519PrivateKey.generate()
        self.root = self.issuer.public_key()
        self.seen: dict[str, int] = {}
        self.text, self.holder = self.mint()

    def mint(self) -> tuple[str, Ed25519PrivateKey]:
        holder = Ed25519PrivateKey.generate()
        claims: dict[str, Any] = {
            "aud": ["crm"],
            "tools": list(ROOT_TOOLS),
            "actions": list(ROOT_ACTIONS),
            "resources": [ROOT_RESOURCE],
            "exp": NOW + TTL,
            "cnf": _raw(holder),
        }
        parts = [jwt.encode(claims, self.issuer, algorithm="EdDSA")]
        for i in range(self.depth):
            nxt = Ed25519PrivateKey.generate()
            hop = {
                "exp": hop_expiry(NOW + TTL, i),
                "tools": [HOP_TOOL],
                "resources": [HOP_RESOURCE],
                "cnf": _raw(nxt),
                "prn": _digest(parts[-1]),
            }
            parts.append(jwt.encode(hop, holder, algorithm="EdDSA"))
            holder = nxt
        return "~".join(parts), holder

    def prove(self, text: str, holder: Ed25519PrivateKey, call: Call) -> str:
        claims = {
            "ath": _digest(text),
            "aud": call.audience,
            "tool": call.tool,
            "action": call.action,
            "resource": call.resource,
            "iat": NOW,
            "jti": str(next(_ids)),
        }
        return str(jwt.encode(claims, holder, algorithm="EdDSA"))

    def cold_inputs(self, n: int, call: Call) -> list[Item]:
        items = []
        for _ in range(n):
            text, holder = self.mint()
            items.append((text, self.prove(text, holder, call), call))
        return items

    def warm_inputs(self, n: int, call: Call) -> list[Item]:
        return [(self.text, self.prove(self.text, self.holder, call), call) for _ in range(n)]

    def verify(self, item: Item) -> bool:
        text, proof, call = item
        try:
            verify_chain(self.root, text, proof, call, self.seen)
        except (Denied, jwt.PyJWTError, KeyError, ValueError):
            return False
        return True

    def cold(self, item: Item) -> bool:
        return self.verify(item)

    def warm(self, item: Item) -> bool:
        return self.verify(item)
