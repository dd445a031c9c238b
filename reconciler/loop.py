"""Running :func:`reconciler.sync` every N seconds inside another process's event loop."""

from __future__ import annotations

import asyncio
import logging

import storage
from offload_client import client_from_env
from reconciler.sync import sync

log = logging.getLogger("offload_console.reconciler")


async def reconcile_forever(db_path: str, every_s: float) -> None:
    """Each pass runs in a worker thread with its own connection and client, so the caller's
    loop (the sidecar's) keeps answering webhooks meanwhile."""

    def one_pass() -> None:
        db = storage.open_db(db_path)
        try:
            with client_from_env() as client:
                report = sync(db, client)
            if report.polled:
                log.info("reconciler: %s", report.summary())
        finally:
            db.conn.close()

    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(one_pass)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
            log.exception("reconciler pass failed")
