"""HMAC chain, discharge binding, chain digests and domain-separated messages. Private.

Normative: ``specs/token-format.md``, ``specs/third-party.md``, ``specs/proof-of-possession.md``.

The HMAC chain is libmacaroons' (so pymacaroons reproduces it): a derived key
``HMAC(b"macaroons-key-generator", root_key)``, then ``sig = HMAC(key, identifier)`` and for each
caveat ``sig = HMAC(sig, cid)``, or ``HMAC(sig, HMAC(sig, vid) || HMAC(sig, cid))`` for a
third-party caveat. A discharge is bound to the token it travels with by the same two-MAC
construction under a zero key (:func:`bind`, libmacaroons' ``macaroon_prepare_for_request``).

The chain digest is public: anyone holding a token can compute it for any prefix. It names a
prefix (token ids, hop ids) and is what hop signatures sign, so a hop cannot be spliced into
another chain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from hashlib import sha256 as _sha256

import cbor2

from delegation import _cbor
from delegation._wire import RawCaveat

KEY_GENERATOR = b"macaroons-key-generator"
CHAIN_DOMAIN = b"delegation/v1/chain\x00"
HOP_DOMAIN = b"delegation/v1/hop\x00"
POP_DOMAIN = b"delegation/v1/pop\x00"
ASK_DOMAIN = b"delegation/v1/ask\x00"
APPROVAL_DOMAIN = b"delegation/v1/approval\x00"
ROOT_KEY_BYTES = 32
"""What :func:`new_root_key` draws; a root key read from a keyring may be longer."""
_BIND_KEY = bytes(32)


try:  # OpenSSL's one-shot HMAC without the hmac module's Python wrapper (a third faster).
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - CPython without OpenSSL
    _hmac_digest = hmac.digest  # type: ignore[assignment]


def _mac(key: bytes, msg: bytes) -> bytes:
    return _hmac_digest(key, msg, "sha256")


def new_root_key() -> bytes:
    """A fresh root key: ROOT_KEY_BYTES from the operating system's CSPRNG."""
    return secrets.token_bytes(ROOT_KEY_BYTES)


def derive_key(root_key: bytes) -> bytes:
    return _mac(KEY_GENERATOR, root_key)


def initial_signature(root_key: bytes, identifier: bytes) -> bytes:
    return _mac(derive_key(root_key), identifier)


def chain_step(sig: bytes, caveat: RawCaveat) -> bytes:
    """One link of the chain: what appending ``caveat`` does to the signature."""
    if caveat.vid is None:
        return _mac(sig, caveat.cid)
    return _mac(sig, _mac(sig, caveat.vid) + _mac(sig, caveat.cid))


def chain_states_derived(
    derived_key: bytes, identifier: bytes, caveats: Iterable[RawCaveat]
) -> list[bytes]:
    """Every chain state from an already derived key: entry i is the signature before caveat
    i, the last entry the final signature. The loop inlines :func:`chain_step`, since it runs
    once per caveat on every verification; the pymacaroons differential test and the vectors
    hold both to libmacaroons' chain."""
    mac = _hmac_digest
    sig = mac(derived_key, identifier, "sha256")
    states = [sig]
    for cid, vid, _ in caveats:
        if vid is None:
            sig = mac(sig, cid, "sha256")
        else:
            sig = mac(sig, mac(sig, vid, "sha256") + mac(sig, cid, "sha256"), "sha256")
        states.append(sig)
    return states


def chain_signatures(
    root_key: bytes, identifier: bytes, caveats: Iterable[RawCaveat]
) -> list[bytes]:
    """Every chain state from the root key (see :func:`chain_states_derived`)."""
    return chain_states_derived(derive_key(root_key), identifier, caveats)


def chain_signature(root_key: bytes, identifier: bytes, caveats: Iterable[RawCaveat]) -> bytes:
    return chain_signatures(root_key, identifier, caveats)[-1]


def bind(token_signature: bytes, discharge_signature: bytes) -> bytes:
    """libmacaroons' binding of a discharge to the token it travels with:
    ``HMAC(Z, HMAC(Z, token_signature) || HMAC(Z, discharge_signature))``, ``Z`` 32 zero bytes."""
    return _mac(_BIND_KEY, _mac(_BIND_KEY, token_signature) + _mac(_BIND_KEY, discharge_signature))


def approval_spend_key(state: bytes) -> bytes:
    """The one-use identity of an approval discharge, from its chain state through its call
    caveat. One-way, so a store of spent approvals never holds a state that could be extended."""
    return _sha256(APPROVAL_DOMAIN + state).digest()


def macs_equal(a: bytes, b: bytes) -> bool:
    """Constant-time equality, for MACs and for any bytes a presenter could probe byte by byte."""
    return hmac.compare_digest(a, b)


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def digest_start(identifier: bytes) -> bytes:
    return hashlib.sha256(CHAIN_DOMAIN + _framed(identifier)).digest()


def digest_step(digest: bytes, caveat: RawCaveat) -> bytes:
    cid, vid = caveat.cid, caveat.vid
    tail = b"\x00" if vid is None else b"\x01" + len(vid).to_bytes(4, "big") + vid
    return _sha256(b"".join((digest, len(cid).to_bytes(4, "big"), cid, tail))).digest()


def chain_digests(identifier: bytes, caveats: Iterable[RawCaveat]) -> list[bytes]:
    """The digest of every prefix: entry 0 covers the identifier, entry i the first i caveats."""
    digests = [digest_start(identifier)]
    for caveat in caveats:
        digests.append(digest_step(digests[-1], caveat))
    return digests


def hop_message(prefix_digest: bytes, agent_id: str, public_key: bytes) -> bytes:
    """What the holder in force signs to delegate to ``agent_id``/``public_key``."""
    return HOP_DOMAIN + prefix_digest + _cbor.dumps([agent_id, public_key])


def pop_message(
    token_digest: bytes,
    req_digest: bytes,
    issued_at: int,
    nonce: bytes,
    domain: bytes = POP_DOMAIN,
) -> bytes:
    """What the final holder signs for one request (``POP_DOMAIN``), or to ask an approver to
    approve it (``ASK_DOMAIN``): the domain, then the CBOR array
    ``[token_digest, req_digest, issued_at, nonce]``, assembled by hand for two 32-byte
    digests and a 16-byte nonce (the one call every verify makes; held to cbor2 in the tests)."""
    if len(token_digest) != 32 or len(req_digest) != 32 or len(nonce) != 16:
        return domain + cbor2.dumps([token_digest, req_digest, issued_at, nonce], canonical=True)
    return b"".join(
        (
            domain,
            b"\x84\x58\x20",
            token_digest,
            b"\x58\x20",
            req_digest,
            _uint(issued_at),
            b"\x50",
            nonce,
        )
    )


def _uint(value: int) -> bytes:
    """A non-negative integer below 2^64 as a shortest-form CBOR unsigned integer."""
    if 0x10000 <= value < 0x100000000:  # Unix times from 1970-01-01T18:12 to 2106
        return b"\x1a" + value.to_bytes(4, "big")
    if value < 24:
        return bytes((value,))
    for head, size in ((0x18, 1), (0x19, 2), (0x1A, 4), (0x1B, 8)):
        if value < 1 << (8 * size):
            return bytes((head,)) + value.to_bytes(size, "big")
    raise ValueError("a CBOR unsigned integer is below 2^64")


def token_digest(token_bytes: bytes) -> bytes:
    return hashlib.sha256(token_bytes).digest()
