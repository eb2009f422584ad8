"""Argument constraints (``delegation.caveats.args``).

specs/threats.md: "Type confusion: ``"3"``, ``3.0``, ``true`` where an integer is meant;
NaN, Inf"; "An empty value is malformed, never a wildcard"; "Compare parsed fields exactly";
"One token, one spelling: non-canonical ... CBOR" (constraint order and set order).
"""

from __future__ import annotations

from typing import Any

import pytest

from delegation import (
    ArgConstraint,
    AuthoringError,
    Code,
    MalformedToken,
    NotNarrowing,
    Request,
    Scope,
    default_registry,
)
from delegation.caveats import ArgOp, Args, ArgsOnly, MaxUses
from delegation.limits import MAX_INT, MAX_LIST_ITEMS
from delegation.testing.world import mint_root
from tests.conftest import NOW
from tests.unit._forge import caveat_bytes, check_failure, context, parent_of

REGISTRY = default_registry()


def req(**args: Any) -> Request:
    return Request(audience="crm", tool="t", action="a", args=args)


def args(*constraints: ArgConstraint) -> Args:
    return Args(constraints)


def ok(caveat: Args, **request_args: Any) -> None:
    caveat.check(context(req(**request_args)))


def denied(caveat: Args, **request_args: Any) -> None:
    assert check_failure(caveat, context(req(**request_args))) is Code.ARGS_NOT_ALLOWED


# --- construction and encoding -----------------------------------------------------------------


@pytest.mark.parametrize(
    "constraint",
    [
        ArgConstraint.equals("n", 3),
        ArgConstraint.equals("n", "3"),
        ArgConstraint.equals("n", True),
        ArgConstraint.equals("n", -(MAX_INT - 1)),
        ArgConstraint.one_of("n", (1, "1", True)),
        ArgConstraint.at_least("n", 0),
        ArgConstraint.at_most("n", MAX_INT - 1),
        ArgConstraint.resource("path", "/docs/**"),
    ],
)
def test_round_trip(constraint: ArgConstraint) -> None:
    cav = args(constraint)
    assert REGISTRY.decode(cav.encode()) == cav
    assert Args.from_body(cav.to_body()) == cav


def test_type_id_and_describe() -> None:
    assert (Args.type_id, Args.name) == (7, "args")
    cav = args(ArgConstraint.at_most("n", 5), ArgConstraint.one_of("c", ("x", "y")))
    assert cav.describe() == ["c in ['x', 'y']", "n max 5"]


def test_constraints_are_stored_in_canonical_order() -> None:
    a = args(
        ArgConstraint.at_most("n", 5), ArgConstraint.equals("a", 1), ArgConstraint.at_least("n", 1)
    )
    assert [(c.arg, c.op) for c in a.constraints] == [("a", "eq"), ("n", "min"), ("n", "max")]
    b = args(
        ArgConstraint.at_least("n", 1), ArgConstraint.equals("a", 1), ArgConstraint.at_most("n", 5)
    )
    assert a.encode() == b.encode()


@pytest.mark.parametrize(
    ("arg", "op", "value"),
    [
        ("", "eq", 1),  # empty name
        ("a\nb", "eq", 1),
        ("n", "ne", 1),  # unknown operator
        ("n", "regex", ".*"),
        ("n", "eq", 1.5),
        ("n", "eq", None),
        ("n", "eq", ""),  # empty text is not a wildcard
        ("n", "eq", MAX_INT),
        ("n", "eq", (1,)),
        ("n", "in", ()),  # empty set is not a wildcard
        ("n", "in", 1),
        ("n", "in", (1, 1)),
        ("n", "in", ("a", "a")),
        ("n", "in", (1.5,)),
        ("n", "in", tuple(range(MAX_LIST_ITEMS + 1))),
        ("n", "min", 3.0),
        ("n", "min", True),
        ("n", "min", "3"),
        ("n", "max", MAX_INT),
        ("n", "max", None),
        ("p", "resource", "docs"),
        ("p", "resource", "/docs/../etc"),
        ("p", "resource", ""),
        ("p", "resource", 3),
    ],
)
def test_bad_constraints_are_malformed(arg: str, op: str, value: Any) -> None:
    built = ArgOp(op) if op in {o.value for o in ArgOp} else op
    with pytest.raises(MalformedToken):
        ArgConstraint(arg, built, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("op", ["eq", "max"])
def test_an_operator_string_is_refused(op: str) -> None:
    ArgConstraint("n", ArgOp(op), 1)  # the typed operator builds
    with pytest.raises(MalformedToken, match="ArgOp"):
        ArgConstraint("n", op, 1)  # type: ignore[arg-type]


def test_one_of_refuses_a_bare_text() -> None:
    with pytest.raises(MalformedToken, match="not one text"):
        ArgConstraint.one_of("n", "ab")


def test_in_values_of_different_types_are_distinct_and_canonically_ordered() -> None:
    # ascending by deterministic CBOR encoding: 0x01 < 0x61 0x31 < 0xf5
    assert ArgConstraint.one_of("n", (True, "1", 1)).value == (1, "1", True)
    assert ArgConstraint.one_of("n", ("b", "a")).value == ("a", "b")
    a = Args((ArgConstraint.one_of("n", ("b", "a")),))
    assert a.encode() == Args((ArgConstraint.one_of("n", ("a", "b")),)).encode()


def test_bad_args_caveats_are_malformed() -> None:
    with pytest.raises(MalformedToken):
        Args(())
    with pytest.raises(MalformedToken, match="one constraint per argument and operator"):
        args(ArgConstraint.at_most("n", 5), ArgConstraint.at_most("n", 6))
    with pytest.raises(MalformedToken):
        Args(tuple(ArgConstraint.equals(f"a{i:02d}", 1) for i in range(MAX_LIST_ITEMS + 1)))


@pytest.mark.parametrize(
    "body_hex",
    [
        "80",  # no constraints
        "6161",  # not an array
        "81826161 01".replace(" ", ""),  # ["a", 1]: two items
        "8183616100 01".replace(" ", ""),  # op 0
        "8183616106 01".replace(" ", ""),  # op 6
        "81836161f5 01".replace(" ", ""),  # op true: type confusion, not "eq"
        "81836161616501",  # op "e"
        "818360 0101".replace(" ", ""),  # empty argument name
        "8183616101f6",  # eq null
        "8183616101f93c00",  # eq 1.0
        "818361610380",  # min []
        "8183616103f5",  # min true
        "818361610361 33".replace(" ", ""),  # min "3"
        "81836161028 0".replace(" ", ""),  # in []
        "818361610282 0101".replace(" ", ""),  # in [1, 1]
        "8183616105 6464 6f63 73".replace(" ", ""),  # resource "docs"
        # constraints out of canonical order: [["b", eq, 1], ["a", eq, 1]]
        "82836162 0101 83616101 01".replace(" ", ""),
        # same argument, ops out of order: [["a", max, 1], ["a", min, 1]]
        "82836161 0401 83616103 01".replace(" ", ""),
    ],
)
def test_bad_bodies_are_malformed(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(Args.type_id, body_hex))


# An `in` set has one spelling, like every other set in the format.
def test_unsorted_in_set_is_malformed() -> None:
    # [["x", in, ["b", "a"]]]
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(Args.type_id, "8183617802826162 6161".replace(" ", "")))


# --- checks --------------------------------------------------------------------------------------


def test_eq_compares_value_and_type() -> None:
    three = args(ArgConstraint.equals("n", 3))
    ok(three, n=3)
    for confused in ("3", 3.0, True, 4, None, [3], {"n": 3}):
        denied(three, n=confused)
    text = args(ArgConstraint.equals("n", "3"))
    ok(text, n="3")
    for confused in (3, 3.0, "3 ", "03"):
        denied(text, n=confused)
    true = args(ArgConstraint.equals("n", True))
    ok(true, n=True)
    for confused in (1, 1.0, "true", "True"):
        denied(true, n=confused)
    one = args(ArgConstraint.equals("n", 1))
    denied(one, n=True)
    zero = args(ArgConstraint.equals("n", 0))
    denied(zero, n=False)
    denied(zero, n=-0.0)


def test_a_missing_argument_satisfies_nothing() -> None:
    for constraint in (
        ArgConstraint.equals("n", 3),
        ArgConstraint.one_of("n", (3,)),
        ArgConstraint.at_least("n", -(MAX_INT - 1)),
        ArgConstraint.at_most("n", MAX_INT - 1),
        ArgConstraint.resource("n", "/**"),
    ):
        denied(args(constraint))
        denied(args(constraint), m=3)
        denied(args(constraint), N=3)


def test_in_compares_value_and_type() -> None:
    cav = args(ArgConstraint.one_of("n", (1, "two")))
    ok(cav, n=1)
    ok(cav, n="two")
    for confused in ("1", 1.0, True, "Two", 2, None):
        denied(cav, n=confused)


def test_min_and_max_accept_finite_numbers_only() -> None:
    bounds = args(ArgConstraint.at_least("n", 10), ArgConstraint.at_most("n", 20))
    for good in (10, 15, 20, 10.0, 19.5):
        ok(bounds, n=good)
    for bad in (9, 21, 9.99, 20.01, True, False, "15", None, [15], {"v": 15}):
        denied(bounds, n=bad)


def test_every_constraint_must_hold() -> None:
    cav = args(ArgConstraint.equals("a", 1), ArgConstraint.at_most("b", 5))
    ok(cav, a=1, b=5)
    denied(cav, a=1, b=6)
    denied(cav, a=2, b=5)
    denied(cav, a=1)


def test_resource_argument() -> None:
    cav = args(ArgConstraint.resource("path", "/docs/**"))
    ok(cav, path="/docs")
    ok(cav, path="/docs/a/b")
    for bad in ("/docs-secret", "/docs/../etc", "/docs/%2e%2e", "/docs//a", "docs/a", 3, None):
        denied(cav, path=bad)


# --- narrowing -----------------------------------------------------------------------------------

NARROWER = [
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.equals("n", 2)),
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.one_of("n", (1, 3))),
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.one_of("n", (1, 2, 3))),
    (ArgConstraint.equals("n", 2), ArgConstraint.equals("n", 2)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.at_most("n", 10)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.at_most("n", 5)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.equals("n", 7)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.one_of("n", (1, 10))),
    (ArgConstraint.at_least("n", 10), ArgConstraint.at_least("n", 10)),
    (ArgConstraint.at_least("n", 10), ArgConstraint.at_least("n", 15)),
    (ArgConstraint.at_least("n", 10), ArgConstraint.equals("n", 11)),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.resource("p", "/d/x/*")),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.equals("p", "/d/x")),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.one_of("p", ("/d", "/d/y"))),
    (ArgConstraint.equals("n", 1), ArgConstraint.equals("m", 2)),  # another argument
]


@pytest.mark.parametrize(("parent", "child"), NARROWER)
def test_narrowing_accepts_equal_or_narrower(parent: ArgConstraint, child: ArgConstraint) -> None:
    args(child).check_narrows(parent_of(args(parent)))


WIDER = [
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.equals("n", 4)),  # eq outside an in set
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.one_of("n", (1, 4))),
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.equals("n", "1")),
    (ArgConstraint.one_of("n", (1, 2, 3)), ArgConstraint.equals("n", True)),
    (ArgConstraint.equals("n", 1), ArgConstraint.equals("n", 2)),
    (ArgConstraint.equals("n", 1), ArgConstraint.one_of("n", (1, 2))),
    (ArgConstraint.at_most("n", 10), ArgConstraint.at_most("n", 11)),  # max above parent max
    (ArgConstraint.at_most("n", 10), ArgConstraint.equals("n", 11)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.equals("n", True)),
    (ArgConstraint.at_most("n", 10), ArgConstraint.one_of("n", (5, 11))),
    (ArgConstraint.at_least("n", 10), ArgConstraint.at_least("n", 9)),  # min below parent min
    (ArgConstraint.at_least("n", 10), ArgConstraint.equals("n", 9)),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.resource("p", "/**")),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.resource("p", "/d-x/**")),
    (ArgConstraint.resource("p", "/d/*"), ArgConstraint.resource("p", "/d/**")),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.equals("p", "/e")),
    (ArgConstraint.resource("p", "/d/**"), ArgConstraint.equals("p", "/d/../e")),
]


@pytest.mark.parametrize(("parent", "child"), WIDER)
def test_narrowing_refuses_widening(parent: ArgConstraint, child: ArgConstraint) -> None:
    with pytest.raises(NotNarrowing):
        args(child).check_narrows(parent_of(args(parent)))


def test_narrowing_is_against_every_earlier_args_caveat() -> None:
    parent = parent_of(args(ArgConstraint.at_most("n", 10)), args(ArgConstraint.at_most("n", 5)))
    args(ArgConstraint.at_most("n", 5)).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        args(ArgConstraint.at_most("n", 7)).check_narrows(parent)


# --- args_only: the closed argument list ------------------------------------------------------


def test_args_only_round_trips_sorted() -> None:
    cav = ArgsOnly(("project", "path"))
    assert (ArgsOnly.type_id, ArgsOnly.name, cav.names) == (13, "args_only", ("path", "project"))
    assert REGISTRY.decode(cav.encode()) == cav


def test_an_unlisted_argument_is_denied_even_when_nothing_constrains_it() -> None:
    token_caveats = (args(ArgConstraint.equals("project", "apollo")), ArgsOnly(("project",)))
    allowed = req(project="apollo")
    smuggled = req(project="apollo", path="/etc/passwd")
    for cav in token_caveats:
        cav.check(context(allowed))
    token_caveats[0].check(context(smuggled))  # the args caveat alone lets path through
    assert check_failure(token_caveats[1], context(smuggled)) is Code.ARGS_NOT_ALLOWED
    ArgsOnly(("project",)).check(context(req()))  # fewer arguments are fine


def test_args_only_narrows_to_a_subset() -> None:
    parent = parent_of(ArgsOnly(("a", "b")))
    ArgsOnly(("a",)).check_narrows(parent)
    with pytest.raises(NotNarrowing, match="outside"):
        ArgsOnly(("a", "c")).check_narrows(parent)


@pytest.mark.parametrize("names", [(), ("",), "ab", ("a", "a\n")])
def test_bad_args_only_is_malformed(names: Any) -> None:
    with pytest.raises(MalformedToken):
        ArgsOnly(names)


# --- constraint sets no call can satisfy are refused when authored -------------------------


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ((), (ArgConstraint.at_least("n", 5), ArgConstraint.at_most("n", 4))),
        ((ArgConstraint.at_most("n", 4),), (ArgConstraint.at_least("n", 5),)),
        (
            (ArgConstraint.at_least("n", 5),),
            (ArgConstraint.equals("n", 5), ArgConstraint.at_most("n", 4)),
        ),
        ((), (ArgConstraint.one_of("n", (1, 2)), ArgConstraint.at_least("n", 3))),
        ((), (ArgConstraint.equals("n", "x"), ArgConstraint.at_most("n", 3))),
    ],
)
def test_an_unsatisfiable_constraint_set_is_refused(
    existing: tuple[ArgConstraint, ...], new: tuple[ArgConstraint, ...]
) -> None:
    parent = parent_of(args(*existing)) if existing else parent_of()
    with pytest.raises(AuthoringError, match="no call can satisfy"):
        args(*new).check_narrows(parent)


def test_a_satisfiable_constraint_set_is_accepted() -> None:
    args(ArgConstraint.at_least("n", 4), ArgConstraint.at_most("n", 4)).check_narrows(parent_of())
    args(ArgConstraint.one_of("n", (1, 9)), ArgConstraint.at_least("n", 5)).check_narrows(
        parent_of(args(ArgConstraint.at_most("n", 10)))
    )


def test_constraining_an_argument_args_only_excludes_is_refused() -> None:
    with pytest.raises(AuthoringError, match="allows only the arguments"):
        args(ArgConstraint.equals("path", "/x")).check_narrows(parent_of(ArgsOnly(("project",))))
    with pytest.raises(AuthoringError, match="may be present"):
        ArgsOnly(("project",)).check_narrows(parent_of(args(ArgConstraint.equals("path", "/x"))))


def test_mint_refuses_an_unsatisfiable_scope_and_takes_only_args_and_max_uses() -> None:
    with pytest.raises(AuthoringError, match="no call can satisfy n min 2, n max 1"):
        mint_root(
            Scope(
                audiences=["crm"],
                expires=NOW + 60,
                args=[ArgConstraint.at_least("n", 2), ArgConstraint.at_most("n", 1)],
            )
        )
    token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, only_args=["n"], max_uses=3))
    kinds = [type(c) for c in token.unsafe_caveats()]
    assert ArgsOnly in kinds
    assert MaxUses in kinds
    with pytest.raises(AuthoringError, match="not one text"):
        mint_root(Scope(audiences=["crm"], expires=NOW + 60, only_args="n"))
