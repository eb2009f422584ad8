"""Exceptions and the reason-code vocabulary.

Exception tree::

    DelegationError                 base of everything this package raises
    ├── TokenError                  bytes that cannot be used (has ``code`` and ``detail``)
    │   ├── MalformedToken          ``malformed``: bad framing, CBOR, base64 or field values
    │   ├── TokenTooLarge           ``too_large``: over a hard limit, rejected before work
    │   ├── BadDischarge            ``bad_discharge``: a discharge, ticket or vid that is unusable
    │   └── BadProof                ``pop_invalid``: an approval request's proof that does not hold
    ├── MalformedRequest            a request outside the spec (``code`` ``malformed``)
    ├── PatternError                a resource or agent id not in canonical form (a ValueError)
    ├── AuthoringError              a caller's bug while building a token
    │   └── NotNarrowing            an attenuation or delegation that would not narrow its parent
    ├── MisuseError                 an API called in a way that cannot be right (caller's bug)
    ├── KeyringError                keyring or agent-key files missing, unreadable or too weak
    ├── StoreUnavailable            a state store that cannot answer (``delegation.stores``)
    ├── SettleRefused               a budget reservation that cannot be settled or released
    │                               (``delegation.stores``)
    ├── InvalidRevocation           a revocation of an unknown kind or a malformed value (also a
    │                               ValueError; ``delegation.stores``)
    ├── PolicyUnavailable           a policy that cannot answer: an error, an unparseable policy
    │                               set, a timeout (``delegation.policy``)
    ├── PolicyLoadError             a policy set that cannot be loaded (``delegation.policy``)
    ├── CaveatFailed                raised by a caveat's ``check``; the verifier collects these
    └── Denied                      a verifier's "no", with every reason (``reasons``)

The verifier itself never raises for bad input: :meth:`delegation.Verifier.verify` returns a
denying :class:`delegation.Decision` carrying the codes.

Every denial carries a :class:`Code` from the fixed vocabulary in ``specs/reason-codes.md``.
Codes are stable: they are part of the wire contract, never renamed or reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from delegation._decision import Reason


class Code(StrEnum):
    """Stable reason codes. Documented in ``specs/reason-codes.md``."""

    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CAVEAT = "missing_caveat"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    TOOL_NOT_ALLOWED = "tool_not_allowed"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    RESOURCE_NOT_ALLOWED = "resource_not_allowed"
    INTENT_NOT_ALLOWED = "intent_not_allowed"
    ARGS_NOT_ALLOWED = "args_not_allowed"
    DEPTH_EXCEEDED = "depth_exceeded"
    DELEGATEE_NOT_ALLOWED = "delegatee_not_allowed"
    BAD_HOP = "bad_hop"
    POP_REQUIRED = "pop_required"
    POP_INVALID = "pop_invalid"
    REPLAY = "replay"
    UNKNOWN_CAVEAT = "unknown_caveat"
    STORE_UNAVAILABLE = "store_unavailable"
    DISCHARGE_REQUIRED = "discharge_required"
    BAD_DISCHARGE = "bad_discharge"
    APPROVAL_REQUIRED = "approval_required"
    WRONG_CHAIN = "wrong_chain"
    REVOKED = "revoked"
    USES_EXHAUSTED = "uses_exhausted"
    STATE_REQUIRED = "state_required"
    COST_INVALID = "cost_invalid"
    COST_TOO_HIGH = "cost_too_high"
    BUDGET_EXCEEDED = "budget_exceeded"
    TOKEN_REQUIRED = "token_required"  # noqa: S105 (a reason code, not a secret)
    POLICY_DENIED = "policy_denied"
    POLICY_UNAVAILABLE = "policy_unavailable"
    INTERNAL_ERROR = "internal_error"


class DelegationError(Exception):
    """Base class of every exception raised by ``delegation``."""


class TokenError(DelegationError):
    """A token (or proof, or caveat body) that cannot be used. ``code`` says why."""

    code: Code = Code.MALFORMED

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedToken(TokenError):
    """Bytes that do not follow ``specs/token-format.md``."""

    code = Code.MALFORMED


class TokenTooLarge(TokenError):
    """Input over a hard limit from :mod:`delegation.limits`; rejected before decoding."""

    code = Code.TOO_LARGE


class BadDischarge(TokenError):
    """A discharge, ticket or verification id that cannot be used."""

    code = Code.BAD_DISCHARGE


class BadProof(TokenError):
    """A proof that does not verify where the library checks one outside the verifier: the
    holder's signed request to an approver (malformed, stale, dated ahead, or not the holder's
    signature over that token and call)."""

    code = Code.POP_INVALID


class MalformedRequest(DelegationError):
    """A request whose fields or arguments are outside what the spec allows."""

    code: Code = Code.MALFORMED

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PatternError(DelegationError, ValueError):
    """A resource, resource pattern, agent id or agent-id pattern not in canonical form."""


class AuthoringError(DelegationError):
    """A caller asked for something that cannot be built (a bug in the caller)."""


class NotNarrowing(AuthoringError):
    """An attenuation or delegation would allow something its parent does not."""


class MisuseError(DelegationError):
    """An API called in a way that cannot be right: authorizing a chain another verifier
    checked, offline analysis on a verifier that would spend shared state. A caller's bug."""


class KeyringError(DelegationError):
    """A keyring or agent key file that is missing, unreadable or too weak."""


class CaveatFailed(DelegationError):
    """Raised by a caveat's ``check`` when the request does not satisfy it."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Denied(DelegationError):
    """A verifier's denial. ``reasons`` lists every failed check, first one first."""

    def __init__(self, reasons: Sequence[Reason]) -> None:
        if not reasons:
            raise ValueError("a denial needs at least one reason")
        self.reasons: tuple[Reason, ...] = tuple(reasons)
        super().__init__("; ".join(f"{r.code}: {r.detail}" for r in self.reasons))

    @property
    def code(self) -> Code:
        return self.reasons[0].code
