"""Deletion jobs through real HTTP and the real CLI, on both backends: every read surface forgets the
person, the deletion record keeps only a keyed hash, bad requests and other keys change nothing."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from footfall.store import db, keys
from tests.modern import REVISION, error, read_only_key, server_headers  # noqa: F401 (fixture)
from tests.segment_helpers import SegmentApi, wait_until
from tests.segment_oracle import Person
from tests.servers import new_account
from tests.test_cli import footfall

DELETIONS = "/api/data-privacy-deletion-jobs"
T0 = 1_700_000_000


def deletion_body(**identifier) -> dict:
    profile: dict = {"type": "profile"}
    if "id" in identifier:
        profile["id"] = identifier.pop("id")
    if identifier:
        profile["attributes"] = identifier
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}


def request_deletion(client, key: str, **identifier) -> httpx.Response:
    return client.post(DELETIONS, json=deletion_body(**identifier), headers=server_headers(key))


@pytest.fixture
def api(server, account, database_url):
    a = SegmentApi(server.url, account, database_url)
    yield a
    a.close()


def _people() -> list[Person]:
    return [Person(email=f"{name}@example.com", properties={"Plan": "pro"}) for name in ("ann", "bob")]


def _load(api: SegmentApi, events_each: int = 30) -> dict[str, str]:
    for person in _people():
        api.identify(person)
        for i in range(events_each):
            api.track(person.email, "Placed Order", T0 + i, 10.0, {"sku": f"s{i}"}, f"{person.email}-{i}")
    return api.profile_ids


def _count(database_url: str, sql: str, params: tuple) -> int:
    conn = db.connect(database_url)
    try:
        return conn.one(sql, params)[0]
    finally:
        conn.close()


def test_deletion_forgets_the_person_on_every_read_surface(api, client, account, database_url, stored):
    ids = _load(api)
    ann, bob = ids["ann@example.com"], ids["bob@example.com"]
    list_id = api.create_list("VIP")
    assert api.list_members(list_id, ["ann@example.com", "bob@example.com"]).status_code == 204
    segment_id = api.segment_id({"condition_groups": [{"conditions": [{
        "type": "profile-property", "property": "properties['Plan']",
        "filter": {"type": "string", "operator": "equals", "value": "pro"}}]}]})
    api.wait_processed([segment_id])
    assert len(api.members("segments", segment_id)) == 2
    # An anonymous profile merged into ann: its merge record could re-identify her through the old id.
    r = api.http.post("/api/profile-merge", json={"data": {"type": "profile-merge", "id": ann, "relationships": {
        "profiles": {"data": [{"type": "profile", "id": _anonymous(api)}]}}}})
    assert r.status_code == 202, r.text

    r = request_deletion(client, account.private_key, email="ANN@example.com ")
    assert r.status_code == 202 and r.content == b"", r.text
    location = r.headers["location"]
    assert location.startswith(f"{client.base_url}{DELETIONS}/")
    job = client.get(location, headers=server_headers(account.private_key))
    assert job.status_code == 200, job.text
    attrs = job.json()["data"]["attributes"]
    assert job.json()["data"]["type"] == "data-privacy-deletion-job"
    assert attrs["status"] == "complete" and attrs["identifier"] == "email"
    assert attrs["counts"] == {"profiles": 1, "events": 31, "memberships": 2}

    h = api.http
    assert h.get(f"/api/profiles/{ann}").status_code == 404
    assert [p["id"] for p in h.get("/api/profiles").json()["data"]] == [bob]
    assert h.get("/api/profiles", params={"filter": 'equals(email,"ann@example.com")'}).json()["data"] == []
    events = h.get("/api/events", params={"page[size]": "200"}).json()["data"]
    assert len(events) == 30 and {e["relationships"]["profile"]["data"]["id"] for e in events} == {bob}
    metric_id = api.metric_ids()["Placed Order"]
    agg = h.post("/api/metric-aggregates", json={"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": metric_id, "measurements": ["count", "unique", "sum_value"], "interval": "month",
        "filter": ["greater-or-equal(datetime,2023-11-01T00:00:00)", "less-than(datetime,2023-12-01T00:00:00)"]}}})
    assert agg.status_code == 200, agg.text
    [row] = agg.json()["data"]["attributes"]["data"]
    assert sum(row["measurements"]["count"]) == 30 and sum(row["measurements"]["unique"]) == 1
    assert sum(row["measurements"]["sum_value"]) == 300
    assert [m["id"] for m in api.members("lists", list_id)] == [bob]
    assert [m["id"] for m in api.members("segments", segment_id)] == [bob]
    assert h.get(f"/api/profiles/{ann}/lists").status_code == 404
    assert {p["email"] for p in stored.profiles()} == {"bob@example.com"}
    assert {e["profile_id"] for e in stored.events()} == {bob}
    export = footfall("export", "events", "--account", account.public_key, "--database", database_url)
    assert "ann@example.com" not in export.stdout and ann not in export.stdout

    # Nothing in the store names her; the deletion record holds an HMAC, never the address.
    conn = db.connect(database_url)
    try:
        for table in ("profiles", "profile_identifiers", "events", "group_members", "profile_merges",
                      "deletion_records", "profile_jobs"):
            rows = conn.all(f"SELECT * FROM {table} WHERE account_id = ?", (account.id,))
            text = json.dumps([list(map(str, r)) for r in rows])
            assert "ann@example.com" not in text and ann not in text, table
        # The outbox (webhooks, the stream) kept her events, profile changes and joins until the job ran:
        # all gone but the one profile:deleted message, which holds her id and nothing else.
        rows = conn.all("SELECT topic, profile_id, subject_id, payload FROM outbox WHERE account_id = ?", (account.id,))
        assert "ann@example.com" not in json.dumps([list(map(str, r)) for r in rows])
        naming = [r for r in rows if ann in (r[1], r[2])]
        assert [(t, conn.from_json(p)) for t, _, _, p in naming] == [("profile:deleted", {"profile_id": ann})]
        assert any(r[1] == bob for r in rows)  # bob's messages stay
        [(digest, key_id, counts)] = conn.all(
            "SELECT identifier_hash, key_id, counts FROM deletion_records WHERE account_id = ?", (account.id,))
        assert len(digest) == 64 and key_id is not None
        assert key_id in {k.id for k in keys.list_keys(conn, account.id)}  # the key that asked, by its id
        assert conn.from_json(counts)["events"] == 31
    finally:
        conn.close()


def _anonymous(api: SegmentApi) -> str:
    body = api._legacy("/api/track", {"token": api.account.public_key, "event": "Viewed Page", "time": T0,
                                      "customer_properties": {"$anonymous": f"anon-{uuid.uuid4().hex[:6]}"}})
    return body["profile_id"]


def test_every_profile_with_the_identifier_goes_by_id_email_or_phone(api, client, account):
    ids = _load(api, events_each=2)
    r = request_deletion(client, account.private_key, id=ids["bob@example.com"])
    assert r.status_code == 202
    assert api.http.get(f"/api/profiles/{ids['bob@example.com']}").status_code == 404
    assert api.http.get(f"/api/profiles/{ids['ann@example.com']}").status_code == 200
    # An identifier nobody holds still answers 202 (nothing to delete; the record says 0 profiles).
    r = request_deletion(client, account.private_key, phone_number="+14155550100")
    assert r.status_code == 202
    job = client.get(r.headers["location"], headers=server_headers(account.private_key)).json()
    assert job["data"]["attributes"]["counts"]["profiles"] == 0


@pytest.mark.parametrize("body, pointer", [
    (deletion_body(email="a@example.com", phone_number="+14155550100"), "/data/attributes/profile/data"),
    (deletion_body(), "/data/attributes/profile/data"),
    (deletion_body(email="not-an-email"), "/data/attributes/profile/data/attributes/email"),
    (deletion_body(first_name="Ann"), "/data/attributes/profile/data/attributes/first_name"),
    ({"data": {"type": "profile-deletion", "attributes": {}}}, "/data/type"),
    ([1, 2], None),
])
def test_bad_requests_are_400_and_delete_nothing(api, client, account, body, pointer):
    ids = _load(api, events_each=1)
    r = client.post(DELETIONS, json=body, headers=server_headers(account.private_key))
    assert r.status_code == 400, r.text
    if pointer:
        assert error(r)["source"]["pointer"] == pointer
    assert all(api.http.get(f"/api/profiles/{pid}").status_code == 200 for pid in ids.values())


def test_other_keys_cannot_delete(api, client, account, database_url, read_only_key):
    ids = _load(api, events_each=1)
    other = new_account(database_url, f"other-{uuid.uuid4().hex[:8]}")
    assert request_deletion(client, other.private_key, email="ann@example.com").status_code == 202
    assert request_deletion(client, read_only_key, email="ann@example.com").status_code == 403
    no_key = client.post(DELETIONS, json=deletion_body(email="ann@example.com"),
                         headers={"revision": REVISION, "Content-Type": "application/json"})
    assert no_key.status_code == 401
    public = client.post(DELETIONS, json=deletion_body(email="ann@example.com"),
                         headers=server_headers(account.public_key))
    assert public.status_code == 401
    assert all(api.http.get(f"/api/profiles/{pid}").status_code == 200 for pid in ids.values())
    # Another account's job is not found with this account's key.
    r = request_deletion(client, account.private_key, email="nobody@example.com")
    assert client.get(r.headers["location"], headers=server_headers(other.private_key)).status_code == 404


def test_cli_privacy_delete(api, account, database_url):
    ids = _load(api, events_each=3)
    done = footfall("privacy", "delete", "--account", account.public_key, "--email", "Bob@Example.com",
                    "--json", "--database", database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"profiles": 1, "events": 3, "memberships": 0}
    assert api.http.get(f"/api/profiles/{ids['bob@example.com']}").status_code == 404
    both = footfall("privacy", "delete", "--account", account.public_key, "--email", "a@example.com",
                    "--id", "x", "--database", database_url)
    assert both.returncode == 1 and "exactly one" in both.stderr
    bad = footfall("privacy", "delete", "--account", account.public_key, "--email", "nope",
                   "--database", database_url)
    assert bad.returncode == 1 and "--email" in bad.stderr


def test_a_deleted_person_can_come_back_as_new_by_default(api, client, account):
    ids = dict(_load(api, events_each=1))
    assert request_deletion(client, account.private_key, email="ann@example.com").status_code == 202
    again = api.identify(Person(email="ann@example.com"))
    assert again != ids["ann@example.com"]
    assert api.http.get(f"/api/profiles/{again}").status_code == 200
