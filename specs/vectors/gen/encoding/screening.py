"""``encoding.json``, Ed25519 key screening (token-format.md section 5.1): 32-byte holder and
hop keys that are small-order points, non-canonical encodings or no point at all are
``malformed``; a point of large order with a small-order component passes the screening."""

from __future__ import annotations

from delegation import Code, _crypto

from gen.encoding.cases import Cases
from gen.fixtures import (
    READ,
    K,
    appended,
    arr,
    bstr,
    cav,
    identifier_cbor,
    pop,
    prefix_digest,
    tstr,
)

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int:
    """RFC 8032 section 5.1.3 step 2-3 for a canonical ``y``; raises for no point."""
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P or (x == 0 and sign):
        raise ValueError("not a point")
    return P - x if x & 1 != sign else x


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def _point(data: bytes) -> tuple[int, int]:
    v = int.from_bytes(data, "little")
    y = v % 2**255
    return _recover_x(y, v >> 255), y


def _encode(pt: tuple[int, int]) -> bytes:
    return (pt[1] | (pt[0] & 1) << 255).to_bytes(32, "little")


def _small_order(pt: tuple[int, int]) -> bool:
    for _ in range(3):
        pt = _add(pt, pt)
    return pt == (0, 1)


def _y(y: int, sign: int = 0) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
REFUSED: tuple[tuple[str, str, bytes], ...] = (
    ("identity", "the identity point 01 00..00 (order 1)", _y(1)),
    ("order_2", "the point (0, -1), of order 2", _y(P - 1)),
    ("order_4", "the point with y = 0, of order 4", _y(0)),
    ("order_8", "a point of order 8", ORDER_8),
    (
        "y_not_reduced",
        "y = p + 3: a second spelling of the large-order point with y = 3",
        _y(P + 3),
    ),
    ("negative_zero_x", "the identity with the sign bit set (x = 0, sign 1)", _y(1, 1)),
    ("not_a_point", "y = 2, for which x^2 has no square root", _y(2)),
)


def mixed_order_key(name: str) -> bytes:
    """``name``'s public key plus a point of order 8: large order, so it passes screening."""
    return _encode(_add(_point(K[name].public_key), _point(ORDER_8)))


def _self_check() -> None:
    """The table above says what each key is; hold it to that, with the arithmetic here."""
    for label, _, key in REFUSED:
        y = int.from_bytes(key, "little") % 2**255
        if label == "y_not_reduced":
            if y < P or _small_order(_point(_y(y - P))):
                raise AssertionError(label)
            continue
        try:
            pt = _point(key)
        except ValueError:
            if label not in ("negative_zero_x", "not_a_point"):
                raise AssertionError(label) from None
            continue
        if not _small_order(pt):
            raise AssertionError(label)
    mixed = _point(mixed_order_key("researcher"))
    if _small_order(mixed) or _encode(mixed) == K["researcher"].public_key:
        raise AssertionError("mixed-order key")


def add(cases: Cases) -> None:
    """Add the vectors of this theme to ``cases.f``, in file order."""
    _self_check()
    r, ident_case, cbor_case = cases.r, cases.ident_case, cases.cbor_case
    for label, what, key in REFUSED:
        ident_case(
            f"identifier_holder_key_{label}",
            f"A 32-byte holder key that fails the Ed25519 screening: {what}.",
            identifier_cbor(holder=arr(tstr("orchestrator"), bstr(key))),
        )
    for label, what, key in REFUSED:
        cbor_case(
            f"hop_public_key_{label}",
            f"A hop whose 32-byte key fails the Ed25519 screening ({what}): malformed at step 4,"
            " before any signature is checked.",
            cav(10, arr(tstr("researcher"), bstr(key), bstr(bytes(64)))),
        )
    # A mixed-order key passes the screening: the hop is well formed and validly signed, and
    # the call fails only because the orchestrator, no longer the holder, signs the proof.
    mixed = mixed_order_key("researcher")
    signature = K["orchestrator"].sign(_crypto.hop_message(prefix_digest(r), "researcher", mixed))
    tok = appended(r, cav(10, arr(tstr("researcher"), bstr(mixed), bstr(signature))))
    cases.f.add(
        "hop_public_key_mixed_order_passes_screening",
        "A hop to the researcher's key plus a point of order 8: of large order, so it passes"
        " the screening (not malformed); the orchestrator's proof is then pop_invalid.",
        tok,
        READ,
        pop(tok, "orchestrator", READ, "hop_public_key_mixed_order_passes_screening"),
        codes=[Code.POP_INVALID],
    )
