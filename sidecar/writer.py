"""Group commit: one thread owns the write connection and commits whatever has queued up.

Request handlers put work on a queue and await a future. The writer takes everything waiting,
applies it in one transaction and commits once (``synchronous=FULL``: one fsync per batch),
then answers every future. Concurrency raises throughput without weakening durability: no
request is answered before the commit that holds its event has returned.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import storage
from storage.deliveries import record_rejection
from storage.events import Event, record_event

log = logging.getLogger("offload_console.sidecar")

MAX_BATCH = 512


class DatabaseBusy(Exception):
    """The database stayed locked past the busy timeout, or a write failed: answer 503."""


@dataclass
class _Job:
    apply: Callable[[Any], Any]
    future: asyncio.Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    result: Any = field(default=None)


class GroupCommitWriter:
    def __init__(self, db_path: str, busy_timeout_ms: int | None = None):
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._startup_error:
            raise self._startup_error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    async def store_event(self, event: Event, received_at: int) -> bool:
        """Commit ``event``; True if new, False if its event_id was already stored."""
        return await self._submit(lambda db: record_event(db, event, received_at))

    def note_rejection(self, **fields: Any) -> None:
        """Queue a refused delivery for the record; nobody waits on it."""
        self._queue.put(_Job(apply=lambda db: record_rejection(db, **fields)))

    async def _submit(self, apply: Callable[[Any], Any]) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(apply=apply, future=future, loop=loop))
        return await future

    def _run(self) -> None:
        try:
            db = storage.open_db(self.db_path, busy_timeout=self.busy_timeout_ms)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(db, batch)
        db.conn.close()

    def _commit(self, db, batch: list[_Job]) -> None:
        error: BaseException | None = None
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                for job in batch:
                    job.result = job.apply(db)
                db.conn.execute("COMMIT")
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            log.warning("write of %d deliveries failed: %s", len(batch), exc)
            error = DatabaseBusy(str(exc))
        except Exception as exc:  # noqa: BLE001 - never leave a handler waiting
            log.exception("unexpected error writing %d deliveries", len(batch))
            error = DatabaseBusy(f"{type(exc).__name__}: {exc}")
        self.batches += 1
        self.jobs += len(batch)
        for job in batch:
            if job.future is None or job.loop is None:
                continue
            if error is None:
                job.loop.call_soon_threadsafe(_resolve, job.future, job.result, None)
            else:
                job.loop.call_soon_threadsafe(_resolve, job.future, None, error)


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
