"""Every condition type and operator, on both backends, against the plain-Python oracle.

One small, hand-made data set (loaded through /api/identify and /api/track) and many definitions:
all are created at once, evaluated in the background by the server, then compared one by one.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

import pytest

from tests import segment_oracle as oracle
from tests.segment_helpers import SegmentApi
from tests.segment_oracle import Event, Person
from tests.servers import new_account

H, D = 3600, 86400
NOW = int(time.time())
ISO = oracle.iso


def people() -> list[Person]:
    return [
        Person("ann@x.co", None, {"Plan": "pro", "Age": 30, "Tags": ["a", "b"], "VIP": True, "Seen": ISO(NOW - 2 * D - 1800)},
               {"city": "Paris", "country": "France"}, ["email"],
               [Event("Bought", NOW - 2 * H - 1800, 10, {"Category": "Shoes", "Price": 10}),
                Event("Bought", NOW - 30 * H - 1800, 5, {"Category": "Hats", "Price": 5}),
                Event("Viewed", NOW - 1800)]),
        Person("bob@x.co", None, {"Plan": "free", "Age": 20.5, "Tags": ["b", 3], "VIP": False, "Seen": NOW - 10 * D - 1800},
               {"city": "London", "country": "UK"}, ["sms"], [Event("Viewed", NOW - 50 * H - 1800)]),
        Person("cat@y.org", None, {"Plan": "Pro", "Age": "30", "Tags": "a", "VIP": "true", "Seen": "soon"},
               {"city": "Paris"}, ["email", "sms"], [Event("Bought", NOW - 1800, None, {"Category": "Shoes"})]),
        Person("dan@y.org"),
        Person("eve@x.co", "Eve", {"Plan": "", "Age": 45, "Tags": [], "Seen": ISO(NOW + 3 * D + 1800),
                                   "Meta": {"a": 1}},
               {"country": "France"}, [],
               [Event("Bought", NOW - 100 * H - 1800 + i, i + 1, {"Category": c, "Price": 9.5})
                for i, c in enumerate(["Shoes", "Bags", "Shoes"])]),
        Person("fay@z.net", None, {"Plan": "professional", "Age": -1, "Tags": [1, 2, 3.5], "Seen": "2020-01-15",
                                   "VIP": True},
               {}, [], [Event("Viewed", NOW - 5 * D - 1800), Event("Viewed", NOW - 6 * D - 1800)]),
    ]


def prop(prop_: str, type_: str, operator: str, **extra: Any) -> dict:
    return {"type": "profile-property", "property": prop_, "filter": {"type": type_, "operator": operator, **extra}}


def metric(name: str, operator: str, value: float, measurement: str = "count", timeframe: dict | None = None,
           filters: list | None = None) -> dict:
    c = {"type": "profile-metric", "metric_id": name, "measurement": measurement,
         "measurement_filter": {"type": "numeric", "operator": operator, "value": value}}
    if timeframe:
        c["timeframe_filter"] = {"type": "date", **timeframe}
    if filters:
        c["metric_filters"] = filters
    return c


def one(*conditions: dict) -> dict:
    """A definition of one group (the conditions ORed)."""
    return {"condition_groups": [{"conditions": list(conditions)}]}


def all_of(*conditions: dict) -> dict:
    """A definition of one group per condition (ANDed)."""
    return {"condition_groups": [{"conditions": [c]} for c in conditions]}


PLAN, AGE, TAGS, VIP, SEEN = (f"properties['{n}']" for n in ("Plan", "Age", "Tags", "VIP", "Seen"))
CASES: dict[str, dict] = {
    # strings
    **{f"string {op}": one(prop(PLAN, "string", op, value="pro"))
       for op in ("equals", "not-equals", "contains", "not-contains", "starts-with", "not-starts-with",
                  "ends-with", "not-ends-with")},
    "string in": one(prop(PLAN, "string", "in", value=["pro", "free", ""])),
    "string not-in": one(prop(PLAN, "string", "not-in", value=["pro", "free"])),
    "string empty value starts-with": one(prop(PLAN, "string", "starts-with", value="")),
    "email ends-with": one(prop("email", "string", "ends-with", value="@x.co")),
    "email contains": one(prop("email", "string", "contains", value="y.or")),
    # numbers
    **{f"numeric {op}": one(prop(AGE, "numeric", op, value=30))
       for op in ("equals", "not-equals", "greater-than", "greater-than-or-equal", "less-than", "less-than-or-equal")},
    "numeric fraction": one(prop(AGE, "numeric", "less-than", value=20.6)),
    # booleans
    "boolean true": one(prop(VIP, "boolean", "equals", value=True)),
    "boolean false": one(prop(VIP, "boolean", "equals", value=False)),
    "boolean not-equals": one(prop(VIP, "boolean", "not-equals", value=True)),
    # existence
    "is-set custom": one(prop(PLAN, "existence", "is-set")),
    "not-set custom": one(prop(VIP, "existence", "not-set")),
    "is-set object": one(prop("properties['Meta']", "existence", "is-set")),
    "is-set first_name": one(prop("first_name", "existence", "is-set")),
    "not-set location": one(prop("location.country", "existence", "not-set")),
    # lists
    "list contains string": one(prop(TAGS, "list", "contains", value="b")),
    "list contains number": one(prop(TAGS, "list", "contains", value=3)),
    "list not-contains": one(prop(TAGS, "list", "not-contains", value="a")),
    "list contains-any": one(prop(TAGS, "list", "contains-any", value=["a", 2])),
    "list contains-all": one(prop(TAGS, "list", "contains-all", value=["a", "b"])),
    "list not-contains-all": one(prop(TAGS, "list", "not-contains-all", value=["b", 3])),
    **{f"list {op}": one(prop(TAGS, "list", op, value=2))
       for op in ("length-equals", "length-not-equals", "length-greater-than", "length-greater-than-or-equal",
                  "length-less-than", "length-less-than-or-equal")},
    "list length zero": one(prop(TAGS, "list", "length-equals", value=0)),
    # dates
    "date before": one(prop(SEEN, "date", "before", date=ISO(NOW - 3 * D))),
    "date after": one(prop(SEEN, "date", "after", date=ISO(NOW - 3 * D))),
    "date between": one(prop(SEEN, "date", "between", start=ISO(NOW - 11 * D), end=ISO(NOW - D))),
    "date between-static": one(prop(SEEN, "date", "between-static", start="2020-01-01", end="2020-02-01")),
    "date in-the-last days": one(prop(SEEN, "date", "in-the-last", quantity=3, unit="day")),
    "date in-the-last weeks": one(prop(SEEN, "date", "in-the-last", quantity=2, unit="week")),
    "date in-the-next": one(prop(SEEN, "date", "in-the-next", quantity=4, unit="day")),
    "date at-least ago": one(prop(SEEN, "date", "at-least", quantity=5, unit="day")),
    "date created in-the-last hours": one(prop("created", "date", "in-the-last", quantity=1, unit="hour")),
    # metrics
    "metric at least once": one(metric("Bought", "greater-than-or-equal", 1)),
    "metric zero times": one(metric("Bought", "equals", 0)),
    "metric less than 2": one(metric("Bought", "less-than", 2)),
    "metric not-equals 1": one(metric("Bought", "not-equals", 1)),
    "metric exactly 3": one(metric("Bought", "equals", 3)),
    "metric sum": one(metric("Bought", "greater-than", 5, "sum")),
    "metric sum zero": one(metric("Bought", "less-than-or-equal", 0, "sum")),
    "metric in the last 24 hours": one(metric("Bought", "greater-than", 0, timeframe={
        "operator": "in-the-last", "quantity": 24, "unit": "hour"})),
    "metric zero in the last 3 days": one(metric("Viewed", "equals", 0, timeframe={
        "operator": "in-the-last", "quantity": 3, "unit": "day"})),
    "metric between": one(metric("Bought", "greater-than", 0, timeframe={
        "operator": "between-static", "start": ISO(NOW - 40 * H), "end": ISO(NOW - 20 * H)})),
    "metric since": one(metric("Viewed", "greater-than", 0, timeframe={"operator": "after", "date": ISO(NOW - 4 * D)})),
    "metric before": one(metric("Viewed", "greater-than-or-equal", 2, timeframe={"operator": "before",
                                                                                 "date": ISO(NOW - D)})),
    "metric with event filter": one(metric("Bought", "greater-than-or-equal", 2, filters=[
        {"property": "Category", "filter": {"type": "string", "operator": "equals", "value": "Shoes"}}])),
    "metric zero with event filter": one(metric("Bought", "equals", 0, filters=[
        {"property": "Category", "filter": {"type": "string", "operator": "in", "value": ["Hats", "Bags"]}}])),
    "metric negated event filter": one(metric("Bought", "greater-than", 0, filters=[
        {"property": "Category", "filter": {"type": "string", "operator": "not-equals", "value": "Shoes"}},
        {"property": "Price", "filter": {"type": "numeric", "operator": "less-than", "value": 9.6}}])),
    # consent and location
    "consent email can": one({"type": "profile-marketing-consent", "consent": {"channel": "email",
                                                                               "can_receive_marketing": True}}),
    "consent sms cannot": one({"type": "profile-marketing-consent", "consent": {"channel": "sms",
                                                                                "can_receive_marketing": False}}),
    "location country equals": one({"type": "profile-location", "field": "country",
                                    "filter": {"type": "string", "operator": "equals", "value": "France"}}),
    "location city in": one({"type": "profile-location", "field": "city",
                             "filter": {"type": "string", "operator": "in", "value": ["Paris", "Berlin"]}}),
    "location country not-in": one({"type": "profile-location", "field": "country",
                                    "filter": {"type": "string", "operator": "not-in", "value": ["France"]}}),
    "location via property": one(prop("location.city", "string", "equals", value="London")),
    # membership and combinations
    "in list": one({"type": "profile-group-membership", "is_member": True, "group_ids": ["@L1"]}),
    "not in list": one({"type": "profile-group-membership", "is_member": False, "group_ids": ["@L1"]}),
    "in segment or list": one({"type": "profile-group-membership", "is_member": True, "group_ids": ["@A", "@L1"]}),
    "not in segment": one({"type": "profile-group-membership", "is_member": False, "group_ids": ["@A"]}),
    "AND of groups": all_of(prop(PLAN, "existence", "is-set"), metric("Viewed", "greater-than", 0)),
    "OR within group": one(prop(AGE, "numeric", "greater-than", value=40), metric("Bought", "equals", 0)),
    "AND of ORs with negations": {"condition_groups": [
        {"conditions": [prop(PLAN, "string", "not-contains", value="pro"), prop(VIP, "boolean", "equals", value=True)]},
        {"conditions": [metric("Viewed", "equals", 0), prop("email", "string", "ends-with", value=".co")]},
        {"conditions": [{"type": "profile-group-membership", "is_member": False, "group_ids": ["@L1"]},
                        prop(TAGS, "list", "contains", value="a")]},
    ]},
}
# Segment A, which other definitions name as "@A".
BASE_A = one(prop(PLAN, "string", "starts-with", value="pro"), prop(AGE, "numeric", "greater-than", value=40))


def _resolve(node: Any, ids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _resolve(v, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, ids) for v in node]
    if isinstance(node, str) and node in ids:
        return ids[node]
    return node


@pytest.fixture(scope="module")
def evaluated(server, database_url):
    """All CASES created as segments over one data set; returns (api, {case: segment id}, oracle groups)."""
    account = new_account(database_url, f"conditions-{uuid.uuid4().hex[:8]}")
    api = SegmentApi(server.url, account, database_url)
    data = people()
    api.load(data)
    mids = api.metric_ids()
    l1 = api.create_list("L1")
    assert api.list_members(l1, ["ann@x.co", "cat@y.org"]).status_code == 204
    ids = {**mids, "@L1": l1}
    a = api.segment_id(_resolve(BASE_A, ids), "A")
    ids["@A"] = a
    segment_ids = {name: api.segment_id(_resolve(d, ids), name) for name, d in CASES.items()}
    api.wait_processed([a, *segment_ids.values()])
    names = {mid: name for name, mid in mids.items()}
    groups = {l1: {"ann@x.co", "cat@y.org"}}
    groups[a] = oracle.members(_resolve(BASE_A, ids), data, time.time(), names, groups)
    yield api, ids, segment_ids, groups, names, data
    api.close()


@pytest.mark.parametrize("case", list(CASES))
def test_condition_matches_oracle(evaluated, case):
    api, ids, segment_ids, groups, names, data = evaluated
    expected = oracle.members(_resolve(CASES[case], ids), data, time.time(), names, groups)
    assert api.member_emails("segments", segment_ids[case]) == expected


def test_cases_are_not_trivial(evaluated):
    """The data set separates the operators: most cases select some people but not everyone."""
    api, ids, segment_ids, groups, names, data = evaluated
    sizes = [len(oracle.members(_resolve(d, ids), data, time.time(), names, groups)) for d in CASES.values()]
    assert sum(1 for s in sizes if 0 < s < len(data)) >= len(CASES) * 0.8
