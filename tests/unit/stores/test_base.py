"""The State protocol's types (``delegation.stores.base``): revocations and StoreUnavailable.

A revocation that could never match (an unknown kind, a value malformed for its kind) is
refused when it is made, so an operator never believes something is revoked when it is not.
"""

from __future__ import annotations

import pytest

from delegation import (
    DelegationError,
    Revocation,
    RevocationKind,
    StoreUnavailable,
    encode_public_key,
)
from delegation.stores import (
    InvalidRevocation,
    UnavailableReason,
)

TOKEN, TASK, AGENT, KEY = (
    RevocationKind.TOKEN,
    RevocationKind.TASK,
    RevocationKind.AGENT,
    RevocationKind.KEY,
)
HEX = "0123456789abcdef" * 2
PUBLIC = encode_public_key(bytes(range(32)))


# --- Revocation: refused unless it could match --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (TOKEN, HEX),
        (TASK, "task-42"),
        (TASK, "é 🙂 x" * 10),
        (TASK, "t" * 256),
        (AGENT, PUBLIC),
        (KEY, "k20260101-ab12"),
        (KEY, "a" * 64),
        ("token", HEX),
        ("task", "t"),
    ],
)
def test_well_formed_revocations_are_accepted(kind: RevocationKind, value: str) -> None:
    revocation = Revocation(kind, value)
    assert type(revocation.kind) is RevocationKind
    assert revocation.kind == kind
    assert revocation == Revocation(RevocationKind(kind), value)
    assert hash(revocation) == hash(Revocation(RevocationKind(kind), value))


@pytest.mark.parametrize("kind", ["chain", "tokens", "Task", "TASK", "", " task", 1, None])
def test_an_unknown_kind_is_refused(kind: object) -> None:
    with pytest.raises(InvalidRevocation, match="unknown revocation kind") as caught:
        Revocation(kind, "task-42")  # type: ignore[arg-type]
    assert isinstance(caught.value, DelegationError)
    assert isinstance(caught.value, ValueError)


def test_the_old_chain_kind_says_what_it_is_called_now() -> None:
    with pytest.raises(InvalidRevocation, match="now called `token`"):
        Revocation("chain", HEX)  # type: ignore[arg-type]


BAD_VALUES = [
    (TOKEN, HEX.upper()),  # upper case would never match a digest
    (TOKEN, HEX[:-1]),
    (TOKEN, HEX + "0"),
    (TOKEN, "g" * 32),
    (TOKEN, "task-42"),
    (TOKEN, ""),
    (TASK, ""),
    (TASK, "t" * 257),
    (TASK, "a\tb"),
    (TASK, "a\x00b"),
    (TASK, "\udcff"),  # a lone surrogate: a non-UTF-8 command-line argument
    (AGENT, "researcher"),  # an agent id, not a key
    (AGENT, bytes(range(32)).hex()),  # raw bytes in hex
    (AGENT, PUBLIC + "="),  # padded
    (AGENT, PUBLIC[:-1] + "B"),  # not canonical: the last character's two spare bits set
    (AGENT, "+" + PUBLIC[1:]),  # the standard alphabet
    (KEY, "no spaces"),
    (KEY, "k" * 65),
    (KEY, ""),
    (KEY, "x' OR '1'='1"),
    (TASK, 42),
    (TOKEN, b"0" * 32),
]


@pytest.mark.parametrize(("kind", "value"), BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_a_value_malformed_for_its_kind_is_refused(kind: RevocationKind, value: object) -> None:
    with pytest.raises(InvalidRevocation, match=f"{kind} revocation refused"):
        Revocation(kind, value)  # type: ignore[arg-type]


def test_revocations_are_frozen() -> None:
    revocation = Revocation(TASK, "t")
    with pytest.raises(AttributeError):
        revocation.value = "u"  # type: ignore[misc]
    assert str(revocation) == "task t"


# --- StoreUnavailable -------------------------------------------------------------------------


def test_store_unavailable_is_a_delegation_error_with_a_reason() -> None:
    exc = StoreUnavailable(UnavailableReason.LOCKED, "the state file is locked")
    assert isinstance(exc, DelegationError)
    assert exc.reason is UnavailableReason.LOCKED
    assert exc.detail == str(exc) == "the state file is locked"
    assert StoreUnavailable("locked", "x").reason is UnavailableReason.LOCKED  # type: ignore[arg-type]
    # A category that is not ours is not passed on as if it were.
    assert StoreUnavailable("password=hunter2", "x").reason is UnavailableReason.ERROR  # type: ignore[arg-type]
