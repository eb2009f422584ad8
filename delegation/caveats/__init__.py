"""Caveat families and their registry. ``default_registry()`` knows every core family."""

from delegation.caveats.approved import ApprovedFor
from delegation.caveats.args import ArgConstraint, ArgOp, Args, ArgsOnly
from delegation.caveats.budget import Budget
from delegation.caveats.call import Call
from delegation.caveats.delegatee import Delegatees
from delegation.caveats.depth import MaxDepth
from delegation.caveats.hop import Hop
from delegation.caveats.names import Action, Audience, Intent, Tool
from delegation.caveats.registry import (
    APPLICATION_TYPE_IDS,
    Caveat,
    CheckContext,
    ParentView,
    Registry,
    UnknownCaveat,
)
from delegation.caveats.resource import ResourceCaveat
from delegation.caveats.uses import MaxUses
from delegation.caveats.validity import Validity

CORE_FAMILIES: tuple[type[Caveat], ...] = (
    Validity,
    Audience,
    Tool,
    Action,
    ResourceCaveat,
    Intent,
    Args,
    MaxDepth,
    Delegatees,
    Hop,
    Call,
    MaxUses,
    ArgsOnly,
    ApprovedFor,
    Budget,
)


def default_registry() -> Registry:
    """A new registry holding the core families; register application families on it."""
    return Registry(CORE_FAMILIES)


__all__ = [
    "APPLICATION_TYPE_IDS",
    "CORE_FAMILIES",
    "Action",
    "ApprovedFor",
    "ArgConstraint",
    "ArgOp",
    "Args",
    "ArgsOnly",
    "Audience",
    "Budget",
    "Call",
    "Caveat",
    "CheckContext",
    "Delegatees",
    "Hop",
    "Intent",
    "MaxDepth",
    "MaxUses",
    "ParentView",
    "Registry",
    "ResourceCaveat",
    "Tool",
    "UnknownCaveat",
    "Validity",
    "default_registry",
]
