"""Running :func:`reconciler.sync` every N seconds inside another process's event loop."""

from __future__ import annotations

import asyncio
import logging
import time

from reconciler.sync import sync
from storage import StorageError
from storage.db import refresh_statistics

log = logging.getLogger("offload_console.reconciler")

STATISTICS_EVERY_S = 3600.0  # the planner's statistics, refreshed by the first pass and hourly


async def reconcile_forever(open_db, make_client, every_s: float, *, job=None) -> None:
    """Each pass runs in a worker thread with its own connection (``open_db()``) and client
    (``make_client()``), so the caller's loop (the sidecar's) keeps answering webhooks
    meanwhile. ``job``: a ``storage.jobs.JobLock``; a pass runs only while this instance holds
    it (one reconciler across all instances of a database: each case polled once a pass)."""
    statistics_at: float | None = None

    def one_pass() -> None:
        nonlocal statistics_at
        if job is not None and not job.held():
            return  # another instance reconciles
        db = open_db()
        try:
            if statistics_at is None or time.monotonic() - statistics_at >= STATISTICS_EVERY_S:
                refresh_statistics(db)
                statistics_at = time.monotonic()
            with make_client() as client:
                report = sync(db, client)
            if report.polled:
                log.info("reconciler: %s", report.summary())
        finally:
            db.conn.close()

    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(one_pass)
        except StorageError as exc:  # a restart, a failover: the next pass reconnects
            log.warning("reconciler pass: the database is unavailable (%s); trying again", exc)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
            log.exception("reconciler pass failed")
