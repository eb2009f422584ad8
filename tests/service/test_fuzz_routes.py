"""Schemathesis against the service's own OpenAPI description, over real HTTP: for generated
bodies, paths and queries, valid ones and invalid ones, no route answers a 5xx, and every
refusal is a ``{code, detail}`` body. Each route is called with a key of a role it takes, so
the bodies reach the routes rather than stopping at authentication.

The operations are driven through ``APIOperation.as_strategy`` under Hypothesis directly (the
schemathesis pytest plugin does not load under this pytest)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from .conftest import Served

ROLES = {
    "/v1/apikeys": "admin",
    "/v1/apikeys/{key_id}/revoke": "admin",
    "/v1/tasks": "approver",
    "/v1/tasks/{task_id}": "approver",
    "/v1/tasks/{task_id}/close": "approver",
    "/v1/tasks/{task_id}/tree": "auditor",
    "/v1/keys": "admin",
    "/v1/keys/rotate": "admin",
    "/v1/keys/{key_id}/retire": "admin",
    "/v1/verify": "verifier",
    "/v1/verify/batch": "verifier",
    "/v1/settle": "verifier",
    "/v1/revocations": "admin",
    "/v1/audit": "auditor",
    "/v1/audit/checkpoint": "auditor",
    "/v1/approvals": "approver",  # GET lists for approvers; POST ignores keys (the agent asks)
    "/v1/approvals/{approval_id}/decision": "approver",
}
EXAMPLES = 25


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_is_a_server_error(served: Served, mode: GenerationMode) -> None:
    api = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    keys = {
        "admin": served.admin,
        "approver": served.key("approver", "fuzz"),
        "verifier": served.key("verifier", "fuzz", ["crm"]),
        "auditor": served.key("auditor", "fuzz"),
    }
    results = list(api.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "the OpenAPI description is bad"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert {op.path for op in operations} >= set(ROLES)
    fuzzed = 0
    for operation in operations:
        role = ROLES.get(operation.path)
        headers = {} if role is None else {"Authorization": f"Bearer {keys[role]}"}
        try:
            _fuzz(served.url, operation, mode, headers)
            fuzzed += 1
        except Unsatisfiable:
            # No invalid input exists for a route that takes none, or only free text in its
            # path (GET /healthz, GET /v1/tasks/{task_id}); every route with a body has one.
            assert mode is GenerationMode.NEGATIVE
            assert not operation.body
    assert fuzzed >= (len(ROLES) if mode is GenerationMode.POSITIVE else 7)


def _fuzz(url: str, operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    where = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=headers)
        assert response.status_code < 500, f"{where}: {response.text}"
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "detail"}, f"{where}: {response.text}"

    call()
