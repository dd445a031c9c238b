"""Group commit: whatever deliveries arrived during the previous commit go into the next one.

The event loop reads request bodies and answers; one writer thread owns the write connection
(the shape of datasette's write thread: a queue in, a future per item out). The loop queues
each body, unparsed, with a future; the writer takes *everything* queued, parses, stores and
projects it in one transaction, commits once (``synchronous=FULL``: one fsync for the batch)
and resolves the futures. One batch is written at a time, so the busier the sidecar, the more
deliveries share an fsync. No request is answered before the commit holding its event has
returned: concurrency raises throughput without weakening durability. sqlite3 releases the GIL
while it writes and fsyncs, so the loop keeps reading requests meanwhile.

A delivery's fate depends on its own body only: if a batch cannot be stored, each of its
deliveries is stored again alone, so one poison body fails by itself (see :func:`store_batch`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import storage
from sidecar.delivery import Refused, parse_delivery
from storage import DatabaseUnavailable, StorageError
from storage.db import checkpoint, manual_checkpoints, write_transaction
from storage.deliveries import LoggedDelivery, record_deliveries, record_rejection
from storage.events import Event, record_events

log = logging.getLogger("offload_console.sidecar")

CHECKPOINT_EVERY_S = 1.0


class Delivery(NamedTuple):
    """A delivery's body queued for the writer, unparsed."""

    body: bytes
    received_at: int
    remote_addr: str | None = None


class Rejection(NamedTuple):
    """A refusal the server made itself (before the writer saw the body), for the record:
    ``storage.deliveries.record_rejection``'s keyword arguments. Nobody waits on it."""

    fields: dict


class Outcome(NamedTuple):
    """What a :class:`Delivery` came to. ``status`` 200: ``detail`` is ``stored`` or
    ``duplicate``; 400/422: ``detail`` is the reason; 503: it could not be committed, ``detail``
    is the error and ``why`` says what kept it out, in the log's words (``busy``,
    ``disk_full``, ``io_error``, ``stopping``, ``not_stored``)."""

    status: int
    detail: str
    event_id: str | None = None
    event_type: str | None = None
    case_id: str | None = None
    why: str = ""


def not_stored(exc: Exception, event: Event | None = None) -> Outcome:
    """The 503 for a delivery the database would not take now."""
    why = exc.kind if isinstance(exc, DatabaseUnavailable) else "not_stored"
    return Outcome(
        503,
        f"not stored: {exc!r}"[:300],
        *(event.event_id, event.event_type, event.case_id) if event else (None, None, None),
        why=why,
    )


class DatabaseBusy(Exception):
    """The delivery could not be committed (database locked or full, sidecar stopping): a
    503. ``outcome`` says what kept it out and, when its body had been parsed, its ids."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.detail)
        self.outcome = outcome


class Stats:
    """What the writer has done (the sidecar's /healthz and the benchmark)."""

    def __init__(self) -> None:
        self.commits = 0
        self.deliveries = 0
        self.busy_s = 0.0  # parsing, storing, projecting and committing
        self.commit_s = 0.0  # of which in COMMIT (the fsync)

    def as_dict(self) -> dict:
        commits = self.commits
        return {
            "commits": commits,
            "deliveries": self.deliveries,
            "deliveries_per_commit": round(self.deliveries / commits, 1) if commits else None,
            "busy_s": round(self.busy_s, 3),
            "commit_ms_mean": round(self.commit_s / commits * 1000, 3) if commits else None,
        }


class GroupCommitWriter:
    """Owns the sidecar's write connection; :meth:`deliver` returns once the event is on disk.

    ``in_thread=False`` writes on the event loop itself (it then stalls while a batch commits);
    kept for ``bench/sidecar_ingest.py``, which measures both."""

    def __init__(self, db_path: str, busy_timeout_ms: int, *, in_thread: bool = True):
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self.in_thread = in_thread
        self.stats = Stats()
        self._db = None
        self._pending: list[tuple[tuple, asyncio.Future | None]] = []
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None  # set while nothing is pending or being written
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sidecar-writer")
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._stopping = False
        self.waiting = 0  # deliveries accepted and not yet answered (queued or being written)

    async def start(self) -> None:
        """Open (and migrate) the database in the writer thread; start writing."""
        self._wakeup, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        try:
            self._db = await self._run(self._open)
        except DatabaseUnavailable as exc:  # a full disk: answer 503 until it opens
            log.warning(
                "database unavailable at start (%s): deliveries get 503 until it opens", exc
            )
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="wal-checkpoint", daemon=True
        )
        self._checkpointer.start()
        self._task = asyncio.get_running_loop().create_task(self._write_forever())

    def _open(self):
        db = storage.open_db(self.db_path, busy_timeout=self.busy_timeout_ms, any_thread=True)
        # WAL checkpoints (several fsyncs each) run beside the batches, not inside one.
        manual_checkpoints(db)
        return db

    async def stop(self) -> None:
        """Answer every delivery already accepted, then close the database."""
        self._stopping = True
        await self._idle.wait()
        if self._task is not None:
            self._task.cancel()
        self._stop_checkpoints.set()
        if self._db is not None:
            await self._run(self._db.conn.close)
        self._thread.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)

    async def deliver(self, body: bytes, received_at: int, remote_addr: str | None) -> Outcome:
        """Store one delivery; raises :class:`DatabaseBusy` when it could not be committed."""
        if self._stopping:
            raise DatabaseBusy(Outcome(503, "the sidecar is stopping", why="stopping"))
        future = asyncio.get_running_loop().create_future()
        self._enqueue(Delivery(body, received_at, remote_addr), future)
        self.waiting += 1
        try:
            result = await future
        finally:
            self.waiting -= 1
        if result.status == 503:
            raise DatabaseBusy(result)
        return result

    def note_rejection(self, **fields: Any) -> None:
        """Queue a refusal the server made itself, for the record; nobody waits on it."""
        self._enqueue(Rejection(fields), None)

    def _enqueue(self, item: Delivery | Rejection, future: asyncio.Future | None) -> None:
        self._pending.append((item, future))
        self._idle.clear()
        self._wakeup.set()

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # Everything that queued up during the previous commit shares this one.
            batch, self._pending = self._pending, []
            items = [item for item, _ in batch]
            try:
                if self._db is None:
                    self._db = await self._run(self._open)
                results = await self._run(store_batch, self._db, items, self.stats)
            except DatabaseUnavailable as exc:
                results = [not_stored(exc)] * len(items)
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the writer
                log.exception("the writer failed on a batch of %d", len(items))
                results = [not_stored(exc)] * len(items)
            for (_, future), result in zip(batch, results, strict=True):
                if future is not None and not future.done():
                    future.set_result(result)
            if not self._pending:
                self._idle.set()

    async def _run(self, fn, *args):
        if self.in_thread:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        return fn(*args)

    def _checkpoint_loop(self) -> None:
        while not self._stop_checkpoints.wait(CHECKPOINT_EVERY_S):
            try:
                checkpoint(self.db_path)
            except StorageError as exc:
                log.debug("checkpoint skipped: %s", exc)


def store_batch(
    db, items: list[Delivery | Rejection], stats: Stats | None = None
) -> list[Outcome | None]:
    """Store one batch in one transaction; the outcome of each delivery, in order (None for a
    rejection noted for the record)."""
    started = time.perf_counter()
    committing = started
    results: list[Outcome | None] = [None] * len(items)
    events: list[tuple[int, Event, int]] = []  # (index, event, received_at)
    remotes: dict[int, str | None] = {}
    rejections: list[dict] = []
    for index, item in enumerate(items):
        if isinstance(item, Rejection):
            rejections.append(item.fields)
            continue
        body, received_at, remote_addr = item
        remotes[index] = remote_addr
        try:
            events.append((index, parse_delivery(body), received_at))
        except Exception as exc:  # noqa: BLE001 - whatever parsing raises refuses this body alone
            refused = exc if isinstance(exc, Refused) else unparseable(exc)
            results[index] = Outcome(refused.status, refused.reason)
            rejections.append(
                {
                    "received_at": received_at,
                    "remote_addr": remote_addr,
                    "status_code": refused.status,
                    "reason": refused.reason,
                    "body": body,
                }
            )
    try:
        with write_transaction(db):
            for fields in rejections:
                record_rejection(db, **fields)
            new = record_events(db, [(event, received_at) for _, event, received_at in events])
            record_deliveries(
                db,
                [
                    _logged(event, received_at, is_new, remotes[index])
                    for (index, event, received_at), is_new in zip(events, new, strict=True)
                ],
            )
            committing = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - rolled back: each delivery alone, below
        _log_failure(exc, len(items))
        if len(events) + len(rejections) <= 1 or isinstance(exc, DatabaseUnavailable):
            # Busy, locked or full is the database's state, not a body's: all wait alike.
            for index, event, _ in events:
                results[index] = _failed(exc, event)
        else:
            _store_one_by_one(db, events, rejections, results, remotes)
    else:
        for (index, event, _), is_new in zip(events, new, strict=True):
            results[index] = _stored(event, is_new)
    if stats is not None:
        finished = time.perf_counter()
        stats.commits += 1
        stats.deliveries += len(items)
        stats.busy_s += finished - started
        stats.commit_s += finished - committing
    return results


def unparseable(exc: Exception) -> Refused:
    """A body whose parsing raised something unforeseen (a bug, or a value no rule knows):
    refused by itself with a 400 naming the error, its neighbours unaffected."""
    log.error("a delivery's body could not be parsed: %r", exc)
    return Refused(400, f"body could not be read: {type(exc).__name__}: {str(exc)[:200]}")


def _log_failure(exc: Exception, count: int) -> None:
    if isinstance(exc, StorageError):
        log.warning("write of %d deliveries failed: %s", count, exc)
    else:
        log.error("unexpected error writing %d deliveries: %r", count, exc)


def _failed(exc: Exception, event: Event) -> Outcome:
    """What a delivery that could not be stored is answered: 422 when its body itself cannot
    be stored (text SQLite refuses, a number out of range), else 503 (database busy or full,
    a bug: the same body may be stored later)."""
    if isinstance(exc, UnicodeError | OverflowError | ValueError):
        reason = f"could not be stored: {exc!r}"[:300]
        return Outcome(422, reason, event.event_id, event.event_type, event.case_id)
    return not_stored(exc, event)


def _stored(event: Event, is_new: bool) -> Outcome:
    outcome = "stored" if is_new else "duplicate"
    return Outcome(200, outcome, event.event_id, event.event_type, event.case_id)


def _logged(event: Event, received_at: int, is_new: bool, remote: str | None) -> LoggedDelivery:
    outcome = "stored" if is_new else "duplicate"
    return LoggedDelivery(
        received_at, outcome, event.event_id, event.event_type, event.case_id, remote
    )


def _store_one_by_one(db, events, rejections, results, remotes) -> None:
    for fields in rejections:
        try:
            with write_transaction(db):
                record_rejection(db, **fields)
        except Exception as exc:  # noqa: BLE001 - a refusal's record is best effort
            _log_failure(exc, 1)
    for index, event, received_at in events:
        try:
            with write_transaction(db):
                (is_new,) = record_events(db, [(event, received_at)])
                record_deliveries(db, [_logged(event, received_at, is_new, remotes[index])])
        except Exception as exc:  # noqa: BLE001 - this delivery alone fails
            _log_failure(exc, 1)
            results[index] = _failed(exc, event)
        else:
            results[index] = _stored(event, is_new)


def freeze_startup_objects() -> None:
    """Everything loaded so far lives as long as the server: keep it out of the collector's
    full passes, which otherwise stall the loop for tens of ms (the sidecar's p99)."""
    gc.freeze()
