"""Route declarations and the route map (specs/http.md); the derivation's rules are pinned by
the vectors in tests/vectors/test_http_vectors.py."""

from __future__ import annotations

import pytest

from delegation.errors import MalformedRequest, MisuseError
from delegation.http import PUBLIC, BodyBinding, Route, RouteMap, derive_request, protect, public
from delegation.http.routes import MappedRoute, declaration_of


def test_protect_marks_the_endpoint_and_returns_it_unchanged() -> None:
    def handler() -> None: ...

    assert protect("crm.read", "read", "crm://a/{id}")(handler) is handler
    assert declaration_of(handler) == Route("crm.read", "read", "crm://a/{id}")
    assert declaration_of(public(handler)) is PUBLIC
    assert declaration_of(object()) is None


@pytest.mark.parametrize("template", ["crm://a/{id", "crm://a/{1x}", "crm://a/{id}}"])
def test_a_template_that_is_not_one_is_refused(template: str) -> None:
    with pytest.raises(MisuseError):
        Route("t", "a", template)


def test_the_body_binding_is_read_from_text() -> None:
    assert Route("t", "a", body="digest").body is BodyBinding.DIGEST  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="xml"):
        Route("t", "a", body="xml")  # type: ignore[arg-type]


def test_a_route_map_round_trips_and_refuses_what_it_cannot_read() -> None:
    routes = RouteMap(
        "crm",
        [
            MappedRoute(("GET",), "/h", PUBLIC),
            MappedRoute(("POST",), "/a/{id:int}", Route("t", "a", "crm://a/{id}")),
        ],
    )
    again = RouteMap.from_json(routes.to_json())
    assert again.to_json() == routes.to_json()
    for doc in (None, {"format": "x"}, {**routes.to_json(), "routes": [{"path": "/x"}]}):
        with pytest.raises(MalformedRequest):
            RouteMap.from_json(doc)
    with pytest.raises(MalformedRequest):
        RouteMap("crm", [MappedRoute(("GET",), "/a/{id:float}", PUBLIC)])


def test_the_audience_comes_from_the_caller_never_the_request() -> None:
    request = derive_request(Route("t", "a"), audience="crm", path_params={})
    assert request.audience == "crm"
    assert request.resource is None
