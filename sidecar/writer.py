"""Group commit on the event loop: whatever deliveries are waiting go into one transaction.

A handler announces itself with :meth:`GroupCommitWriter.arriving` as soon as a request comes
in, then calls :meth:`store_event` and awaits it. The first delivery queued schedules a flush;
the flush waits (a few loop turns at most) for requests that have arrived but are not parsed
yet, so that they join the batch, then applies the whole batch in one transaction, commits
once (``synchronous=FULL``: one fsync per batch) and answers every waiting handler. No request
is answered before the commit holding its event has returned: concurrency raises throughput
without weakening durability.

Why on the loop thread: a writer thread looked natural, but every ``sqlite3`` call releases
and retakes the GIL, and with the loop thread busy each retake can wait out the interpreter's
switch interval; measured here (bench/sidecar_ingest.py) that convoy cost more than the commit
itself. So that a locked database cannot stall the loop for long, this connection waits at
most ``busy_timeout_ms`` (default 250 ms), then answers 503 with Retry-After. WAL checkpoints
(several fsyncs each) run in a background thread on their own connection instead of inside
some unlucky delivery's commit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import storage
from storage.db import checkpoint, manual_checkpoints, write_transaction
from storage.deliveries import record_rejection
from storage.events import Event, record_event

log = logging.getLogger("offload_console.sidecar")

DEFAULT_WRITE_BUSY_TIMEOUT_MS = 250
MAX_WAIT_TURNS = 8  # loop turns a flush waits for arriving requests to join its batch
CHECKPOINT_EVERY_S = 1.0


class DatabaseBusy(Exception):
    """The database stayed locked past the busy timeout, or a write failed: answer 503."""


class GroupCommitWriter:
    def __init__(self, db_path: str, busy_timeout_ms: int | None = None):
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self._pending: list[tuple[Callable[[Any], Any], asyncio.Future | None]] = []
        self._flush_scheduled = False
        self._turns_waited = 0
        self._arriving = 0
        self._db = None
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        timeout = self.busy_timeout_ms
        if timeout is None:
            timeout = min(storage.db.busy_timeout_ms(), DEFAULT_WRITE_BUSY_TIMEOUT_MS)
        self._db = storage.open_db(self.db_path, busy_timeout=timeout)
        if self.db_path != ":memory:":
            manual_checkpoints(self._db)
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="wal-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def stop(self) -> None:
        if self._pending:
            self._commit_pending()
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    def arriving(self) -> None:
        """A request has come in; until :meth:`arrived`, a flush waits a little for it."""
        self._arriving += 1

    def arrived(self) -> None:
        self._arriving -= 1

    async def store_event(self, event: Event, received_at: int) -> bool:
        """Commit ``event``; True if new, False if its event_id was already stored."""
        future = asyncio.get_running_loop().create_future()
        self._enqueue(lambda db: record_event(db, event, received_at), future)
        return await future

    def note_rejection(self, **fields: Any) -> None:
        """Queue a refused delivery for the record; nobody waits on it."""
        self._enqueue(lambda db: record_rejection(db, **fields), None)

    def _enqueue(self, apply: Callable[[Any], Any], future: asyncio.Future | None) -> None:
        self._pending.append((apply, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._turns_waited = 0
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if self._arriving > 0 and self._turns_waited < MAX_WAIT_TURNS:
            self._turns_waited += 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._flush_scheduled = False
        self._commit_pending()

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        results: list[Any] = []
        error: BaseException | None = None
        try:
            with write_transaction(self._db):
                results = [apply(self._db) for apply, _ in batch]
        except sqlite3.Error as exc:
            log.warning("write of %d deliveries failed: %s", len(batch), exc)
            error = DatabaseBusy(str(exc))
        except Exception as exc:  # noqa: BLE001 - never leave a handler waiting
            log.exception("unexpected error writing %d deliveries", len(batch))
            error = DatabaseBusy(f"{type(exc).__name__}: {exc}")
        self.batches += 1
        self.jobs += len(batch)
        for index, (_, future) in enumerate(batch):
            if future is None or future.done():
                continue
            if error is None:
                future.set_result(results[index])
            else:
                future.set_exception(error)

    def _checkpoint_loop(self) -> None:
        while not self._stopping.wait(CHECKPOINT_EVERY_S):
            try:
                checkpoint(self.db_path)
            except sqlite3.Error as exc:
                log.debug("checkpoint skipped: %s", exc)
