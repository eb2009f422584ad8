"""``encoding.json``, every rule at its boundary: the value just inside a limit is accepted and
the one just outside is ``malformed``. The order of ``in`` lists (bytewise CBOR, not length
first, not numeric, not code-point), of argument constraints and of name sets (code points, not
UTF-16); the list, name, text, resource and scheme limits; the CBOR depth, map-key and integer
edges; the identifier's task and holder fields; the max_uses range; validity; third-party rules.

Accepted cases are chosen to be allowed (or to fail with another code than ``malformed``), so
an implementation that refuses them is caught as surely as one that accepts their neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

from delegation import Code, _wire
from delegation._thirdparty.caveat import PURPOSE_APPROVAL, TicketContents, seal_ticket, seal_vid
from delegation.caveats import ResourceCaveat, Tool

from gen.encoding.cases import Cases
from gen.fixtures import (
    EXPIRES,
    NOW,
    READ,
    TASK,
    TP,
    Json,
    K,
    Tokenish,
    appended,
    arr,
    bstr,
    cav,
    cids,
    cmap,
    head,
    identifier_cbor,
    pop,
    req,
    resigned,
    root_id,
    tp_seeds,
    tstr,
    uint,
)
from gen.render import At, Reason, VectorFile

TRUE, FALSE = b"\xf5", b"\xf4"
MAX = 2**53


def nint(n: int) -> bytes:
    """The CBOR negative integer ``n`` (< 0)."""
    return head(1, -1 - n)


def _add(
    f: VectorFile,
    name: str,
    description: str,
    tok: Tokenish,
    request: Json,
    codes: Sequence[Reason],
) -> None:
    chain = None if codes else ["orchestrator"]
    proof = pop(tok, "orchestrator", request, name)
    f.add(name, description, tok, request, proof, codes=codes, chain=chain)


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    f, r, cbor_case, ident_case = cases.f, cases.r, cases.cbor_case, cases.ident_case

    def ok(
        name: str, description: str, cid: bytes, request: Json = READ, codes: Sequence[Reason] = ()
    ) -> None:
        """``r`` with ``cid`` appended: accepted by the decoder, then decided as ``codes``."""
        _add(f, name, description, appended(r, cid), request, codes)

    def args(*constraints: bytes) -> bytes:
        return cav(7, arr(*constraints))

    def con(name: str, op: int, value: bytes) -> bytes:
        return arr(tstr(name), uint(op), value)

    # --- in lists: bytewise order of the encodings (RFC 8949 4.2.1) ----------------------
    ok(
        "args_in_bytewise_order",
        "in [24, -1]: 24 (18 18) sorts before -1 (20) bytewise, though its encoding is longer:"
        " in order (a length-first sort calls it malformed); the call with -1 is allowed.",
        args(con("n", 2, arr(uint(24), nint(-1)))),
        req(args={"n": -1}),
    )
    cbor_case(
        "args_in_length_first_order",
        "in [-1, 24]: sorted length first, which is not bytewise order: malformed.",
        args(con("n", 2, arr(nint(-1), uint(24)))),
    )
    ok(
        "args_in_text_shorter_first",
        'in ["b", "aa"]: "b" (61 62) sorts before "aa" (62 61 61) bytewise, unlike a name set:'
        ' in order; the call with "aa" is allowed.',
        args(con("n", 2, arr(tstr("b"), tstr("aa")))),
        req(args={"n": "aa"}),
    )
    cbor_case(
        "args_in_text_code_point_order",
        'in ["aa", "b"]: code-point order, as for name sets, is not bytewise CBOR order here:'
        " malformed.",
        args(con("n", 2, arr(tstr("aa"), tstr("b")))),
    )
    ok(
        "args_in_negative_bytewise_order",
        "in [-24, -25]: -24 (37) sorts before -25 (38 18) bytewise, the opposite of numeric"
        " order: in order; the call with -25 is allowed.",
        args(con("n", 2, arr(nint(-24), nint(-25)))),
        req(args={"n": -25}),
    )
    cbor_case(
        "args_in_numeric_order",
        "in [-25, -24]: numeric order is not bytewise order for negative integers: malformed.",
        args(con("n", 2, arr(nint(-25), nint(-24)))),
    )
    spec_example = arr(uint(1), uint(24), nint(-1), tstr("a"), tstr("b"), tstr("aa"), FALSE, TRUE)
    ok(
        "args_in_every_type_in_order",
        'in [1, 24, -1, "a", "b", "aa", false, true], the order caveats.md gives: in order (1'
        " and true both appear); the call with true is allowed.",
        args(con("n", 2, spec_example)),
        req(args={"n": True}),
    )
    cbor_case(
        "args_in_false_before_integers",
        "in [false, 1]: false (f4) sorts after every integer bytewise: malformed.",
        args(con("n", 2, arr(FALSE, uint(1)))),
    )

    # --- argument constraints: by (name in code-point order, op id) -----------------------
    ok(
        "args_constraints_name_code_point_order",
        'Constraints on "aa" then "b": names in code-point order, not by encoded bytes (which'
        ' would put "b" first): in order; a call satisfying both is allowed.',
        args(con("aa", 3, uint(0)), con("b", 3, uint(0))),
        req(args={"aa": 1, "b": 1}),
    )
    cbor_case(
        "args_constraints_name_bytewise_order",
        'Constraints on "b" then "aa" (bytewise order of their encodings): malformed.',
        args(con("b", 3, uint(0)), con("aa", 3, uint(0))),
    )
    ok(
        "args_constraints_name_before_op",
        'Constraints ["a", min] then ["b", eq]: sorted by name first, then op (sorting by op'
        " first would swap them): in order; a call satisfying both is allowed.",
        args(con("a", 3, uint(0)), con("b", 1, uint(1))),
        req(args={"a": 1, "b": 1}),
    )
    cbor_case(
        "args_constraints_op_before_name",
        'Constraints ["b", eq] then ["a", min], sorted by op first: malformed.',
        args(con("b", 1, uint(1)), con("a", 3, uint(0))),
    )
    ok(
        "args_constraints_op_order",
        "Constraints min then max on one argument (ops 3, 4): in order; 5 in [1, 9] is allowed.",
        args(con("n", 3, uint(1)), con("n", 4, uint(9))),
        req(args={"n": 5}),
    )
    cbor_case(
        "args_constraints_op_descending",
        "Constraints max then min on one argument: malformed.",
        args(con("n", 4, uint(9)), con("n", 3, uint(1))),
    )
    cbor_case(
        "args_constraints_same_name_and_op",
        "Two min constraints on one argument: at most one per (name, op), malformed.",
        args(con("n", 3, uint(1)), con("n", 3, uint(2))),
    )

    # --- name sets: code-point order, which is not UTF-16 order above U+FFFF ---------------
    ok(
        "tool_set_code_point_order_above_bmp",
        "A tool set [crm.read, U+FF61, U+1F600]: in code-point (and UTF-8) order, though"
        " UTF-16 code units would put U+1F600 (D83D DE00) first: accepted, the read allowed.",
        cav(3, arr(tstr("crm.read"), tstr("\uff61"), tstr("\U0001f600"))),
    )
    cbor_case(
        "tool_set_utf16_order",
        "A tool set [crm.read, U+1F600, U+FF61], in UTF-16 order: malformed.",
        cav(3, arr(tstr("crm.read"), tstr("\U0001f600"), tstr("\uff61"))),
    )

    # --- MAX_LIST_ITEMS = 32 ---------------------------------------------------------------
    def names(n: int) -> list[bytes]:
        return [tstr(s) for s in sorted(["crm.read", *(f"t{i:02d}" for i in range(n - 1))])]

    ok(
        "tool_set_32_items",
        "A tool set of 32 names (the limit): the read allowed.",
        cav(3, arr(*names(32))),
    )
    cbor_case("tool_set_33_items", "A tool set of 33 names: malformed.", cav(3, arr(*names(33))))
    ok(
        "args_in_32_values",
        "in [0..31], 32 values (the limit): the call with 31 is allowed.",
        args(con("n", 2, arr(*(uint(i) for i in range(32))))),
        req(args={"n": 31}),
    )
    cbor_case(
        "args_in_33_values",
        "in [0..32], 33 values: malformed.",
        args(con("n", 2, arr(*(uint(i) for i in range(33))))),
    )
    many = {f"a{i:02d}": 0 for i in range(33)}
    ok(
        "args_32_constraints",
        "An args caveat of 32 constraints (the limit): a call satisfying all is allowed.",
        args(*(con(k, 3, uint(0)) for k in sorted(many)[:32])),
        req(args=dict(sorted(many.items())[:32])),
    )
    cbor_case(
        "args_33_constraints",
        "An args caveat of 33 constraints: malformed.",
        args(*(con(k, 3, uint(0)) for k in sorted(many))),
    )
    patterns = sorted(["crm://accounts/42/**", *(f"crm://p{i:02d}" for i in range(32))])
    ok(
        "resource_set_32_patterns",
        "A resource caveat of 32 patterns (the limit): the read allowed.",
        cav(5, arr(*(tstr(p) for p in patterns[:32]))),
    )
    cbor_case(
        "resource_set_33_patterns",
        "A resource caveat of 33 patterns: malformed.",
        cav(5, arr(*(tstr(p) for p in patterns))),
    )
    cbor_case(
        "delegatee_set_33_patterns",
        "A delegatees caveat of 33 patterns: malformed.",
        cav(9, arr(*(tstr(f"a{i:02d}") for i in range(33)))),
    )

    # --- MAX_NAME_CHARS = 256 code points ----------------------------------------------------
    e256, e257 = "\u00e9" * 256, "\u00e9" * 257  # 512 and 514 UTF-8 bytes
    ok(
        "audience_name_256_code_points",
        "An audience set [crm, 256 x U+00E9]: 256 characters (512 bytes), the limit counts code"
        " points: accepted, the read allowed.",
        cav(2, arr(tstr("crm"), tstr(e256))),
    )
    cbor_case(
        "audience_name_257_code_points",
        "An audience name of 257 characters: malformed.",
        cav(2, arr(tstr("crm"), tstr(e257))),
    )
    cbor_case(
        "args_name_257_characters",
        "An argument constraint on a name of 257 characters: malformed.",
        args(con("n" * 257, 3, uint(0))),
    )
    ok(
        "args_eq_text_256_characters",
        "eq a text value of 256 characters (the name limit): the call with it is allowed.",
        args(con("n", 1, tstr("v" * 256))),
        req(args={"n": "v" * 256}),
    )
    cbor_case(
        "args_eq_text_257_characters",
        "eq a text value of 257 characters: malformed.",
        args(con("n", 1, tstr("v" * 257))),
    )
    cbor_case(
        "args_in_text_257_characters",
        "in a list holding a text of 257 characters: malformed.",
        args(con("n", 2, arr(tstr("v" * 257)))),
    )
    cbor_case(
        "args_eq_text_control_character",
        "eq a text value holding a newline: text in caveats follows the name rules, malformed.",
        args(con("n", 1, tstr("a\nb"))),
    )

    # --- resources: 1 024 characters, 32 segments, a scheme of at most 32 -------------------
    base = "crm://accounts/42/"
    r1024 = base + "a" * (1024 - len(base))
    ok(
        "resource_pattern_1024_characters",
        "A resource pattern of 1 024 characters (the limit): the call on that resource allowed.",
        cav(5, arr(tstr(r1024))),
        req(resource=r1024),
    )
    cbor_case(
        "resource_pattern_1025_characters",
        "A resource pattern of 1 025 characters: malformed.",
        cav(5, arr(tstr(r1024 + "a"))),
    )
    _add(
        f,
        "resource_request_1024_characters",
        "A request resource of 1 024 characters under crm://accounts/42/**: allowed.",
        r,
        req(resource=r1024),
        [],
    )
    _add(
        f,
        "resource_request_1025_characters",
        "A request resource of 1 025 characters (a valid request, under 4 096): it matches no"
        " pattern, resource_not_allowed (not malformed).",
        r,
        req(resource=r1024 + "a"),
        [At(Code.RESOURCE_NOT_ALLOWED, family=ResourceCaveat.type_id)],
    )
    seg32 = base + "/".join("s" * 30)  # accounts, 42 and 30 more: 32 segments
    _add(
        f,
        "resource_request_32_segments",
        "A request resource of 32 segments under crm://accounts/42/**: allowed.",
        r,
        req(resource=seg32),
        [],
    )
    _add(
        f,
        "resource_request_33_segments",
        "A request resource of 33 segments: not a resource, it matches nothing.",
        r,
        req(resource=seg32 + "/s"),
        [At(Code.RESOURCE_NOT_ALLOWED, family=ResourceCaveat.type_id)],
    )
    ok(
        "resource_pattern_32_segments",
        "A resource pattern of 32 segments (the limit): the call on that resource allowed.",
        cav(5, arr(tstr(seg32))),
        req(resource=seg32),
    )
    cbor_case(
        "resource_pattern_33_segments",
        "A resource pattern of 33 segments: malformed.",
        cav(5, arr(tstr(seg32 + "/s"))),
    )
    cbor_case(
        "resource_pattern_33_segments_double_star",
        "A resource pattern of 32 segments and a final ** (33 in all): malformed.",
        cav(5, arr(tstr(seg32 + "/**"))),
    )
    scheme32 = "a" + "b0+.-" * 6 + "c"
    ok(
        "resource_pattern_scheme_32_characters",
        "A resource pattern whose scheme is 32 characters of [a-z0-9+.-] (the limit): accepted;"
        " the crm:// read then fails it with resource_not_allowed, not malformed.",
        cav(5, arr(tstr(scheme32 + "://x"))),
        codes=[At(Code.RESOURCE_NOT_ALLOWED, -1)],
    )
    cbor_case(
        "resource_pattern_scheme_33_characters",
        "A resource pattern whose scheme is 33 characters: malformed.",
        cav(5, arr(tstr(scheme32 + "d://x"))),
    )
    cbor_case(
        "resource_pattern_scheme_leading_digit",
        "A resource pattern whose scheme starts with a digit: malformed.",
        cav(5, arr(tstr("1crm://x"))),
    )

    # --- CBOR depth: the outermost item is depth 0, nothing deeper than 4 --------------------
    ok(
        "cbor_depth_4",
        "An application caveat [1024, [[[1]]]]: the 1 is at depth 4 (the limit), so it decodes"
        " and fails as unknown_caveat.",
        cav(1024, arr(arr(arr(uint(1))))),
        codes=[At(Code.UNKNOWN_CAVEAT, -1)],
    )
    cbor_case(
        "cbor_depth_5",
        "An application caveat [1024, [[[[1]]]]]: the 1 is at depth 5, malformed.",
        cav(1024, arr(arr(arr(arr(uint(1)))))),
    )
    ok(
        "cbor_depth_4_empty_array",
        "An application caveat [1024, [[[[]]]]]: an empty array at depth 4 holds nothing"
        " deeper, so it decodes (unknown_caveat).",
        cav(1024, arr(arr(arr(arr())))),
        codes=[At(Code.UNKNOWN_CAVEAT, -1)],
    )
    cbor_case(
        "cbor_depth_5_map_value",
        "An application caveat [1024, [[[{1: 1}]]]]: the map value is at depth 5, malformed.",
        cav(1024, arr(arr(arr(cmap((uint(1), uint(1))))))),
    )

    # --- map keys: all unsigned integers or all text ------------------------------------------
    ok(
        "cbor_map_text_keys",
        'An application caveat [1024, {"a": 1, "b": 2}]: text keys decode (unknown_caveat).',
        cav(1024, cmap((tstr("a"), uint(1)), (tstr("b"), uint(2)))),
        codes=[At(Code.UNKNOWN_CAVEAT, -1)],
    )
    cbor_case(
        "cbor_map_mixed_key_types",
        'An application caveat [1024, {1: 1, "a": 1}]: keys of two types, malformed.',
        cav(1024, cmap((uint(1), uint(1)), (tstr("a"), uint(1)))),
    )
    cbor_case(
        "cbor_map_negative_key",
        "An application caveat [1024, {-1: 1}]: a negative-integer key, malformed.",
        cav(1024, cmap((nint(-1), uint(1)))),
    )
    cbor_case(
        "cbor_map_mixed_integer_keys",
        "An application caveat [1024, {24: 1, -1: 1}] (bytewise order): unsigned and negative"
        " keys mixed, malformed.",
        cav(1024, cmap((uint(24), uint(1)), (nint(-1), uint(1)))),
    )
    cbor_case(
        "cbor_map_byte_string_key",
        "An application caveat [1024, {h'00': 1}]: a byte-string key, malformed.",
        cav(1024, cmap((bstr(b"\x00"), uint(1)))),
    )
    ok(
        "cbor_map_key_max_int_minus_one",
        "An application caveat [1024, {2^53 - 1: 1}]: the largest key (unknown_caveat).",
        cav(1024, cmap((uint(MAX - 1), uint(1)))),
        codes=[At(Code.UNKNOWN_CAVEAT, -1)],
    )
    cbor_case(
        "cbor_map_key_max_int",
        "An application caveat [1024, {2^53: 1}]: a key out of range, malformed.",
        cav(1024, cmap((uint(MAX), uint(1)))),
    )

    # --- integers in (-2^53, 2^53) ------------------------------------------------------------
    for value, inside in ((MAX - 1, True), (MAX, False), (-(MAX - 1), True), (-MAX, False)):
        spelled = "2^53" if abs(value) == MAX else "2^53 - 1"
        sign = "minus" if value < 0 else "plus"
        body = uint(value) if value >= 0 else nint(value)
        name = f"cbor_integer_{sign}_{'max_int' if abs(value) == MAX else 'max_int_minus_one'}"
        if inside:
            ok(
                name,
                f"An application caveat [1024, {'-' if value < 0 else ''}{spelled}]: in range,"
                " it decodes (unknown_caveat).",
                cav(1024, body),
                codes=[At(Code.UNKNOWN_CAVEAT, -1)],
            )
        else:
            cbor_case(
                name,
                f"An application caveat [1024, {'-' if value < 0 else ''}{spelled}]: out of"
                " range, malformed.",
                cav(1024, body),
            )
    ok(
        "args_eq_max_int_minus_one",
        "eq 2^53 - 1, the largest caveat integer: the call with it is allowed.",
        args(con("n", 1, uint(MAX - 1))),
        req(args={"n": MAX - 1}),
    )
    cbor_case(
        "args_eq_minus_max_int",
        "eq -2^53 (argument 2^53 - 1 under major type 1): out of range, malformed.",
        args(con("n", 1, nint(-MAX))),
    )

    # --- the identifier's task and holder --------------------------------------------------

    def task(
        task_id: str = TASK.task_id,
        approved_by: str = TASK.approved_by,
        approved_at: int = TASK.approved_at,
        statement: str = TASK.statement,
    ) -> bytes:
        return identifier_cbor(
            task=arr(tstr(task_id), tstr(approved_by), uint(approved_at), tstr(statement))
        )

    def holder(agent_id: str) -> bytes:
        return identifier_cbor(holder=arr(tstr(agent_id), bstr(K["orchestrator"].public_key)))

    def ident_ok(
        name: str, description: str, identifier: bytes, codes: Sequence[Reason] = ()
    ) -> None:
        request = READ if not codes else req(tool="crm.delete")
        _add(f, name, description, resigned(identifier, cids(r)), request, codes)

    ident_ok(
        "identifier_approved_by_256_code_points",
        "approved_by of 256 characters (512 bytes): the name limit counts code points, allowed.",
        task(approved_by=e256),
    )
    ident_case(
        "identifier_approved_by_257_characters",
        "approved_by of 257 characters.",
        task(approved_by="a" * 257),
    )
    ident_case("identifier_approved_by_empty", "An empty approved_by.", task(approved_by=""))
    ident_case(
        "identifier_approved_by_control_character",
        "approved_by holding a newline: not printable.",
        task(approved_by="alice\n@example.com"),
    )
    ident_ok(
        "identifier_task_id_256_characters",
        "A task id of 256 characters (the limit): allowed.",
        task(task_id="t" * 256),
    )
    ident_case(
        "identifier_task_id_257_characters", "A task id of 257 characters.", task(task_id="t" * 257)
    )
    ident_case("identifier_task_id_empty", "An empty task id.", task(task_id=""))
    stmt = "\u00e9" * 1000 + "s" * 1048
    ident_ok(
        "identifier_statement_2048_code_points",
        "A statement of 2 048 characters (3 048 bytes; the limit counts code points): allowed.",
        task(statement=stmt),
    )
    ident_case(
        "identifier_statement_2049_code_points",
        "A statement of 2 049 characters.",
        task(statement=stmt + "s"),
    )
    ident_case("identifier_statement_empty", "An empty statement.", task(statement=""))
    ident_case(
        "identifier_statement_control_character",
        "A statement holding a newline: not printable.",
        task(statement="Summarise\naccount 42"),
    )
    ident_ok(
        "identifier_approved_at_max_time_minus_one",
        "approved_at 2^34 - 1, the last time: allowed.",
        task(approved_at=2**34 - 1),
    )
    ident_case("identifier_approved_at_max_time", "approved_at 2^34.", task(approved_at=2**34))
    agent256 = "a-._:@/+Z9" * 25 + "abcdef"
    ident_ok(
        "identifier_holder_id_256_characters",
        "A holder agent id of 256 characters from every allowed class (A-Z a-z 0-9 - . _ : @ /"
        " +): it decodes, and a call to another tool is tool_not_allowed, not malformed.",
        holder(agent256),
        [At(Code.TOOL_NOT_ALLOWED, family=Tool.type_id)],
    )
    ident_case(
        "identifier_holder_id_257_characters",
        "A holder agent id of 257 characters.",
        holder(agent256 + "a"),
    )
    ident_case("identifier_holder_id_empty", "An empty holder agent id.", holder(""))
    ident_case(
        "identifier_holder_id_space",
        "A holder agent id holding a space: printable, but not an agent-id character.",
        holder("orch estrator"),
    )
    ident_case(
        "identifier_holder_id_non_ascii",
        "A holder agent id holding U+00E9: printable, but not an agent-id character.",
        holder("orch\u00e9strator"),
    )
    ident_case(
        "identifier_holder_id_star",
        "A holder agent id ending in *: a pattern, not an id.",
        holder("orchestrator*"),
    )

    # --- max_uses in 1..2^31-1 ----------------------------------------------------------------
    cbor_case(
        "max_uses_zero", "max_uses 0: malformed, not a token that allows nothing.", cav(12, uint(0))
    )
    ok(
        "max_uses_max",
        "max_uses 2 147 483 647 (2^31 - 1), the largest: the read allowed.",
        cav(12, uint(2**31 - 1)),
    )
    cbor_case("max_uses_over_max", "max_uses 2^31: malformed.", cav(12, uint(2**31)))

    # --- validity: not_before < expires ----------------------------------------------------
    cbor_case(
        "validity_not_before_equals_expires",
        "not_before equal to expires: an empty window, malformed.",
        cav(1, cmap((uint(1), uint(NOW + 1)), (uint(2), uint(NOW + 1)))),
    )
    ok(
        "validity_not_before_one_before_expires",
        "not_before = now, expires = now + 1: the shortest window, the read allowed at now.",
        cav(1, cmap((uint(1), uint(NOW)), (uint(2), uint(NOW + 1)))),
    )
    if NOW + 1 > EXPIRES:
        raise AssertionError("unreachable")

    # --- third-party rules: optional, non-empty, at most 32, [tool] or [tool, action] --------
    def tp(label: str, rules: bytes | None) -> _wire.RawMacaroon:
        """``r`` with an approval caveat whose ``cid`` carries ``rules`` (raw CBOR), its VID
        sealed properly so that only the rules decide."""
        key, ephemeral, vid_nonce = tp_seeds(f"edges {label}")
        public = TP["approval-service"].public_key
        ticket = seal_ticket(public, TicketContents(key, root_id(r), PURPOSE_APPROVAL), ephemeral)
        pairs = [(uint(1), uint(1)), (uint(2), uint(PURPOSE_APPROVAL)), (uint(3), bstr(public))]
        if rules is not None:
            pairs.append((uint(4), rules))
        pairs.append((uint(5), bstr(ticket)))
        section = _wire.RawCaveat(cmap(*pairs), seal_vid(r.raw.signature, key, vid_nonce))
        return appended(r, section)

    def rule(*names: str) -> bytes:
        return arr(*(tstr(n) for n in names))

    def tp_case(name: str, description: str, rules: bytes | None, codes: Sequence[Reason]) -> None:
        _add(f, name, description, tp(name, rules), READ, codes)

    tp_case(
        "third_party_rules_unsorted_and_repeated",
        "An approval caveat with rules [[crm.update, write], [crm.read], [crm.read]]: rules are"
        " not a set, kept as written; the read matches, so approval_required.",
        arr(rule("crm.update", "write"), rule("crm.read"), rule("crm.read")),
        [At(Code.APPROVAL_REQUIRED, -1)],
    )
    tp_case(
        "third_party_rules_32",
        "An approval caveat with 32 rules, none for crm.read (the limit): decodes, and does not"
        " apply to the read, which is allowed.",
        arr(*(rule(f"t{i:02d}") for i in range(32))),
        [],
    )
    tp_case(
        "third_party_rules_33",
        "An approval caveat with 33 rules: malformed.",
        arr(*(rule(f"t{i:02d}") for i in range(33))),
        [At(Code.MALFORMED, -1)],
    )
    tp_case(
        "third_party_rules_empty",
        "An approval caveat with an empty rules array: malformed (absent means every call).",
        arr(),
        [At(Code.MALFORMED, -1)],
    )
    tp_case(
        "third_party_rule_empty",
        "An approval caveat with the rule []: malformed.",
        arr(arr()),
        [At(Code.MALFORMED, -1)],
    )
    tp_case(
        "third_party_rule_three_names",
        "An approval caveat with the rule [crm.read, read, x]: malformed.",
        arr(rule("crm.read", "read", "x")),
        [At(Code.MALFORMED, -1)],
    )
    tp_case(
        "third_party_rule_tool_257_characters",
        "An approval caveat whose rule names a tool of 257 characters: malformed.",
        arr(rule("t" * 257)),
        [At(Code.MALFORMED, -1)],
    )
    tp_case(
        "third_party_rule_not_array",
        "An approval caveat whose rule is the text crm.read: malformed.",
        arr(tstr("crm.read")),
        [At(Code.MALFORMED, -1)],
    )
