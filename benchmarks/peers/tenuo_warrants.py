"""Tenuo: a root warrant delegated D times, each hop to a new holder key, and the holder's
proof of possession.

The root warrant (signed by the root key, held by the first agent) allows ``crm.read`` and
``crm.update`` with ``action`` one of read/write, ``resource`` matching ``crm://accounts/*`` and
``audience`` exactly ``crm``. Each hop is ``Warrant.attenuate`` by the current holder to the next
agent's key, with the three narrowings: a shorter TTL, the one tool ``crm.read``, the resource
pattern ``crm://accounts/42/*`` (Tenuo restates every constraint in each warrant; ``action`` and
``audience`` are restated unchanged). The call carries the warrant stack as text
(``encode_warrant_stack``) and the holder's PoP (``Warrant.sign(key, tool, args, timestamp)``).

The verify is ``decode_warrant_stack_base64(text)`` and ``Authorizer.check_chain(chain, tool,
args, signature=pop, as_of=...)``: trusted root, linkage, depth, expiry, monotonicity of every
hop, every signature, the constraints against the call, the PoP (Tenuo's core counts 2D + 3
signature checks). Tenuo's PoP is deterministic in (tool, args, timestamp) and its replay
defence is a separate, in-process ``NonceStore`` in the Python enforcement layer, not timed
here. Tenuo reads time from the system clock at minting; ``as_of`` pins the verify to the
moment the inputs were made, as our fixed clock does.
"""

from __future__ import annotations

import time
from typing import Any

import tenuo  # type: ignore[import-not-found, unused-ignore]
from tenuo.exceptions import TenuoError  # type: ignore[import-not-found, unused-ignore]
from workload import ROOT_ACTIONS, TTL, Call, System

Item = tuple[Any, str, str, dict[str, str], bytes, int]


def _constraints(resource: str) -> dict[str, Any]:
    return {
        "action": tenuo.OneOf(list(ROOT_ACTIONS)),
        "resource": tenuo.Pattern(resource),
        "audience": tenuo.Exact("crm"),
    }


def _args(call: Call) -> dict[str, str]:
    return {"action": call.action, "resource": call.resource, "audience": call.audience}


def verify(item: Item) -> bool:
    authorizer, text, tool, args, pop, as_of = item
    try:
        chain = tenuo.decode_warrant_stack_base64(text)
        authorizer.check_chain(chain, tool, args, signature=pop, as_of=as_of)
    except TenuoError:
        return False
    return True


class Tenuo(System[Item]):
    """Cold: a new chain of new keys and a fresh Authorizer per call. Warm: one Authorizer,
    the same warrant stack again, a PoP per call."""

    name = "tenuo"
    signatures = ("2D + 3 (issue 14's count)", "2D + 3")

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.root = tenuo.SigningKey.generate()
        self.text, self.holder, self.leaf = self.mint()
        self.authorizer = self.new_authorizer()

    def new_authorizer(self) -> Any:
        return tenuo.Authorizer(trusted_roots=[self.root.public_key])

    def mint(self) -> tuple[str, Any, Any]:
        holder = tenuo.SigningKey.generate()
        everything = _constraints("crm://accounts/*")
        warrant = tenuo.Warrant.issue(
            keypair=self.root,
            capabilities={"crm.read": everything, "crm.update": everything},
            ttl_seconds=TTL,
            holder=holder.public_key,
        )
        chain = [warrant]
        for i in range(self.depth):
            nxt = tenuo.SigningKey.generate()
            warrant = warrant.attenuate(
                {"crm.read": _constraints("crm://accounts/42/*")},
                holder,
                ttl_seconds=TTL - 10 * (i + 1),
                holder=nxt.public_key,
            )
            chain.append(warrant)
            holder = nxt
        return str(tenuo.encode_warrant_stack(chain)), holder, warrant

    def _items(self, made: list[tuple[Any, str, Any, Any]], call: Call) -> list[Item]:
        as_of = int(time.time())  # not before any warrant here was issued
        args = _args(call)
        # Distinct PoPs: Tenuo's are deterministic, so each call signs a different second of
        # its validity window.
        return [
            (auth, text, call.tool, args, leaf.sign(holder, call.tool, args, as_of - k % 60), as_of)
            for k, (auth, text, holder, leaf) in enumerate(made)
        ]

    def cold_inputs(self, n: int, call: Call) -> list[Item]:
        made = [(self.new_authorizer(), *self.mint()) for _ in range(n)]
        return self._items(made, call)

    def warm_inputs(self, n: int, call: Call) -> list[Item]:
        return self._items([(self.authorizer, self.text, self.holder, self.leaf)] * n, call)

    def cold(self, item: Item) -> bool:
        return verify(item)

    def warm(self, item: Item) -> bool:
        return verify(item)
