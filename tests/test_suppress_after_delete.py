"""Suppress after delete (FOOTFALL_SUPPRESS_AFTER_DELETE), on both backends through real HTTP and the real
CLI: with it on, later events naming any identifier of a deleted person are acknowledged, counted and
dropped (no profile comes back); the list holds keyed hashes only; off (the default) records nothing."""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import pytest

from footfall.config import from_env
from footfall.failures import ConfigError
from footfall.domain.limits import Limits
from tests.modern import bulk_entry, bulk_event, bulk_job_body, event_body, server_headers
from tests.segment_helpers import SegmentApi
from tests.conftest import query
from tests.servers import ServerThread, server_settings
from tests.test_cli import footfall
from tests.test_privacy_deletion import T0, request_deletion

ON = {"FOOTFALL_SUPPRESS_AFTER_DELETE": "on"}


@pytest.fixture(scope="module")
def suppressing(database_url) -> Iterator[ServerThread]:
    srv = ServerThread(server_settings(database_url=database_url, limits=Limits(suppress_after_delete=True))).start()
    yield srv
    srv.stop()


@pytest.fixture
def api(suppressing, account, database_url) -> Iterator[SegmentApi]:
    a = SegmentApi(suppressing.url, account, database_url)
    yield a
    a.close()



def _counter(database_url: str, account_id: str, name: str) -> int:
    rows = query(database_url, "SELECT value FROM counters WHERE account_id = ? AND name = ?", (account_id, name))
    return rows[0][0] if rows else 0


def _track(api: SegmentApi, props: dict, event_id: str) -> dict:
    return api._legacy("/api/track", {"token": api.account.public_key, "event": "Placed Order", "time": T0,
                                      "customer_properties": props, "properties": {"$event_id": event_id}})


def test_every_later_event_naming_a_deleted_person_is_dropped_and_counted(api, account, database_url, stored):
    ann = _track(api, {"$email": "ann@example.com", "$phone_number": "+14155550100", "$id": "c-ann"}, "a1")["profile_id"]
    _track(api, {"$email": "bob@example.com"}, "b1")
    with httpx.Client(base_url=api.http.base_url, timeout=30) as client:
        # Deleted by id: her email, phone and external id go on the list all the same.
        assert request_deletion(client, account.private_key, id=ann).status_code == 202
        again = _track(api, {"$email": "ANN@example.com"}, "a2")  # acknowledged (status 1), not stored
        assert again["profile_id"] is None and any("dropped" in w for w in again["warnings"])
        _track(api, {"$phone_number": "+14155550100", "$anonymous": "new-device"}, "a3")
        modern = client.post("/api/events", json=event_body("Viewed Page", {"external_id": "c-ann"}),
                             headers=server_headers(account.private_key))
        assert modern.status_code == 202, modern.text
        bulk = client.post("/api/event-bulk-create-jobs", headers=server_headers(account.private_key), json=bulk_job_body([
            bulk_entry({"email": "ann@example.com"}, [bulk_event("Viewed Page", unique_id=f"x{i}") for i in range(3)]),
            bulk_entry({"email": "carl@example.com"}, [bulk_event("Viewed Page", unique_id="c1")])]))
        assert bulk.status_code == 202, bulk.text
    assert {p["email"] for p in stored.profiles()} == {"bob@example.com", "carl@example.com"}
    assert not any(p["phone_number"] or p["anonymous_id"] or p["external_id"] for p in stored.profiles())
    assert len(stored.events()) == 2  # bob's and carl's
    assert _counter(database_url, account.id, "events_dropped_deleted") == 6
    # The list holds keyed hashes, never the identifiers.
    hashes = query(database_url, "SELECT identifier_hash, deletion_id FROM deleted_identifiers WHERE account_id = ?",
                   (account.id,))
    assert len(hashes) == 3 and all(len(h) == 64 for h, _ in hashes)
    assert not {"ann@example.com", "+14155550100", "c-ann"} & {h for h, _ in hashes}


def test_deleting_an_email_nobody_holds_still_suppresses_it(api, account, stored):
    with httpx.Client(base_url=api.http.base_url, timeout=30) as client:
        assert request_deletion(client, account.private_key, email="later@example.com").status_code == 202
    _track(api, {"$email": "later@example.com"}, "l1")
    assert stored.profiles() == [] and stored.events() == []


def test_cli_deletion_with_the_setting_suppresses_at_the_server(api, account, database_url, stored):
    _track(api, {"$email": "dan@example.com"}, "d1")
    done = footfall("privacy", "delete", "--account", account.public_key, "--email", "dan@example.com", "--json",
                    "--database", database_url, env=ON)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["profiles"] == 1
    _track(api, {"$email": "dan@example.com"}, "d2")
    assert stored.profiles() == []


def test_footfall_import_refuses_a_deleted_persons_events_with_their_lines(api, account, database_url, stored,
                                                                          tmp_path):
    _track(api, {"$email": "fay@example.com"}, "f1")
    assert footfall("privacy", "delete", "--account", account.public_key, "--email", "fay@example.com",
                    "--database", database_url, env=ON).returncode == 0
    lines = [{"type": "track", "event": "Signed Up", "userId": "u-fay", "messageId": f"m{i}",
              "timestamp": "2024-05-02T08:00:00Z", "context": {"traits": {"email": email}}}
             for i, email in enumerate(["gus@example.com", "fay@example.com"])]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    done = footfall("import", "events", str(tmp_path / "s.jsonl"), "--account", account.public_key, "--quiet",
                    "--json", "--database", database_url, env=ON)
    summary = json.loads(done.stdout)
    assert (summary["stored"], summary["refused"]) == (1, 1), summary
    assert summary["refusals"][0]["line"] == 2 and "deleted" in summary["refusals"][0]["reason"]
    assert {p["email"] for p in stored.profiles()} == {"gus@example.com"}


def test_off_by_default_nothing_is_recorded_and_the_person_may_come_back(server, client, account, database_url,
                                                                         stored):
    api = SegmentApi(server.url, account, database_url)
    try:
        first = _track(api, {"$email": "eve@example.com"}, "e1")["profile_id"]
        assert request_deletion(client, account.private_key, email="eve@example.com").status_code == 202
        assert query(database_url, "SELECT 1 FROM deleted_identifiers WHERE account_id = ?", (account.id,)) == []
        back = _track(api, {"$email": "eve@example.com"}, "e2")["profile_id"]
        assert back not in (None, first) and len(stored.events()) == 1
    finally:
        api.close()


@pytest.mark.parametrize("raw, expected", [("on", True), ("1", True), ("off", False), ("", False)])
def test_the_setting(raw, expected):
    assert from_env({"FOOTFALL_SUPPRESS_AFTER_DELETE": raw}).limits.suppress_after_delete is expected


def test_a_bad_setting_says_so():
    with pytest.raises(ConfigError, match="FOOTFALL_SUPPRESS_AFTER_DELETE"):
        from_env({"FOOTFALL_SUPPRESS_AFTER_DELETE": "sometimes"})
