"""Decoding work is bounded by the input's size (``delegation._cbor``), measured without a clock.

specs/threats.md, "Encoding": "Decoding work must be bounded by the input's length, not only its
nesting: a generic decoder that resolves CBOR's value-sharing or string-reference tags (28/29,
25/256) before the profile check lets a few hundred bytes expand into millions of values.
Reject outside the profile before building values, for every byte string decoded."

The decoder counts the heads it reads, one per item, in the private ``_cbor._visited``. Every
test here holds that count to at most ``len(data)`` (one item per byte at most, however the
bytes are arranged), and most to a small constant: hostile input is refused at its first
out-of-profile head. The hostile payloads are checked to be hostile
first: cbor2, a generic decoder, resolves them into trees of millions of values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from delegation import (
    AgentKey,
    Code,
    Keyring,
    MalformedToken,
    Request,
    UnverifiedToken,
    Verifier,
    _cbor,
    _crypto,
    _wire,
    decode,
    prove_for_approval,
)
from delegation._crypto import seal
from delegation._thirdparty.approval import Approver
from delegation._thirdparty.caveat import (
    PURPOSE_APPROVAL,
    PURPOSE_THIRD_PARTY,
    ThirdPartyCaveat,
    TicketContents,
    new_caveat_key,
    seal_ticket,
    seal_vid,
)
from delegation.errors import BadDischarge
from delegation.limits import MAX_CAVEAT_BYTES, MAX_CBOR_DEPTH, MAX_IDENTIFIER_BYTES
from delegation.testing.fixtures import NOW, approver_key, root_secret
from tests.unit import _forge

APPROVER_KEY = approver_key(0x52)
"""An approval service's key. TEST FIXTURE ONLY."""
ROOT_SECRET = root_secret(1)
"""The conftest keyring's root key. TEST FIXTURE ONLY."""


# --- hostile CBOR, built by hand ------------------------------------------------------------


def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def tag(number: int, item: bytes) -> bytes:
    return head(6, number) + item


def shared_tree(width: int, levels: int) -> bytes:
    """A full ``width``-ary tree of ``levels`` arrays over zeros, in about 2 * width * levels
    bytes: each level is one array holding the level below once, marked shareable (tag 28),
    and then ``width - 1`` references to it (tag 29). Inside the nesting limit."""
    inner = head(4, width) + b"\x00" * width
    for k in range(levels - 1):
        ref = tag(29, head(0, levels - 2 - k))  # share indices count tag 28s from the outside
        inner = head(4, width) + tag(28, inner) + ref * (width - 1)
    return inner


def shared_chain(width: int, levels: int) -> bytes:
    """``[28([0]*w), 28([29(0)]*w), 28([29(1)]*w), ...]``: each level w references to the last."""
    items = [tag(28, head(4, width) + b"\x00" * width)]
    items += [tag(28, head(4, width) + tag(29, head(0, k)) * width) for k in range(levels - 1)]
    return head(4, len(items)) + b"".join(items)


def string_refs(length: int, count: int) -> bytes:
    """``256(["aaa...", 25(0), 25(0), ...])``: one text, then ``count`` references to it."""
    text = head(3, length) + b"a" * length
    return tag(256, head(4, count + 1) + text + tag(25, head(0, 0)) * count)


def generic_size(data: bytes) -> int:
    """How many values cbor2, a generic decoder, makes of ``data`` once the shared parts are
    walked as the tree they stand for (text counted by its length)."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if isinstance(value, list):
            if id(value) not in sizes:  # shared: the same list object many times
                sizes[id(value)] = 1 + sum(size(v) for v in value)
            return sizes[id(value)]
        return len(value) if isinstance(value, str) else 1

    return size(cbor2.loads(data))


HOSTILE: dict[str, bytes] = {
    "shared tree w=57": shared_tree(57, 4),  # the 575-byte input the old decoder took 1.25 s on
    "shared tree w=200": shared_tree(200, 4),
    "shared chain": shared_chain(200, 4),
    "string references": string_refs(500, 1000),
    "string references, small": string_refs(300, 500),
}
"""Payloads a generic decoder expands by orders of magnitude."""

HUGE_DECLARED = {
    f"{what} {n}": head(major, n)
    for major, what in ((2, "bytes"), (3, "text"), (4, "array"), (5, "map"))
    for n in (2**60, 2**64 - 1, 2**32, 1000)
}
"""Heads that declare far more than follows; and the same inside a container."""
HUGE_DECLARED |= {f"[1, {k}]": head(4, 2) + b"\x01" + v for k, v in list(HUGE_DECLARED.items())}
HUGE_DECLARED |= {f"{{1: {k}}}": b"\xa1\x01" + v for k, v in list(HUGE_DECLARED.items())[:16]}

DEEP = {
    "arrays": b"\x81" * 100_000 + b"\x01",
    "maps": b"\xa1\x01" * 50_000 + b"\x01",
    "indefinite arrays": b"\x9f" * 100_000,
    "tags": b"\xd8\x1c" * 50_000 + b"\x01",
    "tag 29 chain": b"\xd8\x1d" * 50_000 + b"\x00",
    "just over the limit": b"\x81" * (MAX_CBOR_DEPTH + 1) + b"\x01",
}

TINY_RUNS = {
    "4000 zeros": head(4, 4000) + b"\x00" * 4000,
    "4000 empty arrays": head(4, 4000) + b"\x80" * 4000,
    "2000 empty texts": head(4, 2000) + b"\x60" * 2000,
    "1500 map entries": head(5, 1500) + b"".join(head(0, k) + b"\xf5" for k in range(1500)),
    "4000 zeros declared 4001": head(4, 4001) + b"\x00" * 4000,
    "4000 zeros and a float": head(4, 4001) + b"\x00" * 4000 + b"\xf9\x3c\x00",
    "4000 zeros, trailing": head(4, 4000) + b"\x00" * 4001,
    "unsorted keys at the end": head(5, 1000)
    + b"".join(head(0, k) + b"\x00" for k in range(999))
    + b"\x00\x00",
}


def work(data: bytes) -> tuple[int, bool]:
    """Items the decoder visited for ``data``, and whether it accepted."""
    before = _cbor._visited
    try:
        _cbor.loads(data)
    except MalformedToken:
        return _cbor._visited - before, False
    return _cbor._visited - before, True


@pytest.fixture(autouse=True)
def no_generic_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production decoding never reaches cbor2's decoder (generic_size unpatches for itself)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("cbor2 decoding used")

    for name in ("loads", "load", "CBORDecoder"):
        monkeypatch.setattr(cbor2, name, refuse)


def unpatched(fn: Callable[[], int], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.undo()
    return fn()


# --- the decoder alone ----------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_expanding_payloads_are_rejected_in_work_bounded_by_their_size(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = HOSTILE[name]
    visited, accepted = work(data)
    assert not accepted
    assert visited <= 2, "rejected at the first tag, before building anything"
    assert unpatched(lambda: generic_size(data), monkeypatch) >= 50 * len(data)


@pytest.mark.parametrize("name", HUGE_DECLARED)
def test_huge_declared_lengths_and_counts_fail_before_any_work(name: str) -> None:
    data = HUGE_DECLARED[name]
    with pytest.raises(MalformedToken, match="runs past the end"):
        _cbor.loads(data)
    visited, _ = work(data)
    assert visited <= 3  # the containers' heads and the one that declares too much


@pytest.mark.parametrize("name", DEEP)
def test_deep_nesting_is_rejected_at_the_depth_limit(name: str) -> None:
    data = DEEP[name]
    visited, accepted = work(data)
    assert not accepted
    assert visited <= 2 * MAX_CBOR_DEPTH + 2  # a key and a value head per map level


@pytest.mark.parametrize("name", TINY_RUNS)
def test_long_runs_of_tiny_items_cost_one_visit_per_byte_at_most(name: str) -> None:
    data = TINY_RUNS[name]
    visited, accepted = work(data)
    assert visited <= len(data)
    assert accepted == name.endswith(("zeros", "arrays", "texts", "entries"))


def test_accepted_input_is_visited_once_per_item() -> None:
    data = _cbor.dumps([1, {"a": [b"x", True], "b": -5}, "t"])
    assert work(data) == (10, True)  # [..], 1, {..}, "a", [..], b"x", True, "b", -5, "t"


def test_the_counter_runs_whenever_loads_does() -> None:
    """A replacement decoder that forgot the counter would pass every bound above vacuously."""
    for data in (b"\x01", _cbor.dumps([[1, 2], [3]]), b"\xf6"):
        visited, _ = work(data)
        assert visited >= 1


# --- end to end: identifiers, caveats, third-party caveats, tickets -------------------------


def caveat_payloads() -> dict[str, bytes]:
    """Hostile payloads that fit a caveat (at most MAX_CAVEAT_BYTES)."""
    out = {k: v for k, v in HOSTILE.items() if len(v) <= MAX_CAVEAT_BYTES}
    out["as an application caveat"] = head(4, 2) + head(0, 1024) + shared_tree(100, 3)
    out["huge declared map"] = head(4, 2) + head(0, 1024) + head(5, 2**60)
    assert len(out) >= 4
    return out


@pytest.mark.parametrize("name", [k for k, v in HOSTILE.items() if len(v) <= MAX_IDENTIFIER_BYTES])
def test_hostile_identifier_is_malformed_before_the_mac_is_checked(
    name: str, keyring: Keyring, read_request: Request
) -> None:
    identifier = HOSTILE[name]
    for root_key in (None, ROOT_SECRET):  # anyone can send it; even an issuer's MAC is no help
        text = _forge.frame(identifier, root_key=root_key)
        before = _cbor._visited
        with pytest.raises(MalformedToken) as info:
            decode(text)
        assert info.value.code is Code.MALFORMED
        assert info.value.detail.startswith("identifier ")
        decision = Verifier(keyring, state=None).verify(text, read_request, None)
        assert [r.code for r in decision.reasons] == [Code.MALFORMED]
        assert "CBOR" in decision.reasons[0].detail
        assert _cbor._visited - before <= 2 * len(identifier)


@pytest.mark.parametrize("name", caveat_payloads())
def test_hostile_caveat_with_a_valid_mac_is_malformed(
    name: str, root_token: UnverifiedToken, keyring: Keyring, read_request: Request
) -> None:
    cid = caveat_payloads()[name]
    token = _forge.append_raw(root_token, cid)  # what any holder can do
    before = _cbor._visited
    decision = Verifier(keyring, state=None).verify(token.encode(), read_request, None)
    assert [r.code for r in decision.reasons] == [Code.MALFORMED]
    assert decision.reasons[0].caveat == len(root_token.raw.caveats)
    assert decision.reasons[0].detail.startswith("caveat ")
    # the root token's own caveats are parsed too; the hostile one adds at most its size
    assert _cbor._visited - before <= len(token.token_bytes)


@pytest.mark.parametrize("name", caveat_payloads())
def test_hostile_third_party_caveat_id_is_malformed(
    name: str, root_token: UnverifiedToken, keyring: Keyring, read_request: Request
) -> None:
    raw = _wire.RawCaveat(caveat_payloads()[name], seal_vid(root_token.raw.signature, bytes(32)))
    sig = _crypto.chain_step(root_token.raw.signature, raw)
    mac = _wire.RawMacaroon(root_token.raw.identifier, (*root_token.raw.caveats, raw), sig)
    token = UnverifiedToken(mac)
    before = _cbor._visited
    decision = Verifier(keyring, state=None).verify(token.encode(), read_request, None)
    assert [r.code for r in decision.reasons] == [Code.MALFORMED]
    assert decision.reasons[0].detail.startswith("third-party caveat ")
    assert _cbor._visited - before <= len(token.token_bytes)


def seal_plaintext(public_key: bytes, plaintext: bytes) -> bytes:
    """seal_ticket with any plaintext: anyone holding the approver's public key can do this."""
    return seal.seal_ticket(public_key, plaintext)


def test_seal_plaintext_seals_what_seal_ticket_does() -> None:
    contents = TicketContents(b"\x07" * 32, "tid", PURPOSE_APPROVAL)
    plain = _cbor.dumps({1: contents.caveat_key, 2: contents.root_id, 3: contents.purpose})
    assert APPROVER_KEY.open_ticket(seal_plaintext(APPROVER_KEY.public_key, plain)) == contents
    assert APPROVER_KEY.open_ticket(seal_ticket(APPROVER_KEY.public_key, contents)) == contents


TICKET_OVERHEAD = 32 + 16 + 48
"""Ephemeral key and AEAD tag, and the third-party caveat map around the ticket (generous)."""


@pytest.mark.parametrize(
    "name",
    [k for k, v in caveat_payloads().items() if len(v) + TICKET_OVERHEAD <= MAX_CAVEAT_BYTES],
)
def test_hostile_ticket_is_rejected_by_the_approver(
    name: str, root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    """A ticket's contents are CBOR too, and any holder can seal one to the approver's public
    key. It opens (the AEAD checks), then its contents are malformed: the approver answers
    BadDischarge (code bad_discharge, specs/threats.md: "a tampered ticket ... is bad_discharge")
    caused by a MalformedToken, in work bounded by the ticket's size."""
    plaintext = caveat_payloads()[name]
    ticket = seal_plaintext(APPROVER_KEY.public_key, plaintext)
    before = _cbor._visited
    with pytest.raises(BadDischarge) as info:
        APPROVER_KEY.open_ticket(ticket)
    cause = info.value.__cause__
    assert isinstance(cause, MalformedToken)
    assert cause.code is Code.MALFORMED
    assert cause.detail.startswith("ticket ")
    assert _cbor._visited - before <= len(plaintext)

    # The same ticket inside a third-party caveat the holder appends, as the approver sees it:
    # an approval asked for with a signed request, and a generic third party's bare caveat id.
    cid = ThirdPartyCaveat(PURPOSE_APPROVAL, APPROVER_KEY.public_key, ticket).encode()
    raw = _wire.RawCaveat(cid, seal_vid(root_token.raw.signature, new_caveat_key()))
    sig = _crypto.chain_step(root_token.raw.signature, raw)
    token = UnverifiedToken(
        _wire.RawMacaroon(root_token.raw.identifier, (*root_token.raw.caveats, raw), sig)
    )
    asked = prove_for_approval(token, orchestrator, read_request, now=NOW)
    generic = ThirdPartyCaveat(PURPOSE_THIRD_PARTY, APPROVER_KEY.public_key, ticket).encode()
    approver = Approver(APPROVER_KEY)
    before = _cbor._visited
    for attempt in (
        lambda: approver.pending(token.encode(), read_request, asked, now=NOW),
        lambda: approver.discharge_ticket(generic, read_request, now=NOW),
    ):
        with pytest.raises(BadDischarge) as info:
            attempt()
        assert isinstance(info.value.__cause__, MalformedToken)
    assert _cbor._visited - before <= 2 * len(token.token_bytes)
