"""GET /api/metrics and /api/metrics/{id}, through real HTTP on both backends."""

from __future__ import annotations

from footfall.store import accounts, db
from tests.read_world import METRICS, World, headers, track, world  # noqa: F401  (fixture)


def get(client, world: World, path: str, **params):
    return client.get(path, params=params, headers=world.auth)


def test_list_metrics(client, world):
    r = get(client, world, "/api/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.api+json"
    body = r.json()
    assert {m["attributes"]["name"] for m in body["data"]} == set(METRICS)
    metric = body["data"][0]
    assert set(metric["attributes"]) == {"name", "created", "updated", "integration"}
    assert metric["attributes"]["integration"]["name"] == "API"
    assert metric["links"]["self"] == f"{client.base_url}/api/metrics/{metric['id']}/"
    assert body["links"] == {"self": f"{client.base_url}/api/metrics"}
    assert world.other_metric_id not in [m["id"] for m in body["data"]]


def test_integration_filters(client, world):
    for field in ("integration.name", "integration.category"):
        r = get(client, world, "/api/metrics", filter=f"equals({field},'API')")
        assert len(r.json()["data"]) == 3
        r = get(client, world, "/api/metrics", filter=f'equals({field},"Shopify")')
        assert r.json()["data"] == []
    r = get(client, world, "/api/metrics", filter='equals(name,"Viewed Product")')
    assert r.status_code == 400 and "field 'name' cannot be filtered on" in r.json()["errors"][0]["detail"]
    r = get(client, world, "/api/metrics", filter="any(integration.name,['API'])")
    assert r.status_code == 400 and "(allowed: equals)" in r.json()["errors"][0]["detail"]


def test_paging_and_sparse_fields(client, account):
    auth = headers(account.private_key)
    names = [f"Metric {i:02d}" for i in range(7)]
    for name in names:
        track(client, account.public_key, name, {"$email": "m@example.com"}, {}, 1_700_000_000 + len(name))
    seen: list[str] = []
    r = client.get("/api/metrics", params={"page[size]": 3, "fields[metric]": "name"}, headers=auth)
    while True:
        assert r.status_code == 200, r.text
        for m in r.json()["data"]:
            assert list(m["attributes"]) == ["name"]
            seen.append(m["attributes"]["name"])
        nxt = r.json()["links"].get("next")
        if not nxt:
            break
        r = client.get("/api/metrics", params={"page[cursor]": nxt, "page[size]": 3, "fields[metric]": "name"},
                       headers=auth)
    assert seen == names  # in creation order
    assert client.get("/api/metrics", params={"page[size]": 201}, headers=auth).status_code == 400


def test_one_metric_and_404s(client, world):
    mid = world.metric_ids["Ordered Product"]
    r = get(client, world, f"/api/metrics/{mid}", **{"fields[metric]": "name,integration"})
    assert r.status_code == 200
    assert r.json()["data"]["attributes"]["name"] == "Ordered Product"
    assert set(r.json()["data"]["attributes"]) == {"name", "integration"}
    assert r.json()["links"]["self"] == f"{client.base_url}/api/metrics/{mid}"
    for other in ("nope00", world.other_metric_id):
        r = get(client, world, f"/api/metrics/{other}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"


def test_scopes_and_revision(client, world, database_url):
    conn = db.connect(database_url)
    try:
        events_only = accounts.create_key(conn, world.account.id, "events only", ("events:read",))
    finally:
        conn.close()
    assert client.get("/api/metrics", headers=headers(events_only)).status_code == 403
    mid = world.metric_ids["Ordered Product"]
    assert client.get(f"/api/metrics/{mid}", headers=headers(events_only)).status_code == 403
    assert client.get("/api/metrics", headers=headers(world.account.private_key, None)).status_code == 400
    assert client.get("/api/metrics").status_code in (400, 401)
