"""macaroonbakery: a bakery macaroon with first-party caveats, checked by the bakery's checker.

The oven mints a macaroon for the operation ``crm``/``call`` with the root grant as caveats
(its expiry as the standard ``time-before``; ``d:audience``, ``d:tool``, ``d:action``,
``d:resource`` in a namespace of ours), and each hop appends ``d:hop agent-<i>`` and the three
narrowing caveats (``time-before``, ``d:tool``, ``d:resource``): the same caveat count as our
token. A bakery macaroon is a bearer token: ``d:hop`` only marks the hop (its checker accepts),
nothing signs it. The verify is ``pymacaroons.Macaroon.deserialize(text)`` (bakery version 3 is
macaroon V2) and ``bakery.checker.auth([[macaroon]]).allow(ctx, [op])``: the root key lookup,
the HMAC chain, then every condition through the registered checkers with the call in the
context and a fixed clock.
"""

from __future__ import annotations

import datetime
from typing import Any

import macaroonbakery.bakery as bakery  # type: ignore[import-untyped, import-not-found, unused-ignore]
import macaroonbakery.checkers as checkers  # type: ignore[import-untyped, import-not-found, unused-ignore]
import pymacaroons
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

NAMESPACE = "https://bench.example/delegation"
PREFIX = "d"
ROOT_KEY = b"\x01" * 24  # a benchmark fixture, publicly known
OP = bakery.Op(entity="crm", action="call")
_CALL = checkers.ContextKey("call")


class _Clock:
    def __init__(self, at: int) -> None:
        self._at = datetime.datetime.fromtimestamp(at, datetime.UTC).replace(tzinfo=None)

    def utcnow(self) -> datetime.datetime:
        return self._at


def _field(name: str) -> Any:
    def check(ctx: Any, cond: str, arg: str) -> str | None:
        return None if getattr(ctx[_CALL], name) in arg.split() else f"{name} not allowed"

    return check


def _resource(ctx: Any, cond: str, arg: str) -> str | None:
    if any(resource_allowed(p, ctx[_CALL].resource) for p in arg.split()):
        return None
    return "resource not allowed"


def _hop(ctx: Any, cond: str, arg: str) -> str | None:
    return None


def new_bakery() -> Any:
    checker = checkers.Checker()
    checker.namespace().register(NAMESPACE, PREFIX)
    for name in ("audience", "tool", "action"):
        checker.register(name, NAMESPACE, _field(name))
    checker.register("resource", NAMESPACE, _resource)
    checker.register("hop", NAMESPACE, _hop)
    return bakery.Bakery(root_key_store=bakery.MemoryKeyStore(ROOT_KEY), checker=checker)


def _at(when: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).replace(tzinfo=None)


def _caveat(name: str, arg: str) -> Any:
    return checkers.Caveat(condition=f"{PREFIX}:{name} {arg}")


def mint(depth: int) -> str:
    oven = new_bakery().oven
    root = [
        _caveat("audience", "crm"),
        _caveat("tool", " ".join(ROOT_TOOLS)),
        _caveat("action", " ".join(ROOT_ACTIONS)),
        _caveat("resource", ROOT_RESOURCE),
    ]
    macaroon = oven.macaroon(bakery.LATEST_VERSION, _at(NOW + TTL), root, [OP])
    for i in range(depth):
        macaroon.add_caveat(_caveat("hop", f"agent-{i + 1}"))
        macaroon.add_caveat(checkers.time_before_caveat(_at(hop_expiry(NOW + TTL, i))))
        macaroon.add_caveat(_caveat("tool", HOP_TOOL))
        macaroon.add_caveat(_caveat("resource", HOP_RESOURCE))
    return str(macaroon.macaroon.serialize())


def context(call: Call) -> Any:
    ctx = checkers.AuthContext().with_value(_CALL, call)
    return checkers.context_with_clock(ctx, _Clock(NOW))


Item = tuple[Any, str, Any]


def verify(item: Item) -> bool:
    oven_and_checker, text, ctx = item
    try:
        oven_and_checker.checker.auth([[pymacaroons.Macaroon.deserialize(text)]]).allow(ctx, [OP])
    except (bakery.PermissionDenied, bakery.VerificationError, bakery.DischargeRequiredError):
        return False
    return True


class Bakery(System[Item]):
    """Cold: a new macaroon, and a fresh bakery (checker, key store) per call. Warm: one bakery,
    the same macaroon again."""

    name = "macaroonbakery"
    signatures = ("0 (HMACs)", "0 (HMACs)")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.bakery = new_bakery()
        self.text = mint(depth)

    def cold_inputs(self, n: int, call: Call) -> list[Item]:
        return [(new_bakery(), mint(self.depth), context(call)) for _ in range(n)]

    def warm_inputs(self, n: int, call: Call) -> list[Item]:
        return [(self.bakery, self.text, context(call))] * n

    def cold(self, item: Item) -> bool:
        return verify(item)

    def warm(self, item: Item) -> bool:
        return verify(item)
