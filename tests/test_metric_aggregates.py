"""POST /api/metric-aggregates against a small hand-made data set around DST changes.

Every expectation below is worked out by hand from the event list (comments give each event's local
times), not computed by Footfall's code. US clocks went forward on 2025-03-09 at 07:00Z; Europe's
went forward on 2025-03-30 at 01:00Z and back on 2025-10-26 at 01:00Z.
"""

from __future__ import annotations

import base64
import json

import pytest

from footfall.store import db

REVISION = {"revision": "2026-07-15"}

# (UTC time, profile, $value, extra properties)
EVENTS = [
    # US DST start. New York: EST (-5) until 07:00Z on Mar 9, EDT (-4) after.
    ("2025-03-09T04:30:00Z", "a", 10, {"Item": "Boots"}),               # e1 NY Mar 8 23:30 EST
    ("2025-03-09T05:30:00Z", "a", 20, {"Item": "Boots", "Gift": True}),  # e2 NY Mar 9 00:30 EST
    ("2025-03-09T06:59:59Z", "b", 5, {"Item": "Hat"}),                   # e3 NY Mar 9 01:59:59 EST
    ("2025-03-09T07:00:00Z", "b", 7.5, {"Item": "Hat"}),                 # e4 NY Mar 9 03:00 EDT
    ("2025-03-10T03:59:59Z", "c", 1, {"Item": "Boots"}),                 # e5 NY Mar 9 23:59:59 EDT
    ("2025-03-10T04:00:00Z", "a", 100, {"Item": "Boots"}),               # e6 NY Mar 10 00:00 EDT
    # European DST start. Berlin: CET (+1) until 01:00Z on Mar 30, CEST (+2) after.
    ("2025-03-29T22:30:00Z", "a", 1, {}),                                # f1 Berlin Mar 29 23:30 CET
    ("2025-03-29T23:30:00Z", "a", 2, {}),                                # f2 Berlin Mar 30 00:30 CET
    ("2025-03-30T21:59:59Z", "b", 3, {}),                                # f3 Berlin Mar 30 23:59:59 CEST
    ("2025-03-30T22:00:00Z", "b", 4, {}),                                # f4 Berlin Mar 31 00:00 CEST
    ("2025-03-31T22:30:00Z", "c", 50, {}),                               # g1 Berlin Apr 1 00:30; NY Mar 31
    # European DST end. Berlin: CEST (+2) until 01:00Z on Oct 26, CET (+1) after.
    ("2025-10-25T22:00:00Z", "c", 5, {}),                                # f5 Berlin Oct 26 00:00 CEST
    ("2025-10-26T00:30:00Z", "c", 6, {"Item": "Hat"}),                   # f6 Berlin Oct 26 02:30 CEST
    ("2025-10-26T01:30:00Z", "a", 7, {}),                                # f7 Berlin Oct 26 02:30 CET
    ("2025-10-26T22:59:59Z", "a", 8, {}),                                # f8 Berlin Oct 26 23:59:59 CET
    ("2025-10-26T23:00:00Z", "b", 9, {}),                                # f9 Berlin Oct 27 00:00 CET
    ("2025-11-01T03:30:00Z", "b", 60, {}),                               # g2 NY Oct 31 23:30 EDT; Berlin Nov 1
]


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp())


@pytest.fixture
def metric_id(client, account, database_url) -> str:
    for when, who, value, props in EVENTS:
        payload = {"token": account.public_key, "event": "Placed Order", "time": _epoch(when),
                   "customer_properties": {"$email": f"{who}@example.com"}, "properties": {"$value": value, **props}}
        r = client.get("/api/track", params={"data": base64.b64encode(json.dumps(payload).encode()).decode()})
        assert r.text == "1"
    conn = db.connect(database_url)  # GET /api/metrics lives in another module; read the id directly
    try:
        (mid,) = conn.one("SELECT id FROM metrics WHERE account_id = ? AND name = ?", (account.id, "Placed Order"))
    finally:
        conn.close()
    return mid


def aggregate(client, account, **attributes):
    body = {"data": {"type": "metric-aggregate", "attributes": attributes}}
    return client.post("/api/metric-aggregates", json=body,
                       headers={**REVISION, "Authorization": f"Klaviyo-API-Key {account.private_key}"})


def query(client, account, metric_id, interval, zone, start, end, by=None, extra_filters=()):
    attrs = {"metric_id": metric_id, "measurements": ["count", "sum_value", "unique"], "interval": interval,
             "timezone": zone, "filter": [f"greater-or-equal(datetime,{start})", f"less-than(datetime,{end})",
                                          *extra_filters]}
    if by:
        attrs["by"] = by
    r = aggregate(client, account, **attrs)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["data"]["type"] == "metric-aggregate" and doc["data"]["id"]
    return doc["data"]["attributes"]


def series(count, sum_value, unique, dims=()):
    return {"dimensions": list(dims), "measurements": {"count": count, "sum_value": sum_value, "unique": unique}}


def test_new_york_days_are_23_hours_across_dst(client, account, metric_id):
    got = query(client, account, metric_id, "day", "America/New_York", "2025-03-08T00:00:00", "2025-03-11T00:00:00")
    assert got["dates"] == ["2025-03-08T00:00:00-05:00", "2025-03-09T00:00:00-05:00", "2025-03-10T00:00:00-04:00"]
    assert got["data"] == [series([1, 4, 1], [10, 33.5, 100], [1, 3, 1])]


def test_utc_days(client, account, metric_id):
    got = query(client, account, metric_id, "day", "UTC", "2025-03-08T00:00:00", "2025-03-11T00:00:00")
    assert got["dates"] == ["2025-03-08T00:00:00+00:00", "2025-03-09T00:00:00+00:00", "2025-03-10T00:00:00+00:00"]
    assert got["data"] == [series([0, 4, 2], [0, 42.5, 101], [0, 2, 2])]


def test_new_york_hours_skip_the_missing_hour(client, account, metric_id):
    got = query(client, account, metric_id, "hour", "America/New_York", "2025-03-09T00:00:00", "2025-03-09T05:00:00")
    assert got["dates"] == ["2025-03-09T00:00:00-05:00", "2025-03-09T01:00:00-05:00",
                            "2025-03-09T03:00:00-04:00", "2025-03-09T04:00:00-04:00"]
    assert got["data"] == [series([1, 1, 1, 0], [20, 5, 7.5, 0], [1, 1, 1, 0])]


def test_berlin_days_across_both_changes(client, account, metric_id):
    spring = query(client, account, metric_id, "day", "Europe/Berlin", "2025-03-29T00:00:00", "2025-04-01T00:00:00")
    assert spring["dates"] == ["2025-03-29T00:00:00+01:00", "2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"]
    assert spring["data"] == [series([1, 2, 1], [1, 5, 4], [1, 2, 1])]
    autumn = query(client, account, metric_id, "day", "Europe/Berlin", "2025-10-25T00:00:00", "2025-10-28T00:00:00")
    assert autumn["dates"] == ["2025-10-25T00:00:00+02:00", "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00"]
    assert autumn["data"] == [series([0, 4, 1], [0, 26, 9], [0, 2, 1])]  # Oct 26 is 25 hours long


def test_berlin_hours_keep_the_repeated_hour_apart(client, account, metric_id):
    got = query(client, account, metric_id, "hour", "Europe/Berlin", "2025-10-26T01:00:00", "2025-10-26T04:00:00")
    assert got["dates"] == ["2025-10-26T01:00:00+02:00", "2025-10-26T02:00:00+02:00",
                            "2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00"]
    assert got["data"] == [series([0, 1, 1, 0], [0, 6, 7, 0], [0, 1, 1, 0])]


def test_weeks_start_on_monday_in_local_time(client, account, metric_id):
    ny = query(client, account, metric_id, "week", "America/New_York", "2025-03-03T00:00:00", "2025-03-17T00:00:00")
    assert ny["dates"] == ["2025-03-03T00:00:00-05:00", "2025-03-10T00:00:00-04:00"]
    assert ny["data"] == [series([5, 1], [43.5, 100], [3, 1])]
    berlin = query(client, account, metric_id, "week", "Europe/Berlin", "2025-10-20T00:00:00", "2025-11-03T00:00:00")
    assert berlin["dates"] == ["2025-10-20T00:00:00+02:00", "2025-10-27T00:00:00+01:00"]
    assert berlin["data"] == [series([4, 2], [26, 69], [2, 1])]


def test_calendar_months_in_three_zones(client, account, metric_id):
    utc = query(client, account, metric_id, "month", "UTC", "2025-01-01T00:00:00", "2026-01-01T00:00:00")
    assert utc["dates"] == [f"2025-{m:02d}-01T00:00:00+00:00" for m in range(1, 13)]
    assert utc["data"] == [series([0, 0, 11, 0, 0, 0, 0, 0, 0, 5, 1, 0],
                                  [0, 0, 203.5, 0, 0, 0, 0, 0, 0, 35, 60, 0],
                                  [0, 0, 3, 0, 0, 0, 0, 0, 0, 3, 1, 0])]
    ny = query(client, account, metric_id, "month", "America/New_York", "2025-03-01T00:00:00", "2025-12-01T00:00:00")
    assert ny["dates"] == ["2025-03-01T00:00:00-05:00"] + [f"2025-{m:02d}-01T00:00:00-04:00" for m in range(4, 12)]
    assert ny["data"] == [series([11, 0, 0, 0, 0, 0, 0, 6, 0], [203.5, 0, 0, 0, 0, 0, 0, 95, 0],
                                 [3, 0, 0, 0, 0, 0, 0, 3, 0])]
    berlin = query(client, account, metric_id, "month", "Europe/Berlin", "2025-03-01T00:00:00", "2025-12-01T00:00:00")
    assert berlin["dates"] == (["2025-03-01T00:00:00+01:00"] + [f"2025-{m:02d}-01T00:00:00+02:00" for m in range(4, 11)]
                               + ["2025-11-01T00:00:00+01:00"])
    assert berlin["data"] == [series([10, 1, 0, 0, 0, 0, 0, 5, 1], [153.5, 50, 0, 0, 0, 0, 0, 35, 60],
                                     [3, 1, 0, 0, 0, 0, 0, 3, 1])]


def test_by_event_property(client, account, metric_id):
    got = query(client, account, metric_id, "day", "America/New_York", "2025-03-08T00:00:00", "2025-03-11T00:00:00",
                by=["Item"])
    assert got["data"] == [series([1, 2, 1], [10, 21, 100], [1, 2, 1], ["Boots"]),
                           series([0, 2, 0], [0, 12.5, 0], [0, 1, 0], ["Hat"])]
    two = query(client, account, metric_id, "day", "America/New_York", "2025-03-08T00:00:00", "2025-03-11T00:00:00",
                by=["Item", "Gift"])
    assert two["data"] == [series([1, 1, 1], [10, 1, 100], [1, 1, 1], ["Boots", ""]),
                           series([0, 1, 0], [0, 20, 0], [0, 1, 0], ["Boots", "true"]),
                           series([0, 2, 0], [0, 12.5, 0], [0, 1, 0], ["Hat", ""])]
    # events without the property fall in the "" group
    berlin = query(client, account, metric_id, "week", "Europe/Berlin", "2025-10-20T00:00:00", "2025-11-03T00:00:00",
                   by=["Item"])
    assert berlin["data"] == [series([3, 2], [20, 69], [2, 1], [""]), series([1, 0], [6, 0], [1, 0], ["Hat"])]


def test_filters_on_a_dimension(client, account, metric_id):
    hats = query(client, account, metric_id, "day", "UTC", "2025-03-08T00:00:00", "2025-03-11T00:00:00",
                 extra_filters=['equals(Item,"Hat")'])
    assert hats["data"] == [series([0, 2, 0], [0, 12.5, 0], [0, 1, 0])]
    gifts = query(client, account, metric_id, "day", "UTC", "2025-03-08T00:00:00", "2025-03-11T00:00:00",
                  extra_filters=["equals(Gift,true)"])
    assert gifts["data"] == [series([0, 1, 0], [0, 20, 0], [0, 1, 0])]
    both = query(client, account, metric_id, "day", "UTC", "2025-03-08T00:00:00", "2025-03-11T00:00:00",
                 extra_filters=["any(Item,['Hat','Boots'])"])
    assert both["data"] == [series([0, 4, 2], [0, 42.5, 101], [0, 2, 2])]


def test_explicit_offsets_sort_paging_and_return_fields(client, account, metric_id):
    r = aggregate(client, account, metric_id=metric_id, measurements=["count"], interval="day", timezone="UTC",
                  by=["Item"], sort="-count", page_size=1, return_fields=["data"],
                  filter=["greater-or-equal(datetime,2025-03-08T19:00:00-05:00)",  # = 2025-03-09T00:00:00Z
                          "less-than(datetime,2025-03-10T00:00:00Z)"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["data"]["attributes"] == {"data": [{"dimensions": ["Boots"], "measurements": {"count": [2]}}]}
    cursor = doc["links"]["next"]
    r = aggregate(client, account, metric_id=metric_id, measurements=["count"], interval="day", timezone="UTC",
                  by=["Item"], sort="-count", page_size=1, page_cursor=cursor,
                  filter=["greater-or-equal(datetime,2025-03-09T00:00:00Z)", "less-than(datetime,2025-03-10T00:00:00Z)"])
    assert r.json()["data"]["attributes"]["data"] == [{"dimensions": ["Hat"], "measurements": {"count": [2]}}]
    assert "next" not in r.json()["links"]


@pytest.mark.parametrize("attrs, pointer, words", [
    ({"measurements": ["count", "median"]}, "/data/attributes/measurements/1", "median"),
    ({"measurements": []}, "/data/attributes/measurements", "non-empty"),
    ({"interval": "fortnight"}, "/data/attributes/interval", "fortnight"),
    ({"timezone": "Mars/Olympus"}, "/data/attributes/timezone", "IANA"),
    ({"timezone": "america/new_york"}, "/data/attributes/timezone", "case-sensitive"),
    ({"filter": ["greater-or-equal(datetime,2025-01-01T00:00:00)"]}, "/data/attributes/filter", "range"),
    ({"filter": ["greater-or-equal(datetime,2024-01-01T00:00:00)", "less-than(datetime,2025-06-01T00:00:00)"]},
     "/data/attributes/filter", "one year"),
    ({"filter": ["greater-or-equal(datetime,yesterday)", "less-than(datetime,2025-06-01T00:00:00)"]},
     "/data/attributes/filter/0", "ISO 8601"),
    ({"filter": ["greater-or-equal(datetime,2025-02-01)", "less-than(datetime,2025-01-01)"]},
     "/data/attributes/filter", "empty"),
    ({"filter": ["greater-or-equal(datetime,2025-01-01", "less-than(datetime,2025-02-01)"]},
     "/data/attributes/filter/0", "Invalid filter"),
    ({"by": ["Item", "Item"]}, "/data/attributes/by", "twice"),
    ({"page_size": 0}, "/data/attributes/page_size", "page_size"),
    ({"sort": "-median"}, "/data/attributes/sort", "median"),
    ({"colour": "red"}, "/data/attributes/colour", "colour"),
])
def test_bad_queries_name_the_offending_part(client, account, attrs, pointer, words):
    base = {"metric_id": "AbCdEf", "measurements": ["count"], "interval": "day",
            "filter": ["greater-or-equal(datetime,2025-01-01T00:00:00)", "less-than(datetime,2025-02-01T00:00:00)"]}
    r = aggregate(client, account, **{**base, **attrs})
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["code"] == "invalid" and error["source"]["pointer"] == pointer and words in error["detail"]


def test_unknown_metric_is_404_and_scope_is_checked(client, account, database_url):
    r = aggregate(client, account, metric_id="NoSuch", measurements=["count"],
                  filter=["greater-or-equal(datetime,2025-01-01T00:00:00)", "less-than(datetime,2025-02-01T00:00:00)"])
    assert r.status_code == 404 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/metric_id"
    from footfall.store import accounts

    conn = db.connect(database_url)
    try:
        events_only = accounts.create_key(conn, account.id, "events only", ("events:read",))
    finally:
        conn.close()
    r = client.post("/api/metric-aggregates", headers={**REVISION, "Authorization": f"Klaviyo-API-Key {events_only}"},
                    json={"data": {"type": "metric-aggregate", "attributes": {}}})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_denied"
