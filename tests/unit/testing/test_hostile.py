"""``delegation.testing.hostile``: what it makes is what it says, and the verifier refuses it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import Code, TokenError, decode
from delegation._wire import b64encode
from delegation.caveats import Tool
from delegation.testing.hostile import (
    append_caveats,
    boundary_times,
    delegate_unchecked,
    lookalike_names,
    lookalike_resources,
    respelled_texts,
    tampered_tokens,
)
from delegation.testing.model import matches_resource_pattern
from delegation.testing.world import (
    AGENTS,
    HOP1,
    INTEGRITY_CODES,
    KEYS,
    NOW,
    ROOT,
    STORY,
    STORY_REQUEST,
    codes,
    new_verifier,
    proof_for,
    verify_as_holder,
)


@settings(max_examples=150)
@given(st.sampled_from(STORY).flatmap(lambda t: tampered_tokens(t, STORY)))
def test_every_tampered_token_is_an_integrity_denial(data: bytes) -> None:
    text = b64encode(data)
    try:
        token = decode(text)
    except TokenError:
        return  # refused before a verifier sees it
    decision = new_verifier().verify(text, STORY_REQUEST, proof_for(ROOT, STORY_REQUEST))
    assert not decision.allowed
    assert set(codes(decision)) <= INTEGRITY_CODES, (token, decision.reasons)


@given(st.sampled_from(STORY).flatmap(lambda t: respelled_texts(t.encode())))
def test_no_respelling_of_a_token_decodes_to_it(text: str) -> None:
    try:
        token = decode(text)
    except TokenError:
        return
    assert token.encode() == text  # it decoded as another token, in its own one spelling
    assert token.token_bytes not in {t.token_bytes for t in STORY}


def test_append_caveats_keeps_a_valid_mac_and_the_caveat_still_binds() -> None:
    child = append_caveats(ROOT, [Tool(("t.write",))])  # no narrowing check: t.read is gone
    decision = verify_as_holder(child, STORY_REQUEST)
    assert codes(decision) == (Code.TOOL_NOT_ALLOWED,)


def test_a_hop_signed_by_anyone_but_the_holder_is_bad_hop() -> None:
    forged = delegate_unchecked(HOP1, KEYS[1], AGENTS[5])  # HOP1's holder is agent-2
    genuine = delegate_unchecked(HOP1, KEYS[2], AGENTS[5])
    assert codes(verify_as_holder(forged, STORY_REQUEST)) == (Code.BAD_HOP,)
    assert verify_as_holder(genuine, STORY_REQUEST).allowed


@given(lookalike_names("t.read"))
def test_a_lookalike_tool_is_not_the_tool(tool: str) -> None:
    assert tool != "t.read"


@given(lookalike_resources("crm://accounts/42/notes/n1"))
def test_a_lookalike_resource_matches_no_pattern_the_resource_matches_exactly(
    resource: str,
) -> None:
    assert not matches_resource_pattern("crm://accounts/42/notes/n1", resource)
    assert not matches_resource_pattern("crm://accounts/42/notes/*", resource) or (
        resource.startswith("crm://accounts/42/notes/")
    )


def test_boundary_times_straddle_each_time_and_the_skew() -> None:
    seen = set()

    @given(boundary_times(NOW + 100))
    def collect(t: int) -> None:
        seen.add(t - NOW - 100)

    collect()
    assert seen <= {-31, -30, -1, 0, 1, 30}
    assert {-1, 0} <= seen
