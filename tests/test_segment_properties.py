"""Generated people, events and definitions: the server's SQL evaluation equals the oracle's, on both backends.

Hypothesis draws a small world (profiles with loosely typed properties, locations, consent and
events) and two definitions, the second of which may name the first (nested membership) and a list.
Data goes in through /api/identify and /api/track; segments are created through /api/segments.
"""

from __future__ import annotations

import os
import time
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import segment_oracle as oracle
from tests.segment_helpers import SegmentApi
from tests.segment_oracle import Event, Person
from tests.servers import new_account

H, D = 3600, 86400
NOW = int(time.time())
PROPS = ("Plan", "Age", "Tags", "VIP", "Seen")
WORDS = ["pro", "free", "Pro", "pr", "", "x pro"]

# -- data ---------------------------------------------------------------------------------------------
dates = st.one_of(
    st.integers(-30, 30).map(lambda k: oracle.iso(NOW + k * D + 1800)),
    st.integers(-30, 30).map(lambda k: NOW + k * D - 1800),
    st.just("soon"),
)
values = st.one_of(
    st.sampled_from(WORDS), st.integers(-5, 50), st.sampled_from([0.5, 2.25, 30.0]), st.booleans(),
    st.lists(st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 3)), max_size=3), dates,
)
events = st.builds(
    Event, metric=st.sampled_from(["Bought", "Viewed"]),
    time=st.integers(0, 200).map(lambda h: NOW - h * H - 1800),
    value=st.sampled_from([None, 1, 2.5, 10]),
    properties=st.fixed_dictionaries({}, optional={"Category": st.sampled_from(["Shoes", "Hats"]),
                                                   "Price": st.integers(0, 20)}),
)


@st.composite
def worlds(draw) -> list[Person]:
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        props = draw(st.fixed_dictionaries({}, optional={k: values for k in PROPS}))
        location = draw(st.fixed_dictionaries({}, optional={"city": st.sampled_from(["Paris", "London"]),
                                                            "country": st.sampled_from(["France", "UK"])}))
        consent = draw(st.lists(st.sampled_from(["email", "sms"]), unique=True, max_size=2))
        evs = draw(st.lists(events, max_size=4, unique_by=lambda e: (e.metric, e.time)))
        out.append(Person(f"p{i}@{draw(st.sampled_from(['x.co', 'y.org']))}", None, props, location, consent, evs))
    return out


# -- definitions ----------------------------------------------------------------------------------------
relative = st.fixed_dictionaries({"operator": st.sampled_from(["in-the-last", "in-the-next", "at-least"]),
                                  "quantity": st.integers(1, 20), "unit": st.sampled_from(["hour", "day", "week"])})
static_date = st.integers(-40, 40).map(lambda k: oracle.iso(NOW + k * D - 900))


@st.composite
def filters(draw, kind: str) -> dict:
    if kind == "string":
        op = draw(st.sampled_from(["equals", "not-equals", "contains", "not-contains", "starts-with",
                                   "not-starts-with", "ends-with", "not-ends-with", "in", "not-in"]))
        if op in ("in", "not-in"):
            value = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        else:
            value = draw(st.sampled_from(WORDS + ["o", "@x.co", "p1"]))
        return {"type": "string", "operator": op, "value": value}
    if kind == "numeric":
        op = draw(st.sampled_from(["equals", "not-equals", "greater-than", "greater-than-or-equal", "less-than",
                                   "less-than-or-equal"]))
        return {"type": "numeric", "operator": op, "value": draw(st.sampled_from([0, 2.25, 10, 30, -1]))}
    if kind == "boolean":
        return {"type": "boolean", "operator": draw(st.sampled_from(["equals", "not-equals"])), "value": draw(st.booleans())}
    if kind == "existence":
        return {"type": "existence", "operator": draw(st.sampled_from(["is-set", "not-set"]))}
    if kind == "list":
        op = draw(st.sampled_from(["contains", "not-contains", "contains-any", "contains-all", "not-contains-any",
                                   "length-equals", "length-greater-than", "length-less-than-or-equal"]))
        item = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 3))
        if op.startswith("length-"):
            value = draw(st.integers(0, 3))
        elif op in ("contains", "not-contains"):
            value = draw(item)
        else:
            value = draw(st.lists(item, min_size=1, max_size=3))
        return {"type": "list", "operator": op, "value": value}
    # date
    op = draw(st.sampled_from(["before", "after", "between-static", "relative"]))
    if op == "relative":
        return {"type": "date", **draw(relative)}
    if op == "between-static":
        a, b = sorted([draw(static_date), draw(static_date)])
        return {"type": "date", "operator": op, "start": a, "end": b}
    return {"type": "date", "operator": op, "date": draw(static_date)}


@st.composite
def property_condition(draw) -> dict:
    target = draw(st.sampled_from([f"properties['{p}']" for p in PROPS] + ["email", "location.city"]))
    if target == "email":
        kind = draw(st.sampled_from(["string", "existence"]))
    else:
        kind = draw(st.sampled_from(["string", "numeric", "boolean", "existence", "list", "date"]))
    return {"type": "profile-property", "property": target, "filter": draw(filters(kind))}


@st.composite
def metric_condition(draw) -> dict:
    cond = {"type": "profile-metric", "metric_id": draw(st.sampled_from(["Bought", "Viewed"])),
            "measurement": draw(st.sampled_from(["count", "sum"])),
            "measurement_filter": draw(filters("numeric")) | {"value": draw(st.sampled_from([0, 1, 2, 2.5, 10]))}}
    tf = draw(st.sampled_from(["alltime", "in-the-last", "between-static", "after", "before"]))
    if tf == "in-the-last":
        cond["timeframe_filter"] = {"type": "date", "operator": tf, "quantity": draw(st.integers(1, 10)),
                                    "unit": draw(st.sampled_from(["hour", "day"]))}
    elif tf == "between-static":
        a, b = sorted([draw(static_date), draw(static_date)])
        cond["timeframe_filter"] = {"type": "date", "operator": tf, "start": a, "end": b}
    elif tf != "alltime":
        cond["timeframe_filter"] = {"type": "date", "operator": tf, "date": draw(static_date)}
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["string", "existence"]))
        flt = draw(filters(kind))
        if kind == "string":
            flt["value"] = draw(st.sampled_from(["Shoes", "Hats"])) if not isinstance(flt["value"], list) else ["Shoes"]
        cond["metric_filters"] = [{"property": "Category", "filter": flt}]
    return cond


other_conditions = st.one_of(
    st.builds(lambda ch, can: {"type": "profile-marketing-consent",
                               "consent": {"channel": ch, "can_receive_marketing": can}},
              st.sampled_from(["email", "sms"]), st.booleans()),
    st.builds(lambda f, op, v: {"type": "profile-location", "field": f, "filter": {"type": "string", "operator": op,
                                                                                     "value": v if "in" not in op else [v]}},
              st.sampled_from(["city", "country"]), st.sampled_from(["equals", "not-equals", "in", "not-in"]),
              st.sampled_from(["Paris", "France", "UK"])),
    st.builds(lambda member: {"type": "profile-group-membership", "is_member": member, "group_ids": ["@L"]},
              st.booleans()),
)
conditions = st.one_of(property_condition(), property_condition(), metric_condition(), metric_condition(),
                       other_conditions)
definitions = st.lists(st.lists(conditions, min_size=1, max_size=3), min_size=1, max_size=3).map(
    lambda groups: {"condition_groups": [{"conditions": g} for g in groups]})


def _resolve(node, ids):
    if isinstance(node, dict):
        return {k: _resolve(v, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, ids) for v in node]
    return ids.get(node, node) if isinstance(node, str) else node


@settings(max_examples=int(os.environ.get("FOOTFALL_SEGMENT_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds(), first=definitions, second=definitions, nest=st.sampled_from([None, True, False]),
       listed=st.lists(st.integers(0, 5), max_size=3))
def test_generated_segments_match_oracle(server, database_url, world, first, second, nest, listed):
    account = new_account(database_url, f"prop-{uuid.uuid4().hex[:10]}")
    api = SegmentApi(server.url, account, database_url)
    try:
        world[0].events.append(Event("Bought", NOW - 10 * D, 1))  # both metrics exist in every world
        world[0].events.append(Event("Viewed", NOW - 10 * D, 1))
        api.load(world)
        ids = api.metric_ids()
        list_id = api.create_list("L")
        in_list = sorted({world[i].email for i in listed if i < len(world)})
        if in_list:
            assert api.list_members(list_id, in_list).status_code == 204
        ids["@L"] = list_id
        first_def = _resolve(first, ids)
        a = api.segment_id(first_def, "A")
        second_def = _resolve(second, ids)
        if nest is not None:
            second_def["condition_groups"].append({"conditions": [
                {"type": "profile-group-membership", "is_member": nest, "group_ids": [a]}]})
        b = api.segment_id(second_def, "B")
        api.wait_processed([a, b])
        names = {mid: name for name, mid in api.metric_ids().items()}
        groups = {list_id: set(in_list)}
        groups[a] = oracle.members(first_def, world, time.time(), names, groups)
        assert api.member_emails("segments", a) == groups[a], first_def
        assert api.member_emails("segments", b) == oracle.members(second_def, world, time.time(), names, groups), second_def
    finally:
        api.close()
