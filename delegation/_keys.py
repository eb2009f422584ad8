"""Root keyrings (HMAC root keys with key ids, rotation) and agent keys (Ed25519).

A root key is 32 random bytes or more and never leaves the issuer and verifiers; a token names
its key id, and rotation adds a new current key while older ones keep verifying until retired.
An agent key is an Ed25519 key pair: the public half is what a token is bound to, the private
half signs delegation hops and proofs of possession.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from delegation import _crypto, _wire
from delegation._crypto import ed25519
from delegation._crypto.ed25519 import is_safe_public_key
from delegation.errors import KeyringError, MalformedToken, TokenError, TokenTooLarge
from delegation.limits import MAX_KEY_FILE_BYTES, ROOT_KEY_MIN_BYTES

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
PUBLIC_KEY_BYTES = ed25519.PUBLIC_KEY_BYTES
SIGNATURE_BYTES = 64
"""An Ed25519 signature (hop signatures, proofs of possession)."""
_PUBLIC_KEY_TEXT_MAX = 1024
"""43 characters of key, with generous room for the whitespace around a pasted key."""
_KEYRING_KIND = "delegation-keyring"


def new_key_id() -> str:
    return f"k{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class RootKey:
    key_id: str
    secret: bytes = field(repr=False)
    created: int = 0
    derived: bytes = field(init=False, repr=False, compare=False)
    """libmacaroons' derived key, computed once: the HMAC chain starts from it."""

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise KeyringError("a key id is 1-64 characters from A-Z a-z 0-9 . _ -")
        if not isinstance(self.secret, bytes) or len(self.secret) < ROOT_KEY_MIN_BYTES:
            raise KeyringError(f"a root key needs at least {ROOT_KEY_MIN_BYTES} bytes")
        object.__setattr__(self, "derived", _crypto.derive_key(self.secret))

    @classmethod
    def generate(cls, key_id: str | None = None) -> RootKey:
        return cls(key_id or new_key_id(), _crypto.new_root_key(), int(time.time()))


class Keyring:
    """Root keys by key id; ``current`` mints, every key present verifies."""

    KIND: ClassVar[str] = _KEYRING_KIND
    """The ``kind`` of a keyring file, as ``KeyPairFile.KIND`` names a key file's."""

    def __init__(self, keys: list[RootKey], current: str | None = None) -> None:
        if not keys:
            raise KeyringError("a keyring needs at least one key")
        self._keys: dict[str, RootKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise KeyringError(f"key id {key.key_id!r} appears twice")
            self._keys[key.key_id] = key
        current = current if current is not None else keys[-1].key_id
        if current not in self._keys:
            raise KeyringError("the current key id is not in the keyring")
        self._current = current

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self._keys)!r}, current={self._current!r})"

    @classmethod
    def generate(cls) -> Keyring:
        return cls([RootKey.generate()])

    @property
    def current(self) -> RootKey:
        return self._keys[self._current]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def get(self, key_id: str) -> RootKey | None:
        """The key for ``key_id``, or None. ``key_id`` is untrusted input; it is only a dict key."""
        return self._keys.get(key_id)

    def rotated(self) -> Keyring:
        """A keyring with a fresh current key; the older keys keep verifying."""
        fresh = RootKey.generate()
        while fresh.key_id in self._keys:
            fresh = RootKey.generate()
        return Keyring([*self._keys.values(), fresh], fresh.key_id)

    def without(self, key_id: str) -> Keyring:
        """A keyring with ``key_id`` retired: its tokens stop verifying."""
        if key_id == self._current:
            raise KeyringError("rotate before retiring the current key")
        return Keyring([k for k in self._keys.values() if k.key_id != key_id], self._current)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": _KEYRING_KIND,
                "version": 1,
                "current": self._current,
                "keys": [
                    {"key_id": k.key_id, "secret": _wire.b64encode(k.secret), "created": k.created}
                    for k in self._keys.values()
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        doc = _load_json(text, _KEYRING_KIND)
        try:
            keys = [
                RootKey(str(k["key_id"]), _b64(k["secret"]), int(k.get("created", 0)))
                for k in doc["keys"]
            ]
            return cls(keys, str(doc["current"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise KeyringError("keyring file is missing fields or has bad values") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        _write_private(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        return cls.from_json(_read(Path(path)))


class KeyPairFile:
    """JSON key files for a key pair: a kind, the public key and the private seed, mode 0600.

    Subclasses say their file ``KIND`` and how to get a seed out and a key back in.
    """

    __slots__ = ()
    KIND: ClassVar[str]
    public_key: bytes

    def _seed(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.KIND,
                "version": 1,
                "public_key": encode_public_key(self.public_key),
                "private_key": _wire.b64encode(self._seed()),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Self:
        doc = _load_json(text, cls.KIND)
        try:
            key = cls.from_seed(_b64(doc["private_key"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringError(f"{cls.KIND} file is missing or has a bad private key") from exc
        if "public_key" in doc and doc["public_key"] != encode_public_key(key.public_key):
            raise KeyringError(f"{cls.KIND} file's public key does not match its private key")
        return key

    def save(self, path: str | os.PathLike[str]) -> None:
        _write_private(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        return cls.from_json(_read(Path(path)))


class AgentKey(KeyPairFile):
    """An agent's Ed25519 key pair. ``public_key`` is the 32 raw bytes tokens are bound to.

    Make one with :meth:`generate`, :meth:`from_seed` or :meth:`load`; the constructor takes
    the private signing key of :mod:`delegation._crypto.ed25519`.
    """

    __slots__ = ("_key", "public_key")
    KIND = "delegation-agent-key"

    def __init__(self, key: ed25519.SigningKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key

    def __repr__(self) -> str:
        return f"AgentKey(public_key={encode_public_key(self.public_key)!r})"

    @classmethod
    def generate(cls) -> AgentKey:
        return cls(ed25519.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        """Key from its 32-byte seed (key files; fixed seeds for test vectors and fixtures)."""
        return cls(ed25519.SigningKey.from_seed(seed))

    def _seed(self) -> bytes:
        return self._key.seed()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def encode_public_key(public_key: bytes) -> str:
    """The text form of an agent public key: unpadded base64url of the 32 raw bytes."""
    return _wire.b64encode(public_key)


def decode_public_key(text: str) -> bytes:
    """Parse the text form of a public key. Raises MalformedToken or TokenTooLarge."""
    if len(text) > _PUBLIC_KEY_TEXT_MAX:  # bounded before strip() copies it
        raise TokenTooLarge(f"public key text is longer than {_PUBLIC_KEY_TEXT_MAX} characters")
    raw = _wire.b64decode(text.strip(), 64, "public key")
    if len(raw) != PUBLIC_KEY_BYTES:
        raise MalformedToken("a public key is 32 bytes")
    if not is_safe_public_key(raw):
        raise MalformedToken("not a canonical, full-order Ed25519 public key")
    return raw


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected base64url text")
    try:
        return _wire.b64decode(value, 1024, "key")
    except TokenError as exc:  # malformed or too long
        raise ValueError("bad base64url") from exc


def _load_json(text: str, kind: str) -> dict[str, Any]:
    # Parsing is linear in the text, so bound the text first; nesting deeper than the
    # interpreter allows is a RecursionError from the parser, and not JSON to us.
    if len(text) > MAX_KEY_FILE_BYTES:
        raise KeyringError(f"key file is longer than {MAX_KEY_FILE_BYTES} characters")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise KeyringError("key file is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("kind") != kind or doc.get("version") != 1:
        raise KeyringError(f"not a {kind} version 1 file")
    return doc


def _read(path: Path) -> str:
    """The file's text, read no further than MAX_KEY_FILE_BYTES. Raises KeyringError."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_KEY_FILE_BYTES + 1)  # a huge file or a device is never slurped
    except OSError as exc:
        raise KeyringError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyringError(f"{path} is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyringError(f"{path} is not a UTF-8 key file") from exc


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, replacing any file atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
