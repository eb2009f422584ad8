"""Law: revoking a hop (or an agent) denies exactly the tokens whose chain passes through it.

"Passes through" is decided independently of the verifier: a token descends from the token
that introduced a hop when that token's caveats are a byte prefix of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import (
    Code,
    Request,
    Scope,
    UnverifiedToken,
    Verifier,
    attenuate,
    delegate,
    encode_public_key,
)
from delegation.caveats import Hop, Validity
from delegation.stores import MemoryState, Revocation, RevocationKind
from delegation.testing.world import (
    AGENT_NUMBERS,
    AGENTS,
    KEYRING,
    holder_key,
    mint_root,
    proof_for,
)
from tests.conftest import NOW

REQUEST = Request(audience="crm", tool="crm.read", action="read")
ROOT_SCOPE = Scope(audiences=["crm"], tools=["crm.read", "crm.update"], expires=NOW + 3600)


@dataclass(frozen=True)
class Node:
    token: UnverifiedToken
    parent: int | None
    how: str


def grow_tree(
    data: st.DataObject,
    root: UnverifiedToken,
    *,
    max_nodes: int = 7,
    extra_ops: dict[str, Callable[[UnverifiedToken, int], UnverifiedToken]] | None = None,
) -> list[Node]:
    """A random delegation tree under ``root``: each new node attenuates or delegates (or
    applies one of ``extra_ops``) a random earlier node. Node ``i``'s attenuation uses an
    expiry unique to ``i``, so distinct attenuations are distinct tokens."""
    ops = ["attenuate", "delegate", *(extra_ops or {})]
    nodes = [Node(root, None, "root")]
    for i in range(1, data.draw(st.integers(1, max_nodes), label="nodes") + 1):
        parent_index = data.draw(st.integers(0, len(nodes) - 1), label="parent")
        parent = nodes[parent_index].token
        op = data.draw(st.sampled_from(ops), label="op")
        in_chain = {link.public_key for link in parent.agents()}
        free = [n for n in AGENT_NUMBERS if AGENTS[n].public_key not in in_chain]
        if op == "delegate" and free:
            n = data.draw(st.sampled_from(free), label="delegatee")
            child = delegate(parent, holder_key(parent), AGENTS[n], now=NOW)
        elif op in ("attenuate", "delegate"):
            op = "attenuate"
            child = attenuate(parent, [Validity(None, NOW + 3600 - i)], now=NOW)
        else:
            assert extra_ops is not None
            child = extra_ops[op](parent, i)
        event(op)
        nodes.append(Node(child, parent_index, op))
    return nodes


def descends(token: UnverifiedToken, ancestor: UnverifiedToken) -> bool:
    """True when ``token``'s chain starts with all of ``ancestor``'s (or is the same)."""
    mine, theirs = token.raw.caveats, ancestor.raw.caveats
    same_root = token.raw.identifier == ancestor.raw.identifier
    return same_root and len(mine) >= len(theirs) and mine[: len(theirs)] == theirs


def tree_descendants(nodes: list[Node], index: int) -> set[int]:
    out = {index}
    changed = True
    while changed:
        changed = False
        for i, node in enumerate(nodes):
            if node.parent in out and i not in out:
                out.add(i)
                changed = True
    return out


def verify_all(verifier: Verifier, nodes: list[Node]) -> list[tuple[Code, ...]]:
    out = []
    for node in nodes:
        proof = proof_for(node.token, REQUEST)
        decision = verifier.verify(node.token, REQUEST, proof)
        out.append(tuple(r.code for r in decision.reasons))
    return out


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_revoking_a_hop_denies_exactly_its_descendants(data: st.DataObject) -> None:
    nodes = grow_tree(data, mint_root(ROOT_SCOPE))
    hop_nodes = [i for i, n in enumerate(nodes) if n.how == "delegate"]
    store = MemoryState()
    verifier = Verifier(KEYRING, state=store, clock=lambda: NOW)
    assert all(codes == () for codes in verify_all(verifier, nodes))
    if not hop_nodes:
        event("no hop")
        return
    target = data.draw(st.sampled_from(hop_nodes), label="revoked hop")
    target_token = nodes[target].token
    assert isinstance(target_token.unsafe_caveats()[-1], Hop)
    hop_id = target_token.agents()[-1].hop_id
    assert hop_id is not None
    store.revoke(Revocation(RevocationKind.TOKEN, hop_id), NOW)

    results = verify_all(verifier, nodes)
    for i, node in enumerate(nodes):
        if descends(node.token, target_token):
            assert results[i] == (Code.REVOKED,), (i, node.how)
        else:
            assert results[i] == (), (i, node.how, results[i])
    # The tree shape agrees: every structural descendant is revoked; the parent never is.
    for i in tree_descendants(nodes, target):
        assert results[i] == (Code.REVOKED,)
    parent = nodes[target].parent
    assert parent is not None
    assert results[parent] == ()
    event(f"revoked {sum(r != () for r in results)} of {len(nodes)}")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_revoking_a_prefix_or_an_agent_denies_exactly_the_chains_through_it(
    data: st.DataObject,
) -> None:
    nodes = grow_tree(data, mint_root(ROOT_SCOPE))
    store = MemoryState()
    verifier = Verifier(KEYRING, state=store, clock=lambda: NOW)
    if data.draw(st.booleans(), label="by agent"):
        agent = data.draw(st.sampled_from(AGENT_NUMBERS), label="agent")
        key = AGENTS[agent].public_key
        store.revoke(Revocation(RevocationKind.AGENT, encode_public_key(key)), NOW)
        results = verify_all(verifier, nodes)
        for i, node in enumerate(nodes):
            through = any(link.public_key == key for link in node.token.agents())
            assert results[i] == ((Code.REVOKED,) if through else ()), (i, agent)
        return
    target = data.draw(st.integers(0, len(nodes) - 1), label="revoked token")
    target_token = nodes[target].token
    final = verifier.check_chain(target_token).revocation_candidates()[-1]
    store.revoke(final, NOW)
    results = verify_all(verifier, nodes)
    for i, node in enumerate(nodes):
        expected = (Code.REVOKED,) if descends(node.token, target_token) else ()
        assert results[i] == expected, (i, node.how, target)
