"""Generated and mutated requests for every operation in /openapi.json (schemathesis + hypothesis),
validated by every schemathesis check: no 5xx, response schema, status code and content type
conformance, response headers, negative data rejected, positive data accepted, missing required
headers refused, undocumented methods answered 405 with `Allow`, `Allow` of OPTIONS as documented.

Besides, every 4xx under /api and /client (except the legacy /api/track and /api/identify, which
speak their own protocol) is a JSON:API error document. Requests carry a valid key (and company_id on
/client) so that generation reaches past authentication, except where a check drops the key.

FOOTFALL_FUZZ_EXAMPLES (default 10) sets the examples per operation and generation mode (valid and
invalid); FOOTFALL_FUZZ_BACKENDS (default "sqlite"; "sqlite,postgres" for both) the stores to run against. The coverage
phase (every boundary, type mutation, missing header and undocumented method the schema implies) always
runs. A long, random run: FOOTFALL_FUZZ_RANDOM=1 FOOTFALL_FUZZ_EXAMPLES=300 pytest tests/test_fuzz_openapi.py
"""

from __future__ import annotations

import copy
import os
import unittest
import uuid
import zlib
from urllib.parse import unquote

import msgspec
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.control import SkipTest
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.builder import (InvalidHeadersExampleMark, MissingPathParameters,
                                                        UnserializablePayloadMark)
from schemathesis.generation.hypothesis.reporting import ignore_hypothesis_output
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.pytest._keys import track_schema
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.pytest.plugin import SchemaHandleMark
from schemathesis.pytest.warnings import emit_unserializable_payload_warning
from schemathesis.python._constants.orchestrator import make_constants_value_source

from footfall.api import openapi
from footfall.api import posthog_capture, segment_spec
from footfall.api.posthog_capture import CAPTURE_PATHS
from footfall.api.openapi_schemas import DIMENSION_CONDITION
from footfall.store import db, keys
from tests.conftest import drop_pg_database, make_pg_database, make_sqlite_database
from tests.servers import ServerThread, new_account, server_settings

EXAMPLES = int(os.environ.get("FOOTFALL_FUZZ_EXAMPLES", "10"))
# SQLite by default (the run on both takes twice as long); FOOTFALL_FUZZ_BACKENDS=sqlite,postgres for both.
BACKENDS = [b.strip() for b in os.environ.get("FOOTFALL_FUZZ_BACKENDS", "sqlite").split(",") if b.strip()]
LEGACY = ("/api/track", "/api/identify")
UVICORN_REFUSAL = b"Invalid HTTP request received."
MAX_ITEMS = 4  # arrays in generated bodies stay short: generating 1000-item bulk bodies takes seconds each


def bounded(node):
    """A copy of the document whose array schemas allow at most MAX_ITEMS items."""
    if isinstance(node, list):
        return [bounded(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: bounded(value) for key, value in node.items()}
    if out.get("type") == "array":
        out["maxItems"] = min(out.get("maxItems", MAX_ITEMS), MAX_ITEMS)
        out["minItems"] = min(out.get("minItems", 0), MAX_ITEMS)
    return out


# Datetime ranges the aggregates decoder accepts (lower bound in the first half of 2025, upper bound in
# the second), so that generation reaches the query itself instead of stopping at "range required".
_DAY = r"(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):00:00\)$"
_LOWER = {"type": "string", "pattern": r"^(greater-or-equal|greater-than)\(datetime,2025-0[1-6]-" + _DAY}
_UPPER = {"type": "string", "pattern": r"^(less-than|less-or-equal)\(datetime,2025-(0[7-9]|1[0-2])-" + _DAY}


def request_schemas(doc: dict) -> set[str]:
    """Names of the component schemas a request body refers to, directly or through others."""
    names: set[str] = set()
    todo = [op.get("requestBody", {}) for ops in doc["paths"].values() for op in ops.values()]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            target = node.get("$ref", "")
            if target.startswith("#/components/schemas/") and target.rsplit("/", 1)[1] not in names:
                names.add(target.rsplit("/", 1)[1])
                todo.append(doc["components"]["schemas"][target.rsplit("/", 1)[1]])
            todo.extend(node.values())
    return names


def fuzz_document() -> dict:
    doc = copy.deepcopy(openapi.document())
    for ops in doc["paths"].values():  # only what is sent is bounded: answers are checked as documented
        for op in ops.values():
            if "requestBody" in op:
                op["requestBody"] = bounded(op["requestBody"])
    schemas = doc["components"]["schemas"]
    for name in request_schemas(doc) - {"JsonValue"}:  # JsonValue is in answers too (and its arrays are short)
        schemas[name] = bounded(schemas[name])
    # A cursor is opaque: only one the server issued is valid (tests/test_read_*.py follow links.next).
    for ops in doc["paths"].values():
        for op in ops.values():
            op["parameters"] = [p for p in op.get("parameters", [])
                                if p.get("$ref") != "#/components/parameters/page_cursor"
                                and p.get("name") != "page[cursor]"]
    # An accepted stream never ends (that is its job); tests/test_stream.py covers its parameters.
    doc["paths"].pop("/api/stream", None)
    attrs = doc["components"]["schemas"]["MetricAggregateQuery"]["properties"]["data"]["properties"]["attributes"]
    # The bounds first, in a range the decoder accepts (a schema cannot say "end after start, at most a year").
    attrs["properties"]["filter"] = {"type": "array", "prefixItems": [_LOWER, _UPPER], "minItems": 2,
                                     "items": {"type": "string", "pattern": f"^{DIMENSION_CONDITION}$"},
                                     "maxItems": MAX_ITEMS}
    attrs["properties"]["timezone"] = {"enum": ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]}
    del attrs["properties"]["page_cursor"]  # a random cursor is refused before the query runs
    # Real dates only (Feb 30 matches the documented pattern but is refused), so most requests get past it.
    doc["components"]["parameters"]["revision"]["schema"]["pattern"] = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"
    return doc


# Paths that another path's handler serves with the same documented operation (checked below by
# test_an_alias_is_its_paths_handler_and_operation). Their coverage phase would send the same ~3,000
# cases as their path's, case for case, to the same code; they get the generated examples only.
ALIASES = {"/v1/import": "/v1/batch", **{path: "/capture" for path in CAPTURE_PATHS if path != "/capture"}}


def fuzzed(document: dict, *, aliases: bool):
    """The operations to fuzz: every one but the aliases (with the coverage phase), or the aliases."""
    whole = schemathesis.openapi.from_dict(document)
    out = whole.include(path=list(ALIASES)) if aliases else whole.exclude(path=list(ALIASES))
    out.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES)
    # The coverage phase is where missing required headers and undocumented methods are tried.
    out.config.phases.coverage.enabled = not aliases
    return out


DOCUMENT = fuzz_document()
schema = fuzzed(DOCUMENT, aliases=False)
alias_schema = fuzzed(DOCUMENT, aliases=True)

# Checks skipped on an operation: "METHOD /path" -> check names. Left (issue 12), the Segment and PostHog
# routes, which are fuzzed with a real write key and pass positive_data_acceptance and the rest:
# - negative_data_rejection: an event's time is placed at now - (sentAt - timestamp), which must fall
#   between 2000-01-01 and a year ahead, and epoch milliseconds are read as well as ISO text; no schema can
#   say that of two fields and the clock, so the document shows pairs that always fit (timestamps in
#   2000-2019, sentAt in 2020-2025) and a boundary just outside them is still accepted.
KNOWN_GAPS: dict[str, tuple[str, ...]] = {
    **{f"POST /v1/{call}": ("negative_data_rejection",)
       for call in ("screen", "track", "page", "identify", "group", "alias", "batch", "import")},
    **{f"{method} {path}": ("negative_data_rejection",)
       for path in ("/capture", "/batch", "/e", "/i/v0/e", "/i/v0/ai/batch") for method in ("GET", "POST")},
}


@pytest.fixture(scope="module", params=BACKENDS)
def target(request, tmp_path_factory):
    """A server of its own (limits far above the fuzzing rate) and an account with a full-scope key."""
    if request.param == "sqlite":
        url = make_sqlite_database(tmp_path_factory.mktemp("fuzz"))
    else:
        url = make_pg_database()
    # No fsync per SQLite commit: what is fuzzed is how requests are answered, which durability does
    # not change (the crash drills test that, on `footfall serve` with the default FULL); the accepted
    # requests' commits cost 10% of this file's time (157 s against 175 s in all on a quiet machine).
    srv = ServerThread(server_settings(database_url=url, sqlite_synchronous="OFF")).start()
    account = new_account(url, f"fuzz-{uuid.uuid4().hex[:8]}")
    real_ids = seed(srv.url, url, account)
    conn = db.connect(url)
    try:  # the Segment and PostHog routes take a source (write) key
        real_ids["write_key"] = keys.create_key(conn, account.id, "fuzz source", kind="write").secret
    finally:
        conn.close()
    session = requests.Session()
    session.trust_env = False  # no proxy lookup per request
    yield srv, account, session, real_ids
    session.close()
    srv.stop()
    if request.param == "postgres":
        drop_pg_database(url)


def seed(base_url: str, database_url: str, account) -> dict[str, str]:
    """One stored event, so generated requests can name a real profile, event and metric."""
    payload = {"token": account.public_key, "event": "Fuzzed", "customer_properties": {"$email": "fuzz@example.com"},
               "properties": {"$value": 3, "Item": "x"}, "time": 1740000000}
    r = requests.post(f"{base_url}/api/track", params={"verbose": "1"}, json=payload, timeout=10)
    answer = r.json()
    conn = db.connect(database_url)
    try:
        (metric_id,) = conn.one("SELECT id FROM metrics WHERE account_id = ?", (account.id,))
    finally:
        conn.close()
    listed = requests.post(f"{base_url}/api/lists", json={"data": {"type": "list", "attributes": {"name": "Fuzzed"}}},
                           headers={"Authorization": f"Klaviyo-API-Key {account.private_key}",
                                    "revision": "2026-07-15"}, timeout=10)
    return {"profiles": answer["profile_id"], "events": answer["event_id"], "metrics": metric_id,
            "lists": listed.json()["data"]["id"]}


def real_references(node, real_ids: dict[str, str]) -> None:
    """A segment definition names this account's metric and list (an unknown one is a 400, documented)."""
    if isinstance(node, list):
        for item in node:
            real_references(item, real_ids)
    elif isinstance(node, dict):
        if node.get("type") == "profile-metric" and isinstance(node.get("metric_id"), str):
            node["metric_id"] = real_ids["metrics"]
        if node.get("type") == "profile-group-membership" and isinstance(node.get("group_ids"), list):
            node["group_ids"] = [real_ids["lists"]]
        for value in node.values():
            real_references(value, real_ids)


def use_real_ids(case, real_ids: dict[str, str]) -> None:
    """Half the generated ids (by a stable hash) become real ones, so routes are fuzzed past their 404."""
    parts = case.path.split("/")
    params = case.path_parameters or {}
    if len(parts) > 2 and parts[2] in real_ids and params:
        name = next(iter(params))
        if zlib.crc32(repr(params[name]).encode()) % 2 == 0:
            case.path_parameters = {**params, name: real_ids[parts[2]]}
    body = case.body if isinstance(case.body, dict) else None
    data = body.get("data") if body else None
    if case.method == "PATCH" and isinstance(data, dict) and "id" in data and case.path_parameters:
        data["id"] = unquote(str(case.path_parameters["id"]))  # documented: the id in the path (ProfilePatch, …)
    attrs = body.get("data", {}).get("attributes") if body and isinstance(body.get("data"), dict) else None
    if case.path == "/api/metric-aggregates" and isinstance(attrs, dict) and "metric_id" in attrs:
        attrs["metric_id"] = real_ids["metrics"]
    if case.path.startswith("/api/segments") and isinstance(attrs, dict):
        real_references(attrs.get("definition"), real_ids)
    # The destination is a stored profile, so a merge is fuzzed past its 404 (and the generated sources, which
    # are not it, past "a profile cannot be merged into itself", which no schema can say).
    if case.path == "/api/profile-merge" and isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
        data["id"] = real_ids["profiles"]


def is_jsonapi_error(body: bytes) -> bool:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return (isinstance(errors, list) and bool(errors)
            and all(isinstance(e, dict) and {"id", "status", "code", "title", "detail"} <= e.keys() for e in errors))


def dropped(case, name: str) -> bool:
    """Whether this is the coverage phase's case without the required parameter `name`."""
    data = case.meta.phase.data if case.meta is not None else None
    return (isinstance(data, CoveragePhaseData) and data.scenario == CoverageScenario.MISSING_PARAMETER
            and (data.parameter or "").lower() == name.lower())


# Shrinking a failure re-runs it hundreds of times; the first failing case is reported as found. The
# examples are the same on every run (derandomized) unless FOOTFALL_FUZZ_RANDOM=1.
FUZZ_SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck),
                         phases=[Phase.explicit, Phase.generate],
                         derandomize=os.environ.get("FOOTFALL_FUZZ_RANDOM") != "1")


# Each operation's hypothesis test is built when its test runs, not when the file is collected, as
# `@schema.parametrize()` would: building one is where schemathesis computes its coverage phase (~35 s for
# the whole document), and every pytest process collects this file (both `make test` workers, though one
# runs it). The building and the running below are what schemathesis's pytest plugin does for a
# `parametrize()` item (schemathesis/pytest/plugin.py: `_gen_items`, `pytest_pyfunc_call`), but stricter:
# an operation for which no case could be made fails instead of being skipped.
@schema.parametrize()
@FUZZ_SETTINGS
def fuzz_one(case, target):
    check(case, target)


@alias_schema.parametrize()
@FUZZ_SETTINGS
def fuzz_one_alias(case, target):
    check(case, target)


def labelled(test_function) -> dict[str, object]:
    """The operations of the schema a `parametrize()`d function was given, by label (an unloadable one is
    kept as its error, which its test raises)."""
    out = {}
    for result in SchemaHandleMark.get(test_function).get_all_operations():
        out[result.ok().label if isinstance(result, Ok) else result.err().label] = result
    return out


OPERATIONS = labelled(fuzz_one)
ALIAS_OPERATIONS = labelled(fuzz_one_alias)
_FEEDBACK: dict[int, FeedbackSources] = {}


def run_operation(request, test_function, result, **fixtures) -> None:
    __tracebackhide__ = True
    if not isinstance(result, Ok):
        raise result.err()
    operation = result.ok()
    fuzzed_schema = SchemaHandleMark.get(test_function)
    load_all_checks()
    track_schema(request.config, fuzzed_schema)  # its run-wide (after_run) checks are run at the session's end
    feedback = _FEEDBACK.setdefault(id(fuzzed_schema), FeedbackSources(
        constants_value_source=make_constants_value_source(fuzzed_schema)))
    test = build_operation_test(config=fuzzed_schema.config, operation=operation, test_func=test_function,
                                given_kwargs={}, feedback=feedback)
    try:
        with ignore_hypothesis_output():
            test(**fixtures)
    except FailureGroup as exc:
        raise as_reported_failure(exc) from None
    except (SkipTest, unittest.SkipTest, pytest.skip.Exception, Unsatisfiable) as exc:
        pytest.fail(f"{operation.label}: no case could be run: {exc}")
    if (media_types := UnserializablePayloadMark.get(test)) is not None:
        emit_unserializable_payload_warning(media_types)
    if (headers := InvalidHeadersExampleMark.get(test)) is not None:
        pytest.fail(f"{operation.label}: an example has invalid headers: {headers}")
    if (missing := MissingPathParameters.get(test)) is not None:
        raise missing


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_check_and_jsonapi_errors(request, operation, target):
    run_operation(request, fuzz_one, OPERATIONS[operation], target=target)


@pytest.mark.parametrize("operation", ALIAS_OPERATIONS)
def test_every_check_on_an_alias(request, operation, target):
    run_operation(request, fuzz_one_alias, ALIAS_OPERATIONS[operation], target=target)


def test_an_alias_is_its_paths_handler_and_operation():
    """What lets an alias skip the coverage phase: its path's handler and operation (but for id and summary)."""
    served = {route.path: route.endpoint for route in [*segment_spec.routes, *posthog_capture.routes]}
    doc = openapi.document()
    def unnamed(op: dict) -> dict:
        return {k: v for k, v in op.items() if k not in ("operationId", "summary")}

    for alias, path in ALIASES.items():
        assert served[alias] is served[path], alias
        for method, op in doc["paths"][path].items():
            assert unnamed(doc["paths"][alias][method]) == unnamed(op), f"{method} {alias}"


def check(case, target) -> None:
    """Send one generated case and run every check on its answer (but KNOWN_GAPS)."""
    srv, account, session, real_ids = target
    use_real_ids(case, real_ids)
    auth = None
    if case.path.startswith("/client/"):
        generated = (case.query or {}).get("company_id")
        negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
        if not dropped(case, "company_id") and not (negative and zlib.crc32(repr(generated).encode()) % 2):
            case.query = {**(case.query or {}), "company_id": account.public_key}  # half the invalid ones stay
    elif case.path.startswith("/api/") and case.path not in LEGACY and not dropped(case, "Authorization"):
        case.headers = {**(case.headers or {}), "Authorization": f"Klaviyo-API-Key {account.private_key}"}
    elif case.path.startswith("/v1/") and not dropped(case, "Authorization"):
        auth = (real_ids["write_key"], "")  # Basic, passed so that the ignored_auth probes can take it away
    elif case.operation.definition.raw.get("operationId", "").startswith("posthog_"):
        case.query = {**(case.query or {}), "token": real_ids["write_key"]}
    skipped = CHECKS.get_by_names(KNOWN_GAPS.get(f"{case.method} {case.path}", ()))
    response = case.call_and_validate(base_url=srv.url, session=session, timeout=30, excluded_checks=skipped,
                                      **({"auth": auth} if auth else {}))
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.content[:300]!r}"
    if response.content == UVICORN_REFUSAL:  # refused by the HTTP parser before reaching the app
        return
    if 400 <= response.status_code < 500 and case.path.startswith(("/api/", "/client/")) and case.path not in LEGACY:
        assert is_jsonapi_error(response.content), where


def test_a_public_key_with_a_nul_byte_is_unknown_not_a_500(client):
    """Found by fuzzing: PostgreSQL refuses NUL in text, so such a key must never reach the query."""
    payload = {"token": "AB\x00CD", "event": "x", "customer_properties": {"$email": "a@example.com"}}
    r = client.post("/api/track", params={"verbose": "1"}, json=payload)
    assert r.status_code == 200 and r.json()["status"] == 0
