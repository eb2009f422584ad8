"""Resource and agent-id patterns (``delegation._patterns``): segment matching, no regexes.

specs/threats.md: "Resource segments: ``/reports`` covers ``/reports/q1``, not
``/reports-secret``, ``/reports/../hr``, percent- or Unicode-encoded variants"; "Compare parsed
fields exactly: ``agent = alice`` must not satisfy ``alice2``"; "No regular expressions from
tokens (ReDoS)" (metacharacters in patterns are literal).
"""

from __future__ import annotations

import pytest

from delegation import _patterns as patterns
from delegation.errors import PatternError
from delegation.limits import MAX_NAME_CHARS, MAX_RESOURCE_CHARS, MAX_RESOURCE_SEGMENTS


def matches(pattern: str, resource: str) -> bool:
    """The verifier's rule: a resource that does not parse matches nothing."""
    try:
        parsed = patterns.parse_resource(resource)
    except PatternError:
        return False
    return patterns.resource_matches(patterns.parse_resource(pattern, pattern=True), parsed)


def covers(outer: str, inner: str) -> bool:
    return patterns.resource_covers(
        patterns.parse_resource(outer, pattern=True), patterns.parse_resource(inner, pattern=True)
    )


# --- parsing -----------------------------------------------------------------------------------


def test_parse_splits_scheme_and_segments() -> None:
    assert patterns.parse_resource("crm://accounts/42/notes") == patterns.Resource(
        "crm", ("accounts", "42", "notes")
    )
    assert patterns.parse_resource("/reports/q1") == patterns.Resource("", ("reports", "q1"))
    assert patterns.parse_resource("s3+x.y-z://b") == patterns.Resource("s3+x.y-z", ("b",))
    assert patterns.parse_resource("crm://a/~!$&'()+,;=:@-._").segments[1] == "~!$&'()+,;=:@-._"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "reports",  # neither scheme:// nor /
        "/",  # one empty segment
        "crm://",
        "crm:///a",  # empty first segment
        "/reports/",  # trailing slash
        "/reports//q1",  # empty middle segment
        "/reports/./q1",
        "/reports/../hr",
        "/..",
        "/.",
        "/reports/%2e%2e/hr",  # percent-encoded dot segment
        "/reports%2Fq1",  # percent-encoded slash
        "/reports/q%31",
        "/reports?x=1",
        "/reports#frag",
        "/reports/q 1",
        "/reports/q\t1",
        "/reports\\hr",
        "/r\u0435ports",  # Cyrillic 'e'
        "/\uff52eports",  # fullwidth 'r'
        "/reports\u2215hr",  # division slash lookalike
        "/reports/\u2024\u2024",  # one-dot leaders lookalike of '..'
        "/caf\u00e9",
        "CRM://accounts",  # upper-case scheme
        "1crm://a",
        "c" * 33 + "://a",  # scheme too long
        "crm:/a",
        "crm:a",
        "/a/*",  # '*' is not a segment of a resource
        "/a/**",
    ],
)
def test_non_canonical_resources_do_not_parse(text: str) -> None:
    with pytest.raises(PatternError):
        patterns.parse_resource(text)


@pytest.mark.parametrize(
    "text",
    ["/a/**/b", "/**/a", "/a/b**", "/a/*b", "/a/***", "/a/*/..", "/a//*", "/a/%2A"],
)
def test_bad_resource_patterns_do_not_parse(text: str) -> None:
    with pytest.raises(PatternError):
        patterns.parse_resource(text, pattern=True)


@pytest.mark.parametrize("text", ["/a/*", "/a/**", "/*", "/**", "crm://*/*/**", "/a/*/b"])
def test_good_resource_patterns_parse(text: str) -> None:
    assert patterns.parse_resource(text, pattern=True).segments[-1] in ("*", "**", "b")


def test_resource_length_and_segment_limits() -> None:
    longest = "/" + "a" * (MAX_RESOURCE_CHARS - 1)
    assert patterns.parse_resource(longest).segments == ("a" * (MAX_RESOURCE_CHARS - 1),)
    with pytest.raises(PatternError):
        patterns.parse_resource(longest + "a")
    most = "/a" * MAX_RESOURCE_SEGMENTS
    assert len(patterns.parse_resource(most).segments) == MAX_RESOURCE_SEGMENTS
    with pytest.raises(PatternError):
        patterns.parse_resource(most + "/a")


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        # the examples
        ("crm://accounts/42/*", "crm://accounts/42/notes", True),
        ("crm://accounts/42/*", "crm://accounts/420/notes", False),
        ("crm://accounts/42/*", "crm://accounts/42-x/notes", False),
        ("crm://accounts/42/*", "crm://accounts/42/../43", False),
        ("crm://accounts/42/*", "crm://accounts/42/%2e%2e", False),
        ("crm://accounts/42/*", "crm://accounts/42/notes/deep", False),
        ("crm://accounts/42/*", "crm://accounts/42", False),
        # specs/threats.md: /reports covers /reports/q1, nothing that only looks like it
        ("/reports/**", "/reports", True),
        ("/reports/**", "/reports/q1", True),
        ("/reports/**", "/reports/q1/page/2", True),
        ("/reports/**", "/reports-secret", False),
        ("/reports/**", "/reports-secret/q1", False),
        ("/reports/**", "/reportsX", False),
        ("/reports/**", "/reports/../hr", False),
        ("/reports/**", "/reports/%2e%2e/hr", False),
        ("/reports/**", "/reports/./q1", False),
        ("/reports/**", "/reports//q1", False),
        ("/reports/**", "/r\u0435ports/q1", False),
        ("/reports/**", "/REPORTS/q1", False),
        ("/reports", "/reports", True),
        ("/reports", "/reports/q1", False),
        ("/reports", "/report", False),
        # '*' is exactly one segment, '**' any number of trailing ones
        ("/a/*", "/a/b", True),
        ("/a/*", "/a", False),
        ("/a/*", "/a/b/c", False),
        ("/a/*/c", "/a/b/c", True),
        ("/a/*/c", "/a/b/d", False),
        ("/a/*/c", "/a/c", False),
        ("/a/**", "/a", True),
        ("/a/**", "/a/b/c/d", True),
        ("/a/**", "/b", False),
        ("/**", "/anything/at/all", True),
        ("/*", "/x", True),
        ("/*", "/x/y", False),
        # scheme must match exactly
        ("crm://accounts/**", "/accounts/42", False),
        ("/accounts/**", "crm://accounts/42", False),
        ("crm://accounts/**", "crn://accounts/42", False),
        ("crm://accounts/**", "crm+x://accounts/42", False),
        ("crm://**", "crm://accounts", True),
        # metacharacters are literal, never a regex
        ("/a/(x+)+", "/a/(x+)+", True),
        ("/a/(x+)+", "/a/xxxx", False),
        ("/acc.unts/*", "/accounts/1", False),
        ("/acc.unts/*", "/acc.unts/1", True),
    ],
)
def test_resource_matching(pattern: str, resource: str, expected: bool) -> None:
    assert matches(pattern, resource) is expected


# --- covering (used by authoring-time narrowing checks) ----------------------------------------


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("/a/**", "/a/**", True),
        ("/a/**", "/a", True),
        ("/a/**", "/a/b", True),
        ("/a/**", "/a/*", True),
        ("/a/**", "/a/b/**", True),
        ("/a/**", "/a/*/c", True),
        ("/a/**", "/ab/**", False),
        ("/a/**", "/b", False),
        ("/a/b/**", "/a/**", False),  # inner also matches /a
        ("/a/*", "/a/b", True),
        ("/a/*", "/a/*", True),
        ("/a/*", "/a/**", False),
        ("/a/*", "/a/b/c", False),
        ("/a/*", "/a", False),
        ("/a/b", "/a/*", False),
        ("/a/b", "/a/b", True),
        ("/a/*/c", "/a/**", False),
        ("/a/*/**", "/a/**", False),  # inner matches /a, outer does not
        ("/a/*/**", "/a/b/**", True),
        ("crm://a/**", "/a/b", False),
        ("/**", "/x/y", True),
        ("/reports/**", "/reports-secret/**", False),
    ],
)
def test_resource_covers(outer: str, inner: str, expected: bool) -> None:
    assert covers(outer, inner) is expected


# --- agent ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent_id", ["a", "researcher", "team/sub-1", "a@b.example", "x:y+z", "a" * MAX_NAME_CHARS]
)
def test_good_agent_ids(agent_id: str) -> None:
    assert patterns.check_agent_id(agent_id) == agent_id


@pytest.mark.parametrize(
    "agent_id",
    ["", "a b", "a*", "*", "a\n", "\u0430lice", "a" * (MAX_NAME_CHARS + 1), "a%20", "a#b"],
)
def test_bad_agent_ids(agent_id: str) -> None:
    with pytest.raises(PatternError):
        patterns.check_agent_id(agent_id)


@pytest.mark.parametrize("pattern", ["*", "alice", "sub-*", "team/*", ".*"])
def test_good_agent_patterns(pattern: str) -> None:
    assert patterns.check_agent_pattern(pattern) == pattern


@pytest.mark.parametrize("pattern", ["", "**", "a**", "*a", "a*b", "a b*", "a.*+", "(a+)+*"])
def test_bad_agent_patterns(pattern: str) -> None:
    with pytest.raises(PatternError):
        patterns.check_agent_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "agent_id", "expected"),
    [
        ("alice", "alice", True),
        ("alice", "alice2", False),  # prefix confusion
        ("alice", "alic", False),
        ("alice", "Alice", False),
        ("alice*", "alice2", True),
        ("alice*", "alice", True),
        ("alice*", "bob", False),
        ("*", "anyone", True),
        ("a.*", "a.b", True),
        ("a.*", "ab", False),  # '.' is literal, not a regex
    ],
)
def test_agent_matching(pattern: str, agent_id: str, expected: bool) -> None:
    assert patterns.agent_matches(pattern, agent_id) is expected


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("*", "*", True),
        ("*", "sub-*", True),
        ("*", "x", True),
        ("sub-*", "sub-a*", True),
        ("sub-*", "sub-a", True),
        ("sub-*", "sub*", False),
        ("sub-*", "*", False),
        ("sub-a", "sub-a", True),
        ("sub-a", "sub-a*", False),
        ("sub-a", "sub-ab", False),
    ],
)
def test_agent_covers(outer: str, inner: str, expected: bool) -> None:
    assert patterns.agent_covers(outer, inner) is expected
