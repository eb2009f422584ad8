"""The service's own cryptography: canonical JSON, key material sealed at rest, signatures.

- **Canonical JSON** (``specs/service.md``): UTF-8, object keys sorted by code point, no
  insignificant whitespace, integers only (no floats), ``ensure_ascii=False``. The audit log's
  hash chain, its checkpoints and the receipts are computed over it, so an auditor's own code
  can recompute them.
- **Sealed files**: the root keyring and the receipt signing key are stored encrypted under a
  32-byte key-encryption key (KEK) with ChaCha20-Poly1305, the file's name as associated data
  (a sealed keyring cannot be swapped for a sealed receipt key). The KEK comes from the
  environment (``DELEGATION_KEK``, unpadded base64url) or a 0600 file in the data directory.
- **Signatures**: Ed25519 under a domain string per kind of signed object.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from delegation import AgentKey
from delegation._crypto import ed25519_verify
from delegation._wire import b64decode, b64encode
from delegation.errors import TokenError

KEK_ENV: Final = "DELEGATION_KEK"
KEK_FILE: Final = "kek"
_SEAL_DOMAIN: Final = b"delegation-service/v1/sealed\0"
RECEIPT_DOMAIN: Final = b"delegation-service/v1/receipt\0"
CHECKPOINT_DOMAIN: Final = b"delegation-service/v1/checkpoint\0"
AUDIT_DOMAIN: Final = b"delegation-service/v1/audit\0"


class SealError(Exception):
    """Key material that cannot be read: a wrong KEK, a damaged or swapped file."""


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (dicts, lists, text, ints, bools, None)."""
    _no_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON holds no floats")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("canonical JSON object keys are text")
            _no_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_floats(item)


b64 = b64encode
"""Unpadded base64url, as the library writes it."""


def unb64(text: str, max_chars: int = 4096) -> bytes:
    """Canonical unpadded base64url only (the library's decoder: a character outside the
    alphabet, padding or unused low bits set is refused, so a key or signature has one
    spelling). Raises ValueError."""
    try:
        return b64decode(text, max_chars, "base64url text")
    except TokenError as exc:
        raise ValueError(exc.detail) from None


def load_kek(data_dir: Path, environ: dict[str, str] | None = None) -> bytes:
    """The KEK: from ``DELEGATION_KEK`` if set, else the 0600 file ``kek`` in ``data_dir``,
    made (32 random bytes) when absent. Raises SealError for a KEK that is not 32 bytes or a
    file others may read."""
    env = os.environ if environ is None else environ
    if env.get(KEK_ENV):
        try:
            kek = unb64(env[KEK_ENV].strip())
        except ValueError as exc:
            raise SealError(f"{KEK_ENV} is not base64url") from exc
        if len(kek) != 32:
            raise SealError(f"{KEK_ENV} must hold 32 bytes (unpadded base64url)")
        return kek
    path = data_dir / KEK_FILE
    if not path.exists():
        write_private(path, b64(secrets.token_bytes(32)) + "\n", replace=False)
    if path.stat().st_mode & 0o077:
        raise SealError(f"{path} may be read by others: chmod 600 it")
    kek = unb64(path.read_text(encoding="ascii").strip())
    if len(kek) != 32:
        raise SealError(f"{path} does not hold a 32-byte key")
    return kek


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write ``text`` to a file only its owner may read (0600), atomically: readers see the
    whole file or none. With ``replace=False`` a file already there is kept: of processes
    making one at once (the first start of several replicas), the first one's stands and the
    others read it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with suppress(FileExistsError):
                os.link(tmp, path)  # fails if the name exists: never replaces
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


def seal(kek: bytes, name: str, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + ChaCha20Poly1305(kek).encrypt(nonce, plaintext, _SEAL_DOMAIN + name.encode())


def unseal(kek: bytes, name: str, sealed: bytes) -> bytes:
    if len(sealed) < 12 + 16:
        raise SealError(f"sealed {name} is too short")
    try:
        return ChaCha20Poly1305(kek).decrypt(sealed[:12], sealed[12:], _SEAL_DOMAIN + name.encode())
    except InvalidTag as exc:
        raise SealError(f"sealed {name} does not open under this KEK") from exc


class Signer:
    """The service's Ed25519 receipt key: signs receipts and checkpoints, each under its domain."""

    def __init__(self, key: AgentKey) -> None:
        self._key = key
        self.public_key = key.public_key
        self.key_id = b64(self.public_key)[:16]

    def sign(self, domain: bytes, doc: Any) -> str:
        return b64(self._key.sign(domain + canonical(doc)))


def signature_holds(public_key: bytes, domain: bytes, doc: Any, signature: str) -> bool:
    """Whether ``signature`` is the receipt key's over ``doc`` under ``domain``."""
    try:
        raw = unb64(signature)
    except ValueError:
        return False
    return len(raw) == 64 and ed25519_verify(public_key, raw, domain + canonical(doc))
