"""``requests.json``: requests that must be refused when they are built (``malformed``, before
any token is checked), each beside the accepted request just inside the same rule, whose request
digest it states ([proof-of-possession.md](../../proof-of-possession.md#request-digest)).

The request is carried as JSON text, so that what a JSON object cannot hold once parsed (a
repeated key, a lone surrogate escape, a number too large for a float) is in the vector. Digests
are computed here from their definition (the domain string, then canonical CBOR of the six
fields), never by the library.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import cbor2

from gen.render import RequestFile

DOMAIN = b"delegation/v1/request\x00"
BASE: dict[str, Any] = {"audience": "crm", "tool": "crm.read", "action": "read"}


def digest(doc: dict[str, Any]) -> str:
    fields = [
        doc["audience"],
        doc["tool"],
        doc["action"],
        doc.get("resource"),
        doc.get("intent"),
        doc.get("args", {}),
    ]
    return hashlib.sha256(DOMAIN + cbor2.dumps(fields, canonical=True)).hexdigest()


def nested(depth: int) -> Any:
    """A value whose innermost item (the integer 1) is ``depth`` levels below the argument."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def build() -> RequestFile:
    f = RequestFile(
        "requests.json",
        "Requests refused when they are built (malformed, before any token is checked), each"
        " beside the accepted request just inside the rule, with its request digest.",
    )

    def good(name: str, description: str, **changes: Any) -> None:
        doc = {**BASE, **changes}
        f.add_request(name, description, json.dumps(doc, sort_keys=True), digest(doc))

    def bad(name: str, description: str, text: str | None = None, **changes: Any) -> None:
        if text is None:
            text = json.dumps({**BASE, **changes}, sort_keys=True)
        f.add_request(name, description, text, None)

    good("request_minimal", "Audience, tool and action only: resource, intent null, args {}.")
    bad("request_unknown_member", "A member `when` the request shape does not have.", when=1)
    bad(
        "request_missing_action",
        "No action.",
        json.dumps({"audience": "crm", "tool": "crm.read"}),
    )
    bad("request_not_an_object", "A JSON array, not an object.", json.dumps(["crm"]))
    bad(
        "request_repeated_member",
        "The member `tool` twice: parsers disagree on which one wins.",
        '{"action": "read", "audience": "crm", "tool": "crm.read", "tool": "crm.update"}',
    )
    bad(
        "request_repeated_key_in_argument",
        "An argument object whose key `a` repeats, two levels down.",
        '{"action": "read", "args": {"x": {"a": 1, "a": 2}}, "audience": "crm",'
        ' "tool": "crm.read"}',
    )
    good("request_tool_256_characters", "A tool name of 256 characters.", tool="t" * 256)
    bad("request_tool_257_characters", "A tool name of 257 characters.", tool="t" * 257)
    bad("request_audience_empty", "An empty audience.", audience="")
    bad("request_action_not_text", "An action that is the number 1.", action=1)
    bad("request_tool_control_character", "A tool name holding a tab.", tool="crm.\tread")
    good("request_intent_256_characters", "An intent of 256 characters.", intent="i" * 256)
    bad("request_intent_257_characters", "An intent of 257 characters.", intent="i" * 257)
    good("request_resource_4096_characters", "A resource of 4 096 characters.", resource="r" * 4096)
    bad("request_resource_4097_characters", "A resource of 4 097 characters.", resource="r" * 4097)
    good(
        "request_resource_null",
        "A null resource and intent: the same as absent.",
        resource=None,
        intent=None,
    )
    args64 = {f"a{i:02d}": i for i in range(64)}
    good("request_64_arguments", "64 arguments (the limit).", args=args64)
    bad("request_65_arguments", "65 arguments.", args={**args64, "a64": 64})
    bad("request_argument_name_empty", "An argument named by the empty string.", args={"": 1})
    bad(
        "request_argument_name_257_characters",
        "An argument name of 257 characters.",
        args={"n" * 257: 1},
    )
    good(
        "request_argument_text_4096_characters",
        "A text argument of 4 096 characters.",
        args={"q": "x" * 4096},
    )
    bad(
        "request_argument_text_4097_characters",
        "A text argument of 4 097 characters.",
        args={"q": "x" * 4097},
    )
    good("request_array_64_items", "An array argument of 64 items.", args={"q": list(range(64))})
    bad("request_array_65_items", "An array argument of 65 items.", args={"q": list(range(65))})
    good(
        "request_argument_nested_4_levels",
        "An argument [[[[1]]]]: the argument value is level 0, its 1 is 4 levels below it.",
        args={"q": nested(4)},
    )
    bad(
        "request_argument_nested_5_levels",
        "An argument [[[[[1]]]]]: 5 levels below the argument.",
        args={"q": nested(5)},
    )
    bad(
        "request_argument_object_nested_5_levels",
        "An argument of objects nested 5 levels below it.",
        args={"q": {"a": {"a": {"a": {"a": {"a": 1}}}}}},
    )
    good("request_integer_2_63_minus_1", "The integer argument 2^63 - 1.", args={"n": 2**63 - 1})
    bad("request_integer_2_63", "The integer argument 2^63.", args={"n": 2**63})
    good(
        "request_integer_minus_2_63_plus_1",
        "The integer argument -(2^63 - 1).",
        args={"n": -(2**63 - 1)},
    )
    bad("request_integer_minus_2_63", "The integer argument -2^63.", args={"n": -(2**63)})
    good("request_float", "The float argument 1.5 (encoded as a half float).", args={"x": 1.5})
    bad(
        "request_float_nan",
        "The argument NaN (JSON has no NaN; a reader that accepts the token must still refuse).",
        '{"action": "read", "args": {"x": NaN}, "audience": "crm", "tool": "crm.read"}',
    )
    bad(
        "request_float_infinity",
        "The argument Infinity.",
        '{"action": "read", "args": {"x": Infinity}, "audience": "crm", "tool": "crm.read"}',
    )
    bad(
        "request_float_overflows_to_infinity",
        "The argument 1e400: valid JSON, but no finite double holds it.",
        '{"action": "read", "args": {"x": 1e400}, "audience": "crm", "tool": "crm.read"}',
    )
    bad(
        "request_argument_lone_surrogate",
        "A text argument holding the lone surrogate \\ud800: not Unicode text that can be signed.",
        '{"action": "read", "args": {"q": "a\\ud800"}, "audience": "crm", "tool": "crm.read"}',
    )
    bad(
        "request_argument_name_lone_surrogate",
        "An argument named by a lone surrogate \\udc00.",
        '{"action": "read", "args": {"\\udc00": 1}, "audience": "crm", "tool": "crm.read"}',
    )
    bad(
        "request_tool_lone_surrogate",
        "A tool name holding a lone surrogate.",
        '{"action": "read", "audience": "crm", "tool": "crm.\\ud800read"}',
    )
    good(
        "request_astral_character",
        "A text argument holding U+1F600, escaped as the surrogate pair \\ud83d\\ude00: valid.",
        args={"q": "\U0001f600"},
    )
    values = {f"a{i:02d}": list(range(15)) for i in range(64)}  # 64 arrays of 16 values each
    good(
        "request_1024_values",
        "64 arguments of 15 integers each: 1 024 values (the limit).",
        args=values,
    )
    bad(
        "request_1025_values",
        "One more integer: 1 025 values in all.",
        args={**values, "a63": list(range(16))},
    )
    big = {f"a{i:02d}": "x" * 4096 for i in range(16)}
    good(
        "request_65536_text_characters",
        "16 texts of 4 096 characters: 65 536 (the limit).",
        args=big,
    )
    bad(
        "request_65537_text_characters",
        "One more character, in an object key: 65 537 characters of text in all.",
        args={**big, "k": {"y": 1}},
    )
    return f
