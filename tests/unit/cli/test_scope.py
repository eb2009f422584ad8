"""The effective scope ``inspect`` shows (``delegation.cli._scope``): the intersection of every
caveat, including caveats the public API would refuse to append (any holder can append them)."""

from __future__ import annotations

from delegation import Agent, Scope, TaskRecord, mint
from delegation.caveats import ResourceCaveat, Tool, Validity
from delegation.cli._scope import effective_scope
from delegation.testing.fixtures import agent_key, keyring, root_key
from tests.conftest import NOW
from tests.unit._forge import append_raw

KEYRING = keyring(root_key(1))  # TEST FIXTURE ONLY
HOLDER = Agent("orchestrator", agent_key(2).public_key)  # TEST FIXTURE ONLY
TASK = TaskRecord(task_id="t", approved_by="a", approved_at=NOW, statement="s")


def test_names_and_times_intersect() -> None:
    root = mint(
        KEYRING, TASK, HOLDER,
        Scope(audiences=["crm"], tools=["a", "b"], expires_in=600, not_before=NOW - 5), now=NOW,
    )  # fmt: skip
    token = append_raw(root, Tool(("b", "c")).encode(), Validity(NOW - 1, NOW + 60).encode())
    scope = effective_scope(token)
    assert scope.tools == ("b",)
    assert scope.actions is None  # no caveat: any
    assert (scope.not_before, scope.expires) == (NOW - 1, NOW + 60)
    assert scope.expired(NOW + 60)
    assert not scope.expired(NOW + 59)


def test_caveats_that_exclude_each_other_allow_nothing() -> None:
    root = mint(KEYRING, TASK, HOLDER,
                Scope(audiences=["crm"], tools=["a"], expires_in=600), now=NOW)  # fmt: skip
    assert effective_scope(append_raw(root, Tool(("z",)).encode())).tools == ()


def test_resources_are_the_widest_patterns_every_caveat_covers() -> None:
    root = mint(KEYRING, TASK, HOLDER,
                Scope(audiences=["crm"], resources=["crm://a/**"], expires_in=600),
                now=NOW)  # fmt: skip
    narrower = ResourceCaveat(("crm://a/notes/*", "crm://a/notes/x", "crm://b/*"))
    token = append_raw(root, narrower.encode())
    # crm://b/* is outside the root's pattern; crm://a/notes/x is inside crm://a/notes/*.
    assert effective_scope(token).resources == ("crm://a/notes/*",)
    assert effective_scope(root).resources == ("crm://a/**",)
