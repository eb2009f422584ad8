"""The :class:`State` protocol: the one question a verifier asks shared state per call.

A token is checked offline except for three things only shared state knows: whether anything
in its chain is revoked, whether the proof's nonce was used before, and whether its use limits
(``max_uses`` counters, spent approvals, budgets) have room. A verifier asks all three at once,
:meth:`State.check`, answered atomically in one round trip (one SQL transaction, one Redis
script). Every call either answers or raises :class:`StoreUnavailable`; a verifier denies with
``store_unavailable`` on that, or on any other exception. A store never guesses.

Exceptions defined here (the rest of the tree is documented in :mod:`delegation.errors`)::

    DelegationError
    ├── StoreUnavailable       the state could not answer; ``reason`` says why (UnavailableReason)
    ├── SettleRefused          a settle or release the state cannot apply; ``reason`` says why
    │                          (SettleReason); nothing changed
    └── InvalidRevocation      a revocation of an unknown kind, or a value malformed for its
                               kind; also a ValueError
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from delegation._keys import KEY_ID_PATTERN
from delegation._printable import is_printable
from delegation.errors import DelegationError
from delegation.limits import MAX_NAME_CHARS


class UnavailableReason(StrEnum):
    """Why a store could not answer: a small, stable vocabulary for logs, metrics and humans."""

    UNREACHABLE = "unreachable"
    """The store cannot be reached or opened: no such file, closed, a disk or network error."""
    UNREADABLE = "unreadable"
    """The store exists but may not be read (permissions)."""
    READ_ONLY = "read_only"
    """The store can be read but not written: nonces and uses cannot be recorded."""
    LOCKED = "locked"
    """Another process held the store past the timeout."""
    FULL = "full"
    """No room for a live record; forgetting one early would allow a replay or a use."""
    CORRUPT = "corrupt"
    """Damaged, or holding rows or a schema this library did not write."""
    NOT_A_STATE_FILE = "not_a_state_file"
    """Not made by ``SQLiteState.create`` (``delegation state init``): refused, never written."""
    NEWER_SCHEMA = "newer_schema"
    """Made by a newer version of this library, with a schema this one does not know."""
    ERROR = "error"
    """Anything else, a value the store cannot hold included."""


class StoreUnavailable(DelegationError):
    """The state could not answer. Verifiers deny on it (``store_unavailable``).

    ``reason`` is an :class:`UnavailableReason`; ``detail`` a sentence for an operator that
    holds no secret (no key, token or connection string).
    """

    def __init__(self, reason: UnavailableReason, detail: str) -> None:
        super().__init__(detail)
        try:
            self.reason = UnavailableReason(reason)
        except ValueError:  # a store's own category: not ours to pass on
            self.reason = UnavailableReason.ERROR
        self.detail = detail


class InvalidRevocation(DelegationError, ValueError):
    """A revocation that would match nothing: an unknown kind, or a value not spelled as
    ``specs/state.md`` requires for its kind. Refused, so nobody believes it recorded."""


class RevocationKind(StrEnum):
    """What a revocation names.

    ``token`` is any chain-prefix id (a root id, token id or hop id: the first 16 bytes of a
    chain digest, 32 lowercase hex digits); ``task`` a task id; ``agent`` an agent's Ed25519
    public key (unpadded base64url); ``key`` a root key id.
    """

    TOKEN = "token"  # noqa: S105 (a revocation kind, not a secret)
    TASK = "task"
    AGENT = "agent"
    KEY = "key"


_TOKEN_ID = re.compile(r"[0-9a-f]{32}")
_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
"""Unpadded base64url of 32 bytes, canonically: the 43rd character carries 4 bits and 2 zeros."""


def _value_problem(kind: RevocationKind, value: object) -> str | None:
    if not isinstance(value, str):
        return "a revocation value is text"
    if kind is RevocationKind.TOKEN:
        if not _TOKEN_ID.fullmatch(value):
            return "a root, token or hop id is 32 lowercase hex digits"
    elif kind is RevocationKind.TASK:
        if not value or len(value) > MAX_NAME_CHARS or not is_printable(value):
            return f"a task id is 1-{MAX_NAME_CHARS} printable characters"
    elif kind is RevocationKind.AGENT:
        if not _PUBLIC_KEY.fullmatch(value):
            return "an agent key is 32 bytes as unpadded base64url (43 characters)"
    elif not KEY_ID_PATTERN.fullmatch(value):
        return "a root key id is 1-64 characters from A-Z a-z 0-9 . _ -"
    return None


class _RevocationFields(NamedTuple):
    kind: RevocationKind
    value: str


class Revocation(_RevocationFields):
    """One revoked thing: a kind and its value, spelled exactly as ``specs/state.md`` says.

    Raises :class:`InvalidRevocation` for an unknown kind (``"chain"``, the old name of
    ``token``, included) or a value malformed for its kind: such a revocation could never
    match, and recording it would let an operator believe something revoked that is not.
    A kind given as its exact text (``"task"``) becomes the :class:`RevocationKind`.
    """

    __slots__ = ()

    def __new__(cls, kind: RevocationKind, value: str) -> Revocation:
        if type(kind) is not RevocationKind:
            try:
                kind = RevocationKind(kind)
            except ValueError:
                known = ", ".join(k.value for k in RevocationKind)
                hint = " (`chain` is now called `token`)" if kind == "chain" else ""
                shown = kind if isinstance(kind, str) else type(kind).__name__
                raise InvalidRevocation(
                    f"unknown revocation kind {shown!r}{hint}; the kinds are {known}"
                ) from None
        problem = _value_problem(kind, value)
        if problem is not None:
            raise InvalidRevocation(f"{kind} revocation refused: {problem}")
        return super().__new__(cls, kind, value)

    @classmethod
    def _trusted(cls, kind: RevocationKind, value: str) -> Revocation:
        """No checks: only for values spelled right by construction, the candidates the
        verifier derives from a verified chain (a keyring's key id, a decoded task id, an
        encoded key, a hex digest), where checking them would cost every verify. Stores
        check again what they are asked to record."""
        return tuple.__new__(cls, (kind, value))

    def checked(self) -> Revocation:
        """This revocation, after the constructor's checks. Raises InvalidRevocation."""
        return Revocation(self.kind, self.value)

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


class RevocationRecord(NamedTuple):
    """A recorded revocation and when it was recorded (whole Unix seconds)."""

    revocation: Revocation
    revoked_at: int


@dataclass(frozen=True, slots=True)
class NonceClaim:
    """A proof's replay key, to be recorded until ``expires_at`` (exclusive)."""

    key: bytes
    expires_at: int


@dataclass(frozen=True, slots=True)
class UseLimit:
    """One counted limit: a ``max_uses`` counter or a spent approval (``limit`` 1).

    ``key`` names the counter, ``limit`` is how many calls it allows in all, and the count is
    kept until ``keep_until`` (exclusive): from then on it is treated as absent.
    """

    key: bytes
    limit: int
    keep_until: int


@dataclass(frozen=True, slots=True)
class Charge:
    """One budget a call draws on: ``amount`` of ``unit`` against the balance kept under
    ``key``, which may never pass ``total``. The amount spent is kept until ``keep_until``
    (exclusive): from then on it is treated as absent. A charge of 0 spends nothing but still
    reads the balance."""

    key: bytes
    unit: str
    total: int
    amount: int
    keep_until: int


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep a call's charges refundable under ``reservation`` (16 bytes) until ``expires_at``
    (exclusive): before then :meth:`State.settle` may lower each charge to the call's actual
    cost or to 0; from then on the charges stand, spent in full."""

    reservation: bytes
    expires_at: int


@dataclass(frozen=True, slots=True)
class StateQuery:
    """What one verify needs from state.

    ``revocations``: the candidates, broadest first (:meth:`VerifiedChain.revocation_candidates`).
    ``nonce``: the proof's replay key, when the proof's signature checked out; claimed if given.
    ``spend``: every limit to count, when every other check passed; max_uses counters in token
    order, then one per approval used. ``charges``: every budget of the chain, in token order,
    charged together with ``spend``. ``hold``: keep the charges refundable (a reservation).
    """

    revocations: Sequence[Revocation]
    nonce: NonceClaim | None = None
    spend: Sequence[UseLimit] = ()
    charges: Sequence[Charge] = ()
    hold: Hold | None = None

    @property
    def writes(self) -> bool:
        """Whether answering may write (claim a nonce, count uses or charge budgets)."""
        return self.nonce is not None or bool(self.spend) or bool(self.charges)


@dataclass(frozen=True, slots=True)
class StateAnswer:
    """The answer to a :class:`StateQuery`.

    ``revoked``: the first candidate, in query order, that is revoked. ``replayed``: the nonce
    had a live record before this query. ``exhausted``: the index in ``spend`` of the first
    limit with no room; None when every limit was counted, when there was nothing to spend, or
    when the spend was not attempted (revoked or replayed). ``over_budget``: when no limit was
    exhausted, the index in ``charges`` of the first budget whose balance cannot take its
    amount. ``spent``: once the spend was attempted, each charge's balance spent after this
    check (nothing counted unless everything fit); empty when it was not attempted.
    """

    revoked: Revocation | None = None
    replayed: bool = False
    exhausted: int | None = None
    over_budget: int | None = None
    spent: tuple[int, ...] = ()


class SettleReason(StrEnum):
    """Why a settle or release was refused: a small, stable vocabulary."""

    UNKNOWN_RESERVATION = "unknown_reservation"
    """No such reservation: never made, already settled or released, forgotten after it
    expired, or not spelled as a reservation id."""
    RESERVATION_EXPIRED = "reservation_expired"
    """Its time ran out: its charges stand, spent in full."""
    OVER_RESERVATION = "over_reservation"
    """An actual cost above what was reserved: the difference was never authorized."""
    UNKNOWN_UNIT = "unknown_unit"
    """A cost for a unit the reservation charged nothing in (a typo would settle nothing)."""
    INVALID_COST = "invalid_cost"
    """A cost that is not an integer in [0, 2^53 - 1], or costs that are not a mapping."""


class SettleRefused(DelegationError):
    """A settle or release the state did not apply; nothing changed. ``reason`` is a
    :class:`SettleReason`; ``detail`` a sentence that holds no secret."""

    def __init__(self, reason: SettleReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = SettleReason(reason)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SettledCharge:
    """One charge of a settled reservation: ``held`` was reserved, ``charged`` stands, and the
    budget's balance has ``spent`` of ``total`` spent after the settle (``spent`` is None when
    the balance is no longer kept: every token drawing on it has expired)."""

    unit: str
    total: int
    held: int
    charged: int
    spent: int | None


def settle_amounts(held: Sequence[tuple[str, int]], costs: Mapping[str, int] | None) -> list[int]:
    """The amount each held ``(unit, amount)`` charge settles at: ``costs[unit]`` where given,
    else the amount held; 0 for every charge when ``costs`` is None (a release). Raises
    SettleRefused (``invalid_cost``, ``unknown_unit``, ``over_reservation``). Every store
    applies this one rule."""
    if costs is None:
        return [0] * len(held)
    if not isinstance(costs, Mapping):
        raise SettleRefused(
            SettleReason.INVALID_COST,
            f"actual costs are a mapping of unit to amount, not {type(costs).__name__}",
        )
    for unit, cost in costs.items():
        if type(cost) is not int or not 0 <= cost < 2**53:
            raise SettleRefused(
                SettleReason.INVALID_COST,
                f"an actual cost is an integer in [0, 2^53 - 1], not {type(cost).__name__}",
            )
        if not any(unit == u for u, _ in held):
            shown = unit if isinstance(unit, str) else type(unit).__name__
            raise SettleRefused(
                SettleReason.UNKNOWN_UNIT, f"the reservation charged nothing in {shown!r}"
            )
    out = []
    for unit, amount in held:
        actual = costs.get(unit, amount)
        if actual > amount:
            raise SettleRefused(
                SettleReason.OVER_RESERVATION,
                f"the actual cost {actual} {unit} is above the {amount} reserved",
            )
        out.append(actual)
    return out


def check_reservation(reservation: object) -> bytes:
    """A reservation id as a store takes it. Raises SettleRefused (``unknown_reservation``)."""
    if type(reservation) is not bytes or len(reservation) != 16:
        raise SettleRefused(SettleReason.UNKNOWN_RESERVATION, "a reservation id is 16 bytes")
    return reservation


class State(Protocol):
    """Revocations, proof nonces, use counts, budgets and spent approvals, shared by verifiers.

    Every method answers or raises :class:`StoreUnavailable`; nothing else.
    """

    def check(self, query: StateQuery, now: int) -> StateAnswer:
        """Answer ``query`` in one atomic step at time ``now``.

        Look up the candidates; claim the nonce when given (also when something is revoked);
        then, only if nothing is revoked and the nonce (if any) was fresh, count every limit of
        ``spend`` and charge every budget of ``charges``, all or nothing: if any limit has no
        room, or else any budget cannot take its amount, count and charge none and report the
        first. With ``hold``, record the charges under its reservation. Of concurrent checks
        across every verifier sharing the state, exactly one finds a given nonce fresh, no
        counter ever exceeds its limit and no balance its total. A check that raises has
        changed nothing. Raises StoreUnavailable.
        """
        ...

    def settle(
        self, reservation: bytes, costs: Mapping[str, int] | None, now: int
    ) -> list[SettledCharge]:
        """Settle a reservation at time ``now``, before its hold expires: each of its charges
        drops to ``costs[unit]`` (at most what it held; :func:`settle_amounts`), refunding the
        difference to its budget, and the reservation is gone. ``{}`` settles every charge as
        held; ``None`` releases it (every charge to 0). All or nothing: raises SettleRefused
        or StoreUnavailable having changed nothing.
        """
        ...

    def spent(self, key: bytes, now: int) -> int:
        """The balance spent of the budget kept under ``key`` at ``now`` (0 when there is no
        live record). Raises StoreUnavailable."""
        ...

    def revoke(self, revocation: Revocation, now: int) -> None:
        """Record ``revocation`` for good, as of ``now``. Idempotent: the first time is kept.
        Raises StoreUnavailable."""
        ...

    def revocations(self) -> list[RevocationRecord]:
        """Every recorded revocation, oldest first (then by kind and value).
        Raises StoreUnavailable."""
        ...

    def close(self) -> None:
        """Release the store. Every later call raises StoreUnavailable (``unreachable``)."""
        ...
