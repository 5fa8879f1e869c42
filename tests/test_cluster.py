"""Three Footfall hosts, each in its own network namespace, behind HAProxy, on one PostgreSQL with
Redis (bench/cluster_harness.py): what one process took for granted holds across hosts.

One cluster serves the whole module (it takes ~8 s to start); each test uses its own account. Skipped,
with the reason, only where network namespaces cannot be made (not root); a missing HAProxy, Redis or
PostgreSQL is a failure.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from bench import cluster_net
from bench.cluster_drill import TAKEN_OUT_WITHIN, drill
from bench.cluster_harness import Cluster, ClusterAccount
from bench.crash import stored_ids
from bench.routes import REVISION
from footfall.store import db, keys
from tests.receivers import Receiver
from tests.segment_helpers import SegmentApi, wait_until
from tests.sse import SseReader
from tests.webhook_helpers import create_webhook, headers

NOT_PERMITTED = cluster_net.permitted()
# serial: bounds in seconds (revocation, the live stream, the drill), and nine processes of its own.
pytestmark = [pytest.mark.skipif(NOT_PERMITTED is not None,
                                 reason=f"the cluster tests need network namespaces: {NOT_PERMITTED}"),
              pytest.mark.serial]
HOSTS = {"host1", "host2", "host3"}
METRICS_TOKEN = "cluster-metrics-token"
SWEEP = 1.0  # seconds between sweeps of time-relative segments
LEASE = 2.0  # seconds a killed host's webhooks stay leased to it
GUESSES = 6  # unknown keys an address may try per minute (the test that spends them runs last)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    env = {"FOOTFALL_METRICS_TOKEN": METRICS_TOKEN, "FOOTFALL_UNKNOWN_KEY_BUDGET": str(GUESSES),
           "FOOTFALL_SEGMENT_SWEEP_SECONDS": str(SWEEP), "FOOTFALL_WEBHOOK_LEASE_SECONDS": str(LEASE)}
    with Cluster(hosts=3, env=env) as c:
        yield c
    assert not [n for n in cluster_net.leftovers() if c.net.tag in n], "the cluster left namespaces or links behind"


def test_what_a_killed_harness_left_is_removed_by_the_next_one():
    made = subprocess.run([sys.executable, "-c", "import os; from bench.cluster_net import Network; "
                           "print(Network(hosts=2).create().tag, flush=True); os.kill(os.getpid(), 9)"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    tag = made.stdout.strip()
    assert made.returncode == -9 and len([n for n in cluster_net.leftovers() if tag in n]) == 5  # 2 ns, bridge, 2 veths
    assert tag in cluster_net.reap_abandoned()
    assert not [n for n in cluster_net.leftovers() if tag in n]


def send_event(client: httpx.Client, account: ClusterAccount, unique_id: str, email: str, **props) -> httpx.Response:
    return client.post(f"/client/events?company_id={account.public_key}",
                       headers={"revision": REVISION, "content-type": "application/json"},
                       json={"data": {"type": "event", "attributes": {
                           "properties": props, "unique_id": unique_id,
                           "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
                           "profile": {"data": {"type": "profile", "attributes": {"email": email}}}}}})


def test_events_through_the_balancer_are_spread_over_every_host_and_stored_once(cluster):
    account = cluster.new_account("events")
    sent = [uuid.uuid4().hex for _ in range(45)]
    served: Counter = Counter()
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        for round_ in range(2):  # the second round repeats every id: deduplicated on whichever host it lands
            for i, uid in enumerate(sent):
                r = send_event(client, account, uid, f"buyer{i % 7}@example.com", round=round_)
                assert r.status_code == 202, r.text
                served[r.headers["x-footfall-host"]] += 1
    assert set(served) == HOSTS and min(served.values()) >= 20, served
    assert stored_ids(cluster.database_url, account.id) == Counter({uid: 1 for uid in sent})


def test_healthz_of_the_cluster_and_of_each_host(cluster):
    r = httpx.get(cluster.url + "/healthz", timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    pids = set()
    for host in cluster.hosts:
        body = httpx.get(host.url + "/healthz", timeout=5).json()
        assert body["status"] == "ok" and body["store"] == "ok" and body["workers_expected"] == 1, body
        assert httpx.get(host.url + "/readyz", timeout=5).json() == {"status": "ready"}
        pids.add(body["pid"])
    assert len(pids) == 3  # three separate servers answer, each for itself
    assert cluster.states() == {name: "UP" for name in HOSTS}


def test_rate_limits_are_counted_once_for_every_host(cluster):
    account = cluster.new_account("limits")
    # GET /api/webhooks is Klaviyo's XS tier: 1 request per 1 s burst window. Nine at once, spread
    # over three hosts, inside one window: with counters per host each host would admit one (3).
    while not 0.05 < time.time() % 1 < 0.3:
        time.sleep(0.01)
    began = time.time()
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def get() -> None:
        r = httpx.get(cluster.url + "/api/webhooks", headers=headers(account.private_key), timeout=5)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=get) for _ in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    windows = int(time.time()) - int(began) + 1  # burst windows the requests spanned
    assert {r.headers["x-footfall-host"] for r in answers} == HOSTS
    admitted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(admitted) + len(refused) == 9, [r.status_code for r in answers]
    assert 1 <= len(admitted) <= windows, f"{len(admitted)} admitted in {windows} burst window(s)"
    assert all(r.headers.get("retry-after", "").isdigit() for r in refused)


def test_a_revoked_key_is_refused_by_every_host_within_a_second(cluster):
    account = cluster.new_account("revoked")
    conn = db.connect(cluster.database_url)
    try:
        doomed = keys.create_key(conn, account.id, "doomed")
        auth = headers(doomed.secret)
        for host in cluster.hosts:  # every host has the key in its cache
            assert httpx.get(host.url + "/api/profiles", headers=auth, timeout=5).status_code == 200
        keys.revoke_key(conn, account.id, doomed.info.id)
    finally:
        conn.close()
    revoked_at = time.monotonic()
    refused_after: dict[str, float] = {}
    with httpx.Client(timeout=5) as client:
        while len(refused_after) < 3 and time.monotonic() - revoked_at < 3:
            for host in cluster.hosts:
                if host.name not in refused_after:
                    status = client.get(host.url + "/api/profiles", headers=auth).status_code
                    if status in (401, 403):
                        refused_after[host.name] = time.monotonic() - revoked_at
                    else:
                        assert status == 200
            time.sleep(0.02)
    assert set(refused_after) == HOSTS and max(refused_after.values()) <= 1.0, refused_after


def test_the_live_stream_sees_events_that_arrived_through_any_host(cluster):
    account = cluster.new_account("stream")
    with SseReader(cluster.url + "/api/stream", headers(account.private_key), {"topic": "event:placed_order"}) as sse:
        sent_at = []
        for n, host in enumerate(cluster.hosts):  # one event straight to each host; the stream is on one of them
            with httpx.Client(base_url=host.url, timeout=5) as client:
                assert send_event(client, account, uuid.uuid4().hex, f"s{n}@example.com", n=n).status_code == 202
            sent_at.append(time.time())
        events = sse.wait_for(3, timeout=5)
        time.sleep(0.5)
    assert sorted(e.data["payload"]["attributes"]["event_properties"]["n"] for e in sse.events) == [0, 1, 2]
    assert len({e.id for e in sse.events}) == 3
    assert all(e.at - sent_at[-1] < 2.5 for e in events)  # other hosts' commits are polled every 1 s


def test_the_console_live_feed_sees_events_that_arrived_through_any_host(cluster):
    account = cluster.new_account("console")
    c = httpx.Client(base_url=cluster.url, timeout=10)
    with closing(c):
        r = c.post("/console/signin", data={"key": account.private_key})
        assert r.status_code == 303
        signed_in_on = r.headers["x-footfall-host"]
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        others = [h for h in cluster.hosts if h.name != signed_in_on]
        # The feed is read from a host the session was not made on: sessions live in PostgreSQL.
        with SseReader(others[0].url + "/console/stream", {"Cookie": cookie, "Accept": "text/event-stream"}) as sse:
            assert sse.status == 200
            for n, host in enumerate(cluster.hosts):
                with httpx.Client(base_url=host.url, timeout=5) as client:
                    assert send_event(client, account, uuid.uuid4().hex, f"c{n}@example.com", n=n).status_code == 202
            deadline = time.monotonic() + 5
            while len(sse.events) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
    assert sorted(e.data["payload"]["attributes"]["event_properties"]["n"] for e in sse.events) == [0, 1, 2]


def test_webhook_messages_are_delivered_once_though_every_host_delivers(cluster):
    account = cluster.new_account("hooks")
    with Receiver(host=cluster.net.gateway) as receiver:
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            create_webhook(client, account.private_key, receiver.url, ["event:placed_order"])
            served = Counter()
            for n in range(30):
                r = send_event(client, account, uuid.uuid4().hex, f"w{n % 5}@example.com", n=n)
                assert r.status_code == 202
                served[r.headers["x-footfall-host"]] += 1
        assert set(served) == HOSTS
        receiver.wait_for(lambda rx: len(rx.messages()) >= 30, timeout=20)
        time.sleep(1.5)  # a second host delivering the same messages would do it by now
    ids = [m["external_id"] for m in receiver.messages()]
    assert len(ids) == 30 and len(set(ids)) == 30, Counter(ids).most_common(3)
    numbers = [m["payload"]["attributes"]["event_properties"]["n"] for m in receiver.messages()]
    assert sorted(numbers) == list(range(30))


def cluster_total(cluster: Cluster, metric: str) -> float:
    """A counter summed over every host's /metrics."""
    total = 0.0
    for host in cluster.hosts:
        text = httpx.get(host.url + "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5).text
        total += sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(metric + " "))
    return total


def test_segment_membership_is_rechecked_once_per_change_and_swept_once_per_interval(cluster):
    account = cluster.new_account("segments")
    api = SegmentApi(cluster.url, account, cluster.database_url)
    try:
        api.track("seed@example.com", "Bought", int(time.time()) - 10 * 86400, None, {}, "seed")
        evaluations = cluster_total(cluster, "footfall_segment_full_evaluations_total")
        sid = api.segment_id({"condition_groups": [{"conditions": [{
            "type": "profile-metric", "metric_id": api.metric_ids()["Bought"], "measurement": "count",
            "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
            "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 1, "unit": "hour"}}]}]})
        api.wait_processed([sid])
        time.sleep(SWEEP)  # another host looking for unfinished evaluations finds none
        assert cluster_total(cluster, "footfall_segment_full_evaluations_total") - evaluations == 1
        rechecked = cluster_total(cluster, "footfall_segment_rechecked_writes_total")
        buyers = {f"buyer{i}@example.com" for i in range(30)}
        for i, email in enumerate(sorted(buyers)):  # spread over the hosts by the balancer
            api.track(email, "Bought", int(time.time()), 5, {}, f"b{i}")
        wait_until(lambda: api.member_emails("segments", sid) == buyers, timeout=10)
        # Each write re-checked once, by the host that committed it (none re-checks another's).
        assert cluster_total(cluster, "footfall_segment_rechecked_writes_total") - rechecked == 30
        # Time passing: the segment is swept about once per interval by the cluster, not once per host.
        before, began = cluster_total(cluster, "footfall_segment_sweeps_total"), time.monotonic()
        time.sleep(5 * SWEEP)
        sweeps = cluster_total(cluster, "footfall_segment_sweeps_total") - before
        intervals = (time.monotonic() - began) / SWEEP
        assert intervals * 0.5 <= sweeps <= intervals + 1.5, f"{sweeps} sweeps in {intervals:.1f} intervals"
    finally:
        api.close()


def test_an_evaluation_a_dead_host_left_unfinished_is_finished_by_one_other_host(cluster):
    account = cluster.new_account("takeover")
    api = SegmentApi(cluster.url, account, cluster.database_url)
    try:
        api.track("someone@example.com", "Bought", int(time.time()), None, {}, "one")
        sid = api.segment_id({"condition_groups": [{"conditions": [{
            "type": "profile-metric", "metric_id": api.metric_ids()["Bought"], "measurement": "count",
            "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1}}]}]})
        api.wait_processed([sid])
        before = cluster_total(cluster, "footfall_segment_full_evaluations_total")
        # What a host killed mid-evaluation leaves: the segment still processing, nobody evaluating it.
        conn = db.connect(cluster.database_url)
        try:
            conn.begin()
            conn.execute("UPDATE segments SET is_processing = ? WHERE account_id = ? AND id = ?", (True, account.id, sid))
            conn.commit()
        finally:
            conn.close()
        api.wait_processed([sid], timeout=3 * SWEEP)
        time.sleep(SWEEP)
        assert cluster_total(cluster, "footfall_segment_full_evaluations_total") - before == 1
        assert api.member_emails("segments", sid) == {"someone@example.com"}
    finally:
        api.close()


def test_a_killed_hosts_webhooks_are_delivered_by_another_host(cluster):
    account = cluster.new_account("takeover-hooks")
    by_address = {h.ns.address: h for h in cluster.hosts}
    with Receiver(host=cluster.net.gateway) as receiver, httpx.Client(base_url=cluster.url, timeout=10) as client:
        create_webhook(client, account.private_key, receiver.url, ["event:placed_order"])
        for n in range(5):
            assert send_event(client, account, uuid.uuid4().hex, f"k{n}@example.com", n=n).status_code == 202
        receiver.wait_for(lambda rx: len(rx.messages()) >= 5, timeout=15)
        victim = by_address[receiver.received[-1].peer]  # the host holding the webhook's lease
        cluster.kill9(victim)
        cluster.wait_states({victim.name: "DOWN"}, timeout=5)
        killed_at = time.time()
        for n in range(5, 15):
            assert send_event(client, account, uuid.uuid4().hex, f"k{n}@example.com", n=n).status_code == 202
        receiver.wait_for(lambda rx: len({m["external_id"] for m in rx.messages()}) >= 15, timeout=LEASE + 10)
        after = [r for r in receiver.received if r.at > killed_at]
        cluster.restart(victim)
        cluster.wait_states({victim.name: "UP"}, timeout=10)
    numbers = [m["payload"]["attributes"]["event_properties"]["n"] for m in receiver.messages()]
    assert sorted(set(numbers)) == list(range(15))
    # A repeat (the killed host may have sent a batch it never saw answered) keeps its message id.
    assert len({m["external_id"] for m in receiver.messages()}) == 15
    assert after and {r.peer for r in after} <= set(by_address) - {victim.ns.address}


def test_drill_kill_9_a_host_then_stop_postgresql_under_load(cluster):
    """It stops the cluster's PostgreSQL (and waits until every host is back)."""
    result = drill(cluster, kills=[cluster.hosts[1]], down=5.0, threads=4, warmup=1.0, settle=1.0, after=2.0)
    print(result.report())
    assert result.verdict.ok, result.verdict.line()  # every acknowledged event stored, none twice
    assert set(result.stats.statuses) <= {200, 202, 429, 503}, result.stats.statuses
    assert not result.stats.unexpected and result.stats.refused_without_retry_after == 0
    assert result.stray_connection_errors == 0, result.stats.connection_error_kinds  # only requests at the killed host
    assert result.stats.statuses[503] > 0  # the outage was seen, and answered with 503 + Retry-After
    assert result.taken_out[0] <= TAKEN_OUT_WITHIN, result.taken_out
    assert result.acked_after_outage > 0 and not result.host_restarts_during_outage
    assert cluster.states() == {name: "UP" for name in HOSTS}


def test_the_key_guessing_budget_is_the_clusters_not_each_hosts(cluster):
    """Last: it leaves this machine's address blocked for unknown keys for a minute. Through the
    balancer each host sees the client's own address (X-Forwarded-For from the trusted balancer)."""
    began = time.time()
    with httpx.Client(base_url=cluster.url, timeout=5) as client:
        answers = [client.get("/api/profiles", headers=headers(f"pk_{uuid.uuid4().hex}")) for _ in range(3 * GUESSES)]
    windows = int(time.time() // 60) - int(began // 60) + 1  # the shared count is per minute-aligned window
    assert {r.headers["x-footfall-host"] for r in answers} == HOSTS
    unknown = [r for r in answers if r.status_code == 401]
    throttled = [r for r in answers if r.status_code == 429]
    assert len(unknown) + len(throttled) == 3 * GUESSES, [r.status_code for r in answers]
    # Per host, each would answer its own GUESSES (3 x GUESSES in all, and no 429); shared, each host
    # answers at most one more after the cluster's budget is spent.
    assert len(unknown) <= windows * GUESSES + 3, f"{len(unknown)} guesses answered, budget {GUESSES}"
    assert throttled and all(r.headers.get("retry-after", "").isdigit() for r in throttled)
