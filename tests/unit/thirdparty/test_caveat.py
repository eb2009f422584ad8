"""Third-party caveat parts (``delegation._thirdparty.caveat``): the approver's key file, tickets,
verification ids and the size of a caveat id.

Keys are TEST FIXTURES ONLY (fixed seeds).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from delegation import Code, KeyringError, Request, _cbor, _wire
from delegation._thirdparty.approval import Approver
from delegation._thirdparty.caveat import (
    PURPOSE_APPROVAL,
    ApproverKey,
    ThirdPartyCaveat,
    TicketContents,
    open_vid,
    seal_ticket,
    seal_vid,
)
from delegation.errors import BadDischarge, MalformedToken, TokenTooLarge
from delegation.limits import MAX_CAVEAT_BYTES
from delegation.testing.fixtures import approver_key

APPROVER_KEY = approver_key(0x51)
"""An approval service's key. TEST FIXTURE ONLY."""
THIRD_KEY = approver_key(0x53)
"""A generic (non-approval) third party's key. TEST FIXTURE ONLY."""
READ = Request(
    audience="crm",
    tool="crm.read",
    action="read",
    resource="crm://accounts/42/notes",
    intent="summarise",
)


# --- ApproverKey ---------------------------------------------------------------------------


def test_approver_key_file_round_trip_is_owner_only(tmp_path: Path) -> None:
    key = ApproverKey.from_seed(b"\x61" * 32)  # TEST FIXTURE ONLY
    path = tmp_path / "approver.json"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = ApproverKey.load(path)
    assert loaded.public_key == key.public_key
    contents = TicketContents(b"\x07" * 32, "tid", PURPOSE_APPROVAL)
    assert loaded.open_ticket(seal_ticket(key.public_key, contents)) == contents
    key.save(path)  # replacing an existing file keeps it private
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["approver.json"]


def test_approver_key_repr_shows_no_secret() -> None:
    key = ApproverKey.from_seed(b"\x61" * 32)  # TEST FIXTURE ONLY
    assert "private" not in repr(key)
    assert _wire.b64encode(b"\x61" * 32) not in repr(key)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("delegation-approver-key", "delegation-agent-key"),
        lambda t: t.replace('"version": 1', '"version": 2'),
        lambda t: "not json",
        lambda t: t.replace('"private_key": "', '"private_key": "!!'),
    ],
    ids=["kind", "version", "not-json", "bad-private"],
)
def test_approver_key_bad_files_raise_keyring_error(edit: object) -> None:
    assert callable(edit)
    text = ApproverKey.from_seed(b"\x61" * 32).to_json()
    with pytest.raises(KeyringError):
        ApproverKey.from_json(edit(text))


def test_approver_key_file_with_a_mismatched_public_key_is_refused() -> None:
    one = ApproverKey.from_seed(b"\x61" * 32)  # TEST FIXTURE ONLY
    two = ApproverKey.from_seed(b"\x62" * 32)  # TEST FIXTURE ONLY
    text = one.to_json().replace(_wire.b64encode(one.public_key), _wire.b64encode(two.public_key))
    with pytest.raises(KeyringError):
        ApproverKey.from_json(text)


def test_missing_approver_key_file_is_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        ApproverKey.load(tmp_path / "absent.json")


# --- tickets and verification ids ----------------------------------------------------------


def test_ticket_opens_only_under_its_key() -> None:
    contents = TicketContents(b"\x07" * 32, "tid", PURPOSE_APPROVAL)
    ticket = seal_ticket(APPROVER_KEY.public_key, contents)
    assert APPROVER_KEY.open_ticket(ticket) == contents
    with pytest.raises(BadDischarge):
        THIRD_KEY.open_ticket(ticket)


def test_damaged_tickets_are_bad_discharge() -> None:
    ticket = seal_ticket(APPROVER_KEY.public_key, TicketContents(b"\x07" * 32, "tid"))
    damaged = [
        b"",
        ticket[:47],
        ticket[:-1],
        ticket + b"\x00",
        bytes([ticket[0] ^ 1]) + ticket[1:],
        ticket[:40] + bytes([ticket[40] ^ 1]) + ticket[41:],
        bytes(32) + ticket[32:],  # an all-zero (low-order) ephemeral key
        os.urandom(len(ticket)),
    ]
    for bad in damaged:
        with pytest.raises(BadDischarge):
            APPROVER_KEY.open_ticket(bad)


@pytest.mark.parametrize(
    "contents",
    [
        TicketContents(b"\x07" * 31, "tid"),
        TicketContents(b"", "tid"),
    ],
    ids=["short-key", "empty-key"],
)
def test_ticket_with_malformed_contents_is_bad_discharge(contents: TicketContents) -> None:
    with pytest.raises(BadDischarge):
        APPROVER_KEY.open_ticket(seal_ticket(APPROVER_KEY.public_key, contents))


def test_vid_opens_only_under_the_chain_state_it_was_sealed_to() -> None:
    state, key = b"\x01" * 32, b"\x02" * 32
    vid = seal_vid(state, key)
    assert open_vid(state, vid) == key
    with pytest.raises(BadDischarge):
        open_vid(b"\x03" * 32, vid)
    for bad in (vid[:-1], vid + b"\x00", b"", vid[:12] + bytes([vid[12] ^ 1]) + vid[13:]):
        with pytest.raises(BadDischarge):
            open_vid(state, bad)


# --- third-party caveat ids -------------------------------------------------------------------


# Guards against: ThirdPartyCaveat.decode (and so Approver.discharge_ticket and the CLI's
# `discharge CID`) decoding a bare cid of any size, bounded only by the token framing.
def test_a_bare_cid_over_the_caveat_limit_is_too_large_and_not_decoded() -> None:
    big = b"\xa1" + bytes(MAX_CAVEAT_BYTES)  # MAX_CAVEAT_BYTES + 1, a CBOR map's first byte
    before = _cbor._visited
    for attempt in (
        lambda: ThirdPartyCaveat.decode(big),
        lambda: Approver(APPROVER_KEY).discharge_ticket(big, READ),
        lambda: Approver(APPROVER_KEY).discharge_ticket(big + bytes(14 * 1024), READ),
    ):
        with pytest.raises(TokenTooLarge) as info:
            attempt()
        assert info.value.code is Code.TOO_LARGE
        assert info.value.detail == f"third-party caveat is larger than {MAX_CAVEAT_BYTES} bytes"
    assert _cbor._visited == before


def test_a_bare_cid_at_the_caveat_limit_is_decoded() -> None:
    with pytest.raises(MalformedToken):  # read, and refused for what it says
        ThirdPartyCaveat.decode(b"\xa1" + bytes(MAX_CAVEAT_BYTES - 1))
    # The ticket is opaque bytes to the decoder: grow it until the cid is exactly at the limit.
    sizes = (
        ThirdPartyCaveat(PURPOSE_APPROVAL, APPROVER_KEY.public_key, b"t" * n)
        for n in range(1, MAX_CAVEAT_BYTES)
    )
    caveat = next(c for c in sizes if len(c.encode()) == MAX_CAVEAT_BYTES)
    assert ThirdPartyCaveat.decode(caveat.encode()) == caveat
