"""Root keyrings and agent keys (``delegation._keys``).

specs/threats.md: "Root keys are 32+ random bytes; an empty or short key is refused";
"The key id in the identifier is attacker input read before the MAC is checked: hostile ids
(huge, non-UTF-8, SQL or path characters) must be a clean ``unknown_key``, never a database
error"; "Signatures, root keys ... never appear in errors or logs" (reprs, key-file errors).
Every key here is a TEST FIXTURE with a fixed seed or fixed bytes.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from delegation import (
    Agent,
    AgentKey,
    Code,
    Keyring,
    KeyringError,
    MalformedToken,
    MemoryState,
    Request,
    Scope,
    TaskRecord,
    TokenTooLarge,
    Verifier,
    decode,
    decode_public_key,
    encode_public_key,
    mint,
    prove,
)
from delegation._keys import RootKey, new_key_id
from delegation.limits import MAX_IDENTIFIER_BYTES, MAX_KEY_FILE_BYTES, ROOT_KEY_MIN_BYTES
from tests.conftest import NOW, seeded_agent
from tests.unit import _forge

SECRET_A = b"\xa1" * 32  # test-only root key bytes
SECRET_B = b"\xb2" * 40  # test-only root key bytes


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- root keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 16, ROOT_KEY_MIN_BYTES - 1])
def test_short_root_keys_are_refused(length: int) -> None:
    with pytest.raises(KeyringError, match="at least 32 bytes"):
        RootKey("k1", b"\x01" * length)


def test_root_key_of_32_or_more_bytes_is_accepted() -> None:
    assert RootKey("k1", SECRET_A).secret == SECRET_A
    assert RootKey("k2", SECRET_B).secret == SECRET_B


@pytest.mark.parametrize("key_id", ["", "a" * 65, "a b", "../etc", "k/1", "k\x00", "\u00e9"])
def test_root_key_ids_are_restricted_when_created(key_id: str) -> None:
    with pytest.raises(KeyringError):
        RootKey(key_id, SECRET_A)


def test_generated_root_keys_are_random_and_long_enough() -> None:
    a, b = RootKey.generate(), RootKey.generate()
    assert len(a.secret) >= ROOT_KEY_MIN_BYTES
    assert a.secret != b.secret
    assert a.key_id != b.key_id
    assert new_key_id() != new_key_id()


def test_reprs_never_show_secrets() -> None:
    key = RootKey("k1", SECRET_A)
    ring = Keyring([key])
    agent = seeded_agent(5)
    seed_hex = (bytes([5]) * 32).hex()
    for text in (repr(key), str(key), repr(ring), str(ring)):
        assert SECRET_A.hex() not in text
        assert repr(SECRET_A)[2:20] not in text
        assert "xa1" not in text
    assert "k1" in repr(ring)
    for text in (repr(agent), str(agent)):
        assert seed_hex not in text
        assert "\\x05" not in text
    assert encode_public_key(agent.public_key) in repr(agent)


# --- keyrings ----------------------------------------------------------------------------------


def test_keyring_construction_errors() -> None:
    with pytest.raises(KeyringError):
        Keyring([])
    with pytest.raises(KeyringError, match="twice"):
        Keyring([RootKey("k1", SECRET_A), RootKey("k1", SECRET_B)])
    with pytest.raises(KeyringError, match="current"):
        Keyring([RootKey("k1", SECRET_A)], current="k2")


def test_keyring_current_defaults_to_last_key() -> None:
    ring = Keyring([RootKey("k1", SECRET_A), RootKey("k2", SECRET_B)])
    assert ring.current.key_id == "k2"
    assert ring.key_ids == ("k1", "k2")
    assert Keyring([RootKey("k1", SECRET_A), RootKey("k2", SECRET_B)], "k1").current.key_id == "k1"


def _token_and_proof(ring: Keyring, holder: AgentKey, request: Request) -> tuple[str, str]:
    task = TaskRecord(task_id="t-1", approved_by="alice", approved_at=NOW, statement="statement")
    token = mint(
        ring,
        task,
        Agent("orchestrator", holder.public_key),
        Scope(["crm"], expires=NOW + 60),
        now=NOW,
    )
    return token.encode(), prove(token, holder, request, now=NOW)


def test_rotation_keeps_old_keys_verifying_and_retiring_makes_them_unknown() -> None:
    holder = seeded_agent(1)
    request = Request(audience="crm", tool="t", action="a")
    old = Keyring([RootKey("k-old", SECRET_A)])
    old_token, old_proof = _token_and_proof(old, holder, request)

    rotated = old.rotated()
    assert rotated.current.key_id != "k-old"
    assert set(rotated.key_ids) == {"k-old", rotated.current.key_id}
    decision = Verifier(rotated, state=MemoryState(), clock=lambda: NOW).verify(
        old_token, request, old_proof
    )
    assert decision.allowed, decision.reasons

    new_token, new_proof = _token_and_proof(rotated, holder, request)
    assert _forge_key_id(new_token) == rotated.current.key_id
    assert Verifier(rotated, state=MemoryState(), clock=lambda: NOW).verify(
        new_token, request, new_proof
    )
    # The old keyring does not know the new key.
    assert Verifier(old, state=MemoryState(), clock=lambda: NOW).verify(
        new_token, request, new_proof
    ).code is (Code.UNKNOWN_KEY)

    retired = rotated.without("k-old")
    assert retired.key_ids == (rotated.current.key_id,)
    decision = Verifier(retired, state=MemoryState(), clock=lambda: NOW).verify(
        old_token, request, old_proof
    )
    assert not decision
    assert [r.code for r in decision.reasons] == [Code.UNKNOWN_KEY]
    assert decision.task is None
    assert decision.agents == ()


def _forge_key_id(token: str) -> str:
    return decode(token).identifier.key_id


def test_the_current_key_cannot_be_retired() -> None:
    ring = Keyring([RootKey("k1", SECRET_A)])
    with pytest.raises(KeyringError, match="rotate"):
        ring.without("k1")


def test_keyring_json_round_trip() -> None:
    ring = Keyring([RootKey("k1", SECRET_A, 5), RootKey("k2", SECRET_B, 6)], "k1")
    again = Keyring.from_json(ring.to_json())
    assert again.key_ids == ("k1", "k2")
    assert again.current.key_id == "k1"
    assert again.get("k1") == RootKey("k1", SECRET_A, 5)
    assert again.get("k2") == RootKey("k2", SECRET_B, 6)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"kind": "delegation-agent-key", "version": 1}),
        json.dumps({"kind": "delegation-keyring", "version": 2, "keys": [], "current": "k"}),
        json.dumps({"kind": "delegation-keyring", "version": 1}),
        json.dumps({"kind": "delegation-keyring", "version": 1, "keys": [{}], "current": "k"}),
        json.dumps(
            {
                "kind": "delegation-keyring",
                "version": 1,
                "current": "k",
                "keys": [{"key_id": "k", "secret": "AAAA"}],  # 3 bytes: too short
            }
        ),
        json.dumps(
            {
                "kind": "delegation-keyring",
                "version": 1,
                "current": "k",
                "keys": [{"key_id": "k", "secret": "not base64!"}],
            }
        ),
        json.dumps(
            {
                "kind": "delegation-keyring",
                "version": 1,
                "current": "k",
                "keys": [{"key_id": "k", "secret": 12}],
            }
        ),
        json.dumps({"kind": "delegation-keyring", "version": 1, "current": "k", "keys": []}),
    ],
)
def test_bad_keyring_documents_are_keyring_errors(text: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.from_json(text)


def test_keyring_error_does_not_echo_the_secret() -> None:
    short = "q" * 40  # 30 bytes of test-only key material
    doc: dict[str, object] = {"kind": "delegation-keyring", "version": 1, "current": "k"}
    doc["keys"] = [{"key_id": "k", "secret": short}]
    with pytest.raises(KeyringError) as info:
        Keyring.from_json(json.dumps(doc))
    assert short not in str(info.value)


def test_keyring_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring([RootKey("k1", SECRET_A, 7)])
    ring.save(path)
    assert mode(path) == 0o600
    assert Keyring.load(path).get("k1") == ring.get("k1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]  # no temp file left


def test_saving_over_a_world_readable_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    Keyring([RootKey("k1", SECRET_A)]).save(path)
    assert mode(path) == 0o600
    assert Keyring.load(path).key_ids == ("k1",)


def test_loading_a_missing_keyring_is_a_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="cannot read"):
        Keyring.load(tmp_path / "absent.json")


# --- hostile key files: bounded before they are read or parsed ------------------------------

KEY_FILE_KINDS = [Keyring, AgentKey]


def padded(text: str, size: int) -> str:
    """``text`` (a JSON document) padded with whitespace to ``size`` characters."""
    return text + " " * (size - len(text))


@pytest.mark.parametrize("kind", KEY_FILE_KINDS)
def test_key_file_at_the_size_limit_loads_and_one_byte_more_does_not(
    kind: type[Keyring] | type[AgentKey], tmp_path: Path
) -> None:
    good = Keyring([RootKey("k1", SECRET_A)]) if kind is Keyring else seeded_agent(5)
    text = padded(good.to_json(), MAX_KEY_FILE_BYTES)
    path = tmp_path / "key.json"
    path.write_text(text, encoding="utf-8")
    assert kind.load(path).to_json() == good.to_json()
    assert kind.from_json(text).to_json() == good.to_json()
    path.write_text(text + " ", encoding="utf-8")
    with pytest.raises(KeyringError, match="larger than"):
        kind.load(path)
    with pytest.raises(KeyringError, match="longer than"):
        kind.from_json(text + " ")


@pytest.mark.parametrize("kind", KEY_FILE_KINDS)
def test_an_endless_or_huge_key_file_is_refused_after_reading_only_the_limit(
    kind: type[Keyring] | type[AgentKey], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: 1 GiB of zeros that takes no disk space
        fh.truncate(1 << 30)
    endless = Path("/dev/zero")  # reading it whole would never finish
    for path in (huge, endless) if endless.exists() else (huge,):
        with pytest.raises(KeyringError, match="larger than"):
            kind.load(path)


UNPARSABLE = {
    "deep-arrays": "[" * 100_000 + "]" * 100_000,  # RecursionError inside the JSON parser
    "deep-objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "deep-keys": '{"kind": "x", "keys": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge-number": '{"kind": "delegation-keyring", "version": 1, "created": ' + "9" * 5000 + "}",
}
"""Documents the JSON parser itself chokes on, whatever kind of key file is expected."""


# Each hostile value sits in a document of the kind that reads it: a keyring's "created", an
# agent key's "private_key". In a document of the other kind it would be refused for its kind,
# before the value is ever read, and prove nothing.
@pytest.mark.parametrize(
    ("kind", "text", "says"),
    [
        *(
            pytest.param(kind, text, "not JSON", id=f"{name}-{kind.__name__}")
            for name, text in UNPARSABLE.items()
            for kind in KEY_FILE_KINDS
        ),
        pytest.param(
            Keyring,
            '{"kind": "delegation-keyring", "version": 1, "current": "k", "keys": '
            '[{"key_id": "k", "secret": "' + "A" * 43 + '", "created": 1e999}]}',
            "missing fields or has bad values",
            id="infinite-created-Keyring",
        ),
        pytest.param(
            AgentKey,
            '{"kind": "delegation-agent-key", "version": 1, "private_key": '
            + "[" * 900
            + "]" * 900
            + "}",
            "bad private key",
            id="deep-key-AgentKey",
        ),
    ],
)
def test_hostile_key_file_documents_are_keyring_errors(
    kind: type[Keyring] | type[AgentKey], text: str, says: str
) -> None:
    with pytest.raises(KeyringError, match=says):
        kind.from_json(text)


# Guards against: Keyring.load / AgentKey.load letting UnicodeDecodeError (a non-UTF-8 file) and
# RecursionError (deeply nested JSON) escape instead of raising KeyringError.
@pytest.mark.parametrize("content", [b"\xff\xfe", b"[" * 100_000])
def test_core_key_files_that_are_not_json_raise_keyring_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    for load in (Keyring.load, AgentKey.load):
        with pytest.raises(KeyringError):
            load(path)


# Guards against: bad key-file values escaping as other exceptions where reason-codes.md says
# KeyringError: an over-long base64 secret as TokenTooLarge (keys._b64 caught MalformedToken
# only), and a "created" of 1e400 (JSON float infinity) as OverflowError from int().
@pytest.mark.parametrize(
    ("load", "text"),
    [
        pytest.param(Keyring.from_json, "long-secret", id="keyring-long-secret"),
        pytest.param(Keyring.from_json, "infinite-created", id="keyring-infinite-created"),
        pytest.param(AgentKey.from_json, "long-private", id="agent-long-private-key"),
    ],
)
def test_bad_key_file_values_are_keyring_errors(keyring: Keyring, load: Any, text: str) -> None:
    if text == "long-secret":
        doc = json.loads(keyring.to_json())
        doc["keys"][0]["secret"] = "A" * 2000
        body = json.dumps(doc)
    elif text == "infinite-created":
        body = keyring.to_json().replace(f'"created": {NOW}', '"created": 1e400')
        assert "1e400" in body
    else:
        doc = json.loads(seeded_agent(9).to_json())
        doc["private_key"] = "A" * 2000
        del doc["public_key"]
        body = json.dumps(doc)
    with pytest.raises(KeyringError):
        load(body)


# --- hostile key ids ---------------------------------------------------------------------------

HOSTILE_KEY_IDS = [
    "k" * 65,
    "A" * 3000,
    "'; DROP TABLE keys; --",
    "k1' OR '1'='1",
    "../../../etc/passwd",
    "..",
    "../",
    "C:\\Windows\\system32",
    "%00",
    "${jndi:ldap://x}",
    "test-k1 ",
    " test-k1",
    "TEST-K1",
    "test\u2010k1",  # Unicode hyphen lookalike
    "\U0001f511",
]


@pytest.mark.parametrize("key_id", HOSTILE_KEY_IDS)
def test_keyring_get_treats_any_key_id_as_a_plain_lookup(key_id: str) -> None:
    ring = Keyring([RootKey("test-k1", SECRET_A)])
    assert ring.get(key_id) is None


@pytest.mark.parametrize("key_id", HOSTILE_KEY_IDS)
def test_hostile_printable_key_ids_are_unknown_key(key_id: str) -> None:
    holder = seeded_agent(1)
    ring = Keyring([RootKey("test-k1", SECRET_A)])
    ident = _forge.identifier(key_id, holder=holder)
    decision = Verifier(ring, state=MemoryState(), clock=lambda: NOW).verify(
        _forge.frame(ident, root_key=SECRET_A), Request(audience="crm", tool="t", action="a"), None
    )
    assert not decision
    assert [r.code for r in decision.reasons] == [Code.UNKNOWN_KEY]
    assert key_id not in decision.reasons[0].detail


def _identifier_with_raw_key_id(raw_key_id: bytes, holder: AgentKey) -> bytes:
    placeholder = "Q" * 40
    ident = _forge.identifier(placeholder, holder=holder)
    old = _forge.cbor_text_header(40) + placeholder.encode()
    assert ident.count(old) == 1
    return ident.replace(old, _forge.cbor_text_header(len(raw_key_id)) + raw_key_id)


@pytest.mark.parametrize(
    "raw_key_id",
    [
        b"\xff\xfe",  # not UTF-8
        b"\xc0\xaf",  # overlong encoding of '/'
        b"\xed\xa0\x80",  # a surrogate
        b"k\x00",  # NUL
        b"k\n1",  # control character
        b"",  # empty
        b"\xe2\x80\x8b",  # zero-width space: not printable
        b"\xe2\x80\xaetest-k1",  # right-to-left override: not printable
    ],
)
def test_non_utf8_or_unprintable_key_ids_are_malformed(raw_key_id: bytes) -> None:
    holder = seeded_agent(1)
    ring = Keyring([RootKey("test-k1", SECRET_A)])
    token = _forge.frame(_identifier_with_raw_key_id(raw_key_id, holder))
    decision = Verifier(ring, state=MemoryState(), clock=lambda: NOW).verify(
        token, Request(audience="crm", tool="t", action="a"), None
    )
    assert [r.code for r in decision.reasons] == [Code.MALFORMED]


def test_key_id_of_the_wrong_cbor_type_is_malformed() -> None:
    holder = seeded_agent(1)
    ring = Keyring([RootKey("test-k1", SECRET_A)])
    ident = _forge.identifier("Q" * 40, holder=holder)
    for replacement in (b"\x01", b"\x41\x31", b"\xf5", b"\x80"):  # int, bytes, true, []
        forged = ident.replace(_forge.cbor_text_header(40) + b"Q" * 40, replacement)
        decision = Verifier(ring, state=MemoryState(), clock=lambda: NOW).verify(
            _forge.frame(forged), Request(audience="crm", tool="t", action="a"), None
        )
        assert [r.code for r in decision.reasons] == [Code.MALFORMED]


def test_a_key_id_too_large_for_the_identifier_is_too_large() -> None:
    holder = seeded_agent(1)
    ring = Keyring([RootKey("test-k1", SECRET_A)])
    ident = _forge.identifier("A" * (MAX_IDENTIFIER_BYTES + 1), holder=holder)
    decision = Verifier(ring, state=MemoryState(), clock=lambda: NOW).verify(
        _forge.frame(ident), Request(audience="crm", tool="t", action="a"), None
    )
    assert [r.code for r in decision.reasons] == [Code.TOO_LARGE]


# --- agent keys --------------------------------------------------------------------------------


def test_agent_key_from_seed_is_deterministic() -> None:
    assert seeded_agent(4).public_key == seeded_agent(4).public_key
    assert seeded_agent(4).public_key != seeded_agent(5).public_key
    assert len(seeded_agent(4).public_key) == 32
    assert AgentKey.generate().public_key != AgentKey.generate().public_key


def test_agent_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    key = seeded_agent(6)
    path = tmp_path / "agent.json"
    key.save(path)
    assert mode(path) == 0o600
    loaded = AgentKey.load(path)
    assert loaded.public_key == key.public_key
    assert loaded.sign(b"m") == key.sign(b"m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.json"]


def test_agent_key_file_with_a_mismatched_public_key_is_refused() -> None:
    doc = json.loads(seeded_agent(6).to_json())
    doc["public_key"] = encode_public_key(seeded_agent(7).public_key)
    with pytest.raises(KeyringError, match="does not match"):
        AgentKey.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    "doc",
    [
        {"kind": "delegation-agent-key", "version": 1},
        {"kind": "delegation-agent-key", "version": 1, "private_key": "AAAA"},
        {"kind": "delegation-agent-key", "version": 1, "private_key": 5},
        {"kind": "delegation-keyring", "version": 1, "private_key": "x"},
    ],
)
def test_bad_agent_key_documents_are_keyring_errors(doc: dict[str, object]) -> None:
    with pytest.raises(KeyringError):
        AgentKey.from_json(json.dumps(doc))


def test_loading_a_missing_agent_key_is_a_keyring_error(tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        AgentKey.load(tmp_path / "absent.json")


def test_public_key_text_form() -> None:
    pub = seeded_agent(4).public_key
    text = encode_public_key(pub)
    assert len(text) == 43
    assert "=" not in text
    assert decode_public_key(text) == pub
    assert decode_public_key(f"  {text}\n") == pub


@pytest.mark.parametrize("text", ["", "AAAA", "A" * 44, "!" * 43, "A" * 42 + "B"])
def test_bad_public_key_text_is_malformed(text: str) -> None:
    with pytest.raises(MalformedToken):
        decode_public_key(text)


def test_overlong_public_key_text_is_too_large() -> None:
    with pytest.raises(TokenTooLarge):
        decode_public_key("A" * 100)
    text = encode_public_key(seeded_agent(4).public_key)
    assert decode_public_key(" " * 900 + text + "\n" * 81) == seeded_agent(4).public_key
    for huge in (" " * 1025, " " * 10_000_000 + text):  # refused before it is stripped
        with pytest.raises(TokenTooLarge):
            decode_public_key(huge)
