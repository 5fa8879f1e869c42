"""The deliverer: sends the outbox to webhooks, as asyncio tasks (in a process of its own:
webhooks/deliverer_process.py).

Each webhook is one lane (a task of its own, with its own HTTP client), so a slow or dead endpoint
delays nobody else, and ingest never waits for any of them: the lanes only read what ingest
committed. A lane holds its webhook's lease (store/webhooks.py: claimed with FOR UPDATE SKIP LOCKED
on PostgreSQL, so several workers and hosts share the webhooks without sending any twice) and works
in order: the oldest pending delivery first (a retry), else the next messages after the webhook's
cursor. A delivery blocks the lane until it succeeds or its retry schedule is spent, so messages
about one profile (about anything) arrive in the order they were committed.

At-least-once: the cursor moves, in one transaction with the delivery's record, only after the
attempt. A crash between the two sends those messages again, with the same message ids. The records
of lanes that finish at about the same time share one transaction (_record).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, TypeVar

from footfall import clock, ids
from footfall.config import Settings
from footfall.observability import prometheus_metrics
from footfall.store import outbox, webhooks
from footfall.store.conn import Conn
from footfall.timefmt import iso
from footfall.webhooks import envelope, http1, messages, policy, signing, ssrf
from footfall.webhooks.hub import Hub

log = logging.getLogger("footfall.webhooks")
T = TypeVar("T")

MAX_LANES = 64  # webhooks one deliverer sends to at once
SCAN = 5000  # outbox rows looked at per read when few of them match the webhook's topics
RESPONSE_BYTES = 256  # how much of an answer the delivery log keeps
PRUNE_EVERY = 600.0
SHARED_RENDER_SECONDS = 1.0  # a message rendered for one lane is reused by the others this long
SHARED_RENDER_MAX = 20_000
SHARED_END_SECONDS = 0.02  # an end of the outbox one lane read is taken by the account's other lanes this long
SHARED_ROWS_MAX = 2 * SCAN  # outbox rows of one account kept for its lanes


class Deliverer:
    def __init__(self, settings: Settings, connect: Callable[[], Conn], hub: Hub,
                 on_attempt: Callable[[str, int], None] | None = None) -> None:
        self.settings = settings
        # (verdict kind, messages delivered) per attempt: the metrics, counted by whoever runs us
        self.on_attempt = on_attempt or _count_attempt
        self._connect = connect
        self.hub = hub
        self.owner = uuid.uuid4().hex
        self.allow = ssrf.parse_allow(settings.webhook_allow)
        self.base = settings.public_url or f"http://{settings.host}:{settings.port}"
        self._conn: Conn | None = None
        self._db_lock = threading.Lock()
        self._lanes: dict[tuple[str, str], asyncio.Task] = {}
        self._records: list[tuple[Callable[[Conn], bool], asyncio.Future]] = []  # waiting for _flush_records
        self._recording: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        # A killed deliverer's webhooks are taken over a lease after its last renewal.
        self.lease = settings.webhook_lease_seconds
        self.renew_every = self.lease / 5
        # (account, position) -> (when rendered, item): lanes subscribed to the same topics send the
        # same messages at about the same time; each is read and rendered once, not once per lane.
        self._rendered: OrderedDict[tuple[str, int], tuple[float, messages.Item]] = OrderedDict()
        # account -> the outbox rows its lanes read lately (SharedRows): one read serves all of them
        self._shared_rows: dict[str, SharedRows] = {}
        self._trip_started = 0.0  # time.monotonic() when the current read trip began (before its snapshot)
        self.stats = {"delivered": 0, "failed_attempts": 0, "requests": 0, "last_error": None}

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="footfall-deliverer")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._task, self._recording, *self._lanes.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for account_id, webhook_id in list(self._lanes):
            try:
                await self._db(lambda c, a=account_id, w=webhook_id: webhooks.release(c, a, w, self.owner))
            except Exception:  # a lease not released lapses by itself
                pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def health(self) -> dict[str, Any]:
        return {"lanes": len(self._lanes), **self.stats}

    async def _db(self, fn: Callable[[Conn], T]) -> T:
        """fn(conn) on the deliverer's own connection, in a thread (never on the event loop)."""

        def run() -> T:
            with self._db_lock:
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    return fn(self._conn)
                except Exception as exc:
                    if self._conn.is_unavailable(exc):
                        self._conn.close()
                        self._conn = None
                    raise

        return await asyncio.to_thread(run)

    async def _read_db(self, fn: Callable[[Conn], T]) -> T:
        """A read trip: fn(conn) and the end of its read transaction, if the connection made one, so
        the next one sees new commits (and a PostgreSQL connection does not sit idle in a
        transaction). The deliverer process's connection makes none (autocommit,
        deliverer_process._run): each statement reads its own snapshot, newer than _trip_started."""

        def read(conn: Conn) -> T:
            self._trip_started = time.monotonic()  # under _db_lock: the trip's snapshot is newer than this
            try:
                return fn(conn)
            finally:
                conn.rollback()

        return await self._db(read)

    async def _record(self, write: Callable[[Conn], bool]) -> bool:
        """A lane's record after an attempt, committed together with those of the lanes that
        finished meanwhile (one transaction: store/webhooks.records). True if it was written."""
        done = asyncio.get_running_loop().create_future()
        self._records.append((write, done))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.get_running_loop().create_task(self._flush_records())
        return await done

    async def _flush_records(self) -> None:
        while self._records:
            batch, self._records = self._records, []
            try:
                written = await self._db(lambda c: webhooks.records(c, [write for write, _ in batch]))
            except BaseException as exc:  # every lane of the batch sees it (its attempt is made again)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, done), ok in zip(batch, written):
                if not done.done():
                    done.set_result(ok)

    # -- claiming webhooks ------------------------------------------------------------------------
    async def _supervise(self) -> None:
        listener = self.hub.listen("webhooks")
        last_prune = 0.0
        try:
            while not self._stopping:
                listener.clear()
                try:
                    await self._claim()
                    if time.monotonic() - last_prune > PRUNE_EVERY:
                        last_prune = time.monotonic()
                        cutoff = clock.now() - self.settings.outbox_retention_seconds
                        await self._db(lambda c: webhooks.prune(c, cutoff))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._error(exc)
                await listener.wait(self.settings.webhook_poll_seconds)
        finally:
            listener.close()

    async def _claim(self) -> None:
        for key, task in list(self._lanes.items()):
            if task.done():
                del self._lanes[key]
        accounts = {account_id for account_id, _ in self._lanes}
        for account_id in [a for a in self._shared_rows if a not in accounts]:
            del self._shared_rows[account_id]
        room = MAX_LANES - len(self._lanes)
        if room <= 0:
            return
        now = clock.now()
        held = frozenset(self._lanes)  # their lanes renew them: not claimed (written) again on every poll
        claimed = await self._db(lambda c: webhooks.claim(c, self.owner, now, self.lease, room, held))
        for hook in claimed:
            key = (hook["account_id"], hook["id"])
            if key not in self._lanes:
                self._lanes[key] = asyncio.get_running_loop().create_task(self._lane(*key), name=f"webhook-{key[1]}")

    # -- one webhook ------------------------------------------------------------------------------
    async def _lane(self, account_id: str, webhook_id: str) -> None:
        listener = self.hub.listen(account_id, f"webhook:{webhook_id}")
        retries = self.hub.listen(f"webhook:{webhook_id}")  # a retry or replay asked for: look for pending work
        client = http1.Client()
        try:
            renewed = 0.0
            hook: dict[str, Any] | None = None
            lane = LaneState()
            while not self._stopping:
                listener.clear()
                if retries.event.is_set() or hook is None:
                    retries.clear()
                    lane.check_pending = True
                if hook is None or time.monotonic() - renewed > self.renew_every:
                    until = clock.now() + self.lease
                    hook = await self._db(lambda c: webhooks.renew(c, account_id, webhook_id, self.owner, until))
                    renewed = time.monotonic()
                    if hook is None:
                        return  # deleted, disabled, or taken over
                wait = await self._step(client, account_id, hook, lane)
                if wait is None:
                    hook = None  # the webhook changed state (disabled, lease lost): read it again
                elif wait > 0:
                    await listener.wait(min(wait, self.renew_every))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error(exc)
        finally:
            listener.close()
            retries.close()
            await client.aclose()

    async def _step(self, client: http1.Client, account_id: str, hook: dict[str, Any],
                    lane: "LaneState | None" = None) -> float | None:
        """Make one delivery if one is due; returns how long to wait before the next step (0: at once).
        Each read (and the rendering of what it found ready to send) is one trip to the database
        thread, in one read transaction. Under load a step is two trips, the read and the record: a
        lane that has just sent a batch not yet full waits out the linger before it reads again
        (LaneState), and sends what that read finds."""
        lane = lane or LaneState()
        lingered = await lane.wait_linger()
        read_at = clock.now()
        pending, rows, scanned_to, items = await self._read_db(lambda c: self._look(c, account_id, hook, lane, lingered))
        if pending is not None:
            due = (pending["next_attempt_at"] or 0) - clock.now()
            if due > 0:
                return due
            items = pending["items"]
            if items is None:  # a replay: read its messages now
                items = await self._read_db(lambda c: self._render(c, account_id, self._matching(
                    c, account_id, hook, pending["first_position"] - 1, pending["last_position"])))
            return await self._attempt(client, account_id, hook, pending["id"], items, pending)
        if rows and items is None:
            # A batch not yet full waits up to the linger, counted from its oldest message, for more
            # (else a lane would send, and record, a request per group commit).
            await asyncio.sleep(max(0.0, self._linger_end(rows) - clock.now()))
            have = (rows, scanned_to)
            read_at = clock.now()
            rows, scanned_to, items = await self._read_db(
                lambda c: self._read(c, account_id, hook, render=True, have=have))
        if not rows:
            if scanned_to > hook["cursor"]:  # nothing for this webhook in what was read: move past it
                ok = await self._record(lambda c: webhooks.record_new(
                    c, account_id, hook, self.owner, "", [], scanned_to, {}, "succeeded", None,
                    hook["failing_since"], None))
                if ok:
                    hook["cursor"] = scanned_to
                return 0 if ok else None
            return self.settings.webhook_poll_seconds
        wait = await self._attempt(client, account_id, hook, ids.new_ulid(), items, None, cursor_to=scanned_to)
        if hook["failing_since"] is not None:
            lane.check_pending = True  # the failed delivery is pending now: it goes first
        if wait == 0 and hook["failing_since"] is None and len(items) < self._batch_size(hook):
            # It read to the end of the outbox at read_at (or SCAN rows, few of them for it): what
            # comes next is newer than that, and waits out its linger before the next read.
            lane.linger_until = read_at + self.settings.webhook_linger_seconds
        return wait

    def _look(self, conn: Conn, account_id: str, hook: dict[str, Any], lane: "LaneState", lingered: bool = False):
        """The oldest pending delivery (it goes first), else the next messages after the cursor,
        rendered if they are to be sent now (a full batch, its linger is over, or the lane lingered).
        Pending deliveries are looked for only when there may be one (LaneState.pending_due)."""
        if lane.pending_due(self.settings.webhook_poll_seconds):
            lane.pending_checked = time.monotonic()
            pending = webhooks.next_pending(conn, account_id, hook["id"])
            lane.check_pending = pending is not None
            if pending is not None:
                return pending, [], hook["cursor"], None
        return (None, *self._read(conn, account_id, hook, render=lingered))

    def _read(self, conn: Conn, account_id: str, hook: dict[str, Any], *, render: bool,
              have: tuple[list[dict[str, Any]], int] | None = None):
        rows, scanned_to = self._next_rows(conn, account_id, hook, have)
        ready = render or (rows and (len(rows) >= self._batch_size(hook) or self._linger_end(rows) <= clock.now()))
        return rows, scanned_to, self._render(conn, account_id, rows) if rows and ready else None

    def _linger_end(self, rows: list[dict[str, Any]]) -> float:
        return rows[0]["created"] + self.settings.webhook_linger_seconds

    def _render(self, conn: Conn, account_id: str, rows: list[dict[str, Any]]) -> list[messages.Item]:
        """The rows as sent (messages.render), reusing what another lane rendered a moment ago."""
        now = time.monotonic()
        cache = self._rendered
        items: dict[int, messages.Item] = {}
        for row in rows:
            hit = cache.get((account_id, row["position"]))
            if hit is not None and now - hit[0] < SHARED_RENDER_SECONDS:
                items[row["position"]] = hit[1]
        missing = [row for row in rows if row["position"] not in items]
        for item in messages.render(conn, account_id, missing, self.base) if missing else ():
            items[item["position"]] = item
            cache[(account_id, item["position"])] = (now, item)
        while len(cache) > SHARED_RENDER_MAX:
            cache.popitem(last=False)
        return [items[row["position"]] for row in rows]

    def _batch_size(self, hook: dict[str, Any]) -> int:
        return 1 if hook["format"] == "standard" else max(1, hook["batch_size"])

    def _next_rows(self, conn: Conn, account_id: str, hook: dict[str, Any],
                   have: tuple[list[dict[str, Any]], int] | None = None) -> tuple[list[dict[str, Any]], int]:
        """Up to batch_size matching messages after the cursor, and the position read up to; `have`:
        what an earlier read found (the outbox has no gaps, so it is read on from there). Reads
        batch_size rows first, then more (up to SCAN) while few of them match: a webhook on most of
        what is sent reads each row once, one on little of it skips ahead in few reads."""
        match = messages.matcher(hook)
        size = self._batch_size(hook)
        picked, scanned_to = (list(have[0]), have[1]) if have else ([], hook["cursor"])
        limit, read = max(size, 20), 0
        while len(picked) < size and read < SCAN:
            rows = self._rows_after(conn, account_id, scanned_to, limit)
            read += len(rows)
            for row in rows:
                if match(row):
                    if len(picked) == size:
                        break
                    picked.append(row)
                scanned_to = row["position"]
            if len(rows) < limit:  # the end of the outbox
                break
            limit = min(SCAN, limit * 4)
        return picked, scanned_to

    def _rows_after(self, conn: Conn, account_id: str, position: int, limit: int) -> list[dict[str, Any]]:
        """outbox.after, through the rows the account's lanes read lately (SharedRows): a lane finds
        there what another read a moment ago, and the database is asked only for what is newer. An end
        of the outbox found by another lane is taken only if it was read after the account's last
        notice (so no commit this process was told of is missed) and within SHARED_END_SECONDS."""
        shared = self._shared_rows.get(account_id)
        if shared is None:
            shared = self._shared_rows[account_id] = SharedRows()
        fresh_after = max(self.hub.notified_at(account_id), time.monotonic() - SHARED_END_SECONDS)
        return shared.after(lambda p, n: outbox.after(conn, account_id, p, n), position, limit,
                            fresh_after, self._trip_started)

    def _matching(self, conn: Conn, account_id: str, hook: dict[str, Any], after: int, until: int) -> list[dict[str, Any]]:
        match = messages.matcher(hook)
        return [r for r in outbox.after(conn, account_id, after, until - after, until=until) if match(r)]

    async def _attempt(self, client: http1.Client, account_id: str, hook: dict[str, Any], delivery_id: str,
                       items: list[dict[str, Any]], pending: dict[str, Any] | None,
                       cursor_to: int | None = None) -> float | None:
        attempt, retry_after = await self._send(client, account_id, hook, delivery_id, items)
        verdict = policy.judge(attempt["status_code"], attempt["error"])
        self.on_attempt(verdict.kind, len(items) if verdict.kind == "success" else 0)
        now = clock.now()
        made = (pending["attempts"] if pending else 0) + 1
        status, next_at, disabled = "succeeded", None, None
        failing_since = None
        if verdict.kind == "success":
            self.stats["delivered"] += len(items)
        else:
            self.stats["failed_attempts"] += 1
            failing_since = hook["failing_since"] or now
            if verdict.kind == "gone":
                status, next_at, disabled = "pending", now, verdict.reason
            else:
                delay = policy.next_delay(self.settings.webhook_retry_schedule, made, retry_after)
                status, next_at = ("failed", None) if delay is None else ("pending", now + delay)
                if now - failing_since >= self.settings.webhook_disable_after_seconds:
                    disabled = (f"disabled: every delivery has failed since {iso(failing_since)} "
                                f"(last: {verdict.reason})")
        if pending is None:
            ok = await self._record(lambda c: webhooks.record_new(c, account_id, hook, self.owner, delivery_id,
                                                                  items, cursor_to, attempt, status, next_at,
                                                                  failing_since, disabled))
            if ok:
                hook["cursor"] = cursor_to
        else:
            ok = await self._record(lambda c: webhooks.record_retry(c, account_id, hook, self.owner, pending, items,
                                                                    attempt, status, next_at, failing_since,
                                                                    disabled))
        if not ok or disabled:
            return None
        hook["failing_since"] = failing_since
        return 0

    async def _send(self, client: http1.Client, account_id: str, hook: dict[str, Any], delivery_id: str,
                    items: list[dict[str, Any]]) -> tuple[dict[str, Any], float | None]:
        """One HTTP attempt: what the delivery log keeps of it, and the Retry-After it asked for."""
        started = clock.now()
        t0 = time.monotonic()
        status: int | None = None
        error: str | None = None
        head = b""
        retry_after = None
        self.stats["requests"] += 1
        try:
            target = ssrf.check_url(hook["endpoint_url"], self.allow)
            address = await ssrf.resolve(target, self.allow)
            body = envelope.body(hook["format"], account_id, hook["id"], items, started)
            message_id = items[0]["id"] if hook["format"] == "standard" else delivery_id
            headers = {"host": ssrf.host_header(target), "user-agent": "Footfall-Webhooks/1",
                       **signing.headers(hook["secret_key"], hook["id"], message_id, int(started), body)}
            endpoint = http1.Endpoint(str(address), target.port, target.host if target.scheme == "https" else None)
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                answer = await client.post(endpoint, target.path, headers, body, RESPONSE_BYTES)
            status, head = answer.status, answer.head
            retry_after = policy.parse_retry_after(answer.headers.get("retry-after"), clock.now())
        except ssrf.Refused as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g}s"
            status = None
        except (OSError, EOFError, http1.ProtocolError, ValueError) as exc:  # EOFError: IncompleteReadError
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempt = {"started": started, "status_code": status, "latency_ms": round((time.monotonic() - t0) * 1000, 3),
                   "response": head[:RESPONSE_BYTES].decode("utf-8", "replace"), "error": error}
        return attempt, retry_after

    def _error(self, exc: BaseException) -> None:
        self.stats["last_error"] = f"{type(exc).__name__}: {exc}"
        log.warning("webhook deliverer: %s", self.stats["last_error"])


class LaneState:
    """What a lane remembers between steps: until when it lingers before its next read. Set after
    it sent a batch that was not full, which means it had read to the end of the outbox: the next
    messages are at most a linger old once that is over, so the read then sends what it finds
    instead of reading, waiting out their linger and reading again. And whether to look for a
    pending delivery: only after a failed attempt, a pending one found, a retry or replay asked for
    (a notice for the webhook), the lane (re)reading its webhook, or once per poll interval (another
    process's retry), not on every read."""

    def __init__(self) -> None:
        self.linger_until = 0.0
        self.check_pending = True
        self.pending_checked = 0.0  # time.monotonic() of the last look

    def pending_due(self, poll_seconds: float) -> bool:
        return self.check_pending or time.monotonic() - self.pending_checked >= poll_seconds

    async def wait_linger(self) -> bool:
        """Sleep out the linger, if one is set; True if there was one (the next read is sent as found)."""
        until, self.linger_until = self.linger_until, 0.0
        if not until:
            return False
        await asyncio.sleep(max(0.0, until - clock.now()))
        return True


class SharedRows:
    """The outbox rows of one account its lanes read lately: consecutive positions (the outbox has
    no gaps and a position, once seen, has every earlier one: store/outbox.py), so a read that starts
    within them is served from here, and only what follows the last one is asked of the database."""

    def __init__(self) -> None:
        self.first = 0  # the position of rows[0] (or, with no rows, the one after the last known)
        self.rows: list[dict[str, Any]] = []
        self.end_seen = float("-inf")  # when (before its snapshot) a read found nothing after the last row

    def after(self, read: Callable[[int, int], list[dict[str, Any]]], position: int, limit: int,
              fresh_after: float, started: float) -> list[dict[str, Any]]:
        """Up to `limit` rows after `position`, as read(position, limit) would give them; read:
        the database's answer; the end of the outbox is taken from here if seen after fresh_after."""
        last = self.first + len(self.rows) - 1
        if not self.first <= position + 1 <= last + 1:
            rows = read(position, limit)
            self.first, self.rows = (rows[0]["position"] if rows else position + 1), list(rows)
            self.end_seen = started if len(rows) < limit else float("-inf")
            return rows
        start = position + 1 - self.first
        kept = self.rows[start:start + limit]
        if len(kept) == limit or self.end_seen >= fresh_after:
            return kept
        more = read(last, limit - len(kept))
        if more and more[0]["position"] != last + 1:  # not consecutive (cannot happen): start over
            self.first, self.rows = more[0]["position"], []
        self.rows += more
        self.end_seen = started if len(more) < limit - len(kept) else float("-inf")
        if len(self.rows) > SHARED_ROWS_MAX:
            drop = len(self.rows) - SHARED_ROWS_MAX
            del self.rows[:drop]
            self.first += drop
        return kept + more


def _count_attempt(kind: str, messages: int) -> None:
    m = prometheus_metrics.get()
    if m is not None:
        m.webhook_attempts.labels(kind).inc()
        if messages:
            m.webhook_messages.inc(messages)
