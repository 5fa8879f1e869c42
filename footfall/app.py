"""Builds the ASGI app. The lifespan opens the store and starts and stops the ingest pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from footfall import config, gc_tuning
from footfall.api import client_address, error_answers
from footfall.api import (
    client,
    events_read,
    events_write,
    exchange_ids,
    health,
    legacy,
    prometheus,
    metric_aggregates,
    metrics,
    onsite,
    openapi,
    posthog_capture,
    profiles_read,
    privacy,
    profile_import,
    profiles_write,
    subscriptions,
    segment_spec,
)
from footfall.api import stream as stream_routes
from footfall.api import webhooks as webhook_routes
from footfall.api import lists as list_routes
from footfall.api import segments as segment_routes
from footfall.api.edge import Edge
from footfall.api.keyguard import KeyGuard
from footfall.api.fastpath import FastPath
from footfall.failures import Disconnected
from footfall.refusals import Refusal
from footfall.api.app_state import Services
from footfall.console import routes as console
from footfall.config import Settings
from footfall.ingest.pipeline import Pipeline
from footfall.observability import logs
from footfall.observability import prometheus_metrics
from footfall.observability.requests import Observe
from footfall.ingest.writer_process import ProcessCommitter
from footfall.segments.membership import MembershipWorker
from footfall.store import batch, db, statistics
from footfall.store.rate_limit_counters import make_limiter
from footfall.store.reader import Readers
from footfall.store.url import DatabaseURL
from footfall.webhooks.deliverer_process import DelivererProcess
from footfall.webhooks.hub import Hub

log = logging.getLogger("footfall")


# Each module under footfall/api that serves routes lists them in `routes`; one line each here.
ROUTE_MODULES = [
    legacy,
    health,
    prometheus,
    client,
    events_write,
    profiles_write,
    events_read,
    profiles_read,
    metrics,
    segment_routes,
    list_routes,
    subscriptions,
    metric_aggregates,
    webhook_routes,
    stream_routes,
    privacy,
    profile_import,
    openapi,
    exchange_ids,
    onsite,
    segment_spec,
    posthog_capture,
    console,  # the web console: `/` and /console/* (footfall/console/)
]


def build_pipeline(settings: Settings) -> Pipeline:
    """Commits run in a writer process of their own (see footfall/ingest/writer_process.py)."""
    committer = ProcessCommitter(
        functools.partial(db.connect, settings.database_url, synchronous=settings.sqlite_synchronous,
                          application_name="footfall-writer"),
        functools.partial(batch.apply_batch, limits=settings.limits),
    )
    return Pipeline(
        committer,
        max_items=settings.queue_max_items,
        max_bytes=settings.queue_max_bytes,
        batch_max=settings.batch_max_items,
        retry_after=settings.retry_after_seconds,
        ack_timeout=settings.ack_timeout_seconds,
        stall_after=settings.store_stall_seconds,
        lag_limit=settings.loop_lag_limit_seconds,
    )


def build_membership(settings: Settings) -> MembershipWorker:
    connect = functools.partial(db.connect, settings.database_url, synchronous=settings.sqlite_synchronous)
    return MembershipWorker(connect, sweep_interval=settings.segment_sweep_seconds)


def build_deliverer(settings: Settings) -> DelivererProcess:
    """Webhooks are delivered from a process of this worker's own (webhooks/deliverer_process.py)."""
    return DelivererProcess(settings)


def _accounts_of(committed: list) -> set[str]:
    """The accounts a commit wrote for: their streams and webhooks may have new outbox messages."""
    return {op.account_id for op, _ in committed if isinstance(getattr(op, "account_id", None), str)}


LAST_USED_FLUSH_SECONDS = 5.0


async def _flush_observations(access: logs.AccessLog | None) -> None:
    """Buffered access lines and request counts out (observability/logs.py, metrics.py)."""
    m = prometheus_metrics.get()
    ticks = max(1, round(prometheus_metrics.FLUSH_SECONDS / logs.FLUSH_SECONDS))
    tick = 0
    try:
        while True:
            await asyncio.sleep(logs.FLUSH_SECONDS)
            tick += 1
            if access is not None:
                access.flush()
            if m is not None and tick % ticks == 0:
                m.flush()
    finally:  # cancelled at shutdown: the last of both
        if access is not None:
            access.flush()
        if m is not None:
            m.flush()


async def _keep_statistics(settings: Settings) -> None:
    """PostgreSQL: analyse the tables grown past their planner statistics (store/statistics.py), on a
    connection of its own, every analyze_check_seconds; a failure is logged and tried again."""
    conn = None
    try:
        while True:
            await asyncio.sleep(settings.analyze_check_seconds)
            try:
                if conn is None:
                    conn = await asyncio.to_thread(db.connect, settings.database_url,
                                                   application_name="footfall-statistics")
                await asyncio.to_thread(statistics.refresh, conn)
            except Exception as exc:  # the store down, or a statement cancelled: next time
                log.warning("planner statistics not refreshed: %s: %s", type(exc).__name__, exc)
                if conn is not None:
                    conn.close()
                    conn = None
    finally:
        if conn is not None:
            conn.close()


async def _flush_last_used(services: Services) -> None:
    """Keys' last_used, written every few seconds (each key at most once a minute: api/key_cache.py)."""
    while True:
        await asyncio.sleep(LAST_USED_FLUSH_SECONDS)
        await services.flush_last_used()


def _count_events(committed: list) -> tuple[int, int]:
    """Events stored and events already stored (dedup), from a commit's results (writer thread):
    each kind of result that holds events says how many (WriteResult, BulkResult, SourceBatchResult)."""
    ingested = duplicate = 0
    for _, result in committed:
        for r in result if isinstance(result, list) else [result]:
            ingested += getattr(r, "events_stored", 0)
            duplicate += getattr(r, "events_duplicate", 0)
    return ingested, duplicate


def _observe_pipeline(pipeline: Pipeline) -> None:
    m = prometheus_metrics.get()
    if m is None:
        return

    def observe(size: int, seconds: float, queued: int, committed: list) -> None:
        m.group_committed(size, seconds, queued, *_count_events(committed))  # counted; flushed each second

    pipeline.on_commit_timing = observe


def _heartbeat(settings: Settings, pipeline: Pipeline, deliverer: DelivererProcess):
    """This worker's heartbeat for the others' /healthz (only under `footfall serve`: its run dir)."""
    if not settings.run_dir:
        return None
    from footfall.observability import heartbeat, rundir

    return heartbeat.Heartbeat(rundir.health_dir(settings.run_dir), lambda: health.worker_status(pipeline, deliverer))


def create_app(settings: Settings | None = None) -> Starlette:
    """The Footfall ASGI app; settings default to the FOOTFALL_* environment."""
    settings = settings or config.from_env()
    if settings.run_dir:  # `footfall serve`'s workers; an embedding program keeps its own logging set-up
        logs.configure(settings.log_format)
    prometheus_metrics.configure(settings.metrics)

    access = logs.AccessLog(settings.log_format) if settings.access_log else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pipeline = build_pipeline(settings)
        readers = Readers(settings.database_url, synchronous=settings.sqlite_synchronous)
        limiter = make_limiter(settings.redis_url) if settings.rate_limits.enabled else None
        if limiter is not None and not settings.redis_url and settings.workers > 1:
            log.warning("rate limits are counted per worker process; set FOOTFALL_REDIS_URL to share them")
        app.state.key_guard = KeyGuard(settings.unknown_key_budget, settings.unknown_key_window_seconds)
        app.state.services = Services(settings=settings, pipeline=pipeline, readers=readers, limiter=limiter)
        membership = app.state.membership = build_membership(settings)
        pipeline.add_listener(membership.on_commit)
        hub = app.state.hub = Hub()
        hub.bind(asyncio.get_running_loop())
        deliverer = app.state.deliverer = build_deliverer(settings)
        hub.forward_to(deliverer.notify)  # the deliverer process's lanes are woken by the same notices
        pipeline.add_listener(lambda committed: hub.notify(_accounts_of(committed)))
        membership.observers.append(lambda account_id, segment_id, changes: hub.notify([account_id]))
        _observe_pipeline(pipeline)
        membership.start()
        pipeline.start()
        deliverer.start()
        log.info("worker %d started: database %s, writer pid %s, deliverer pid %s", os.getpid(),
                 DatabaseURL(settings.database_url).redacted(), pipeline.health()["writer_pid"], deliverer.pid)
        pipeline.watch_loop(asyncio.get_running_loop())
        last_used = asyncio.create_task(_flush_last_used(app.state.services))
        flushing = asyncio.create_task(_flush_observations(access))
        beat = _heartbeat(settings, pipeline, deliverer)
        beating = asyncio.create_task(beat.run()) if beat is not None else None
        analysing = (asyncio.create_task(_keep_statistics(settings)) if settings.analyze_check_seconds > 0
                     and DatabaseURL(settings.database_url).backend == "postgresql" else None)
        gc_tuning.tune()
        try:
            yield
        finally:
            await asyncio.to_thread(deliverer.stop)
            for task in (last_used, beating, flushing, analysing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if beat is not None:
                beat.remove()
            await app.state.services.flush_last_used()
            drained = pipeline.stop()
            m = prometheus_metrics.get()
            if m is not None:
                m.flush()  # the drained commits' counts (the flushing task has ended)
            log.info("worker %d stopped: drained %d queued event(s), %d committed in all", os.getpid(), drained,
                     pipeline.stats.committed_ops)
            prometheus_metrics.process_ended(os.getpid())
            membership.stop()
            readers.close()
            if limiter is not None:
                await limiter.close()

    routes = [route for module in ROUTE_MODULES for route in module.routes]
    handlers = {
        Refusal: error_answers.refusal_handler,  # ApiError, an unreachable store: footfall/refusals.py's table
        Disconnected: error_answers.disconnected_handler,
        HTTPException: error_answers.http_error_handler,
        Exception: error_answers.server_error_handler,
    }
    # The hottest ingest routes are answered ahead of Starlette's router (see api/fastpath.py).
    fast = [route for module in ROUTE_MODULES for route in getattr(module, "fast_routes", [])]
    # The client's address from a trusted proxy's X-Forwarded-For first (api/client_address.py).
    # Outermost: every request (the fast path's too) gets its id, access line and metrics.
    observe = Middleware(Observe, access=access, metrics=prometheus_metrics.get())
    middleware = [observe, Middleware(Edge), *client_address.proxy_middleware(settings.trusted_proxies),
                  Middleware(FastPath, routes=fast)]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=middleware)
