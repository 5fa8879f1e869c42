"""Events without an id: deduplicated by the second by default (Klaviyo's rule), by the full timestamp
under FOOTFALL_DEDUP_WITHOUT_ID=timestamp, on the legacy, client and server paths and both backends."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from footfall import config
from footfall.domain.limits import Limits
from tests.legacy_calls import counter, order, verbose
from tests.modern import client_headers, event_body, server_headers
from tests.servers import ServerThread, new_account, server_settings
from tests.test_import_export import _export, _import

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def by_timestamp(database_url):
    """A second server on the session's database that keys events without an id by full timestamp."""
    srv = ServerThread(server_settings(database_url=database_url,
                                       limits=Limits(dedup_without_id="timestamp"))).start()
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c
    srv.stop()


def send_legacy(client: httpx.Client, account, seconds: float) -> None:
    assert verbose(client, "track", order(account, time=seconds))["status"] == 1


def send_client(client: httpx.Client, account, iso: str) -> None:
    body = event_body("Ordered Product", {"email": "ann@example.com"}, {"item": "Boots"}, time=iso)
    r = client.post("/client/events", params={"company_id": account.public_key}, json=body,
                    headers=client_headers())
    assert r.status_code == 202, r.text


def send_server(client: httpx.Client, account, iso: str) -> None:
    body = event_body("Ordered Product", {"email": "ann@example.com"}, {"item": "Boots"}, time=iso)
    r = client.post("/api/events", json=body, headers=server_headers(account.private_key))
    assert r.status_code == 202, r.text


# Two distinct moments in one second, as each path writes them (epoch seconds or ISO 8601).
PATHS = {
    "legacy": (send_legacy, T0 + 0.25, T0 + 0.75),
    "client": (send_client, "2023-11-14T22:13:20.250Z", "2023-11-14T22:13:20.750000+00:00"),
    "server": (send_server, "2023-11-14T22:13:20.25Z", "2023-11-14T22:13:20.75Z"),
}


@pytest.mark.parametrize("path", PATHS)
def test_by_default_two_events_in_one_second_are_one(client, account, stored, database_url, path):
    send, first, second = PATHS[path]
    send(client, account, first)
    send(client, account, second)
    assert len(stored.events()) == 1
    assert counter(database_url, account, "events_duplicate") == 1


@pytest.mark.parametrize("path", PATHS)
def test_by_timestamp_two_events_in_one_second_are_two(by_timestamp, account, stored, database_url, path):
    send, first, second = PATHS[path]
    send(by_timestamp, account, first)
    send(by_timestamp, account, second)
    send(by_timestamp, account, second)  # the same full timestamp again is still a duplicate
    events = stored.events()
    assert len(events) == 2 and {e["timestamp"] for e in events} == {T0}  # stored to the second as before
    assert counter(database_url, account, "events_duplicate") == 1


def test_by_timestamp_a_whole_second_keeps_its_key_across_the_switch(client, by_timestamp, account, stored):
    """An event stored under the default rule is still a duplicate of its retry after the switch."""
    assert verbose(client, "track", order(account, time=T0))["duplicate"] is False
    assert verbose(by_timestamp, "track", order(account, time=T0))["duplicate"] is True
    assert verbose(by_timestamp, "track", order(account, time=f"{T0}.000001"))["duplicate"] is False
    assert len(stored.events()) == 2


def test_by_timestamp_an_id_still_decides(by_timestamp, account, stored):
    send = {"properties": {"$event_id": "o-1"}}
    assert verbose(by_timestamp, "track", order(account, time=T0 + 0.1, **send))["duplicate"] is False
    assert verbose(by_timestamp, "track", order(account, time=T0 + 0.9, **send))["duplicate"] is True
    assert len(stored.events()) == 1


def test_export_and_import_keep_events_keyed_by_timestamp_apart(by_timestamp, account, stored, database_url,
                                                                tmp_path):
    send_legacy(by_timestamp, account, T0 + 0.25)
    send_legacy(by_timestamp, account, T0 + 0.75)
    profiles = tmp_path / "p.jsonl"
    _export(account, database_url, "profiles", profiles)
    lines = _export(account, database_url, "events", tmp_path / "e.jsonl").splitlines()
    assert sorted(json.loads(line)["dedup_key"] for line in lines) == [f"t:{T0}.250000", f"t:{T0}.750000"]
    other = new_account(database_url, f"dedup-restore-{uuid.uuid4().hex[:8]}")
    assert _import(other, database_url, "profiles", profiles)[0] == 0
    code, result = _import(other, database_url, "events", tmp_path / "e.jsonl")
    assert code == 0 and result["stored"] == 2, result


def test_the_setting_is_read_and_checked():
    assert config.from_env({}).limits.dedup_without_id == "second"
    assert config.from_env({"FOOTFALL_DEDUP_WITHOUT_ID": "Timestamp"}).limits.dedup_without_id == "timestamp"
    with pytest.raises(config.ConfigError, match="FOOTFALL_DEDUP_WITHOUT_ID='minute'"):
        config.from_env({"FOOTFALL_DEDUP_WITHOUT_ID": "minute"})
