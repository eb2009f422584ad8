"""biscuit-python: an attenuated biscuit with a holder proof as a third-party block.

The authority block (signed by the root key) grants ``right(tool, action)`` for the root tools
and actions and checks the audience, the resource prefix and the expiry; each hop appends an
attenuation block with the three narrowing checks (``now($t), $t <= expiry``,
``tool("crm.read")``, ``resource($r), $r.starts_with("crm://accounts/42/")``); the last hop's
block also names the holder: ``check if pop($tool, $res, $at, $nonce), tool($tool),
resource($res), now($now), $at <= $now, $now - $at <= 60 trusting previous, <holder key>``.
A call carries the token with one more block, a third-party block signed by the holder's key
stating ``pop(tool, resource, at, nonce)``: biscuit's way to prove possession.

What biscuit cannot express as we do: an attenuation block is signed by the token's chained
ephemeral key, not by the delegating agent, so the hops are not bound to agent keys and only
the last holder is named; biscuit has no replay store, so a proof's nonce is not remembered.

The verify is ``Biscuit.from_base64(text, root)`` (every block signature: D + 1, and the proof
block's two: D + 3 in all) and an ``AuthorizerBuilder`` with the call's facts and the policy
``allow if tool($t), action($a), right($t, $a)``, ``build(token)``, ``authorize()``. The
authorizer's default 1 ms run-time limit is raised to 100 ms: on this shared machine a
preempted run would otherwise be denied.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import biscuit_auth as bis  # type: ignore[import-not-found, unused-ignore]
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
)

AUTHORITY = """
check if audience("crm");
check if resource($r), $r.starts_with({prefix});
check if now($t), $t <= {expires};
"""
HOP = """
check if now($t), $t <= {expires};
check if tool({tool});
check if resource($r), $r.starts_with({prefix});
"""
HOLDER = (
    "check if pop($tool, $res, $at, $nonce), tool($tool), resource($res), now($now),"
    " $at <= $now, $now - $at <= 60 trusting previous, {holder};"
)
POLICY = """
audience({audience}); tool({tool}); action({action}); resource({resource}); now({now});
allow if tool($t), action($a), right($t, $a);
"""
_nonces = itertools.count(1)


def _limits() -> Any:
    # limits() and set_limits() are missing from biscuit-python's type stubs.
    limits = bis.AuthorizerBuilder("").limits()  # type: ignore[attr-defined, unused-ignore]
    limits.max_time = datetime.timedelta(milliseconds=100)
    return limits


LIMITS = _limits()


class Biscuit(System[tuple[str, Call]]):
    """Cold: a new token for a new holder key. Warm: the same token with a new proof block
    (the proof is inside the token, so every call's text is new to the verifier anyway)."""

    name = "biscuit-python"
    signatures = ("D + 3", "D + 3")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.root = bis.KeyPair()
        self.token, self.holder = self.mint()

    def mint(self) -> tuple[bis.Biscuit, bis.KeyPair]:
        holder = bis.KeyPair()
        builder = bis.BiscuitBuilder(
            AUTHORITY, {"prefix": ROOT_RESOURCE[:-2], "expires": NOW + TTL}
        )
        for tool, action in itertools.product(ROOT_TOOLS, ROOT_ACTIONS):
            builder.add_fact(bis.Fact("right({t}, {a})", {"t": tool, "a": action}))
        token = builder.build(self.root.private_key)
        for i in range(self.depth):
            block = bis.BlockBuilder(
                HOP,
                {
                    "expires": hop_expiry(NOW + TTL, i),
                    "tool": HOP_TOOL,
                    "prefix": HOP_RESOURCE[:-2],
                },
            )
            if i == self.depth - 1:
                block.add_code(HOLDER, scope_parameters={"holder": holder.public_key})
            token = token.append(block)
        return token, holder

    def prove(self, token: bis.Biscuit, holder: bis.KeyPair, call: Call) -> str:
        request = token.third_party_request()
        fact = bis.BlockBuilder(
            "pop({tool}, {res}, {at}, {nonce});",
            {"tool": call.tool, "res": call.resource, "at": NOW, "nonce": next(_nonces)},
        )
        block = request.create_block(holder.private_key, fact)
        proved = token.append_third_party(holder.public_key, block)
        return str(proved.to_base64())

    def cold_inputs(self, n: int, call: Call) -> list[tuple[str, Call]]:
        return [(self.prove(*self.mint(), call), call) for _ in range(n)]

    def warm_inputs(self, n: int, call: Call) -> list[tuple[str, Call]]:
        return [(self.prove(self.token, self.holder, call), call) for _ in range(n)]

    def verify(self, item: tuple[str, Call]) -> bool:
        text, call = item
        try:
            token = bis.Biscuit.from_base64(text, self.root.public_key)
            builder = bis.AuthorizerBuilder(
                POLICY,
                {
                    "audience": call.audience,
                    "tool": call.tool,
                    "action": call.action,
                    "resource": call.resource,
                    "now": NOW,
                },
            )
            builder.set_limits(LIMITS)  # type: ignore[attr-defined, unused-ignore]
            builder.build(token).authorize()
        except (bis.AuthorizationError, bis.BiscuitValidationError):
            return False
        return True

    def cold(self, item: tuple[str, Call]) -> bool:
        return self.verify(item)

    def warm(self, item: tuple[str, Call]) -> bool:
        return self.verify(item)
