"""Minting, attenuating and delegating tokens, and the unverified token a holder carries.

Laws: a caveat can only narrow authority and can never be removed (removing one would need
the chain signature from before it, which no later holder has). A hop counts only when signed
by the holder in force. ``attenuate`` and ``delegate`` also refuse, at authoring time, caveats
that try to widen their parent, because a caller who tries that has a bug.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from delegation import _cbor, _crypto, _wire
from delegation._keys import AgentKey, Keyring
from delegation._memo import Memo
from delegation._printable import is_printable
from delegation._task import Agent, Link, TaskRecord
from delegation._thirdparty.caveat import ThirdPartyCaveat
from delegation.caveats import Action as ActionCaveat
from delegation.caveats import (
    ArgConstraint,
    Args,
    ArgsOnly,
    Audience,
    Budget,
    Caveat,
    Delegatees,
    Hop,
    Intent,
    MaxDepth,
    MaxUses,
    Registry,
    ResourceCaveat,
    Tool,
    Validity,
    default_registry,
)
from delegation.caveats.registry import ParentView, Placed, UnknownCaveat
from delegation.errors import AuthoringError, MalformedToken, TokenError
from delegation.limits import (
    MAX_CAVEAT_BYTES,
    MAX_CAVEATS,
    MAX_IDENTIFIER_BYTES,
    MAX_TOKEN_CHARS,
)

FORMAT_VERSION = 1
NONCE_BYTES = 16
ID_BYTES = 16
_ID_VERSION, _ID_KEY, _ID_NONCE, _ID_TASK, _ID_HOLDER = 1, 2, 3, 4, 5
_ID_FIELDS = frozenset({_ID_VERSION, _ID_KEY, _ID_NONCE, _ID_TASK, _ID_HOLDER})
_DEFAULT_REGISTRY = default_registry()


@dataclass(frozen=True, slots=True)
class Identifier:
    """The root identifier: format version, key id, random nonce, the task, the first holder."""

    key_id: str
    nonce: bytes
    task: TaskRecord
    holder: Agent

    def encode(self) -> bytes:
        return _cbor.dumps(
            {
                _ID_VERSION: FORMAT_VERSION,
                _ID_KEY: self.key_id,
                _ID_NONCE: self.nonce,
                _ID_TASK: self.task.to_cbor(),
                _ID_HOLDER: self.holder.to_cbor(),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Identifier:
        value = _cbor.loads(data, "identifier")
        if not isinstance(value, dict) or set(value) != _ID_FIELDS:
            raise MalformedToken("identifier does not have exactly the version 1 fields")
        if type(value[_ID_VERSION]) is not int or value[_ID_VERSION] != FORMAT_VERSION:
            raise MalformedToken("identifier has an unsupported format version")
        key_id, nonce = value[_ID_KEY], value[_ID_NONCE]
        # Any text is accepted here and simply not found in a keyring (``unknown_key``): the key
        # id is attacker input read before the MAC, used only as a dictionary key.
        if not isinstance(key_id, str) or not key_id or not is_printable(key_id):
            raise MalformedToken("identifier key id is not printable text")
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
            raise MalformedToken("identifier nonce is not 16 bytes")
        return cls(
            key_id, nonce, TaskRecord.from_cbor(value[_ID_TASK]), Agent.from_cbor(value[_ID_HOLDER])
        )


_IDENTIFIERS: Memo[bytes, Identifier] = Memo(4096, 1 << 20)
"""Parsed identifiers, by their bytes: 4096 of them, 1 MiB of identifier bytes at most. A
token's identifier is parsed before its MAC is checked, so presenters choose what enters."""


def _decode_identifier(data: bytes) -> Identifier:
    """Identifier.decode, memoised: parsing is a pure function of the bytes (bounded)."""
    found = _IDENTIFIERS.get(data)
    if found is None:
        found = Identifier.decode(data)
        _IDENTIFIERS.put(data, found)
    return found


@dataclass(frozen=True, slots=True)
class Scope:
    """Restrictions to add. All optional to attenuate; mint needs audiences and an expiry.

    ``expires`` is absolute Unix seconds; ``expires_in`` is relative to the clock passed in.
    """

    audiences: Sequence[str] = ()
    tools: Sequence[str] = ()
    actions: Sequence[str] = ()
    resources: Sequence[str] = ()
    intents: Sequence[str] = ()
    args: Sequence[ArgConstraint] = ()
    only_args: Sequence[str] = ()
    """Close the argument list: a call may carry only these arguments (``args_only``)."""
    expires: int | None = None
    expires_in: int | None = None
    not_before: int | None = None
    max_depth: int | None = None
    delegatees: Sequence[str] = ()
    max_uses: int | None = None
    """At most this many allowed calls, counted in shared state (1 = single use)."""
    budgets: Sequence[Budget] = ()
    """Budgets to spend from, each charged in shared state (``Budget("usd-cents", 2000,
    cost="amount")``)."""
    extra: Sequence[Caveat] = field(default=())

    def caveats(self, now: int) -> list[Caveat]:
        texts = ("audiences", "tools", "actions", "resources", "intents", "only_args", "delegatees")
        for name in texts:
            if isinstance(getattr(self, name), str):  # "ab" would become {"a", "b"}
                raise AuthoringError(f"Scope.{name} is a list of texts, not one text")
        if self.expires is not None and self.expires_in is not None:
            raise AuthoringError("give expires or expires_in, not both")
        expires = self.expires if self.expires_in is None else now + self.expires_in
        out: list[Caveat] = []
        if expires is not None or self.not_before is not None:
            out.append(Validity(self.not_before, expires))
        for values, family in (
            (self.audiences, Audience),
            (self.tools, Tool),
            (self.actions, ActionCaveat),
            (self.intents, Intent),
        ):
            if values:
                out.append(family(tuple(values)))
        if self.resources:
            out.append(ResourceCaveat(tuple(self.resources)))
        if self.args:
            out.append(Args(tuple(self.args)))
        if self.only_args:
            out.append(ArgsOnly(tuple(self.only_args)))
        if self.max_depth is not None:
            out.append(MaxDepth(self.max_depth))
        if self.delegatees:
            out.append(Delegatees(tuple(self.delegatees)))
        if self.max_uses is not None:
            out.append(MaxUses(self.max_uses))
        if isinstance(self.budgets, Caveat):
            raise AuthoringError("Scope.budgets is a list of Budget caveats, not one")
        for budget in self.budgets:
            if not isinstance(budget, Budget):
                raise AuthoringError(
                    f"Scope.budgets holds Budget caveats, not {type(budget).__name__}"
                )
            out.append(budget)
        out.extend(self.extra)
        return out


class UnverifiedToken:
    """A decoded token whose signature nobody has checked. Its caveats are ``unsafe_caveats``.

    Any holder can read, attenuate and delegate it; only a verifier with the root key can say
    whether it is genuine (:meth:`delegation.Verifier.verify`).

    Immutable: the framed token, its bytes and its decoded identifier are one consistent view
    (the MAC is checked over ``raw``, the proof over ``token_bytes``, the holder and task read
    from ``identifier``), so none can be swapped after the others were made.
    """

    __slots__ = ("_caveats", "identifier", "raw", "token_bytes")
    raw: _wire.RawMacaroon
    token_bytes: bytes
    identifier: Identifier
    _caveats: tuple[Caveat, ...] | None

    def __init__(self, raw: _wire.RawMacaroon) -> None:
        self._set(raw, _wire.encode(raw))

    @classmethod
    def _decoded(cls, raw: _wire.RawMacaroon, data: bytes) -> UnverifiedToken:
        """The token ``data`` decodes to (``raw = _wire.decode(data)``), without re-encoding."""
        token = cls.__new__(cls)
        token._set(raw, data)
        return token

    def _set(self, raw: _wire.RawMacaroon, data: bytes) -> None:
        identifier = _decode_identifier(raw.identifier)
        for name, value in (("raw", raw), ("token_bytes", data), ("identifier", identifier)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_caveats", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an UnverifiedToken is immutable (cannot set {name})")

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"UnverifiedToken(token_id={self.token_id!r}, caveats={len(self.raw.caveats)})"

    def encode(self) -> str:
        """The one-line base64url form, fit for an HTTP header."""
        return _wire.b64encode(self.token_bytes)

    @property
    def token_id(self) -> str:
        """Public id of this exact token: revoking it revokes it and everything derived from it.

        It is the chain digest over the identifier and every caveat, truncated to 16 bytes (hex).
        A hop id is the token id of the token that hop produced.
        """
        return _crypto.chain_digests(self.raw.identifier, self.raw.caveats)[-1][:ID_BYTES].hex()

    @property
    def root_id(self) -> str:
        """Public id of the root: the chain digest of the identifier alone, shared by every token
        of this mint. Revoking it revokes the root token and all its descendants."""
        return _crypto.digest_start(self.raw.identifier)[:ID_BYTES].hex()

    @property
    def task(self) -> TaskRecord:
        return self.identifier.task

    def unsafe_caveats(self, registry: Registry | None = None) -> tuple[Caveat, ...]:
        """Parsed caveats, NOT verified. Raises MalformedToken for one that cannot be parsed."""
        if registry is None and self._caveats is not None:
            return self._caveats
        reg = registry or _DEFAULT_REGISTRY
        parsed = tuple(parse_caveat(reg, c) for c in self.raw.caveats)
        if registry is None:
            object.__setattr__(self, "_caveats", parsed)  # a cache of a pure function
        return parsed

    def agents(self) -> tuple[Link, ...]:
        """The agents as the token claims them, root holder first. Unverified; has hop ids."""
        holder = self.identifier.holder
        links = [Link(holder.agent_id, holder.public_key)]
        digests = _crypto.chain_digests(self.raw.identifier, self.raw.caveats)
        for digest, cav in zip(digests[1:], self.unsafe_caveats(), strict=True):
            if isinstance(cav, Hop):
                links.append(Link(cav.agent_id, cav.public_key, digest[:ID_BYTES].hex()))
        return tuple(links)

    @property
    def holder(self) -> Link:
        """The agent whose key must sign proofs and further hops."""
        return self.agents()[-1]

    def describe(self) -> dict[str, Any]:
        """A JSON-able view of the whole token, for ``inspect``. Holds no secrets."""
        caveats = []
        hops = 0
        for index, cav in enumerate(self.unsafe_caveats()):
            if isinstance(cav, Hop):
                hops += 1
            caveats.append({"index": index, "hop": hops, "type": cav.name, "value": cav.describe()})
        return {
            "token_id": self.token_id,
            "root_id": self.root_id,
            "key_id": self.identifier.key_id,
            "location": self.raw.location,
            "task": self.task.to_json(),
            "agents": [link.to_json() for link in self.agents()],
            "caveats": caveats,
        }


def parse_caveat(registry: Registry, raw: _wire.RawCaveat) -> Caveat:
    """Parse one framed caveat: a third-party caveat if it has a vid. Raises MalformedToken."""
    if raw.vid is not None:
        return ThirdPartyCaveat.decode(raw.cid, raw.location)
    return registry.decode(raw.cid)


def decode(token: str) -> UnverifiedToken:
    """Parse the base64url form. Raises TokenTooLarge or MalformedToken; checks no signature."""
    data = _wire.b64decode(token, MAX_TOKEN_CHARS, "token")
    return UnverifiedToken._decoded(_wire.decode(data), data)


def _as_token(token: str | UnverifiedToken) -> UnverifiedToken:
    return decode(token) if isinstance(token, str) else token


def mint(
    keyring: Keyring,
    task: TaskRecord,
    holder: Agent,
    scope: Scope,
    *,
    location: str | None = None,
    now: int | None = None,
) -> UnverifiedToken:
    """Mint a root token for an approved task, bound to ``holder``. Raises AuthoringError.

    ``scope`` must name at least one audience and an expiry: a token without them is refused.
    """
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _mint(keyring, task, holder, scope, location=location, now=now, nonce=nonce)


def _mint(
    keyring: Keyring,
    task: TaskRecord,
    holder: Agent,
    scope: Scope,
    *,
    location: str | None,
    now: int | None,
    nonce: bytes,
) -> UnverifiedToken:
    """``mint`` with a given nonce: for reproducible test vectors, never for real tokens."""
    now = int(time.time()) if now is None else now
    if location is not None:
        try:
            _wire.check_location(location)
        except TokenError as exc:
            raise AuthoringError(f"location: {exc.detail}") from exc
    caveats = _scope_caveats(scope, now)
    if not any(isinstance(c, Audience) for c in caveats):
        raise AuthoringError("a root token needs at least one audience")
    if not any(isinstance(c, Validity) and c.expires is not None for c in caveats):
        raise AuthoringError("a root token needs an expiry")
    key = keyring.current
    if len(nonce) != NONCE_BYTES:
        raise AuthoringError(f"a token nonce is {NONCE_BYTES} bytes")
    identifier = Identifier(key.key_id, nonce, task, holder).encode()
    if len(identifier) > MAX_IDENTIFIER_BYTES:
        raise AuthoringError(f"the identifier would exceed {MAX_IDENTIFIER_BYTES} bytes")
    root = _wire.RawMacaroon(
        identifier, (), _crypto.initial_signature(key.secret, identifier), location
    )
    return _append(UnverifiedToken(root), caveats)


def attenuate(
    token: str | UnverifiedToken, scope: Scope | Iterable[Caveat], *, now: int | None = None
) -> UnverifiedToken:
    """Append caveats offline. Raises NotNarrowing for one that tries to widen the token."""
    now = int(time.time()) if now is None else now
    caveats = _scope_caveats(scope, now) if isinstance(scope, Scope) else list(scope)
    return _append(_as_token(token), caveats)


def delegate(
    token: str | UnverifiedToken,
    holder_key: AgentKey,
    to: Agent,
    scope: Scope | None = None,
    *,
    now: int | None = None,
) -> UnverifiedToken:
    """Delegate to ``to``: a hop signed by ``holder_key``, then ``scope``'s narrowing caveats.

    Raises AuthoringError if ``holder_key`` is not the token's holder or ``to`` is already in
    the chain, and NotNarrowing if the token's depth cap or delegatee list forbids the hop.
    """
    parent = _as_token(token)
    chain = parent.agents()
    if holder_key.public_key != chain[-1].public_key:
        raise AuthoringError("only the token's current holder can delegate it")
    if any(link.public_key == to.public_key for link in chain):
        raise AuthoringError("that key is already in the chain: delegation cannot loop")
    prefix = _crypto.chain_digests(parent.raw.identifier, parent.raw.caveats)[-1]
    signature = holder_key.sign(_crypto.hop_message(prefix, to.agent_id, to.public_key))
    now = int(time.time()) if now is None else now
    extra = _scope_caveats(scope, now) if scope is not None else []
    return _append(parent, extra, hop=Hop(to.agent_id, to.public_key, signature))


def _scope_caveats(scope: Scope, now: int) -> list[Caveat]:
    try:
        return scope.caveats(now)
    except TokenError as exc:  # a value no token may carry: the caller's bug
        raise AuthoringError(exc.detail) from exc


def _append(
    token: UnverifiedToken, caveats: Sequence[Caveat], hop: Hop | None = None
) -> UnverifiedToken:
    """Append ``hop`` (signed by delegate()) and then ``caveats``, checking each narrows.

    Each caveat is judged as a decoder will read its bytes, so a core caveat wrapped in an
    UnknownCaveat (or any other disguise) gets the same checks as the real thing.
    """
    if hop is not None:
        caveats = [hop, *caveats]
    existing = token.unsafe_caveats()
    if len(existing) + len(caveats) > MAX_CAVEATS:
        raise AuthoringError(f"a token carries at most {MAX_CAVEATS} caveats")
    placed: list[Placed] = []
    hops = 0
    for cav in existing:
        placed.append(Placed(hops, cav))
        hops += isinstance(cav, Hop)
    raw_caveats = list(token.raw.caveats)
    sig = token.raw.signature
    for cav in caveats:
        if isinstance(cav, ThirdPartyCaveat):
            raise AuthoringError("add third-party caveats with approval.require_approval")
        try:
            raw = _wire.RawCaveat(cav.encode())
            read = _DEFAULT_REGISTRY.decode(raw.cid)  # what a decoder would refuse is refused
        except TokenError as exc:
            raise AuthoringError(f"a {cav.name} caveat would not decode: {exc.detail}") from exc
        if isinstance(read, Hop) and cav is not hop:
            raise AuthoringError("a hop is signed by the holder: use delegate() to add one")
        view = ParentView(tuple(placed), hops)
        cav.check_narrows(view)
        if type(read) is not type(cav):
            read.check_narrows(view)
        placed.append(Placed(hops, read if type(read) is not UnknownCaveat else cav))
        hops += isinstance(read, Hop)
        if len(raw.cid) > MAX_CAVEAT_BYTES:
            raise AuthoringError(
                f"a {cav.name} caveat would exceed the size limit ({MAX_CAVEAT_BYTES} bytes)"
            )
        raw_caveats.append(raw)
        sig = _crypto.chain_step(sig, raw)
    mac = _wire.RawMacaroon(token.raw.identifier, tuple(raw_caveats), sig, token.raw.location)
    result = UnverifiedToken(mac)
    if len(result.encode()) > MAX_TOKEN_CHARS:
        raise AuthoringError("the token would exceed the size limit")
    return result


__all__ = [
    "Identifier",
    "Scope",
    "UnverifiedToken",
    "attenuate",
    "decode",
    "delegate",
    "mint",
]
