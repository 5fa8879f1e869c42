"""Membership kept current as data arrives and as time passes, through a server with a short sweep."""

from __future__ import annotations

import time
import uuid

import pytest

from footfall import clock
from tests.segment_helpers import SegmentApi, wait_until
from tests.segment_oracle import Person
from tests.servers import ServerThread, new_account, server_settings

pytestmark = pytest.mark.serial  # timing-bound: make test runs it after the parallel part

SWEEP = 0.3


@pytest.fixture(scope="module")
def live_server(database_url):
    srv = ServerThread(server_settings(database_url=database_url, segment_sweep_seconds=SWEEP)).start()
    yield srv
    srv.stop()


@pytest.fixture
def api(live_server, database_url):
    client = SegmentApi(live_server.url, new_account(database_url, f"live-{uuid.uuid4().hex[:10]}"), database_url)
    client.identify(Person("seed@x.co"))
    client.track("seed@x.co", "Bought", int(time.time()) - 10 * 86400, None, {}, "seed")
    client.track("seed@x.co", "Viewed", int(time.time()) - 10 * 86400, None, {}, "seed")
    yield client
    client.close()


@pytest.fixture
def restore_clock():
    yield
    clock.set_offset(0)


def bought_recently(api: SegmentApi, hours: int = 1) -> dict:
    return {"condition_groups": [{"conditions": [{
        "type": "profile-metric", "metric_id": api.metric_ids()["Bought"], "measurement": "count",
        "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": hours, "unit": "hour"}}]}]}


def is_member(api: SegmentApi, segment_id: str, email: str) -> bool:
    return email in api.member_emails("segments", segment_id)


def test_an_event_makes_a_member_within_a_second_of_its_ack(api):
    sid = api.segment_id(bought_recently(api))
    api.wait_processed([sid])
    for i in range(3):
        email = f"buyer{i}@x.co"
        api.track(email, "Bought", int(time.time()), 5, {}, f"b{i}")  # acknowledged = committed
        took = wait_until(lambda: is_member(api, sid, email), timeout=1.0, interval=0.01)
        assert took < 1.0


def test_did_it_in_the_last_hour_ends_when_the_hour_passes(api, restore_clock):
    sid = api.segment_id(bought_recently(api))
    api.wait_processed([sid])
    api.track("late@x.co", "Bought", int(clock.now()) - 1800, 1, {}, "late")
    wait_until(lambda: is_member(api, sid, "late@x.co"), timeout=1.0)
    clock.set_offset(1700)  # 28 min later: 58 min after the event, still inside the hour
    time.sleep(SWEEP * 3)
    assert is_member(api, sid, "late@x.co")
    clock.set_offset(1860)  # 61 min after the event
    wait_until(lambda: not is_member(api, sid, "late@x.co"), timeout=SWEEP * 3 + 1)
    [left] = [m for m in api.members("segments", sid) if m["attributes"]["email"] == "late@x.co"] or [None]
    assert left is None


def test_time_relative_profile_dates_are_rechecked(api, restore_clock):
    soon = time.time() + 2 * 3600
    api.identify(Person("trial@x.co", None, {"TrialEnds": int(soon)}))
    sid = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-property", "property": "properties['TrialEnds']",
        "filter": {"type": "date", "operator": "in-the-next", "quantity": 1, "unit": "hour"}}]}]})
    api.wait_processed([sid])
    assert not is_member(api, sid, "trial@x.co")
    clock.set_offset(3700)  # the trial now ends within the hour
    wait_until(lambda: is_member(api, sid, "trial@x.co"), timeout=SWEEP * 3 + 1)
    clock.set_offset(2 * 3600 + 60)  # and now it has ended
    wait_until(lambda: not is_member(api, sid, "trial@x.co"), timeout=SWEEP * 3 + 1)


def test_zero_times_and_property_changes_are_live(api):
    never = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-metric", "metric_id": api.metric_ids()["Bought"],
        "measurement_filter": {"type": "numeric", "operator": "equals", "value": 0}}]}]})
    pro = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-property", "property": "properties['Plan']",
        "filter": {"type": "string", "operator": "equals", "value": "pro"}}]}]})
    api.wait_processed([never, pro])
    api.identify(Person("new@x.co"))
    wait_until(lambda: is_member(api, never, "new@x.co"), timeout=1.0)  # a new profile has bought zero times
    api.track("new@x.co", "Bought", int(time.time()), None, {}, "n1")
    wait_until(lambda: not is_member(api, never, "new@x.co"), timeout=1.0)
    api.identify(Person("new@x.co", None, {"Plan": "pro"}))
    wait_until(lambda: is_member(api, pro, "new@x.co"), timeout=1.0)
    api.identify(Person("new@x.co", None, {"Plan": "free"}))
    wait_until(lambda: not is_member(api, pro, "new@x.co"), timeout=1.0)


def test_nested_segments_follow_live(api):
    inner = api.segment_id(bought_recently(api, 24))
    outer = api.segment_id({"condition_groups": [
        {"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": [inner]}]},
        {"conditions": [{"type": "profile-marketing-consent", "consent": {"channel": "email",
                                                                         "can_receive_marketing": True}}]}]})
    api.wait_processed([inner, outer])
    api.identify(Person("nest@x.co", None, {}, {}, ["email"]))
    api.track("nest@x.co", "Bought", int(time.time()), None, {}, "n")
    wait_until(lambda: is_member(api, outer, "nest@x.co"), timeout=1.0)
    assert is_member(api, inner, "nest@x.co")


def test_a_merged_profile_leaves_and_the_survivor_keeps_its_lists(api):
    lid = api.create_list()
    anon = api._legacy("/api/identify", {"token": api.account.public_key,
                                         "properties": {"$anonymous": "anon-1", "Plan": "x"}})["profile_id"]
    api.profile_ids["anon"] = anon
    assert api.list_members(lid, ["anon"]).status_code == 204
    known = api.identify(Person("merge@x.co"))
    api._legacy("/api/identify", {"token": api.account.public_key,
                                  "properties": {"$email": "merge@x.co", "$anonymous": "anon-1"}})
    wait_until(lambda: {m["id"] for m in api.members("lists", lid)} == {known}, timeout=SWEEP * 3 + 2)
