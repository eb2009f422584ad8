"""The caveat registry and unknown caveats (``delegation.caveats.registry``).

specs/threats.md: "One checker per caveat type; an unknown type denies. Never 'any
callback said yes'"; "One token, one spelling: non-canonical ... CBOR must not yield a second
... key" (a caveat decodes only from its one canonical encoding); "Strict CBOR ... only the
types the spec allows" (caveat envelopes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Self

import pytest

from delegation import (
    Caveat,
    Code,
    MalformedToken,
    MemoryState,
    NotNarrowing,
    Registry,
    Scope,
    Verifier,
    _cbor,
    attenuate,
    default_registry,
)
from delegation._cbor import CBORValue
from delegation.caveats import (
    APPLICATION_TYPE_IDS,
    CORE_FAMILIES,
    Audience,
    CheckContext,
    ParentView,
    Tool,
    UnknownCaveat,
    Validity,
    _body,
)
from delegation.testing.world import KEYRING, NOW, STORY_REQUEST, mint_root, proof_for
from tests.unit._forge import caveat_bytes, check_failure, context


@contextmanager
def caplog_silenced() -> Iterator[None]:
    """The library logs a family's bug; these tests expect it, so it is kept off the output."""
    logger = logging.getLogger("delegation")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


@dataclass(frozen=True, slots=True)
class Colour(Caveat):
    """An application family for tests."""

    type_id: ClassVar[int] = 4096
    name: ClassVar[str] = "colour"

    colour: str

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        return cls(_body.text(body, "colour"))

    def to_body(self) -> CBORValue:
        return self.colour

    def check(self, ctx: CheckContext) -> None:
        """Always passes: an application caveat that says yes."""


def test_default_registry_holds_exactly_the_core_families() -> None:
    families = default_registry().families()
    assert families == CORE_FAMILIES
    assert sorted((f.type_id, f.name) for f in families) == [
        (1, "validity"),
        (2, "audience"),
        (3, "tool"),
        (4, "action"),
        (5, "resource"),
        (6, "intent"),
        (7, "args"),
        (8, "max_depth"),
        (9, "delegatees"),
        (10, "hop"),
        (11, "call"),
        (12, "max_uses"),
        (13, "args_only"),
        (14, "approved_for"),
        (15, "budget"),
    ]


def test_default_registries_are_independent() -> None:
    a, b = default_registry(), default_registry()
    a.register(Colour)
    assert Colour in a.families()
    assert Colour not in b.families()
    assert Colour not in default_registry().families()


def test_application_type_id_range() -> None:
    assert APPLICATION_TYPE_IDS.start == 1024
    assert APPLICATION_TYPE_IDS.stop - 1 == 2**32 - 1


def test_duplicate_registrations_are_errors() -> None:
    reg = default_registry()
    reg.register(Colour)

    @dataclass(frozen=True, slots=True)
    class SameId(Colour):
        name: ClassVar[str] = "other"

    @dataclass(frozen=True, slots=True)
    class SameName(Colour):
        type_id: ClassVar[int] = 4097

    with pytest.raises(ValueError, match="type id 4096 is already registered"):
        reg.register(SameId)
    with pytest.raises(ValueError, match="name 'colour' is already registered"):
        reg.register(SameName)
    with pytest.raises(ValueError, match="type id 3 is already registered"):
        reg.register(Tool, core=True)


@pytest.mark.parametrize("type_id", [1, 11, 127, 128, 1023])
def test_application_families_cannot_take_core_or_reserved_ids(type_id: int) -> None:
    @dataclass(frozen=True, slots=True)
    class Squatter(Colour):
        name: ClassVar[str] = "squatter"

    Squatter.type_id = type_id
    with pytest.raises(ValueError, match="outside"):
        Registry().register(Squatter)


@pytest.mark.parametrize("type_id", [128, 1024])
def test_core_ids_are_1_to_127(type_id: int) -> None:
    @dataclass(frozen=True, slots=True)
    class NotCore(Colour):
        name: ClassVar[str] = "not-core"

    NotCore.type_id = type_id
    with pytest.raises(ValueError, match="outside"):
        Registry().register(NotCore, core=True)


@pytest.mark.parametrize("type_id", [0, -1, 2**32])
def test_type_ids_out_of_range_cannot_be_registered(type_id: int) -> None:
    @dataclass(frozen=True, slots=True)
    class Bad(Colour):
        name: ClassVar[str] = "bad"

    Bad.type_id = type_id
    with pytest.raises(ValueError, match="outside"):
        Registry().register(Bad)


def test_copy_is_independent() -> None:
    reg = default_registry()
    copy = reg.copy()
    copy.register(Colour)
    assert Colour not in reg.families()


def test_an_empty_registry_knows_nothing() -> None:
    cav = Registry().decode(Tool(("t",)).encode())
    assert isinstance(cav, UnknownCaveat)
    assert cav.type_id == Tool.type_id


def test_registered_application_caveats_decode() -> None:
    reg = default_registry()
    reg.register(Colour)
    assert reg.decode(Colour("red").encode()) == Colour("red")


@pytest.mark.parametrize("type_id", [16, 127, 128, 1023, 1024, 4096, 2**32 - 1])
def test_unknown_types_survive_byte_for_byte_and_deny(type_id: int) -> None:
    raw = _cbor.dumps([type_id, {"approved": True, "n": [1, 2]}])
    cav = default_registry().decode(raw)
    assert isinstance(cav, UnknownCaveat)
    assert cav.type_id == type_id
    assert cav.encode() == raw
    assert cav.to_body() == {"approved": True, "n": [1, 2]}
    assert cav.describe() == {"type_id": type_id, "cbor": raw.hex()}
    assert check_failure(cav, context()) is Code.UNKNOWN_CAVEAT


def test_registering_a_family_after_decoding_changes_later_decodes() -> None:
    reg = default_registry()
    raw = Colour("red").encode()
    assert isinstance(reg.decode(raw), UnknownCaveat)
    reg.register(Colour)
    assert reg.decode(raw) == Colour("red")


def test_decoding_is_memoised_and_pure() -> None:
    reg = default_registry()
    raw = Audience(("crm",)).encode()
    assert reg.decode(raw) is reg.decode(raw)


@pytest.mark.parametrize(
    "hex_data",
    [
        "01",  # not an array
        "80",  # []
        "8101",  # [1]
        "83010203",  # three items
        "8200 01".replace(" ", ""),  # type id 0
        "822001",  # type id -1
        "821b000000010000000001",  # type id 2**32
        "82f501",  # type id true
        "82613101",  # type id "1"
        "82410101",  # type id as bytes
        "a2000101 01".replace(" ", ""),  # a map
        "820301ff",  # trailing byte
        "9f0301ff",  # indefinite array
        "c18203 01".replace(" ", ""),  # tagged
        "8218 0380".replace(" ", ""),  # non-shortest type id
        "8203f6",  # body null
    ],
)
def test_bad_envelopes_are_malformed(hex_data: str) -> None:
    with pytest.raises(MalformedToken) as info:
        default_registry().decode(bytes.fromhex(hex_data))
    assert info.value.code is Code.MALFORMED


def test_non_canonical_unknown_caveat_is_malformed() -> None:
    # The envelope is canonical CBOR, so an unknown caveat too has exactly one spelling.
    with pytest.raises(MalformedToken):
        default_registry().decode(caveat_bytes(5000, "a2020001 00".replace(" ", "")))


def test_a_family_whose_encoding_is_not_canonical_is_caught() -> None:
    @dataclass(frozen=True, slots=True)
    class Lenient(Caveat):
        type_id: ClassVar[int] = 4100
        name: ClassVar[str] = "lenient"
        value: str

        @classmethod
        def from_body(cls, body: CBORValue) -> Self:
            return cls(str(body).lower())

        def to_body(self) -> CBORValue:
            return self.value

        def check(self, ctx: CheckContext) -> None:
            """Never fails."""

    reg = Registry([Lenient])
    assert reg.decode(Lenient("abc").encode()) == Lenient("abc")
    with pytest.raises(MalformedToken, match="not canonical"):
        reg.decode(Lenient("ABC").encode())


def test_unknown_caveat_cannot_be_built_from_a_body() -> None:
    with pytest.raises(MalformedToken):
        UnknownCaveat.from_body(1)


def test_caveat_encode_is_type_id_and_body() -> None:
    assert Validity(None, 1).encode() == _cbor.dumps([1, {2: 1}])


@dataclass(frozen=True, slots=True)
class Ceiling(Caveat):
    """An application family with a narrowing rule: a later ceiling is never higher."""

    type_id: ClassVar[int] = 4097
    name: ClassVar[str] = "ceiling"

    limit: int

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        if type(body) is not int:
            raise MalformedToken("a ceiling is an integer")
        return cls(body)

    def to_body(self) -> CBORValue:
        return self.limit

    def check(self, ctx: CheckContext) -> None:
        pass

    def check_narrows(self, parent: ParentView) -> None:
        for _, earlier in parent.of_type(Ceiling):
            if self.limit > earlier.limit:
                raise NotNarrowing("higher ceiling")


def test_an_application_familys_narrowing_rule_sees_the_parents_caveats() -> None:
    """The parent is read by the default registry, where the family is unknown: of_type
    still hands the family its own caveats, so attenuate refuses a widening across calls."""
    root = mint_root(Scope(audiences=["crm"], expires=NOW + 60, extra=[Ceiling(10)]))
    narrower = attenuate(root, Scope(extra=[Ceiling(5)]), now=NOW)
    with pytest.raises(NotNarrowing):
        attenuate(narrower, Scope(extra=[Ceiling(7)]), now=NOW)
    with pytest.raises(NotNarrowing):
        attenuate(root, Scope(extra=[Ceiling(11)]), now=NOW)


def test_a_family_whose_parser_or_check_raises_denies() -> None:
    """A bug in an application family (any exception but MalformedToken from from_body, any
    but CaveatFailed from check) denies with internal_error: it never allows."""

    @dataclass(frozen=True, slots=True)
    class Broken(Caveat):
        type_id: ClassVar[int] = 4098
        name: ClassVar[str] = "broken"
        where: str

        @classmethod
        def from_body(cls, body: CBORValue) -> Self:
            if body == "parse":
                raise KeyError("a bug")
            assert isinstance(body, str)
            return cls(body)

        def to_body(self) -> CBORValue:
            return self.where

        def check(self, ctx: CheckContext) -> None:
            raise ZeroDivisionError("a bug")

    registry = default_registry()
    registry.register(Broken)
    verifier = Verifier(KEYRING, state=MemoryState(), registry=registry, clock=lambda: NOW)
    for where in ("parse", "check"):
        token = mint_root(Scope(audiences=["crm"], expires=NOW + 60, extra=[Broken(where)]))
        with caplog_silenced():
            decision = verifier.verify(
                token.encode(), STORY_REQUEST, proof_for(token, STORY_REQUEST)
            )
        assert [r.code for r in decision.reasons] == [Code.INTERNAL_ERROR], where
