"""GET /openapi.json: a valid OpenAPI 3.1 document that describes exactly the routes the app serves."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from footfall.app import create_app
from footfall.config import Settings
from footfall.domain import segment_definitions as definitions
from footfall.webhooks.ssrf import Allow
from footfall.wire import aggregate_query, webhooks
from footfall.wire.jsonapi import ApiError

# Documented routes not served yet (none today). The test fails on an entry that becomes served,
# so the set cannot go stale.
PENDING_ROUTES: set[tuple[str, str]] = set()
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # HEAD is implied by GET; OPTIONS answers CORS preflights


def served_routes() -> set[tuple[str, str]]:
    """(method, path) of every route, with `{id}` for any path parameter and without trailing-slash twins."""
    routes = create_app(Settings()).routes
    paths = {getattr(r, "path", None) for r in routes}
    out: set[tuple[str, str]] = set()
    for route in routes:
        if (getattr(route, "name", None) or "").startswith("console"):
            continue  # the console's HTML pages (footfall/console/) are not API operations
        assert isinstance(route, Route), f"{route!r}: only plain routes are expected"
        if route.path != "/" and route.path.endswith("/"):
            assert route.path.rstrip("/") in paths, f"{route.path} has no twin without the slash"
            continue
        path = re.sub(r"\{[^}]+\}", "{id}", route.path)
        out |= {(m, path) for m in (route.methods or {"GET"}) - IGNORED_METHODS}
    return out


def documented_routes(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


# Bodies of /openapi.json already validated. The document does not depend on the backend (footfall/api/
# openapi.py builds it from constants and encodes it once per process), so the second backend's server serves
# the same bytes: validating them again (~3-10 s) would check nothing new. A body that differs is validated.
_VALIDATED: set[bytes] = set()


def test_the_document_is_valid_openapi_3_1(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    if r.content not in _VALIDATED:
        validate(doc)
        _VALIDATED.add(r.content)


def test_every_served_route_is_documented_and_every_documented_route_served(client):
    doc = client.get("/openapi.json").json()
    served, documented = served_routes(), documented_routes(doc)
    assert served - documented == set(), "served but not in footfall/api/openapi.py"
    assert documented - served == PENDING_ROUTES, (
        f"documented but not served: {sorted(documented - served - PENDING_ROUTES)}; "
        f"served now, remove from PENDING_ROUTES: {sorted(PENDING_ROUTES & served)}")


def test_modern_operations_carry_revision_security_and_errors(client):
    doc = client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        if not path.startswith(("/api/", "/client/")) or path in ("/api/track", "/api/identify"):
            continue
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert {"$ref": "#/components/parameters/revision"} in operation["parameters"], where
            if path.startswith("/client/"):  # as in Klaviyo's spec: a query parameter, a 400 without it
                assert {"$ref": "#/components/parameters/company_id"} in operation["parameters"], where
                assert operation["security"] == [], where
            else:
                assert operation["security"] == [{"KlaviyoApiKey": []}], where
            assert operation["responses"]["429"] == {"$ref": "#/components/responses/429"}, where
    assert doc["components"]["securitySchemes"]["KlaviyoApiKey"]["name"] == "Authorization"
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"id", "status", "code", "title", "detail"}


def test_integers_are_read_as_the_document_types_them():
    """The document types counts as JSON Schema integers, which 5.0 is (some encoders write it so); the
    decoders take it as 5 and still refuse 5.5 and true (found by schemathesis, issue 12)."""
    body = {"data": {"type": "webhook", "attributes": {"batch_size": 5.0}}}
    assert webhooks.webhook_fields(body, Allow(), creating=False)["batch_size"] == 5
    assert aggregate_query._page_size(10.0) == 10
    condition = {"condition_groups": [{"conditions": [{"type": "profile-property", "property": "properties['tags']",
                                                       "filter": {"type": "list", "operator": "length-equals",
                                                                  "value": 2.0}}]}]}
    assert definitions.parse(condition).groups[0][0].filter.value == 2
    for bad in (5.5, True):
        with pytest.raises(ApiError):
            aggregate_query._page_size(bad)
        with pytest.raises(ApiError):
            webhooks.webhook_fields({"data": {"type": "webhook", "attributes": {"batch_size": bad}}}, Allow(),
                                    creating=False)
