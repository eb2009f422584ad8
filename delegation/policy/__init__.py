"""Policy as code at request time: rules an organisation sets over the verified chain.

A :class:`Policy` given to a :class:`delegation.Verifier` (``policy=``) is asked about each
call that every caveat, discharge and the proof allow, before any use, approval or budget is
spent, and can only deny: ``policy_denied`` naming the policies that refused, or
``policy_unavailable`` when it cannot answer (an error, an unparseable policy set, a timeout).
What it sees is :class:`PolicyInput` (``specs/policy.md``), which never holds a secret.

Two engines, each an optional extra imported only when used: :mod:`delegation.policy.cedar`
(``pip install 'delegation[cedar]'``) and :mod:`delegation.policy.rego`
(``pip install 'delegation[rego]'``); :func:`load_policy` picks one from a file's name.
"""

from delegation._decision import PolicyResult
from delegation.policy._manifest import load_policy
from delegation.policy._model import (
    INPUT_VERSION,
    Narrowed,
    Policy,
    PolicyAgent,
    PolicyApproval,
    PolicyFailure,
    PolicyInput,
    PolicyLoadError,
    PolicyUnavailable,
    Verdict,
)

__all__ = [
    "INPUT_VERSION",
    "Narrowed",
    "Policy",
    "PolicyAgent",
    "PolicyApproval",
    "PolicyFailure",
    "PolicyInput",
    "PolicyLoadError",
    "PolicyResult",
    "PolicyUnavailable",
    "Verdict",
    "load_policy",
]
