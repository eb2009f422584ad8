"""The caveat base class and the registry that maps type ids to caveat families.

A caveat on the wire is the deterministic CBOR array ``[type_id, body]``. Type ids are in the
ranges of ``specs/caveats.md``: 1-127 core families, 128-1023 reserved for the spec,
1024-4294967295 application-defined. An id is never reused. A type id the registry does not
know decodes to :class:`UnknownCaveat`, which keeps its bytes and denies at verification.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self, TypeVar

from delegation import _cbor
from delegation._cbor import CBORValue
from delegation._memo import Memo
from delegation._request import Request
from delegation.errors import CaveatFailed, Code, MalformedToken

MAX_TYPE_ID = 2**32 - 1
CORE_TYPE_IDS = range(1, 128)
APPLICATION_TYPE_IDS = range(1024, MAX_TYPE_ID + 1)
_CACHE_LIMIT = 4096
_CACHE_BYTES = 1 << 20
"""The parse memo holds at most 4096 caveats and 1 MiB of caveat bytes."""
log = logging.getLogger("delegation")

C = TypeVar("C", bound="Caveat")


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a caveat is checked against: the request, the verifier's clock, its place in the
    chain, and the verified chain itself (its holder and prefix digests). A discharge's caveats
    are checked with ``hops_before`` 0, no later agents, and the chain of the token it is bound
    to."""

    request: Request
    now: int
    hops_before: int
    """Signed hops that come before this caveat in the token."""
    later_agents: tuple[str, ...]
    """Agent ids of the hops that come after this caveat."""
    holder_key: bytes
    """The public key of the chain's holder: the agent that signed this call's proof."""
    prefix_digests: tuple[bytes, ...]
    """The chain digest of every prefix of the presenting token: entry 0 the identifier's,
    entry i after the token's first i caveats (``specs/token-format.md`` section 7)."""


class Placed(NamedTuple):
    """A caveat of a token with the number of hops before it."""

    hops_before: int
    caveat: Caveat


@dataclass(frozen=True, slots=True)
class ParentView:
    """The parent token's caveats as an attenuation or delegation sees them."""

    placed: tuple[Placed, ...]
    hops: int

    def of_type(self, cls: type[C]) -> Iterator[tuple[int, C]]:
        """Every caveat of family ``cls`` with the hops before it. The parent's caveats are
        read by the default registry, so an application family's own caveats come as unknown
        caveats of its type id: they are parsed with ``cls`` here (skipped if malformed), so
        its ``check_narrows`` sees them too."""
        type_id = getattr(cls, "type_id", None)
        for p in self.placed:
            if isinstance(p.caveat, cls):
                yield p.hops_before, p.caveat
            elif (
                isinstance(p.caveat, UnknownCaveat)
                and type(type_id) is int
                and p.caveat.type_id == type_id
            ):
                try:
                    parsed = cls.from_body(p.caveat.to_body())
                except MalformedToken:
                    continue  # the verifier denies it anyway
                yield p.hops_before, parsed


class Caveat(ABC):
    """A restriction. Subclasses are frozen dataclasses with a ``type_id`` and a ``name``."""

    type_id: ClassVar[int]
    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_body(cls, body: CBORValue) -> Self:
        """Parse the CBOR body. Raises MalformedToken."""

    @abstractmethod
    def to_body(self) -> CBORValue:
        """The CBOR body; ``from_body(to_body())`` gives back an equal caveat."""

    @abstractmethod
    def check(self, ctx: CheckContext) -> None:
        """Raise CaveatFailed if the request in ``ctx`` does not satisfy this caveat."""

    def check_narrows(self, parent: ParentView) -> None:  # noqa: B027 (optional hook)
        """Raise NotNarrowing if adding this caveat to ``parent`` would try to widen it.

        A caveat can never widen a token (the verifier checks all of them); this catches the
        caller who believes it can. Families whose caveats always narrow keep this default.
        """

    def describe(self) -> Any:
        """A JSON-able view for ``inspect``; holds no secrets."""
        return self.to_body()

    def encode(self) -> bytes:
        return _cbor.dumps([self.type_id, self.to_body()])


@dataclass(frozen=True, slots=True)
class UnknownCaveat(Caveat):
    """A caveat whose type this registry does not know: kept byte for byte, always denies."""

    type_id: int  # type: ignore[misc]
    raw: bytes = field(repr=False)
    name: ClassVar[str] = "unknown"

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        raise MalformedToken("an unknown caveat is built from its bytes, not a body")

    def to_body(self) -> CBORValue:
        return _cbor.loads(self.raw, "caveat")[1]  # type: ignore[index]

    def encode(self) -> bytes:
        return self.raw

    def check(self, ctx: CheckContext) -> None:
        raise CaveatFailed(
            Code.UNKNOWN_CAVEAT,
            f"caveat type {self.type_id} is not understood by this verifier",
        )

    def describe(self) -> Any:
        return {"type_id": self.type_id, "cbor": self.raw.hex()}


def _is_core(family: type[Caveat]) -> bool:
    """The spec's own families live in this package; only they take ids 1-127 implicitly."""
    return family.__module__.startswith("delegation.caveats.")


def check_caveat(cav: Caveat, ctx: CheckContext) -> CaveatFailed | None:
    """Run ``cav.check``: None if satisfied, else the failure. Never raises: an application
    caveat whose check has a bug denies (``internal_error``) and is logged; it never allows."""
    try:
        cav.check(ctx)
    except CaveatFailed as failed:
        return failed
    except Exception:
        log.exception("caveat %s raised while checking", cav.name)
        return CaveatFailed(Code.INTERNAL_ERROR, f"the {cav.name} caveat could not be evaluated")
    return None


class Registry:
    """Caveat families by type id. Registering an id or name twice is an error."""

    def __init__(self, families: Sequence[type[Caveat]] = ()) -> None:
        self._by_id: dict[int, type[Caveat]] = {}
        self._by_name: dict[str, type[Caveat]] = {}
        self._cache: Memo[bytes, Caveat] = Memo(_CACHE_LIMIT, _CACHE_BYTES)
        self._generation = 0
        """Bumped by every register(): whatever was parsed or checked under an older
        generation (a verifier's cached chains) may parse differently now."""
        for family in families:
            self.register(family, core=_is_core(family))

    def register(self, family: type[C], *, core: bool = False) -> type[C]:
        """Add a family. Application families use ids 1024 and up; 1-127 are the spec's own
        (``core=True``) and 128-1023 are reserved. Raises ValueError on any clash."""
        type_id, name = family.type_id, family.name
        allowed = CORE_TYPE_IDS if core else APPLICATION_TYPE_IDS
        if type(type_id) is not int or type_id not in allowed:
            raise ValueError(f"caveat type id {type_id} is outside {allowed}")
        if type_id in self._by_id:
            raise ValueError(f"caveat type id {type_id} is already registered")
        if name in self._by_name:
            raise ValueError(f"caveat name {name!r} is already registered")
        self._by_id[type_id] = family
        self._by_name[name] = family
        self._cache.clear()
        self._generation += 1
        return family

    def copy(self) -> Registry:
        return Registry(list(self._by_id.values()))

    def families(self) -> tuple[type[Caveat], ...]:
        return tuple(self._by_id.values())

    def decode(self, cid: bytes) -> Caveat:
        """Parse one first-party caveat. Raises MalformedToken.

        Parsing is a pure function of the bytes, so results are memoised (bounded).
        """
        cached = self._cache.get(cid)
        if cached is not None:
            return cached
        value = _cbor.loads(cid, "caveat")
        if not isinstance(value, list) or len(value) != 2 or type(value[0]) is not int:
            raise MalformedToken("a caveat is the CBOR array [type_id, body]")
        type_id, body = value
        if not 1 <= type_id <= MAX_TYPE_ID:
            raise MalformedToken("caveat type id is out of range")
        family = self._by_id.get(type_id)
        caveat = UnknownCaveat(type_id, cid) if family is None else family.from_body(body)
        # One meaning, one spelling: e.g. an unsorted list is refused. A family that keeps
        # Caveat.encode is compared through its body without the encoder's type check.
        if type(caveat).encode is Caveat.encode:
            canonical = _cbor.reencodes_to([caveat.type_id, caveat.to_body()], cid)
        else:
            canonical = caveat.encode() == cid
        if not canonical:
            raise MalformedToken(f"{family.name if family else 'caveat'} body is not canonical")
        self._cache.put(cid, caveat)
        return caveat
