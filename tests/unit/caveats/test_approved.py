"""The approved-for caveat (``delegation.caveats.approved``): what an approval discharge (or a
token) says about the chain of agents that asked.

specs/third-party.md, "Approvals are bound to the chain that asked": satisfied by a chain whose
holder is the named key and whose digest after the named number of caveats is the named one;
every other chain is ``wrong_chain``. specs/threats.md: "Strict CBOR ... only the types the
spec allows" and "One token, one spelling" (a body has one encoding). How the verifier and the
approver use it is in thirdparty/test_discharges.py and thirdparty/test_approval.py.
"""

from __future__ import annotations

import json

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    MalformedToken,
    Request,
    UnverifiedToken,
    Verifier,
    _cbor,
    _crypto,
    attenuate,
    default_registry,
    delegate,
    encode_public_key,
    prove,
)
from delegation.caveats import ApprovedFor, Validity
from delegation.errors import CaveatFailed
from delegation.limits import MAX_CAVEATS
from tests.conftest import NOW, seeded_agent
from tests.unit._forge import caveat_bytes, check_failure, context

REGISTRY = default_registry()
HOLDER = seeded_agent(3).public_key
OTHER = seeded_agent(4).public_key
DIGESTS = tuple(bytes([i]) * 32 for i in range(1, 6))
"""A chain's prefix digests: D[0] (the identifier's) to D[4] (after four caveats)."""
APPROVAL_ID = bytes(range(16))


def approved(caveats: int = 2, digest: bytes = DIGESTS[2], holder: bytes = HOLDER) -> ApprovedFor:
    return ApprovedFor(holder, caveats, digest, APPROVAL_ID)


def body_hex(
    holder: str = "5820" + "03" * 32,
    caveats: str = "02",
    digest: str = "5820" + "04" * 32,
    approval_id: str = "50" + "05" * 16,
) -> str:
    """The CBOR array ``[holder, caveats, digest, approval_id]``, each item as given."""
    return "84" + holder + caveats + digest + approval_id


def failure(cav: ApprovedFor, holder: bytes, digests: tuple[bytes, ...]) -> CaveatFailed:
    try:
        cav.check(context(holder_key=holder, prefix_digests=digests))
    except CaveatFailed as failed:
        return failed
    raise AssertionError("the caveat did not fail")


# --- encoding ---------------------------------------------------------------------------------


def test_round_trip_and_wire_form() -> None:
    cav = approved()
    assert (ApprovedFor.type_id, ApprovedFor.name) == (14, "approved_for")
    assert cav.encode() == _cbor.dumps([14, [HOLDER, 2, DIGESTS[2], APPROVAL_ID]])
    assert REGISTRY.decode(cav.encode()) == cav
    assert REGISTRY.decode(caveat_bytes(14, body_hex())) == ApprovedFor(
        b"\x03" * 32, 2, b"\x04" * 32, b"\x05" * 16
    )


@pytest.mark.parametrize("caveats", [0, 1, MAX_CAVEATS])
def test_every_caveat_count_a_token_can_have_round_trips(caveats: int) -> None:
    cav = approved(caveats)
    assert REGISTRY.decode(cav.encode()) == cav


@pytest.mark.parametrize(
    ("holder", "caveats", "digest", "approval_id"),
    [
        (HOLDER[:31], 2, DIGESTS[2], APPROVAL_ID),
        (HOLDER + b"\x00", 2, DIGESTS[2], APPROVAL_ID),
        (encode_public_key(HOLDER), 2, DIGESTS[2], APPROVAL_ID),
        (None, 2, DIGESTS[2], APPROVAL_ID),
        (HOLDER, True, DIGESTS[2], APPROVAL_ID),
        (HOLDER, False, DIGESTS[2], APPROVAL_ID),
        (HOLDER, -1, DIGESTS[2], APPROVAL_ID),
        (HOLDER, MAX_CAVEATS + 1, DIGESTS[2], APPROVAL_ID),
        (HOLDER, 2**64, DIGESTS[2], APPROVAL_ID),
        (HOLDER, 2.0, DIGESTS[2], APPROVAL_ID),
        (HOLDER, "2", DIGESTS[2], APPROVAL_ID),
        (HOLDER, 2, DIGESTS[2][:31], APPROVAL_ID),
        (HOLDER, 2, DIGESTS[2] + b"\x00", APPROVAL_ID),
        (HOLDER, 2, DIGESTS[2][:16], APPROVAL_ID),  # a token id is not a chain digest
        (HOLDER, 2, DIGESTS[2].hex(), APPROVAL_ID),
        (HOLDER, 2, DIGESTS[2], APPROVAL_ID[:15]),
        (HOLDER, 2, DIGESTS[2], APPROVAL_ID + b"\x00"),
        (HOLDER, 2, DIGESTS[2], b""),
        (HOLDER, 2, DIGESTS[2], APPROVAL_ID.hex()),
    ],
)
def test_bad_fields_are_malformed(
    holder: object, caveats: object, digest: object, approval_id: object
) -> None:
    with pytest.raises(MalformedToken):
        ApprovedFor(holder, caveats, digest, approval_id)  # type: ignore[arg-type]


SHAPE = "approved_for is [holder_key, caveats, chain_digest, approval_id]"
HOLDER_KEY = "32-byte holder key"
COUNT = "approved_for caveat count must be an integer in [0, 96]"
DIGEST = "32-byte chain digest"
ID = "16-byte approval id"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("a0", SHAPE),  # a map
        ("02", SHAPE),  # an integer
        ("80", SHAPE),  # no items
        ("83" + "5820" + "03" * 32 + "02" + "5820" + "04" * 32, SHAPE),  # three items
        ("85" + body_hex()[2:] + "00", SHAPE),  # five items
        (body_hex(holder="581f" + "03" * 31), HOLDER_KEY),
        (body_hex(holder="5821" + "03" * 33), HOLDER_KEY),
        (body_hex(holder="7820" + "61" * 32), HOLDER_KEY),  # the holder as text
        (body_hex(caveats="f5"), COUNT),  # true
        (body_hex(caveats="f4"), COUNT),  # false
        (body_hex(caveats="20"), COUNT),  # -1
        (body_hex(caveats="1861"), COUNT),  # 97 caveats, past MAX_CAVEATS
        (body_hex(caveats="4102"), COUNT),  # the count as bytes
        (body_hex(caveats="f6"), "CBOR type"),  # null: not a type the spec allows
        (body_hex(caveats="f93c00"), ""),  # 1.0: strict CBOR has no floats at all
        (body_hex(digest="50" + "04" * 16), DIGEST),  # 16 bytes: a token id, not a digest
        (body_hex(digest="5821" + "04" * 33), DIGEST),
        (body_hex(approval_id="4f" + "05" * 15), ID),
        (body_hex(approval_id="51" + "05" * 17), ID),
        (body_hex(approval_id="6161"), ID),  # text
        # not canonical CBOR: a second spelling of one meaning
        (body_hex(caveats="1802"), "deterministic"),  # 2 not in its shortest form
        (body_hex(holder="5f5820" + "03" * 32 + "ff"), "indefinite"),  # chunked bytes
        ("9f" + body_hex()[2:] + "ff", "indefinite"),  # an indefinite-length array
    ],
)
def test_bad_bodies_are_malformed(body: str, detail: str) -> None:
    with pytest.raises(MalformedToken) as info:
        REGISTRY.decode(caveat_bytes(ApprovedFor.type_id, body))
    assert detail in info.value.detail


# --- what it shows ------------------------------------------------------------------------


def test_describe_names_holder_token_and_approval_and_no_more() -> None:
    cav = approved()
    assert cav.token_id == DIGESTS[2][:16].hex()
    description = cav.describe()
    assert description == {
        "holder": encode_public_key(HOLDER),
        "token_id": DIGESTS[2][:16].hex(),
        "caveats": 2,
        "approval_id": APPROVAL_ID.hex(),
    }
    # Exactly these: public values a person can check against what they were shown. The
    # caveat holds nothing secret (no MAC, no key), and its view is plain JSON for logs.
    json.dumps(description)


def test_the_token_id_is_the_token_id_of_the_token_the_approver_saw(
    root_token: UnverifiedToken,
) -> None:
    digests = _crypto.chain_digests(root_token.raw.identifier, root_token.raw.caveats)
    n = len(root_token.raw.caveats)
    cav = ApprovedFor(HOLDER, n, digests[n], APPROVAL_ID)
    assert cav.token_id == root_token.token_id
    assert ApprovedFor(HOLDER, 0, digests[0], APPROVAL_ID).token_id == root_token.root_id


# --- the check ------------------------------------------------------------------------------


def test_the_chain_that_asked_satisfies_it() -> None:
    cav = approved()
    cav.check(context(holder_key=HOLDER, prefix_digests=DIGESTS[:3]))  # the exact token
    cav.check(context(holder_key=HOLDER, prefix_digests=DIGESTS))  # narrowed further
    approved(0, DIGESTS[0]).check(context(holder_key=HOLDER, prefix_digests=DIGESTS[:1]))


@pytest.mark.parametrize(
    "digests",
    [
        (DIGESTS[0], DIGESTS[1], b"\x09" * 32),  # another chain with as many caveats
        (DIGESTS[0], DIGESTS[1], b"\x09" * 32, DIGESTS[3]),  # and longer
        (DIGESTS[0], DIGESTS[2], DIGESTS[1]),  # the digest, at another place
        DIGESTS[:2],  # the index is past the chain: a parent
        DIGESTS[:1],
        (),
    ],
    ids=["other", "other-longer", "moved", "parent", "root", "empty"],
)
def test_another_chain_is_wrong_chain(digests: tuple[bytes, ...]) -> None:
    failed = failure(approved(), HOLDER, digests)
    assert failed.code is Code.WRONG_CHAIN
    assert failed.detail == (
        f"approved for another chain of agents (token {DIGESTS[2][:16].hex()} and its "
        "holder's own narrowings)"
    )


def test_the_last_possible_index_is_in_range_and_one_past_it_is_not() -> None:
    full = tuple(bytes([i % 256]) * 32 for i in range(MAX_CAVEATS + 1))
    approved(MAX_CAVEATS, full[-1]).check(context(holder_key=HOLDER, prefix_digests=full))
    assert (
        check_failure(
            approved(MAX_CAVEATS, full[-1]), context(holder_key=HOLDER, prefix_digests=full[:-1])
        )
        is Code.WRONG_CHAIN
    )


def test_another_holder_of_the_same_chain_is_wrong_chain() -> None:
    failed = failure(approved(), OTHER, DIGESTS)
    assert failed.code is Code.WRONG_CHAIN
    assert failed.detail == f"approved for the holder {encode_public_key(HOLDER)}, not this one"
    assert check_failure(approved(), context(holder_key=b"\x00" * 32, prefix_digests=DIGESTS)) is (
        Code.WRONG_CHAIN
    )


def test_another_holder_of_another_chain_is_told_about_the_chain() -> None:
    failed = failure(approved(), OTHER, DIGESTS[:2])
    assert failed.code is Code.WRONG_CHAIN
    assert "another chain" in failed.detail


# --- carried by a token ---------------------------------------------------------------------


def test_a_token_carrying_it_is_pinned_to_its_holder_and_chain(
    keyring: Keyring,
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    writer: AgentKey,
    read_request: Request,
) -> None:
    """In a token, approved_for means the same: the token as it was, held by that holder and
    narrowed by it, and nothing delegated from it."""
    request = read_request
    n = len(root_token.raw.caveats)
    digests = _crypto.chain_digests(root_token.raw.identifier, root_token.raw.caveats)
    pinned = attenuate(
        root_token, [ApprovedFor(orchestrator.public_key, n, digests[n], APPROVAL_ID)], now=NOW
    )
    verifier = Verifier(keyring, state=None, clock=lambda: NOW)
    decision = verifier.verify(pinned, request, prove(pinned, orchestrator, request, now=NOW))
    assert decision.allowed, decision.reasons
    narrowed = attenuate(pinned, [Validity(None, NOW + 600)], now=NOW)
    decision = verifier.verify(narrowed, request, prove(narrowed, orchestrator, request, now=NOW))
    assert decision.allowed, decision.reasons
    passed_on = delegate(pinned, orchestrator, Agent("writer", writer.public_key), now=NOW)
    decision = verifier.verify(passed_on, request, prove(passed_on, writer, request, now=NOW))
    assert [(r.code, r.hop, r.caveat) for r in decision.reasons] == [(Code.WRONG_CHAIN, 0, n)]
