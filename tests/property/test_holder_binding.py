"""Law: only the holder in force can use a token, and only for the request it signed.

- A proof signed by any key other than the current holder's is ``pop_invalid``: a previous
  holder, a sub-agent presenting its parent's broader token, or a stranger.
- A proof for request A never verifies for a request B that differs from A in any field or
  argument (type included: ``1``, ``1.0``, ``True`` and ``"1"`` are four different arguments).
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from delegation import Code, Request, Scope, UnverifiedToken, delegate
from delegation.testing.world import (
    AGENT_NUMBERS,
    AGENTS,
    KEYS,
    codes,
    holder_key,
    mint_root,
    new_verifier,
    no_internal_errors,
    proof_for,
)
from tests.conftest import NOW, seeded_agent

STRANGER = seeded_agent(99)
"""A key no token names. TEST FIXTURE ONLY."""
OPEN_SCOPE = Scope(audiences=["crm", "mail"], expires=NOW + 3600)
"""Restricts only audience and time, so every generated request is in scope."""


@st.composite
def chains(draw: st.DrawFn) -> list[UnverifiedToken]:
    """A root held by agent-1, then up to three delegations to distinct agents."""
    order = draw(st.permutations([n for n in AGENT_NUMBERS if n != 1]))
    chain = [mint_root(OPEN_SCOPE)]
    for n in order[: draw(st.integers(0, 3))]:
        parent = chain[-1]
        chain.append(delegate(parent, holder_key(parent), AGENTS[n], now=NOW))
    return chain


REQUEST = Request(
    audience="crm", tool="t.read", action="read", resource="crm://a", intent="sum", args={"n": 1}
)


@settings(max_examples=120, deadline=None)
@given(chain=chains(), data=st.data())
def test_a_proof_by_anyone_but_the_holder_is_pop_invalid(
    chain: list[UnverifiedToken], data: st.DataObject
) -> None:
    token = data.draw(st.sampled_from(chain), label="token")
    signer = data.draw(
        st.sampled_from([holder_key(t) for t in chain])
        | st.sampled_from([*KEYS.values(), STRANGER]),
        label="signer",
    )
    verifier = new_verifier()
    with no_internal_errors():
        genuine = verifier.verify(token.encode(), REQUEST, proof_for(token, REQUEST))
        assert genuine.allowed, codes(genuine)
        forged = proof_for(token, REQUEST, key=signer)
        decision = verifier.verify(token.encode(), REQUEST, forged)
    if signer.public_key == token.holder.public_key:
        event("the holder signed")
        assert decision.allowed, codes(decision)
        return
    holders = [t.holder.public_key for t in chain]
    if signer.public_key in holders:
        later = holders.index(signer.public_key) > holders.index(token.holder.public_key)
        event("a sub-agent signed for its parent's token" if later else "a past holder signed")
    else:
        event("another key signed")
    assert codes(decision) == (Code.POP_INVALID,)


# --- request binding ------------------------------------------------------------------------

ARG_VALUES: tuple[Any, ...] = (0, 1, 1.0, -0.0, 0.0, True, False, "1", "", None, [1], {"k": 1})
LOOKALIKES: tuple[Any, ...] = (1, 1.0, True, "1", [1], 0, 0.0, -0.0, False, "", None, [], {})
"""Values a careless digest might confuse with one another."""


def canonical(value: Any) -> Any:
    """A type-aware normal form: equal exactly when two requests mean the same call."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, canonical(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("list", tuple(canonical(v) for v in value))
    return (type(value).__name__, repr(value))


def request_key(request: Request) -> Any:
    return canonical(request.to_json())


requests = st.builds(
    Request,
    audience=st.sampled_from(("crm", "mail")),
    tool=st.sampled_from(("t.read", "t.write")),
    action=st.sampled_from(("read", "write")),
    resource=st.sampled_from((None, "crm://a", "crm://b", "/a")),
    intent=st.sampled_from((None, "sum", "upd")),
    args=st.dictionaries(st.sampled_from(("n", "m")), st.sampled_from(ARG_VALUES), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(chain=chains(), signed=requests, presented=requests, data=st.data())
def test_a_proof_for_one_request_never_verifies_for_another(
    chain: list[UnverifiedToken], signed: Request, presented: Request, data: st.DataObject
) -> None:
    token = data.draw(st.sampled_from(chain), label="token")
    how = data.draw(st.sampled_from(("random", "args reordered", "lookalike arg")), label="how")
    event(how)
    if how == "args reordered":
        presented = Request(
            **{**signed.to_json(), "args": dict(reversed(list(signed.args.items())))}
        )
    elif how == "lookalike arg":
        name = data.draw(st.sampled_from(("n", "m")), label="arg")
        value = data.draw(st.sampled_from(LOOKALIKES), label="lookalike")
        presented = Request(**{**signed.to_json(), "args": {**signed.args, name: value}})
    proof = proof_for(token, signed)
    with no_internal_errors():
        decision = new_verifier().verify(token.encode(), presented, proof)
    if request_key(signed) == request_key(presented):
        event("same call")
        assert decision.allowed, codes(decision)
    else:
        event("another call")
        assert codes(decision) == (Code.POP_INVALID,), (signed, presented)
