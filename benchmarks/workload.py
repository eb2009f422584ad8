"""The workload every column runs, in each system's own terms, and the interface a system offers.

"D hops x 3 caveats": a root grant (audience ``crm``; tools ``crm.read``, ``crm.update``;
actions ``read``, ``write``; resources ``crm://accounts/**``; an expiry), then D delegation hops,
each followed by 3 narrowing caveats: an earlier expiry, the one tool ``crm.read``, the resources
``crm://accounts/42/**``. The call in scope is ``crm.read`` / ``read`` on
``crm://accounts/42/notes``; the calls out of scope are inside the root grant but outside what
the hops narrowed it to, so a verifier that skipped the narrowing would allow them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Generic, TypeVar

from delegation.testing import fixtures

NOW = fixtures.NOW
"""Every system's clock: the fixed time of the tests and vectors (Tenuo: see its module)."""
DEPTHS = (1, 4, 16)
NARROWING_PER_HOP = 3
TTL = 3600
ROOT_TOOLS = ("crm.read", "crm.update")
ROOT_ACTIONS = ("read", "write")
ROOT_RESOURCE = "crm://accounts/**"
HOP_TOOL = "crm.read"
HOP_RESOURCE = "crm://accounts/42/**"


def hop_expiry(root_expiry: int, hop: int) -> int:
    """The narrowing expiry after hop ``hop`` (0-based): 10 s earlier per hop."""
    return root_expiry - 10 * (hop + 1)


@dataclass(frozen=True)
class Call:
    """One tool call, as every system is asked it."""

    audience: str = "crm"
    tool: str = "crm.read"
    action: str = "read"
    resource: str = "crm://accounts/42/notes"


IN_SCOPE = Call()
OUT_OF_SCOPE = (
    replace(IN_SCOPE, resource="crm://accounts/7/notes"),  # the root allows it, hop 1 does not
    replace(IN_SCOPE, tool="crm.update"),  # likewise
)


def resource_allowed(pattern: str, resource: str) -> bool:
    """The workload's resource patterns, for the peers that have none of their own: an exact
    resource, or ``prefix/**`` for everything below ``prefix``."""
    if pattern.endswith("/**"):
        return resource.startswith(pattern[:-2])
    return resource == pattern


Item = TypeVar("Item")


class System(ABC, Generic[Item]):
    """One system's chain at one depth: inputs made before timing, and the verify timed.

    ``cold`` and ``warm`` return whether the call was allowed; before timing, the harness runs
    both on the call in scope (must allow) and on every call out of scope (must deny), through
    the same inputs and code path that are timed.
    """

    name: ClassVar[str]
    signatures: ClassVar[tuple[str, str]]
    """How many signature checks one verify does, cold and warm, in terms of D (the table)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    @abstractmethod
    def cold_inputs(self, n: int, call: Call) -> Sequence[Item]:
        """``n`` first sights of ``call``: a new token each (new agent keys where the system has
        them), each with a verifier of its own that has seen nothing."""

    @abstractmethod
    def warm_inputs(self, n: int, call: Call) -> Sequence[Item]:
        """``n`` calls of ``call`` with the token the verifier has seen before (a fresh proof
        each where the system has proofs)."""

    @abstractmethod
    def cold(self, item: Item) -> bool: ...

    @abstractmethod
    def warm(self, item: Item) -> bool: ...


Timed = Callable[[], None]


def timed(verify: Callable[[Item], bool], items: Sequence[Item]) -> Timed:
    """A call that verifies the next item and fails loudly if it was denied."""
    it = iter(items)

    def call() -> None:
        if not verify(next(it)):
            raise AssertionError("a call in scope was denied while timing")

    return call


def verdict_problems(system: System[Item]) -> list[str]:
    """What is wrong with ``system``'s verdicts: an in-scope call denied, or one out of scope
    allowed, cold or warm. Empty when the real checks run."""
    problems = []
    for mode, make, verify in (
        ("cold", system.cold_inputs, system.cold),
        ("warm", system.warm_inputs, system.warm),
    ):
        if not verify(make(1, IN_SCOPE)[0]):
            problems.append(f"{system.name} {mode} D={system.depth}: denied the call in scope")
        for call in OUT_OF_SCOPE:
            if verify(make(1, call)[0]):
                problems.append(
                    f"{system.name} {mode} D={system.depth}: allowed {call.tool}"
                    f" on {call.resource}, out of scope"
                )
    return problems
