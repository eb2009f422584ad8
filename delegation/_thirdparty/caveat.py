"""Third-party caveats, tickets, discharges and binding. Normative: ``specs/third-party.md``.

A third-party caveat says "a discharge from this third party is needed". Its three parts:

- the caveat id (``cid``), public and in the HMAC chain: deterministic CBOR map
  ``{1: 1, 2: purpose, 3: third party's X25519 public key, 4: rules (optional), 5: ticket}``.
  ``rules`` limit when it applies (``[[tool], [tool, action], ...]``, any match); without
  rules it always applies. ``purpose`` 1 is a human approval, 0 any other third party.
- the ticket, which only the third party can open: ``ephemeral X25519 public key (32) ||
  ChaCha20-Poly1305(key = HKDF-SHA256(X25519(eph, tp), info = domain || eph || tp),
  nonce = 0, plaintext = CBOR {1: caveat root key, 2: root id, 3: purpose})``. The key is
  fresh per ephemeral key, so a zero nonce is never reused.
- the verification id (``vid``): ``nonce (12) || ChaCha20-Poly1305(key = chain signature
  before this caveat, nonce, caveat root key)``. The verifier, who recomputes the chain, opens
  it; a later holder, who only knows a later signature, cannot.

A discharge is a macaroon whose identifier is the cid and whose root key is the caveat root
key; its own first-party caveats (a short expiry, the exact call) are enforced. Before use it
is bound to the token it travels with: its signature becomes
``HMAC(Z, HMAC(Z, token signature) || HMAC(Z, discharge signature))`` with ``Z`` 32 zero bytes
(libmacaroons' binding), so it works with that token and no other, not even an ancestor.

The primitives (X25519, HKDF, ChaCha20-Poly1305, the binding HMAC) are
:mod:`delegation._crypto`'s; this module says what the sealed bytes hold and what a box that
does not open means (``BadDischarge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from delegation import _cbor, _crypto, _wire
from delegation._cbor import CBORValue
from delegation._crypto import seal
from delegation._crypto.seal import SealError
from delegation._keys import KeyPairFile, encode_public_key
from delegation._request import Request
from delegation.caveats import _body
from delegation.caveats.registry import Caveat, CheckContext
from delegation.errors import (
    BadDischarge,
    CaveatFailed,
    Code,
    MalformedToken,
    TokenError,
    TokenTooLarge,
)
from delegation.limits import MAX_CAVEAT_BYTES, MAX_LIST_ITEMS, MAX_TOKEN_CHARS

PURPOSE_THIRD_PARTY = 0
PURPOSE_APPROVAL = 1
_KEY_BYTES = seal.KEY_BYTES
_CID_FIELDS = frozenset({1, 2, 3, 4, 5})


@dataclass(frozen=True, slots=True)
class Rule:
    """When a third-party caveat applies: this tool, and this action if given."""

    tool: str
    action: str | None = None

    def matches(self, request: Request) -> bool:
        return request.tool == self.tool and (self.action is None or request.action == self.action)

    def __str__(self) -> str:
        return self.tool if self.action is None else f"{self.tool}:{self.action}"

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``tool`` or ``tool:action``. Raises MalformedToken."""
        if not isinstance(text, str):
            raise MalformedToken("a rule is text: tool or tool:action")
        tool, sep, action = text.partition(":")
        return cls(
            _body.text(tool, "rule tool"), _body.text(action, "rule action") if sep else None
        )


@dataclass(frozen=True, slots=True)
class ThirdPartyCaveat(Caveat):
    """The public part of a third-party caveat (its cid). Framed with a vid, not registered.

    The verifier satisfies it with a discharge (see :mod:`delegation._verifier`); its own
    ``check`` denies, so a code path that forgets discharges fails closed.
    """

    type_id: ClassVar[int] = 0
    name: ClassVar[str] = "third_party"

    purpose: int
    third_party: bytes
    ticket: bytes
    rules: tuple[Rule, ...] = ()
    location: str | None = None

    @property
    def is_approval(self) -> bool:
        return self.purpose == PURPOSE_APPROVAL

    def applies_to(self, request: Request) -> bool:
        return not self.rules or any(rule.matches(request) for rule in self.rules)

    def to_body(self) -> CBORValue:
        body: dict[int, CBORValue] = {1: 1, 2: self.purpose, 3: self.third_party, 5: self.ticket}
        if self.rules:
            body[4] = [[r.tool] if r.action is None else [r.tool, r.action] for r in self.rules]
        return body

    def encode(self) -> bytes:
        return _cbor.dumps(self.to_body())

    def check(self, ctx: CheckContext) -> None:
        code = Code.APPROVAL_REQUIRED if self.is_approval else Code.DISCHARGE_REQUIRED
        raise CaveatFailed(code, "a third-party caveat is satisfied only by a discharge")

    @classmethod
    def from_body(cls, body: CBORValue) -> Self:
        raise MalformedToken("a third-party caveat is decoded from its cid and location")

    @classmethod
    def decode(cls, cid: bytes, location: str | None = None) -> ThirdPartyCaveat:
        """Parse a cid. Raises TokenTooLarge beyond MAX_CAVEAT_BYTES (before any decoding: a
        bare cid need not have come through the token framing, which bounds it), else
        MalformedToken."""
        if len(cid) > MAX_CAVEAT_BYTES:
            raise TokenTooLarge(f"third-party caveat is larger than {MAX_CAVEAT_BYTES} bytes")
        value = _cbor.loads(cid, "third-party caveat")
        version = value.get(1) if isinstance(value, dict) else None
        if (
            not isinstance(value, dict)
            or not set(value) <= _CID_FIELDS
            or type(version) is not int
            or version != 1
        ):
            raise MalformedToken("third-party caveat is not a version 1 map")
        purpose, third_party, ticket = value.get(2), value.get(3), value.get(5)
        if purpose not in (PURPOSE_THIRD_PARTY, PURPOSE_APPROVAL) or type(purpose) is not int:
            raise MalformedToken("third-party caveat has an unknown purpose")
        if not isinstance(third_party, bytes) or len(third_party) != _KEY_BYTES:
            raise MalformedToken("third-party caveat key is not 32 bytes")
        if not isinstance(ticket, bytes) or not ticket:
            raise MalformedToken("third-party caveat has no ticket")
        rules: list[Rule] = []
        raw_rules = value.get(4, [])
        if not isinstance(raw_rules, list) or len(raw_rules) > MAX_LIST_ITEMS:
            raise MalformedToken("third-party caveat rules must be a short array")
        if 4 in value and not raw_rules:
            raise MalformedToken("third-party caveat rules, when present, are not empty")
        for rule in raw_rules:
            if not isinstance(rule, list) or len(rule) not in (1, 2):
                raise MalformedToken("a rule is [tool] or [tool, action]")
            action = _body.text(rule[1], "rule action") if len(rule) == 2 else None
            rules.append(Rule(_body.text(rule[0], "rule tool"), action))
        return cls(purpose, third_party, ticket, tuple(rules), location)

    def describe(self) -> dict[str, object]:
        return {
            "ticket_bytes": len(self.ticket),
            "purpose": "approval" if self.is_approval else "third_party",
            "third_party": encode_public_key(self.third_party),
            "location": self.location,
            "applies_to": [str(r) for r in self.rules] or "every call",
        }


@dataclass(frozen=True, slots=True)
class TicketContents:
    caveat_key: bytes = b""
    root_id: str = ""
    """The root id of the token the caveat was added to (see ``UnverifiedToken.root_id``)."""
    purpose: int = PURPOSE_APPROVAL

    def __repr__(self) -> str:
        return f"TicketContents(root_id={self.root_id!r}, purpose={self.purpose})"


def seal_ticket(
    third_party: bytes, contents: TicketContents, ephemeral_seed: bytes | None = None
) -> bytes:
    """Seal ``contents`` to ``third_party``. ``ephemeral_seed`` (32 bytes) is for reproducible
    vectors only. Raises SealError for a key with no shared secret (a low-order point)."""
    plain = _cbor.dumps({1: contents.caveat_key, 2: contents.root_id, 3: contents.purpose})
    return seal.seal_ticket(third_party, plain, ephemeral_seed)


def seal_vid(chain_signature: bytes, caveat_key: bytes, nonce: bytes | None = None) -> bytes:
    """Seal the caveat key under the chain state. ``nonce`` is for reproducible vectors only."""
    return seal.seal_vid(chain_signature, caveat_key, nonce)


def open_vid(chain_signature: bytes, vid: bytes) -> bytes:
    """The caveat root key. Raises BadDischarge if the vid does not open under the chain."""
    if len(vid) != seal.VID_BYTES:
        raise BadDischarge("verification id has the wrong length")
    try:
        return seal.open_vid(chain_signature, vid)
    except SealError as exc:
        raise BadDischarge("verification id does not open") from exc


bind = _crypto.bind
"""libmacaroons' binding of a discharge to the token it travels with (see the module text)."""
new_caveat_key = seal.new_caveat_key


def decode_discharge(text: str) -> _wire.RawMacaroon:
    """Parse a discharge's text form. Raises BadDischarge (never another exception type)."""
    try:
        return _wire.decode(_wire.b64decode(text, MAX_TOKEN_CHARS, "discharge"))
    except TokenError as exc:  # malformed or too large: either way, not a usable discharge
        raise BadDischarge(f"discharge: {exc.detail}") from exc


class ApproverKey(KeyPairFile):
    """A third party's X25519 key pair: the public half seals tickets, the private opens them."""

    __slots__ = ("_key", "public_key")
    KIND = "delegation-approver-key"

    def __init__(self, key: seal.RecipientKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key

    def __repr__(self) -> str:
        return f"ApproverKey(public_key={encode_public_key(self.public_key)!r})"

    @classmethod
    def generate(cls) -> ApproverKey:
        return cls(seal.RecipientKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Self:
        """Key from its 32 private bytes (key files; fixed seeds for vectors and fixtures)."""
        return cls(seal.RecipientKey.from_seed(seed))

    def _seed(self) -> bytes:
        return self._key.seed()

    def open_ticket(self, ticket: bytes) -> TicketContents:
        """Open a ticket sealed to this key. Raises BadDischarge."""
        if len(ticket) < seal.TICKET_OVERHEAD:
            raise BadDischarge("ticket is too short")
        try:
            value = _cbor.loads(self._key.open_ticket(ticket), "ticket")
        except (SealError, MalformedToken) as exc:
            raise BadDischarge("ticket does not open under this key") from exc
        if not isinstance(value, dict) or set(value) != {1, 2, 3}:
            raise BadDischarge("ticket contents are malformed")
        caveat_key, root_id, purpose = value[1], value[2], value[3]
        if not isinstance(caveat_key, bytes) or len(caveat_key) != _KEY_BYTES:
            raise BadDischarge("ticket caveat key is malformed")
        if not isinstance(root_id, str) or type(purpose) is not int:
            raise BadDischarge("ticket contents are malformed")
        return TicketContents(caveat_key, root_id, purpose)
