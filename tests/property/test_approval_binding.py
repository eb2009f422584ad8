"""Law: a discharge approved for chain C is usable only by C (and C narrowed by its holder).

A random tree of tokens grows from one issuer token that needs a human approval for every
call: each new node attenuates an earlier one, or delegates it to a key from a small pool,
so the same key often holds tokens in several branches. The approver is shown one node C by
its holder and says yes. The discharge, bound to each node N in turn and presented with a
fresh proof by N's holder, is allowed exactly when N is C or reaches C by attenuations alone
(no hop after C); every other node is denied ``wrong_chain`` at the issuer's caveat. With one
shared state the approval makes one call in all, and the denials spend nothing.

"Reaches C by attenuations alone" is read off the tree as it was built, independently of the
verifier. Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import (
    Code,
    MemoryState,
    Request,
    Scope,
    UnverifiedToken,
    Verifier,
    attenuate,
    bind_discharge,
    delegate,
    prove,
    prove_for_approval,
)
from delegation._thirdparty.approval import Approver, require_approval
from delegation.caveats import Validity
from delegation.errors import BadDischarge
from delegation.testing.fixtures import approver_key
from delegation.testing.world import AGENTS, KEYRING, holder_key, mint_root
from tests.conftest import NOW
from tests.property.test_revocation_props import descends
from tests.unit._forge import bind_anyway

APPROVER = Approver(approver_key(0x51))
"""The issuer's approval service. TEST FIXTURE ONLY."""
REQUEST = Request(audience="crm", tool="crm.update", action="write", args={"id": 7})
ROOT_SCOPE = Scope(audiences=["crm"], tools=["crm.update"], expires=NOW + 3600)
POOL = (2, 3, 4)
"""Delegatees (the root is held by agent 1): few, so keys recur across branches."""


@dataclass(frozen=True)
class Node:
    token: UnverifiedToken
    parent: int | None
    how: str


def grow(data: st.DataObject, root: UnverifiedToken) -> list[Node]:
    """Each new node attenuates a random earlier node (with an expiry unique to the node) or
    delegates it to a pool key not yet in its chain. Two delegations of one node to one key
    are the same token: two nodes, one chain."""
    nodes = [Node(root, None, "root")]
    for i in range(1, data.draw(st.integers(1, 7), label="nodes") + 1):
        parent_index = data.draw(st.integers(0, len(nodes) - 1), label="parent")
        parent = nodes[parent_index].token
        in_chain = {link.public_key for link in parent.agents()}
        free = [n for n in POOL if AGENTS[n].public_key not in in_chain]
        hop = data.draw(st.booleans(), label="delegate") if free else False
        if hop:
            n = data.draw(st.sampled_from(free), label="delegatee")
            child = delegate(parent, holder_key(parent), AGENTS[n], now=NOW)
            nodes.append(Node(child, parent_index, "hop"))
        else:
            child = attenuate(parent, [Validity(None, NOW + 3600 - i)], now=NOW)
            nodes.append(Node(child, parent_index, "attenuate"))
    return nodes


def may_use(nodes: list[Node], user: int, asker: int) -> bool:
    """True when node ``user`` is the asker's token (the node or a copy of it) or reaches it
    through attenuations only."""
    shown = nodes[asker].token.token_bytes
    at: int | None = user
    while at is not None:
        if nodes[at].token.token_bytes == shown:
            return True
        node = nodes[at]
        if node.how != "attenuate":
            return False
        at = node.parent
    return False


def present(
    verifier: Verifier, token: UnverifiedToken, discharge: str
) -> list[tuple[Code, int | None, int | None]]:
    """The reasons (code, hop, caveat) for REQUEST by the token's holder with ``discharge``."""
    proof = prove(token, holder_key(token), REQUEST, now=NOW)
    decision = verifier.verify(token, REQUEST, proof, discharges=[discharge])
    return [(r.code, r.hop, r.caveat) for r in decision.reasons]


def fresh_verifier() -> Verifier:
    return Verifier(KEYRING, state=MemoryState(), clock=lambda: NOW)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_an_approval_is_usable_only_by_the_chain_that_asked(data: st.DataObject) -> None:
    root = require_approval(mint_root(ROOT_SCOPE), APPROVER.public_key)
    gate = len(root.raw.caveats) - 1
    nodes = grow(data, root)
    asker = data.draw(st.integers(0, len(nodes) - 1), label="asker")
    shown = nodes[asker].token
    asked = prove_for_approval(shown, holder_key(shown), REQUEST, now=NOW)
    (pending,) = APPROVER.pending(shown, REQUEST, asked, now=NOW)
    unbound = APPROVER.approve(pending, now=NOW)

    users = {i for i in range(len(nodes)) if may_use(nodes, i, asker)}
    # The same set, read off the tokens: they extend the one shown and keep its holder.
    assert users == {
        i
        for i, n in enumerate(nodes)
        if descends(n.token, shown) and n.token.holder.public_key == shown.holder.public_key
    }
    same_key_elsewhere = any(
        i not in users and n.token.holder.public_key == shown.holder.public_key
        for i, n in enumerate(nodes)
    )
    event("the asker's key holds another branch" if same_key_elsewhere else "no other branch")
    event(f"{len(users)} of {len(nodes)} nodes may use it")
    if len({n.token.token_bytes for n in nodes}) < len(nodes):
        event("two nodes are one token")

    denied = [(Code.WRONG_CHAIN, 0, gate)]
    for i, node in enumerate(nodes):
        if i in users:
            bound = bind_discharge(node.token, unbound)
            assert present(fresh_verifier(), node.token, bound) == [], (i, asker)
        else:
            try:
                bind_discharge(node.token, unbound)
            except BadDischarge:
                pass
            else:
                raise AssertionError(f"bind_discharge bound another chain's approval ({i})")
            bound = bind_anyway(node.token, unbound)
            assert present(fresh_verifier(), node.token, bound) == denied, (i, asker)

    # One state for all, nodes in a drawn order: denials spend nothing; the first user makes
    # the one call; every later user finds it spent.
    shared = fresh_verifier()
    order = data.draw(st.permutations(range(len(nodes))), label="order")
    spent = False
    for i in order:
        token = nodes[i].token
        found = present(shared, token, bind_anyway(token, unbound))
        if i not in users:
            assert found == denied, (i, asker)
        elif not spent:
            assert found == [], (i, asker)
            spent = True
        else:
            assert found == [(Code.REPLAY, 0, gate)], (i, asker)
    assert spent
