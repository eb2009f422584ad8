"""Ed25519 public key screening, from the point arithmetic of RFC 8032 section 5.1.

OpenSSL verifies against any 32 bytes that decode to a point. A small-order point (the
identity among them) lets anyone forge signatures that verify under it, and a non-canonical
encoding is a second spelling of a key. Tokens name keys that were chosen by their holders,
so every key read from a token or a user is screened here.
"""

from __future__ import annotations

from functools import lru_cache

_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode(data: bytes) -> tuple[int, int] | None:
    """(x, y) for a canonical encoding of a curve point, else None."""
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = (v * x * x) % _P
    if vx2 == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    # Extended coordinates (X, Y, Z, T), a = -1 (RFC 8032 section 5.1.4).
    x, y, z, _ = point
    a = x * x % _P
    b = y * y % _P
    c = 2 * z * z % _P
    h = (a + b) % _P
    e = (h - (x + y) * (x + y)) % _P
    g = (a - b) % _P
    f = (c + g) % _P
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


@lru_cache(maxsize=8192)
def is_safe_public_key(data: bytes) -> bool:
    """True for a canonical encoding of a point whose order is not small (not 1, 2, 4 or 8)."""
    decoded = _decode(data)
    if decoded is None:
        return False
    x, y = decoded
    point = (x, y, 1, x * y % _P)
    for _ in range(3):
        point = _double(point)
    px, py, pz, _ = point
    return not (px == 0 and py == pz)
