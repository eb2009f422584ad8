"""delegation: macaroon-based tokens that carry a human-approved task down a chain of agents.

The verbs: :func:`mint` a root token for an approved task, bound to the first agent's key;
:func:`attenuate` it offline; :func:`delegate` it to a sub-agent's key with a signed hop;
:func:`prove` possession for one request; :meth:`Verifier.verify` the whole chain. A call that
needs a human: :func:`prove_for_approval` signs the request to the :class:`Approver`, whose yes
holds for that holder and chain only; :func:`bind_discharge` binds it to the token.

Laws, each enforced by the verifier and tested:

- A caveat can only narrow authority, and no holder can remove one.
- A hop counts only when signed by the holder in force; the last holder signs every request.
- Anything the verifier does not understand, cannot parse or cannot check denies.
- Every denial carries stable reason codes (:class:`Code`), the hop and the caveat that failed.
- State that cannot answer denies (``store_unavailable``); a verifier built without state
  (``state=None``) denies every call it would have to count or spend (``state_required``).
"""

from delegation._decision import Balance, Decision, Reason
from delegation._keys import AgentKey, Keyring, RootKey, decode_public_key, encode_public_key
from delegation._proof import prove, prove_for_approval
from delegation._request import Request
from delegation._task import Agent, Link, TaskRecord
from delegation._thirdparty.approval import (
    Approver,
    bind_discharge,
    require_approval,
)
from delegation._thirdparty.caveat import ApproverKey, Rule
from delegation._token import Scope, UnverifiedToken, attenuate, decode, delegate, mint
from delegation._verifier import VerifiedChain, Verifier
from delegation._version import __version__ as __version__
from delegation.caveats import (
    ArgConstraint,
    ArgOp,
    ArgsOnly,
    Budget,
    Caveat,
    MaxUses,
    Registry,
    default_registry,
)
from delegation.errors import (
    AuthoringError,
    BadDischarge,
    BadProof,
    Code,
    DelegationError,
    Denied,
    KeyringError,
    MalformedRequest,
    MalformedToken,
    MisuseError,
    NotNarrowing,
    PatternError,
    TokenError,
    TokenTooLarge,
)
from delegation.stores import (
    InvalidRevocation,
    MemoryState,
    Revocation,
    RevocationKind,
    SettledCharge,
    SettleReason,
    SettleRefused,
    SQLiteState,
    State,
    StoreUnavailable,
)

__all__ = [
    "Agent",
    "AgentKey",
    "Approver",
    "ApproverKey",
    "ArgConstraint",
    "ArgOp",
    "ArgsOnly",
    "AuthoringError",
    "BadDischarge",
    "BadProof",
    "Balance",
    "Budget",
    "Caveat",
    "Code",
    "Decision",
    "DelegationError",
    "Denied",
    "InvalidRevocation",
    "Keyring",
    "KeyringError",
    "Link",
    "MalformedRequest",
    "MalformedToken",
    "MaxUses",
    "MemoryState",
    "MisuseError",
    "NotNarrowing",
    "PatternError",
    "Reason",
    "Registry",
    "Request",
    "Revocation",
    "RevocationKind",
    "RootKey",
    "Rule",
    "SQLiteState",
    "Scope",
    "SettleReason",
    "SettleRefused",
    "SettledCharge",
    "State",
    "StoreUnavailable",
    "TaskRecord",
    "TokenError",
    "TokenTooLarge",
    "UnverifiedToken",
    "VerifiedChain",
    "Verifier",
    "__version__",
    "attenuate",
    "bind_discharge",
    "decode",
    "decode_public_key",
    "default_registry",
    "delegate",
    "encode_public_key",
    "mint",
    "prove",
    "prove_for_approval",
    "require_approval",
]
