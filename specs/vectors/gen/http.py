"""``http.json``: the HTTP wire format (http.md): the credential header, the HTTP request's
``Request`` (path, query and body), the route map's matching, the status of a denial, and
whole calls whose proof binds the derived ``Request``.

The expected values are written here from http.md, by hand: the derived request as JSON, the
credential's parts, the status. Digests are the library's request digest (pinned on its own by
requests.json) of the request written here; proofs are signed over it with fixed nonces.
"""

from __future__ import annotations

import json
from typing import Any

from delegation import Request, Scope

from gen.fixtures import (
    AGENT_NAMES,
    KEYRING_JSON,
    NOW,
    Json,
    hop,
    pop,
    root,
    text,
)
from gen.render import FORMAT, VectorFile, agents_json

NOTES = {
    "tool": "crm.update",
    "action": "write",
    "resource": "crm://accounts/{account_id}/notes",
    "intent": "update-notes",
    "body": "json",
}
READ_NOTE = {
    "tool": "crm.read",
    "action": "read",
    "resource": "crm://accounts/{account_id}/notes/{note}",
    "intent": "summarise",
    "body": "none",
}
UPLOAD = {**NOTES, "resource": "crm://accounts/{account_id}/files", "body": "digest"}
ROUTE_MAP: Json = {
    "format": "delegation-http/1",
    "audience": "crm",
    "routes": [
        {"methods": ["GET"], "path": "/healthz", "public": True},
        {"methods": ["POST"], "path": "/accounts/{account_id:int}/notes", **NOTES},
        {"methods": ["GET"], "path": "/accounts/{account_id:int}/notes/{note}", **READ_NOTE},
        {"methods": ["PUT"], "path": "/accounts/{account_id}/files/{name:path}", **UPLOAD},
    ],
}
HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
T = "A" * 8  # stands for a token: the credential's parts are only split, not decoded
P = "B" * 8


class HttpFile(VectorFile):
    """A file of wire-format vectors: a ``kind`` (credential, derive, match, status, call),
    what is ``given`` and what reading it gives. Keys and the keyring are for ``call``."""

    def render(self) -> str:
        doc = {
            "format": FORMAT,
            "description": self.description,
            "keyring": KEYRING_JSON,
            "agents": agents_json(AGENT_NAMES[:3]),
            "route_map": ROUTE_MAP,
            "vectors": self.vectors,
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parts(token: str, proof: str | None = None, discharges: tuple[str, ...] = ()) -> Json:
    return {"token": token, "proof": proof, "discharges": list(discharges)}


def refused(code: str, status: int) -> Json:
    return {"code": code, "status": status}


def credentials(f: HttpFile) -> None:
    def case(name: str, description: str, headers: list[str], expected: Json) -> None:
        f.add_given(
            f"http_credential_{name}",
            description,
            "credential",
            {"authorization": headers},
            expected,
        )

    case("token_and_proof", "The usual credential.", [f"Bearer dlg1.{T}.{P}"], parts(T, P))
    case(
        "with_discharges",
        "Discharges follow the proof, in order.",
        [f"Bearer dlg1.{T}.{P}.CC.DD"],
        parts(T, P, ("CC", "DD")),
    )
    case(
        "no_proof", "A token alone: the verifier says pop_required.", [f"Bearer dlg1.{T}"], parts(T)
    )
    case(
        "scheme_any_case", "The scheme is case-insensitive.", [f"bEaReR dlg1.{T}.{P}"], parts(T, P)
    )
    case("missing", "No Authorization header.", [], refused("token_required", 401))
    case(
        "other_scheme",
        "Basic is not a delegation credential.",
        ["Basic dXNlcjpwdw"],
        refused("token_required", 401),
    )
    case(
        "other_bearer",
        "A bearer token that is not dlg1.",
        ["Bearer eyJhbGciOi.x.y"],
        refused("token_required", 401),
    )
    case(
        "two_spaces",
        "Exactly one space after the scheme.",
        [f"Bearer  dlg1.{T}.{P}"],
        refused("token_required", 401),
    )
    case(
        "two_headers",
        "Two credentials are refused, never chosen between.",
        [f"Bearer dlg1.{T}.{P}", f"Bearer dlg1.{T}.{P}"],
        refused("malformed", 401),
    )
    case("empty_part", "An empty part.", [f"Bearer dlg1.{T}..{P}"], refused("malformed", 401))
    case(
        "trailing_dot",
        "A trailing separator is an empty part.",
        [f"Bearer dlg1.{T}.{P}."],
        refused("malformed", 401),
    )
    case(
        "padding",
        "'=' is outside the alphabet.",
        [f"Bearer dlg1.{T}==.{P}"],
        refused("malformed", 401),
    )
    case(
        "comma_list",
        "A list of credentials in one header.",
        [f"Bearer dlg1.{T}.{P}, Bearer dlg1.{T}.{P}"],
        refused("malformed", 401),
    )
    case(
        "header_too_long",
        "Over 32768 characters: refused before it is split.",
        ["Bearer dlg1." + "A" * 32757],
        refused("too_large", 401),
    )
    case(
        "header_at_limit",
        "32768 characters exactly; the token part is then over its own limit.",
        ["Bearer dlg1." + "A" * 32756],
        refused("too_large", 401),
    )
    case(
        "token_at_limit",
        "A token part of 21846 characters is read (the verifier judges it).",
        [f"Bearer dlg1.{'A' * 21846}.{P}"],
        parts("A" * 21846, P),
    )
    case(
        "proof_too_long",
        "A proof part over 256 characters.",
        [f"Bearer dlg1.{T}.{'B' * 257}"],
        refused("pop_invalid", 401),
    )
    case(
        "nine_discharges",
        "At most 8 discharges.",
        [f"Bearer dlg1.{T}.{P}" + ".CC" * 9],
        refused("too_large", 401),
    )
    case(
        "eight_discharges",
        "8 discharges are read.",
        [f"Bearer dlg1.{T}.{P}" + ".CC" * 8],
        parts(T, P, ("CC",) * 8),
    )


def request(**fields: Any) -> Json:
    doc = {"audience": "crm", "resource": None, "intent": None, "args": {}, **fields}
    return doc


def derived(doc: Json) -> Json:
    return {"request": doc, "digest": Request.from_json(doc).digest().hex()}


NOTES_REQUEST = {"tool": "crm.update", "action": "write", "intent": "update-notes"}


def derivations(f: HttpFile) -> None:
    def case(name: str, description: str, route: Json, expected: Json, **given: Any) -> None:
        doc = {
            "route": route,
            "audience": "crm",
            "path_params": {},
            "query_string": "",
            "content_type": None,
            "body": "",
            **given,
        }
        f.add_given(f"http_derive_{name}", description, "derive", doc, expected)

    notes42 = "crm://accounts/42/notes"
    case(
        "json_body_members_are_args",
        "Each member of a JSON object body is an argument; the resource is filled in.",
        NOTES,
        derived(
            request(**NOTES_REQUEST, resource=notes42, args={"text": "called", "n": 2, "x": 1.5})
        ),
        path_params={"account_id": 42},
        content_type="application/json",
        body='{"text": "called", "n": 2, "x": 1.5}',
    )
    case(
        "query_and_body",
        "Query parameters are text arguments beside the body's.",
        NOTES,
        derived(
            request(**NOTES_REQUEST, resource=notes42, args={"text": "a", "dry": "1", "q": "a b"})
        ),
        path_params={"account_id": 42},
        query_string="dry=1&q=a+b",
        content_type="application/json; charset=utf-8",
        body='{"text": "a"}',
    )
    case(
        "query_percent_and_blank",
        "Percent-decoding as UTF-8, a blank value kept, empty pieces dropped.",
        NOTES,
        derived(request(**NOTES_REQUEST, resource=notes42, args={"q": "é/", "flag": ""})),
        path_params={"account_id": 42},
        query_string="q=%C3%A9%2F&&flag",
    )
    case(
        "float_is_not_int",
        "42.0 stays a float: it digests unlike 42.",
        NOTES,
        derived(request(**NOTES_REQUEST, resource=notes42, args={"n": 42.0})),
        path_params={"account_id": 42},
        body='{"n": 42.0}',
    )
    case(
        "plus_json_media_type",
        "application/<anything>+json is JSON.",
        NOTES,
        derived(request(**NOTES_REQUEST, resource=notes42, args={"a": True})),
        path_params={"account_id": 42},
        content_type="application/merge-patch+json",
        body='{"a": true}',
    )
    case(
        "empty_body",
        "An empty body adds nothing.",
        NOTES,
        derived(request(**NOTES_REQUEST, resource=notes42)),
        path_params={"account_id": 42},
    )
    case(
        "path_param_not_in_resource_is_an_arg",
        "A path parameter the resource template does not name is an argument.",
        READ_NOTE | {"resource": "crm://accounts/{account_id}/notes"},
        derived(
            request(
                tool="crm.read",
                action="read",
                intent="summarise",
                resource=notes42,
                args={"note": "7"},
            )
        ),
        path_params={"account_id": 42, "note": "7"},
    )
    case(
        "digest_binding",
        "A digest-bound body is one argument, its SHA-256 in hex.",
        UPLOAD,
        derived(
            request(
                **NOTES_REQUEST,
                resource="crm://accounts/42/files",
                args={
                    "name": "a/b.txt",
                    "body_sha256": HELLO_SHA256,
                },
            )
        ),
        path_params={"account_id": "42", "name": "a/b.txt"},
        content_type="application/octet-stream",
        body="hello",
    )
    case(
        "digest_of_an_empty_body",
        "An empty digest-bound body is the digest of nothing.",
        UPLOAD,
        derived(
            request(
                **NOTES_REQUEST,
                resource="crm://accounts/42/files",
                args={
                    "name": "x",
                    "body_sha256": EMPTY_SHA256,
                },
            )
        ),
        path_params={"account_id": "42", "name": "x"},
    )
    malformed = refused("malformed", 400)
    case(
        "body_not_json",
        "A JSON route's body that is not JSON.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        body="{",
    )
    case(
        "body_not_an_object",
        "A JSON body whose top level is not an object.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        body="[1]",
    )
    case(
        "body_repeats_a_member",
        "A member given twice: readers disagree on which counts.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        body='{"a": 1, "a": 2}',
    )
    case(
        "body_other_media_type",
        "A JSON route's body sent as a form.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        content_type="application/x-www-form-urlencoded",
        body="a=1",
    )
    case(
        "body_nan",
        "NaN is not a JSON number the library takes.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        body='{"a": NaN}',
    )
    case(
        "query_repeated",
        "A query name given twice.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        query_string="a=1&a=2",
    )
    case(
        "query_and_body_collide",
        "One name from the query and the body.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        query_string="text=x",
        body='{"text": "y"}',
    )
    case(
        "query_empty_name",
        "An argument name is never empty.",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        query_string="=x",
    )
    case(
        "body_on_a_bodiless_route",
        "A route declared without a body.",
        READ_NOTE,
        malformed,
        path_params={"account_id": 42, "note": "7"},
        body="{}",
    )
    case(
        "template_names_a_missing_param",
        "The resource names a parameter the path has not.",
        NOTES,
        malformed,
    )
    case(
        "body_too_deep",
        "A body beyond the request limits (nesting deeper than 4).",
        NOTES,
        malformed,
        path_params={"account_id": 42},
        body='{"a": [[[[[1]]]]]}',
    )


def matches(f: HttpFile) -> None:
    def case(name: str, description: str, method: str, path: str, expected: Json) -> None:
        given = {"method": method, "path": path}
        f.add_given(f"http_match_{name}", description, "match", given, expected)

    case(
        "int_param",
        "{name:int} is digits, its value an integer.",
        "POST",
        "/accounts/42/notes",
        {"route": 1, "path_params": {"account_id": 42}},
    )
    case(
        "int_param_normalised",
        "007 converts to 7.",
        "POST",
        "/accounts/007/notes",
        {"route": 1, "path_params": {"account_id": 7}},
    )
    case("not_digits", "abc is no int: no route.", "POST", "/accounts/abc/notes", {"route": None})
    case(
        "wrong_method",
        "The path matches, the method does not.",
        "GET",
        "/accounts/42/notes",
        {"route": None},
    )
    case(
        "percent_decoded_once",
        "%37 is 7, decoded once.",
        "GET",
        "/accounts/42/notes/%37",
        {"route": 2, "path_params": {"account_id": 42, "note": "7"}},
    )
    case(
        "encoded_slash_is_a_slash",
        "%2F decodes to a slash, which {note} does not match.",
        "GET",
        "/accounts/42/notes/7%2F..%2F8",
        {"route": None},
    )
    case(
        "path_param",
        "{name:path} takes the rest.",
        "PUT",
        "/accounts/42/files/a/b.txt",
        {"route": 3, "path_params": {"account_id": "42", "name": "a/b.txt"}},
    )
    case("public", "A public route.", "GET", "/healthz", {"route": 0, "path_params": {}})


def statuses(f: HttpFile) -> None:
    def case(name: str, codes: list[str], status: int, error: str | None) -> None:
        f.add_given(
            f"http_status_{name}",
            "The status and error of a denial with these codes (the first row that applies).",
            "status",
            {"codes": codes},
            {"status": status, "error": error},
        )

    case("token_required", ["token_required"], 401, None)
    case("pop_invalid", ["pop_invalid"], 401, "invalid_token")
    case("replay", ["replay"], 401, "invalid_token")
    case("revoked", ["revoked"], 401, "invalid_token")
    case("expired_and_out_of_scope", ["expired", "tool_not_allowed"], 401, "invalid_token")
    case("tool_not_allowed", ["tool_not_allowed"], 403, "insufficient_scope")
    case("approval_required", ["approval_required"], 403, "insufficient_scope")
    case("bad_discharge", ["bad_discharge"], 403, "insufficient_scope")
    case(
        "store_unavailable_first",
        ["store_unavailable", "pop_invalid"],
        503,
        "temporarily_unavailable",
    )
    case("internal_error", ["internal_error"], 503, "temporarily_unavailable")
    case("policy_unavailable", ["policy_unavailable"], 503, "temporarily_unavailable")
    case("policy_denied", ["policy_denied"], 403, "insufficient_scope")


def calls(f: HttpFile) -> None:
    tok = hop(root("http"), "orchestrator", "writer", Scope(tools=["crm.update"]))
    call_doc = request(
        **NOTES_REQUEST, resource="crm://accounts/42/notes", args={"text": "Renewal call booked"}
    )
    proof = pop(tok, "writer", call_doc, "http call")
    header = f"Bearer dlg1.{text(tok)}.{proof}"
    base = {
        "authorization": header,
        "method": "POST",
        "path": "/accounts/42/notes",
        "query_string": "",
        "content_type": "application/json",
        "body": '{"text": "Renewal call booked"}',
        "now": NOW,
    }

    def case(name: str, description: str, expected: Json, **changes: Any) -> None:
        f.add_given(f"http_call_{name}", description, "call", {**base, **changes}, expected)

    digest = Request.from_json(call_doc).digest().hex()
    case(
        "allowed",
        "The writer's call: matched by the route map, derived, and its proof verifies.",
        {"request_digest": digest, "allowed": True, "codes": []},
    )
    case(
        "same_call_other_spelling",
        "Another JSON spelling of the same body is the same call.",
        {"request_digest": digest, "allowed": True, "codes": []},
        body='{ "text" : "Renewal call booked" }',
    )
    other = request(**NOTES_REQUEST, resource="crm://accounts/42/notes", args={"text": "Closed"})
    case(
        "other_body",
        "The same credential with another body: another Request, the proof does not hold.",
        {
            "request_digest": Request.from_json(other).digest().hex(),
            "allowed": False,
            "codes": ["pop_invalid"],
        },
        body='{"text": "Closed"}',
    )
    extra = request(
        **NOTES_REQUEST,
        resource="crm://accounts/42/notes",
        args={"text": "Renewal call booked", "notify": "all"},
    )
    case(
        "extra_query",
        "A query parameter added in flight is an argument: the proof does not hold.",
        {
            "request_digest": Request.from_json(extra).digest().hex(),
            "allowed": False,
            "codes": ["pop_invalid"],
        },
        query_string="notify=all",
    )
    other_account = request(
        **NOTES_REQUEST, resource="crm://accounts/43/notes", args={"text": "Renewal call booked"}
    )
    case(
        "other_path",
        "Another account's path: the resource differs, so does the Request.",
        {
            "request_digest": Request.from_json(other_account).digest().hex(),
            "allowed": False,
            "codes": ["resource_not_allowed", "pop_invalid"],
        },
        path="/accounts/43/notes",
    )
    case(
        "stale",
        "The same call 61 s after the proof was made.",
        {"request_digest": digest, "allowed": False, "codes": ["pop_invalid"]},
        now=NOW + 61,
    )


def build() -> HttpFile:
    f = HttpFile(
        "http.json",
        "The HTTP wire format: the credential header, the HTTP request's Request, the route"
        " map, the status of a denial, and whole calls.",
    )
    credentials(f)
    derivations(f)
    matches(f)
    statuses(f)
    calls(f)
    return f
