"""The validity-window caveat (``delegation.caveats.validity``).

specs/threats.md: "Type confusion: ... NaN, Inf, negative or huge times. A NaN expiry
makes ``now > exp`` false and the token never expires"; "An empty value is malformed, never a
wildcard"; "Context comes from the verifier (its clock ...)" (checks read ``ctx.now`` only).
"""

from __future__ import annotations

import math

import pytest

from delegation import Code, MalformedToken, NotNarrowing, default_registry
from delegation.caveats import Audience, Validity
from delegation.limits import CLOCK_SKEW_SECONDS, MAX_TIME
from tests.conftest import NOW
from tests.unit._forge import caveat_bytes, check_failure, context, parent_of

REGISTRY = default_registry()


@pytest.mark.parametrize(
    "caveat", [Validity(None, NOW), Validity(NOW, None), Validity(NOW, NOW + 1), Validity(0, 1)]
)
def test_round_trip(caveat: Validity) -> None:
    assert REGISTRY.decode(caveat.encode()) == caveat
    assert Validity.from_body(caveat.to_body()) == caveat


def test_encoding_and_describe() -> None:
    assert Validity(5, 9).encode() == bytes.fromhex("8201a2010502 09".replace(" ", ""))
    assert Validity(5, 9).describe() == {"not_before": 5, "expires": 9}
    assert Validity(None, 9).describe() == {"expires": 9}


@pytest.mark.parametrize(
    ("not_before", "expires"),
    [
        (None, None),  # empty is malformed, never "no limit"
        (None, -1),
        (None, MAX_TIME),
        (None, 2**53 - 1),
        (-1, None),
        (None, True),
        (None, 1.5),
        (None, math.nan),
        (None, math.inf),
        (None, "1800000000"),
        (NOW, NOW),  # not_before must come first
        (NOW + 1, NOW),
    ],
)
def test_invalid_windows_are_malformed(not_before: object, expires: object) -> None:
    with pytest.raises(MalformedToken):
        Validity(not_before, expires)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body_hex",
    [
        "a0",  # empty map
        "80",  # array
        "1a6b49d200",  # bare integer
        "a10301",  # unknown field
        "a102f5",  # expires = true
        "a10261 31".replace(" ", ""),  # expires = "1"
        "a10220",  # expires = -1
        "a1021b0000000400000000",  # expires = 2**34
        "a102f97e00",  # expires = NaN
        "a102f97c00",  # expires = Infinity
        "a102fb41dad2a4a000000000",  # expires as a float
        "a2010a0205",  # not_before after expires
        "a102f6",  # expires = null
    ],
)
def test_bad_bodies_are_malformed(body_hex: str) -> None:
    with pytest.raises(MalformedToken):
        REGISTRY.decode(caveat_bytes(Validity.type_id, body_hex))


def test_expiry_is_strict_and_exclusive() -> None:
    cav = Validity(None, NOW)
    cav.check(context(now=NOW - 1))
    assert check_failure(cav, context(now=NOW)) is Code.EXPIRED
    assert check_failure(cav, context(now=NOW + 10**6)) is Code.EXPIRED


def test_not_before_allows_the_named_clock_skew() -> None:
    cav = Validity(NOW + CLOCK_SKEW_SECONDS, None)
    cav.check(context(now=NOW))
    late = Validity(NOW + CLOCK_SKEW_SECONDS + 1, None)
    assert check_failure(late, context(now=NOW)) is Code.NOT_YET_VALID


def test_both_ends_checked() -> None:
    cav = Validity(NOW + 100, NOW + 200)
    assert check_failure(cav, context(now=NOW)) is Code.NOT_YET_VALID
    cav.check(context(now=NOW + 150))
    assert check_failure(cav, context(now=NOW + 200)) is Code.EXPIRED


def test_narrowing_refuses_a_later_expiry() -> None:
    parent = parent_of(Audience(("crm",)), Validity(None, NOW + 100))
    with pytest.raises(NotNarrowing, match="later"):
        Validity(None, NOW + 101).check_narrows(parent)
    with pytest.raises(NotNarrowing):
        Validity(NOW, NOW + 101).check_narrows(parent)


def test_narrowing_refuses_a_later_expiry_than_any_earlier_one() -> None:
    parent = parent_of(Validity(None, NOW + 100), Validity(None, NOW + 50))
    with pytest.raises(NotNarrowing):
        Validity(None, NOW + 60).check_narrows(parent)
    Validity(None, NOW + 50).check_narrows(parent)


@pytest.mark.parametrize(
    "child",
    [
        Validity(None, NOW + 100),  # equal
        Validity(None, NOW + 1),  # earlier
        Validity(NOW + 10, None),  # a not-before only narrows
        Validity(NOW + 10, NOW + 20),
    ],
)
def test_narrowing_accepts_equal_or_earlier(child: Validity) -> None:
    child.check_narrows(parent_of(Validity(None, NOW + 100)))


def test_narrowing_without_a_parent_window() -> None:
    Validity(None, NOW + 10**6).check_narrows(parent_of(Audience(("crm",))))
