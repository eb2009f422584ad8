"""How a denial is answered (specs/http.md, "Denials"); the status of each code is pinned by
the vectors, here the challenge and the body."""

from __future__ import annotations

from delegation._decision import Reason
from delegation.errors import Code
from delegation.http._denial import challenge, denial, refusal, status_of


def test_every_code_has_a_status() -> None:
    for code in Code:
        status, error = status_of([code])
        assert status in (401, 403, 503), code
        assert error in ("invalid_token", "insufficient_scope", "temporarily_unavailable")


def test_a_challenge_names_the_realm_error_first_code_and_metadata() -> None:
    answer = denial(
        [Reason(Code.POP_INVALID, "d"), Reason(Code.TOOL_NOT_ALLOWED, "e", 1, 3)],
        realm="crm",
        decision_id="ab",
        metadata="https://crm.example/.well-known/oauth-protected-resource",
    )
    assert answer.status == 401
    headers = dict(answer.headers)
    assert headers["www-authenticate"] == (
        'Bearer realm="crm", error="invalid_token", error_description="pop_invalid", '
        'resource_metadata="https://crm.example/.well-known/oauth-protected-resource"'
    )
    assert answer.body["decision_id"] == "ab"
    assert [r["code"] for r in answer.body["reasons"]] == ["pop_invalid", "tool_not_allowed"]
    assert answer.body["reasons"][1] == {
        "code": "tool_not_allowed",
        "hop": 1,
        "caveat": 3,
        "detail": "e",
    }


def test_a_503_has_retry_after_and_no_challenge() -> None:
    answer = denial([Reason(Code.STORE_UNAVAILABLE, "x")], realm="crm")
    headers = dict(answer.headers)
    assert (answer.status, headers["retry-after"]) == (503, "1")
    assert "www-authenticate" not in headers


def test_challenge_parameters_are_quoted_safely() -> None:
    assert challenge('c"r\\m\n', None, None, None) == 'Bearer realm="c\\"r\\\\m?"'


def test_refusals_say_what_layer_refused() -> None:
    assert (
        refusal(400, "malformed", "d", realm="crm", metadata=None).body["error"]
        == "invalid_request"
    )
    not_declared = refusal(403, "not_declared", "d", realm="crm", metadata=None)
    assert "www-authenticate" in dict(not_declared.headers)
    assert not_declared.encoded().startswith(b'{"error":"insufficient_scope"')
