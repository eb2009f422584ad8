"""Laws of resource and agent-id patterns, against a reference model written here.

- A resource is matched segment by segment: ``*`` is one segment, a final ``**`` any number.
- A resource outside the canonical form (``%``, ``.`` or ``..`` segments, empty segments from
  ``//`` or a trailing ``/``) is matched by nothing, not even ``**``.
- No prefix confusion: ``crm://accounts/42`` never matches ``crm://accounts/420``, and the agent
  pattern ``alice`` never matches ``alice2``.
- ``covers(outer, inner)`` is sound (everything inner matches, outer matches) and exact (when it
  says no, a resource inner matches and outer does not exists).
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from delegation import _patterns as patterns
from delegation.caveats import Delegatees, ResourceCaveat
from delegation.errors import MalformedToken, PatternError
from delegation.limits import MAX_RESOURCE_CHARS, MAX_RESOURCE_SEGMENTS

# --- the reference model --------------------------------------------------------------------

SEGMENT_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()+,;=:@")
SCHEME_FIRST = frozenset(string.ascii_lowercase)
SCHEME_REST = frozenset(string.ascii_lowercase + string.digits + "+.-")

Parsed = tuple[str, tuple[str, ...]]


def model_parse(text: str, pattern: bool) -> Parsed | None:
    """``(scheme, segments)`` of a canonical resource (or pattern), else None."""
    if len(text) > MAX_RESOURCE_CHARS:
        return None
    if "://" in text:
        scheme, path = text.split("://", 1)
        if not (
            1 <= len(scheme) <= 32
            and scheme[0] in SCHEME_FIRST
            and all(c in SCHEME_REST for c in scheme)
        ):
            return None
    elif text.startswith("/"):
        scheme, path = "", text[1:]
    else:
        return None
    segments = tuple(path.split("/"))
    if len(segments) > MAX_RESOURCE_SEGMENTS:
        return None
    for i, segment in enumerate(segments):
        wildcard = segment == "*" or (segment == "**" and i == len(segments) - 1)
        if pattern and wildcard:
            continue
        if not segment or segment in (".", "..") or not set(segment) <= SEGMENT_CHARS:
            return None
    return scheme, segments


def model_match(pattern: tuple[str, ...], resource: tuple[str, ...]) -> bool:
    """Recursive, one segment at a time (the library walks a loop)."""
    if not pattern:
        return not resource
    head, rest = pattern[0], pattern[1:]
    if head == "**" and not rest:
        return True
    if not resource:
        return False
    return head in ("*", resource[0]) and model_match(rest, resource[1:])


def model_allows(pattern_text: str, resource_text: str) -> bool:
    pattern, resource = model_parse(pattern_text, True), model_parse(resource_text, False)
    if pattern is None or resource is None:
        return False
    return pattern[0] == resource[0] and model_match(pattern[1], resource[1])


# --- generators -----------------------------------------------------------------------------

SCHEMES = ("crm", "s3", "", "CRM", "a+b", "9x")
"""'' stands for a path resource ('/seg/...'); 'CRM' and '9x' are not valid schemes."""
GOOD_SEGMENTS = ("a", "b", "42", "420", "42-x", "notes", "~u", "a.b")
BAD_SEGMENTS = ("", ".", "..", "%2e", "%2F", "a%20b", "é", "x y", "a?b", "a#b", "\\")
WILD = ("*", "**")


def _text(scheme: str, segments: Sequence[str]) -> str:
    return ("/" if scheme == "" else f"{scheme}://") + "/".join(segments)


@st.composite
def resource_texts(draw: st.DrawFn, wild: bool = False, bad: bool = True) -> str:
    alphabet = GOOD_SEGMENTS + (WILD if wild else ()) + (BAD_SEGMENTS if bad else ())
    scheme = draw(st.sampled_from(SCHEMES if bad else ("crm", "")))
    segments = draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=4))
    return _text(scheme, segments)


def _instances(pattern: Parsed, fill: str, extra: int) -> str:
    """A resource ``pattern`` matches: ``*`` -> ``fill``, ``**`` -> ``extra`` segments."""
    scheme, segments = pattern
    out: list[str] = []
    for segment in segments:
        if segment == "**":
            out += [fill] * extra
        else:
            out.append(fill if segment == "*" else segment)
    return _text(scheme, out)


@st.composite
def valid_patterns(draw: st.DrawFn) -> Parsed:
    """A canonical pattern: good segments and ``*``, maybe a final ``**``."""
    scheme = draw(st.sampled_from(("crm", "")))
    head = draw(st.lists(st.sampled_from((*GOOD_SEGMENTS, "*")), max_size=3))
    tail = ["**"] if draw(st.booleans()) or not head else []
    return scheme, (*head, *tail)


# --- resource laws --------------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(text=resource_texts(wild=True), pattern=st.booleans())
def test_resource_parsing_accepts_exactly_the_canonical_form(text: str, pattern: bool) -> None:
    expected = model_parse(text, pattern)
    try:
        parsed = patterns.parse_resource(text, pattern=pattern)
    except PatternError:
        assert expected is None, text
        return
    event("accepted")
    assert expected == (parsed.scheme, parsed.segments), text


@settings(max_examples=300, deadline=None)
@given(
    pattern=resource_texts(wild=True, bad=False) | resource_texts(wild=True),
    resource=resource_texts(),
    data=st.data(),
)
def test_resource_matching_agrees_with_the_model(
    pattern: str, resource: str, data: st.DataObject
) -> None:
    parsed_pattern = model_parse(pattern, True)
    if parsed_pattern is not None and data.draw(st.booleans(), label="near the pattern"):
        # A resource built from the pattern, one segment maybe swapped: matches are common.
        fill = data.draw(st.sampled_from(GOOD_SEGMENTS + BAD_SEGMENTS), label="fill")
        resource = _instances(parsed_pattern, fill, data.draw(st.integers(0, 2), label="extra"))
    expected = model_allows(pattern, resource)
    event(f"match={expected}")
    try:
        caveat = ResourceCaveat((pattern,))
    except MalformedToken:  # an invalid pattern cannot even be authored
        assert model_parse(pattern, True) is None
        return
    assert caveat.allows(resource) is expected, (pattern, resource)
    good = model_parse(resource, False)
    if good is not None:
        parsed = patterns.parse_resource(resource)
        assert patterns.resource_matches(caveat._parsed[0], parsed) is expected


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(("crm", "")),
    segments=st.lists(st.sampled_from(GOOD_SEGMENTS), min_size=1, max_size=3),
    trick=st.sampled_from(
        ("trailing /", "//", "/.", "/..", "/../x", "%2e", "%2F..", "/%2e%2e", "/./a", "?q", "#f")
    ),
)
def test_a_non_canonical_resource_is_matched_by_nothing(
    scheme: str, segments: list[str], trick: str
) -> None:
    resource = _text(scheme, segments)
    if trick == "trailing /":
        tricked = resource + "/"
    elif trick == "//":
        tricked = resource.replace("/", "//", 2) if scheme == "" else resource + "//a"
    else:
        tricked = resource + trick
    everything = _text(scheme, ["**"])
    wide = ResourceCaveat((everything, _text(scheme, [*segments, "**"]), _text(scheme, ["*"])))
    assert not wide.allows(tricked), tricked
    assert wide.allows(resource)


@settings(max_examples=150, deadline=None)
@given(
    parsed=valid_patterns(),
    fill=st.sampled_from(("a", "zz")),
    suffix=st.sampled_from(("x", "0", "-x", ".", "~", ":", "@a", "%2F")),
)
def test_a_pattern_never_matches_a_longer_name_in_its_last_segment(
    parsed: Parsed, fill: str, suffix: str
) -> None:
    """``crm://accounts/42`` and ``crm://accounts/42/**`` never reach ``crm://accounts/420``."""
    assume(parsed[1] != ("**",))
    pattern = _text(*parsed)
    caveat = ResourceCaveat((pattern,))
    base = _instances(parsed, fill, 0)  # the shortest resource the pattern matches
    assert caveat.allows(base), (pattern, base)
    segments = parsed[1][:-1] if parsed[1][-1] == "**" else parsed[1]
    if segments[-1] == "*":
        return  # the lengthened segment is "any one": base + suffix is rightly matched
    assert not caveat.allows(base + suffix), (pattern, base + suffix)
    assert not caveat.allows(base + suffix + "/a"), (pattern, base + suffix + "/a")


@st.composite
def pattern_pairs(draw: st.DrawFn) -> tuple[Parsed, Parsed]:
    outer, inner = draw(valid_patterns()), draw(valid_patterns())
    if draw(st.booleans()):  # make near misses common: inner shares outer's scheme and head
        head = tuple(s for s in outer[1] if s != "**")
        inner = (outer[0], head[: draw(st.integers(0, len(head)))] + inner[1])
    return outer, inner


@settings(max_examples=200, deadline=None)
@given(pair=pattern_pairs(), probes=st.lists(resource_texts(bad=False), max_size=3))
def test_resource_covers_is_sound_and_exact(pair: tuple[Parsed, Parsed], probes: list[str]) -> None:
    (outer_text, inner_text) = (_text(*pair[0]), _text(*pair[1]))
    outer = patterns.parse_resource(outer_text, pattern=True)
    inner = patterns.parse_resource(inner_text, pattern=True)
    covers = patterns.resource_covers(outer, inner)
    event(f"covers={covers}")
    witnesses = [
        _instances(pair[1], fill, extra)
        for fill in ("a", "zz")
        for extra in range(len(pair[0][1]) + 2)
    ]
    for resource in witnesses + probes:
        if model_allows(inner_text, resource) and covers:
            assert model_allows(outer_text, resource), (outer_text, inner_text, resource)
    # Exact, not merely sound: when covers() says no, some resource inner matches escapes
    # outer (e.g. "crm://**" is inside "crm://*/**", since a resource has a segment).
    if not covers:
        assert any(
            model_allows(inner_text, w) and not model_allows(outer_text, w) for w in witnesses
        ), ("covers said no, but inner looks inside outer", outer_text, inner_text)


# --- agent-id laws --------------------------------------------------------------------------

AGENT_PARTS = ("alice", "alice2", "agent-1", "agent-10", "a.b", "x/y", "al", "bob@corp")


def model_agent_matches(pattern: str, agent_id: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return agent_id[: len(pattern) - 1] == pattern[:-1]
    return agent_id == pattern


agent_ids = st.lists(st.sampled_from(AGENT_PARTS), min_size=1, max_size=2).map("".join)
agent_patterns = agent_ids | agent_ids.map(lambda a: a + "*") | st.just("*")


@settings(max_examples=200, deadline=None)
@given(pattern=agent_patterns, agent_id=agent_ids)
def test_agent_patterns_agree_with_the_model(pattern: str, agent_id: str) -> None:
    expected = model_agent_matches(pattern, agent_id)
    event(f"match={expected}")
    assert Delegatees((pattern,)).allows(agent_id) is expected, (pattern, agent_id)


@settings(max_examples=100, deadline=None)
@given(agent_id=agent_ids, suffix=agent_ids | st.sampled_from(("2", "0", "-x", ".", "/", "@")))
def test_an_exact_agent_pattern_never_matches_a_longer_id(agent_id: str, suffix: str) -> None:
    caveat = Delegatees((agent_id,))
    assert caveat.allows(agent_id)
    assert not caveat.allows(agent_id + suffix)  # alice never lets alice2 in


@settings(max_examples=150, deadline=None)
@given(outer=agent_patterns, inner=agent_patterns, probes=st.lists(agent_ids, max_size=8))
def test_agent_covers_is_sound(outer: str, inner: str, probes: list[str]) -> None:
    witnesses = [*probes, inner.rstrip("*") + "zz", inner.rstrip("*")]
    if patterns.agent_covers(outer, inner):
        for agent_id in witnesses:
            if agent_id and model_agent_matches(inner, agent_id):
                assert model_agent_matches(outer, agent_id), (outer, inner, agent_id)
