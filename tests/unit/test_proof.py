"""Proof of possession (``delegation._proof``): encoding, and what a proof binds.

Freshness, replay and holder checks at verification time are in test_verifier.

specs/threats.md: "Proof of possession in the spirit of DPoP (RFC 9449 section 4.3):
bound to token, request and time, by the current holder's key"; "Type confusion: ... ``true``
where an integer is meant"; "One token, one spelling" (a proof has one encoding too).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import (
    AgentKey,
    AuthoringError,
    MalformedToken,
    Request,
    TokenError,
    TokenTooLarge,
    UnverifiedToken,
    _cbor,
    _crypto,
    _wire,
    attenuate,
    prove,
    prove_for_approval,
)
from delegation._proof import Proof, _prove
from delegation.caveats import Tool
from delegation.limits import MAX_PROOF_CHARS, MAX_TIME
from tests.conftest import NOW

NONCE = b"\x42" * 16
SIG = b"\x07" * 64


def encoded(*items: object) -> str:
    return _wire.b64encode(_cbor.dumps(list(items)))


def test_proof_round_trip() -> None:
    proof = Proof(NOW, NONCE, SIG)
    text = proof.encode()
    assert Proof.decode(text) == proof
    assert text == encoded(1, NOW, NONCE, SIG)
    assert len(text) <= MAX_PROOF_CHARS


@pytest.mark.parametrize(
    "text",
    [
        encoded(2, NOW, NONCE, SIG),  # version 2
        encoded(0, NOW, NONCE, SIG),
        encoded("1", NOW, NONCE, SIG),
        encoded(1, NOW, NONCE),  # three items
        encoded(1, NOW, NONCE, SIG, 0),  # five items
        encoded(1, -1, NONCE, SIG),  # negative time
        encoded(1, MAX_TIME, NONCE, SIG),  # huge time
        encoded(1, True, NONCE, SIG),  # boolean time
        encoded(1, str(NOW), NONCE, SIG),
        encoded(1, NOW, NONCE[:15], SIG),
        encoded(1, NOW, NONCE + b"\x00", SIG),
        encoded(1, NOW, "n" * 16, SIG),
        encoded(1, NOW, NONCE, SIG[:63]),
        encoded(1, NOW, NONCE, SIG + b"\x00"),
        encoded(1, NOW, NONCE, "s" * 64),
        _wire.b64encode(_cbor.dumps({1: NOW})),
        _wire.b64encode(b"\x01"),
        _wire.b64encode(_cbor.dumps([1, NOW, NONCE, SIG]) + b"\x00"),  # trailing byte
        # out-of-profile CBOR: the fixed-layout reader refuses it at the first byte
        _wire.b64encode(b"\xd8\x1c" + _cbor.dumps([1, NOW, NONCE, SIG])),  # shareable tag
        _wire.b64encode(b"\x9f" + _cbor.dumps([1, NOW, NONCE, SIG])[1:] + b"\xff"),  # indefinite
        _wire.b64encode(b"\x84\x01\xd8\x1c" + _cbor.dumps([NOW, NONCE, SIG])[1:]),  # tagged time
        _wire.b64encode(b"\x84\x01" + _cbor.dumps(NOW) + b"\x5b" + b"\xff" * 8),  # huge nonce
        "",
        "not base64!",
        Proof(NOW, NONCE, SIG).encode() + "=",
    ],
)
def test_malformed_proofs(text: str) -> None:
    with pytest.raises(MalformedToken):
        Proof.decode(text)


def test_non_canonical_cbor_proof_is_malformed() -> None:
    canonical = _cbor.dumps([1, NOW, NONCE, SIG])
    # 1 as a one-byte-argument integer: same value, second spelling
    longer = canonical[:1] + b"\x18\x01" + canonical[2:]
    with pytest.raises(MalformedToken):
        Proof.decode(_wire.b64encode(longer))


# True == 1 in Python: a version of CBOR `true` would be a second spelling of every proof
# (the version is not signed).
def test_boolean_version_is_malformed() -> None:
    with pytest.raises(MalformedToken):
        Proof.decode(encoded(True, NOW, NONCE, SIG))


def test_oversized_proof_is_too_large() -> None:
    with pytest.raises(TokenTooLarge):
        Proof.decode("A" * (MAX_PROOF_CHARS + 1))
    assert issubclass(TokenTooLarge, TokenError)


def test_replay_key_is_holder_and_nonce() -> None:
    assert Proof(NOW, NONCE, SIG).replay_key(b"\x01" * 32) == b"\x01" * 32 + NONCE


# --- prove ---------------------------------------------------------------------------------------


def test_prove_signs_token_request_time_and_nonce(
    root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    text = _prove(root_token, orchestrator, read_request, now=NOW, nonce=NONCE)
    proof = Proof.decode(text)
    assert (proof.issued_at, proof.nonce) == (NOW, NONCE)
    message = _crypto.pop_message(
        _crypto.token_digest(root_token.token_bytes), read_request.digest(), NOW, NONCE
    )
    assert _crypto.ed25519_verify(orchestrator.public_key, proof.signature, message)
    # the text form of the token works the same
    assert _prove(root_token.encode(), orchestrator, read_request, now=NOW, nonce=NONCE) == text


def test_prove_uses_fresh_random_nonces(
    root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    a = Proof.decode(prove(root_token, orchestrator, read_request, now=NOW))
    b = Proof.decode(prove(root_token, orchestrator, read_request, now=NOW))
    assert a.nonce != b.nonce
    assert len(a.nonce) == 16


def test_prove_refuses_a_key_that_is_not_the_holder(
    root_token: UnverifiedToken, researcher: AgentKey, read_request: Request
) -> None:
    with pytest.raises(AuthoringError, match="current holder"):
        prove(root_token, researcher, read_request, now=NOW)


def test_prove_refuses_a_token_that_does_not_decode(
    orchestrator: AgentKey, read_request: Request
) -> None:
    with pytest.raises(MalformedToken):
        prove("AAAA", orchestrator, read_request)


def _message(proof: Proof, token: UnverifiedToken, request: Request) -> bytes:
    return proof.message(token.token_bytes, request)


def test_the_signed_message_binds_every_input(
    root_token: UnverifiedToken, read_request: Request
) -> None:
    proof = Proof(NOW, NONCE, SIG)
    base = _message(proof, root_token, read_request)
    other_token = attenuate(root_token, [Tool(("crm.read",))])
    other_request = Request(
        audience="crm",
        tool="crm.read",
        action="read",
        resource="crm://accounts/42/notes",
        intent="update-notes",
    )
    variants = [
        _message(proof, other_token, read_request),
        _message(proof, root_token, other_request),
        _message(Proof(NOW + 1, NONCE, SIG), root_token, read_request),
        _message(Proof(NOW, b"\x43" * 16, SIG), root_token, read_request),
    ]
    assert len({base, *variants}) == 5
    assert base.startswith(b"delegation/v1/pop\x00")
    # the signature itself is not part of what is signed
    assert _message(Proof(NOW, NONCE, b""), root_token, read_request) == base


# --- prove_for_approval: the same proof, under another domain ------------------------------------


def test_an_approval_request_signs_token_request_time_and_nonce_under_its_own_domain(
    root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    text = _prove(
        root_token, orchestrator, read_request, now=NOW, nonce=NONCE, domain=_crypto.ASK_DOMAIN
    )
    proof = Proof.decode(text)
    assert (proof.issued_at, proof.nonce) == (NOW, NONCE)
    digests = (_crypto.token_digest(root_token.token_bytes), read_request.digest())
    ask = _crypto.pop_message(*digests, NOW, NONCE, _crypto.ASK_DOMAIN)
    pop = _crypto.pop_message(*digests, NOW, NONCE)
    assert ask.startswith(b"delegation/v1/ask\x00")
    assert ask[len(_crypto.ASK_DOMAIN) :] == pop[len(_crypto.POP_DOMAIN) :]  # only the domain
    assert _crypto.ed25519_verify(orchestrator.public_key, proof.signature, ask)
    assert not _crypto.ed25519_verify(orchestrator.public_key, proof.signature, pop)
    # The call proof with the same inputs is another signature: neither stands for the other.
    call = _prove(root_token, orchestrator, read_request, now=NOW, nonce=NONCE)
    assert Proof.decode(call).signature != proof.signature


def test_prove_for_approval_uses_fresh_nonces_and_the_given_time(
    root_token: UnverifiedToken, orchestrator: AgentKey, read_request: Request
) -> None:
    a = Proof.decode(prove_for_approval(root_token, orchestrator, read_request, now=NOW))
    b = Proof.decode(prove_for_approval(root_token.encode(), orchestrator, read_request, now=NOW))
    assert a.nonce != b.nonce
    assert a.issued_at == b.issued_at == NOW


def test_prove_for_approval_refuses_what_prove_refuses(
    root_token: UnverifiedToken,
    orchestrator: AgentKey,
    researcher: AgentKey,
    read_request: Request,
) -> None:
    with pytest.raises(AuthoringError, match="current holder"):
        prove_for_approval(root_token, researcher, read_request, now=NOW)
    with pytest.raises(MalformedToken):
        prove_for_approval("AAAA", orchestrator, read_request)
    with pytest.raises(AuthoringError):
        prove_for_approval(root_token, orchestrator, read_request, now=MAX_TIME)


def _generic(data: bytes) -> Proof | None:
    """The proof layout read through the strict generic decoder: the spec's definition."""
    try:
        value = _cbor.loads(data, "proof")
    except MalformedToken:
        return None
    if not (isinstance(value, list) and len(value) == 4 and type(value[0]) is int):
        return None
    version, issued_at, nonce, signature = value
    if version != 1 or type(issued_at) is not int or not 0 <= issued_at < MAX_TIME:
        return None
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        return None
    if not isinstance(signature, bytes) or len(signature) != 64:
        return None
    return Proof(issued_at, nonce, signature)


_valid = st.builds(
    lambda t, n, s: _cbor.dumps([1, t, n, s]),
    st.integers(0, MAX_TIME - 1) | st.sampled_from([0, 23, 24, 255, 256, 65535, 65536]),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=64, max_size=64),
)


@settings(max_examples=400)
@given(
    _valid
    | _valid.flatmap(
        lambda good: st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)).map(
            lambda edit: good[: edit[0]] + bytes([edit[1]]) + good[edit[0] + 1 :]
        )
    )
    | _valid.flatmap(lambda good: st.integers(0, len(good)).map(lambda n: good[:n]))
    | st.binary(max_size=100)
)
def test_the_proof_reader_accepts_exactly_what_the_strict_decoder_reads(data: bytes) -> None:
    expected = _generic(data)
    text = _wire.b64encode(data) if data else ""
    try:
        got: Proof | None = Proof.decode(text)
    except TokenError:
        got = None
    assert got == expected
