"""``proof.json``: proof of possession: missing, wrong key, stale, future, wrong request or
token, malformed, replayed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from delegation import Code, Request, Scope, UnverifiedToken, _wire, attenuate
from delegation._proof import Proof
from delegation.caveats import Validity
from delegation.limits import MAX_PROOF_CHARS, MAX_TIME
from delegation.testing.fixtures import agent_seed, labelled

from gen.fixtures import (
    NOW,
    READ,
    Json,
    K,
    Tokenish,
    arr,
    bstr,
    f64,
    hop,
    pop,
    proof_cbor,
    req,
    root,
    token_bytes,
    tstr,
    uint,
)
from gen.render import At, Reason, Step, VectorFile

_L = 2**252 + 27742317777372353535851937790883648493


def _small_order_r_signature(seed: bytes, message: bytes) -> bytes:
    """R = the identity (01 00..00), S = h*a mod L, from the signer's own secret scalar."""
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    r = bytes([1]) + bytes(31)
    h = int.from_bytes(hashlib.sha512(r + public + message).digest(), "little") % _L
    return r + (h * a % _L).to_bytes(32, "little")


def _openssl_accepts(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def build() -> VectorFile:
    f = VectorFile(
        "proof.json",
        "Proof of possession: by the last holder, over this token and this request, fresh, once.",
    )
    r = root("root")
    one = hop(r, "orchestrator", "researcher")

    def case(
        name: str,
        description: str,
        tok: Tokenish,
        proof_text: str | None,
        codes: Sequence[Reason],
        *,
        chain: Sequence[str] | None = None,
        request: Json = READ,
        now: int = NOW,
    ) -> None:
        f.add(name, description, tok, request, proof_text, codes=codes, chain=chain, now=now)

    case(
        "pop_required_root", "The root token presented with no proof.", r, None, [Code.POP_REQUIRED]
    )
    case(
        "pop_required_delegated",
        "A delegated token presented with no proof.",
        one,
        None,
        [Code.POP_REQUIRED],
    )
    case(
        "pop_invalid_stranger",
        "A thief with the token signs the proof with its own key.",
        r,
        pop(r, "mallory", READ, "stranger"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_sub_agent_presents_parent_token",
        "The researcher presents the orchestrator's broader root token.",
        r,
        pop(r, "researcher", READ, "sub-agent-parent"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_parent_presents_child_token",
        "The orchestrator presents the token it delegated to the researcher.",
        one,
        pop(one, "orchestrator", READ, "parent-child"),
        [Code.POP_INVALID],
    )
    case(
        "pop_invalid_stale",
        "Issued 61 s ago (POP_MAX_AGE_SECONDS = 60).",
        r,
        pop(r, "orchestrator", READ, "stale", at=NOW - 61),
        [Code.POP_INVALID],
    )
    case(
        "pop_valid_at_max_age",
        "Issued exactly 60 s ago.",
        r,
        pop(r, "orchestrator", READ, "max-age", at=NOW - 60),
        [],
        chain=["orchestrator"],
    )
    case(
        "pop_invalid_future",
        "Issued 31 s in the future (CLOCK_SKEW_SECONDS = 30).",
        r,
        pop(r, "orchestrator", READ, "future", at=NOW + 31),
        [Code.POP_INVALID],
    )
    case(
        "pop_valid_within_skew",
        "Issued 30 s in the future.",
        r,
        pop(r, "orchestrator", READ, "skew", at=NOW + 30),
        [],
        chain=["orchestrator"],
    )
    tasks = req(resource="crm://accounts/42/tasks")
    case(
        "pop_invalid_other_resource",
        "A proof for 'crm://accounts/42/notes' presented for '.../tasks'.",
        r,
        pop(r, "orchestrator", READ, "other-resource"),
        [Code.POP_INVALID],
        request=tasks,
    )
    update = req(tool="crm.update", action="write", intent="update-notes")
    case(
        "pop_invalid_other_tool",
        "A proof for a read presented for an update.",
        r,
        pop(r, "orchestrator", READ, "other-tool"),
        [Code.POP_INVALID],
        request=update,
    )
    with_args = req(args={"limit": 10})
    case(
        "pop_invalid_other_args",
        "A proof for limit 10 presented with limit 11.",
        r,
        pop(r, "orchestrator", with_args, "other-args"),
        [Code.POP_INVALID],
        request=req(args={"limit": 11}),
    )
    case(
        "pop_invalid_args_type",
        "A proof for limit 10 presented with limit 10.0: the digest binds argument types.",
        r,
        pop(r, "orchestrator", with_args, "args-type"),
        [Code.POP_INVALID],
        request=req(args={"limit": 10.0}),
    )
    att = attenuate(r, Scope(tools=["crm.read"]), now=NOW)
    case(
        "pop_invalid_other_token_same_holder",
        "The holder's proof over its root token, presented with its attenuated token.",
        att,
        pop(r, "orchestrator", READ, "other-token"),
        [Code.POP_INVALID],
    )

    good = Proof.decode(pop(r, "orchestrator", READ, "malformed"))
    ts, nonce, sig = uint(good.issued_at), bstr(good.nonce), bstr(good.signature)
    text_good = proof_cbor([uint(1), ts, nonce, sig])
    for name, value, why in (
        ("proof_garbage", "not a proof!", "text that is not base64url"),
        ("proof_empty", "", "the empty string"),
        ("proof_trailing_equals", text_good + "=", "base64 with a trailing '='"),
        (
            "proof_standard_alphabet",
            text_good.replace("-", "+").replace("_", "/"),
            "standard-alphabet base64",
        ),
        ("proof_whitespace", text_good + " ", "a trailing space"),
        ("proof_too_long", "A" * (MAX_PROOF_CHARS + 1), f"{MAX_PROOF_CHARS + 1} characters"),
        ("proof_version_2", proof_cbor([uint(2), ts, nonce, sig]), "version 2"),
        # Fixed bug: delegation/_proof.py Proof.decode checks `value[0] != PROOF_VERSION`, and
        # True == 1 in Python, so version `true` is accepted: a second spelling of a proof.
        (
            "proof_version_true",
            proof_cbor([b"\xf5", ts, nonce, sig]),
            "version true (type confusion)",
        ),
        ("proof_version_missing", proof_cbor([ts, nonce, sig]), "three items"),
        (
            "proof_nonce_15_bytes",
            proof_cbor([uint(1), ts, bstr(good.nonce[:15]), sig]),
            "a 15-byte nonce",
        ),
        (
            "proof_signature_63_bytes",
            proof_cbor([uint(1), ts, nonce, bstr(good.signature[:63])]),
            "a 63-byte signature",
        ),
        (
            "proof_issued_at_text",
            proof_cbor([uint(1), tstr(str(NOW)), nonce, sig]),
            "issued_at as text",
        ),
        (
            "proof_issued_at_float",
            proof_cbor([uint(1), f64(NOW), nonce, sig]),
            "issued_at as a float",
        ),
        ("proof_issued_at_negative", proof_cbor([uint(1), b"\x20", nonce, sig]), "issued_at -1"),
        (
            "proof_non_shortest_time",
            proof_cbor([uint(1), b"\x1b" + NOW.to_bytes(8, "big"), nonce, sig]),
            "issued_at in 8 bytes",
        ),
        (
            "proof_trailing_byte",
            _wire.b64encode(arr(uint(1), ts, nonce, sig) + b"\x00"),
            "a byte after the CBOR array",
        ),
        (
            "proof_indefinite_array",
            _wire.b64encode(b"\x9f" + uint(1) + ts + nonce + sig + b"\xff"),
            "an indefinite-length array",
        ),
    ):
        case(name, f"A proof that is {why}.", r, value, [Code.POP_INVALID])
    case(
        "proof_canonical_control",
        "The well-formed proof the malformed ones above are made from.",
        r,
        text_good,
        [],
        chain=["orchestrator"],
    )
    _issued_at_forms(case, r)

    # The Ed25519 rule (verification.md, "Ed25519 verification"): each of these separates a
    # verifier that follows it from one that does not.
    honest = Proof.decode(pop(r, "orchestrator", READ, "ed25519-rule"))
    message = honest.message(token_bytes(r), Request.from_json(READ))
    s_value = int.from_bytes(honest.signature[32:], "little")
    non_canonical_s = honest.signature[:32] + (s_value + _L).to_bytes(32, "little")
    case(
        "pop_invalid_signature_s_not_reduced",
        "The holder's own signature with S + L in place of S (the same value mod L): S >= L is"
        " refused, so one signature has one spelling.",
        r,
        Proof(honest.issued_at, honest.nonce, non_canonical_s).encode(),
        [Code.POP_INVALID],
    )
    small_r = _small_order_r_signature(agent_seed("orchestrator"), message)
    assert _openssl_accepts(K["orchestrator"].public_key, small_r, message)  # it separates
    case(
        "pop_invalid_signature_small_order_r",
        "A signature the holder made with R the identity point and S = h*a mod L: it satisfies"
        " the cofactorless equation (OpenSSL accepts it), but R of small order is refused.",
        r,
        Proof(honest.issued_at, honest.nonce, small_r).encode(),
        [Code.POP_INVALID],
    )
    case(
        "pop_valid_ed25519_rule_control",
        "The honest signature the two above are made from.",
        r,
        honest.encode(),
        [],
        chain=["orchestrator"],
    )

    # replay
    once = pop(r, "orchestrator", READ, "replay")
    f.add(
        "replay_same_proof_twice",
        "The same proof presented twice: the second is a replay.",
        r,
        READ,
        once,
        chain=["orchestrator"],
        then=[Step(READ, once, codes=[Code.REPLAY])],
    )
    nonce_n = labelled("proof nonce shared")[:16]
    f.add(
        "replay_same_nonce_other_request",
        "Two valid proofs with one nonce for two different requests: the nonce works once.",
        r,
        READ,
        pop(r, "orchestrator", READ, "x", nonce=nonce_n),
        chain=["orchestrator"],
        then=[Step(tasks, pop(r, "orchestrator", tasks, "x", nonce=nonce_n), codes=[Code.REPLAY])],
    )
    f.add(
        "replay_same_nonce_other_token_same_holder",
        "One nonce used by the same holder with two of its tokens: nonces are per holder key.",
        r,
        READ,
        pop(r, "orchestrator", READ, "x", nonce=nonce_n),
        chain=["orchestrator"],
        then=[
            Step(
                READ,
                pop(att, "orchestrator", READ, "x", nonce=nonce_n),
                codes=[Code.REPLAY],
                token=att,
            )
        ],
    )
    f.add(
        "replay_distinct_nonces",
        "Two proofs with different nonces for the same request are both accepted.",
        r,
        READ,
        pop(r, "orchestrator", READ, "distinct-1"),
        chain=["orchestrator"],
        then=[Step(READ, pop(r, "orchestrator", READ, "distinct-2"), chain=["orchestrator"])],
    )
    burn = labelled("proof nonce burn")[:16]
    f.add(
        "invalid_proof_does_not_burn_nonce",
        "A proof that fails its signature check does not use up its nonce: the genuine proof"
        " with the same nonce then works.",
        r,
        READ,
        pop(r, "orchestrator", tasks, "burn", nonce=burn),
        codes=[Code.POP_INVALID],
        then=[Step(READ, pop(r, "orchestrator", READ, "burn", nonce=burn), chain=["orchestrator"])],
    )
    f.add(
        "replay_by_stranger_does_not_burn_nonce",
        "A thief uses the nonce first, with its own signature; the holder's proof with that"
        " nonce still works.",
        r,
        READ,
        pop(r, "mallory", READ, "burn2", nonce=burn),
        codes=[Code.POP_INVALID],
        then=[
            Step(READ, pop(r, "orchestrator", READ, "burn2", nonce=burn), chain=["orchestrator"])
        ],
    )
    return f


def _issued_at_forms(case: Callable[..., None], r: UnverifiedToken) -> None:
    """issued_at in each CBOR argument size, at the smallest value that needs it (allowed, at
    that clock), and one size longer than needed (pop_invalid); then the proof's layout broken
    where its signature still verifies. Each proof is signed over its value, not its encoding,
    so only the encoding is wrong. The token expires at NOW + 3600: past it, the proof is
    still checked (step 8 runs after a caveat failure) and adds its reason or none."""
    expired = [At(Code.EXPIRED, family=Validity.type_id)]

    def signed(at: int, label: str) -> tuple[bytes, bytes, bytes]:
        """The version, nonce and signature of the orchestrator's proof of READ at ``at``
        (signed here, as ``at`` may be outside what a proof can hold)."""
        nonce = labelled(f"proof nonce {label}")[:16]
        message = Proof(at, nonce, b"").message(token_bytes(r), Request.from_json(READ))
        return uint(1), bstr(nonce), bstr(K["orchestrator"].sign(message))

    def spelled(at: int, label: str, head: bytes) -> str:
        version, nonce, sig = signed(at, label)
        return proof_cbor([version, head, nonce, sig])

    for at, head, size in (
        (0, b"\x00", "in the initial byte (0, the epoch)"),
        (23, b"\x17", "in the initial byte (23, the largest there)"),
        (24, b"\x18\x18", "in a one-byte argument (24, the smallest)"),
        (256, b"\x19\x01\x00", "in a two-byte argument (256, the smallest)"),
        (2**16, b"\x1a\x00\x01\x00\x00", "in a four-byte argument (65536, the smallest)"),
    ):
        name = f"pop_valid_issued_at_{at}"
        case(
            name,
            f"A proof issued at {at}, at that clock, its time {size}: allowed.",
            r,
            spelled(at, name, head),
            [],
            chain=["orchestrator"],
            now=at,
        )
    at = 2**32
    name = "pop_valid_issued_at_2_32"
    case(
        name,
        "A proof issued at 2^32, its time in an eight-byte argument (the smallest there), at"
        " that clock: the token has expired, and the proof holds (no second reason).",
        r,
        spelled(at, name, b"\x1b" + at.to_bytes(8, "big")),
        expired,
        now=at,
    )
    for at, head, size in (
        (23, b"\x18\x17", "a one-byte argument"),
        (255, b"\x19\x00\xff", "a two-byte argument"),
        (2**16 - 1, b"\x1a\x00\x00\xff\xff", "a four-byte argument"),
    ):
        name = f"proof_issued_at_{at}_one_size_long"
        case(
            name,
            f"A proof issued at {at}, at that clock, its time in {size}, one size longer than"
            " it needs: pop_invalid.",
            r,
            spelled(at, name, head),
            [Code.POP_INVALID],
            now=at,
        )
    at = 2**32 - 1
    name = "proof_issued_at_2_32_minus_1_one_size_long"
    case(
        name,
        "A proof issued at 2^32 - 1, its time in an eight-byte argument where four hold it, at"
        " that clock: the token has expired, and the proof is pop_invalid.",
        r,
        spelled(at, name, b"\x1b" + at.to_bytes(8, "big")),
        [*expired, Code.POP_INVALID],
        now=at,
    )
    at = MAX_TIME
    name = "proof_issued_at_max_time"
    case(
        name,
        "A proof issued at 2^34, outside the times (below 2^34), presented at 2^34 - 2 (within"
        " the 30 s of skew): the token has expired, and the proof is pop_invalid.",
        r,
        spelled(at, name, b"\x1b" + at.to_bytes(8, "big")),
        [*expired, Code.POP_INVALID],
        now=MAX_TIME - 2,
    )
    version, nonce, sig = signed(NOW, "proof layout")
    ts = uint(NOW)
    for name, items, why in (
        ("proof_nonce_as_text", [version, ts, b"\x70" + nonce[1:], sig], "its nonce as text"),
        (
            "proof_signature_as_text",
            [version, ts, nonce, b"\x78\x40" + sig[2:]],
            "its signature as text",
        ),
        (
            "proof_issued_at_major_type_1",
            [version, b"\x3a" + NOW.to_bytes(4, "big"), nonce, sig],
            "its issued_at under major type 1 (a negative integer) with NOW's argument",
        ),
        (
            "proof_issued_at_reserved_information",
            [version, b"\x1c" + NOW.to_bytes(4, "big"), nonce, sig],
            "its issued_at with the reserved additional information 28",
        ),
    ):
        case(
            name,
            f"A proof with {why}, the signature over NOW and its nonce unchanged: pop_invalid.",
            r,
            proof_cbor(items),
            [Code.POP_INVALID],
        )
    case(
        "proof_ends_after_version",
        "A proof that is only [1 (84 01): it ends before issued_at: pop_invalid.",
        r,
        _wire.b64encode(b"\x84\x01"),
        [Code.POP_INVALID],
    )
