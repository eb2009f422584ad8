"""The fixed-layout proof reader accepts exactly what the generic strict CBOR decoder accepts.

delegation/_proof.py reads ``[1, issued_at, nonce(16), signature(64)]`` byte by byte for speed.
This is the law that makes that safe: on any input, it agrees with the strict decoder in
delegation/_cbor.py plus the proof's field rules.
"""

from __future__ import annotations

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from delegation import _cbor, _wire
from delegation._proof import Proof
from delegation.errors import TokenError
from delegation.limits import MAX_TIME

Fields = tuple[int, bytes, bytes]


def reference(data: bytes) -> Fields | None:
    """The proof rules on top of the generic strict decoder: None means malformed."""
    try:
        value = _cbor.loads(data, "proof")
    except TokenError:
        return None
    if not isinstance(value, list) or len(value) != 4:
        return None
    version, issued_at, nonce, signature = value
    if type(version) is not int or version != 1:
        return None
    if type(issued_at) is not int or not 0 <= issued_at < MAX_TIME:
        return None
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        return None
    if not isinstance(signature, bytes) or len(signature) != 64:
        return None
    return issued_at, nonce, signature


def fast(data: bytes) -> Fields | None:
    try:
        proof = Proof.decode(_wire.b64encode(data))
    except TokenError:
        return None
    return proof.issued_at, proof.nonce, proof.signature


def canonical_proof(issued_at: int, nonce: bytes, signature: bytes) -> bytes:
    return bytes(cbor2.dumps([1, issued_at, nonce, signature], canonical=True))


times = st.one_of(
    st.integers(0, 30),
    st.sampled_from([23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX_TIME - 1, MAX_TIME]),
    st.integers(0, MAX_TIME + 10),
)
proofs = st.builds(
    canonical_proof, times, st.binary(min_size=16, max_size=16), st.binary(min_size=64, max_size=64)
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(proofs))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "drop", "insert", "set"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "drop" and data:
            del data[i]
        elif kind == "insert":
            data.insert(i, draw(st.integers(0, 255)))
        elif data:
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.one_of(proofs, mutated(), st.binary(max_size=120)))
def test_fixed_layout_reader_agrees_with_the_strict_decoder(data: bytes) -> None:
    assert fast(data) == reference(data)


@settings(max_examples=100, deadline=None)
@given(proofs)
def test_every_canonical_proof_in_range_is_read_back(data: bytes) -> None:
    expected = reference(data)
    if expected is not None:
        assert fast(data) == expected
        assert Proof(*expected).encode() == _wire.b64encode(data)
