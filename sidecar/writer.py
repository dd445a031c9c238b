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

On PostgreSQL the acknowledgement takes no lock of the console's: the batch's events and its
``deliveries`` rows are inserted and committed (their unique keys dedupe across sidecars) and
their projection is queued; a projector thread applies the queue apart (``project_queued``).
And when the database cannot take a batch (down, restarting, unreachable, a lock held too
long), the batch goes to the sidecar's local spool (``storage.spool``) and is answered 200 from
there; new deliveries follow it into the spool until a forwarder has stored all of it, oldest
first, so the order of arrival holds.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import storage
from sidecar.delivery import Refused, parse_delivery
from storage import DatabaseUnavailable, StorageError
from storage.db import checkpoint, manual_checkpoints, write_transaction
from storage.deliveries import LoggedDelivery, record_deliveries, record_rejection
from storage.events import Event, project_queued, record_events
from storage.pg import is_postgresql
from storage.spool import Spool, SpoolFull

log = logging.getLogger("offload_console.sidecar")

CHECKPOINT_EVERY_S = 1.0
ACK_WAIT_S = 2.0  # with a spool: how long a batch may wait on the database before spooling
FORWARD_BATCH = 500
FORWARD_RETRY_S = (0.25, 2.0)  # the forwarder's first and longest pause while the db is down
PROJECT_EVERY_S = 1.0  # the projector's pass when nothing wakes it
# Why a batch was not stored that the spool answers for: the database's state, not the body's.
SPOOLED_WHY = {"busy", "unavailable", "read_only", "no_memory", "disk_full", "io_error", "timeout"}


class Delivery(NamedTuple):
    """A delivery's body queued for the writer, unparsed."""

    body: bytes
    received_at: int
    remote_addr: str | None = None
    delivery_key: str | None = None


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


class NotStored(Exception):
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
    """Owns the sidecar's write connection; :meth:`deliver` returns once the event is on disk
    (in the database, or in the ``spool`` when there is one and the database cannot take it).

    ``in_thread=False`` writes on the event loop itself (it then stalls while a batch commits);
    kept for ``bench/sidecar_ingest.py``, which measures both."""

    def __init__(
        self,
        db_path: str,
        busy_timeout_ms: int,
        *,
        in_thread: bool = True,
        spool_path: str | None = None,
        spool_max_bytes: int = 0,
    ):
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self.in_thread = in_thread
        self.postgresql = is_postgresql(db_path)
        self.stats = Stats()
        self.spool_path, self.spool_max_bytes = spool_path, spool_max_bytes
        self.spool: Spool | None = None
        self.spooling = False  # new deliveries go to the spool until it is forwarded
        self.database_error: str | None = None  # the last reason the database refused, if any
        self._appending = 0  # spool appends under way
        self._forward_kick: asyncio.Event | None = None
        self._db = None
        self._pending: list[tuple[tuple, asyncio.Future | None]] = []
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None  # set while nothing is pending or being written
        self._tasks: list[asyncio.Task] = []
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sidecar-writer")
        self._spool_thread = ThreadPoolExecutor(1, thread_name_prefix="sidecar-spool")
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._project_wake = threading.Event()
        self._projector: threading.Thread | None = None
        self.projection_error: str | None = None
        self._stopping = False
        self._keys = (f"{secrets.token_hex(6)}-{n}" for n in itertools.count())
        self.waiting = 0  # deliveries accepted and not yet answered (queued or being written)

    async def start(self) -> None:
        """Open the spool (forwarding what a previous run left) and the database (migrating
        it) in the writer thread; start writing."""
        self._wakeup, self._idle = asyncio.Event(), asyncio.Event()
        self._forward_kick = asyncio.Event()
        self._idle.set()
        if self.spool_path and self.spool_max_bytes > 0:
            self.spool = Spool(self.spool_path, self.spool_max_bytes)
            if self.spool.depth:
                log.warning(
                    "the spool holds %d deliveries from before: forwarding them first",
                    self.spool.depth,
                )
                self.spooling = True
                self._forward_kick.set()
        try:
            self._db = await self._run(self._open)
        except DatabaseUnavailable as exc:  # a full disk, a server down: 503 or spool meanwhile
            self.database_error = str(exc)
            log.warning(
                "database unavailable at start (%s): deliveries get %s until it opens",
                exc,
                "the spool" if self.spool else "503",
            )
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="wal-checkpoint", daemon=True
        )
        self._checkpointer.start()
        if self.postgresql:
            self._projector = threading.Thread(
                target=self._project_loop, name="sidecar-projector", daemon=True
            )
            self._projector.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._write_forever()))
        if self.spool is not None:
            self._tasks.append(loop.create_task(self._forward_forever()))

    def _open(self):
        db = storage.open_db(self.db_path, busy_timeout=self.busy_timeout_ms, any_thread=True)
        # WAL checkpoints (several fsyncs each) run beside the batches, not inside one.
        manual_checkpoints(db)
        return db

    async def stop(self) -> None:
        """Answer every delivery already accepted, then close the database and the spool
        (what it still holds is forwarded at the next start)."""
        self._stopping = True
        await self._idle.wait()
        for task in self._tasks:
            task.cancel()
        self._stop_checkpoints.set()
        self._project_wake.set()
        if self._db is not None:
            await self._run(self._db.conn.close)
        self._thread.shutdown(wait=True)
        if self.spool is not None:
            if self.spool.depth:
                log.warning("stopping with %d deliveries in the spool", self.spool.depth)
            await asyncio.get_running_loop().run_in_executor(self._spool_thread, self.spool.close)
        self._spool_thread.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
        if self._projector is not None:
            self._projector.join(timeout=10)

    async def deliver(self, body: bytes, received_at: int, remote_addr: str | None) -> Outcome:
        """Store one delivery; raises :class:`NotStored` when it could not be committed."""
        if self._stopping:
            raise NotStored(Outcome(503, "the sidecar is stopping", why="stopping"))
        future = asyncio.get_running_loop().create_future()
        self._enqueue(Delivery(body, received_at, remote_addr, next(self._keys)), future)
        self.waiting += 1
        try:
            result = await future
        finally:
            self.waiting -= 1
        if result.status == 503:
            raise NotStored(result)
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
            if self.spooling:
                results = await self._to_spool(items)
            else:
                results = await self._to_database(items)
            for (_, future), result in zip(batch, results, strict=True):
                if future is not None and not future.done():
                    future.set_result(result)
            if not self._pending:
                self._idle.set()

    async def _to_database(self, items: list) -> list[Outcome | None]:
        try:
            if self._db is None:
                self._db = await self._run(self._open)
            call = self._run(store_batch, self._db, items, self.stats, not self.postgresql)
            if self.spool is not None and self.in_thread:
                results = await asyncio.wait_for(asyncio.shield(call), ACK_WAIT_S)
            else:
                results = await call
        except DatabaseUnavailable as exc:
            results = [not_stored(exc)] * len(items)
        except TimeoutError:  # the batch may still commit: its keys make the spool's copy a no-op
            exc = DatabaseUnavailable(f"no answer from the database in {ACK_WAIT_S:g} s", "timeout")
            results = [not_stored(exc)] * len(items)
        except Exception as exc:  # noqa: BLE001 - a bug here must not stop the writer
            log.exception("the writer failed on a batch of %d", len(items))
            results = [not_stored(exc)] * len(items)
        waiting = [
            index
            for index, result in enumerate(results)
            if result is not None and result.status == 503 and result.why in SPOOLED_WHY
        ]
        if not waiting:
            self.database_error = None
            if self.postgresql:
                self._project_wake.set()
            return results
        self.database_error = results[waiting[0]].detail
        if self.spool is None:
            return results
        log.warning(
            "the database cannot take deliveries (%s): spooling them", results[waiting[0]].why
        )
        self.spooling = True
        spooled = await self._to_spool([items[index] for index in waiting])
        for index, result in zip(waiting, spooled, strict=True):
            results[index] = result
        return results

    async def _to_spool(self, items: list) -> list[Outcome | None]:
        """Keep ``items`` in the spool (parsed first: a bad body is refused as ever)."""
        results: list[Outcome | None] = []
        entries = []
        for item in items:
            if isinstance(item, Rejection):
                fields = dict(item.fields)
                body = fields.pop("body", b"") or b""
                entries.append(
                    (fields["received_at"], fields.get("remote_addr"), None, body, fields)
                )
                results.append(None)
                continue
            try:
                event = parse_delivery(item.body)
            except Exception as exc:  # noqa: BLE001 - as store_batch refuses it
                refused = exc if isinstance(exc, Refused) else unparseable(exc)
                results.append(Outcome(refused.status, refused.reason))
                fields = {
                    "received_at": item.received_at,
                    "remote_addr": item.remote_addr,
                    "status_code": refused.status,
                    "reason": refused.reason,
                }
                entries.append((item.received_at, item.remote_addr, None, item.body, fields))
                continue
            entries.append((item.received_at, item.remote_addr, item.delivery_key, item.body, None))
            results.append(Outcome(200, "spooled", event.event_id, event.event_type, event.case_id))
        self._appending += 1
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._spool_thread, self.spool.append, entries
            )
        except (SpoolFull, StorageError) as exc:
            why = "spool_full" if isinstance(exc, SpoolFull) else getattr(exc, "kind", "io_error")
            log.error("a delivery could not be spooled: %s", exc)
            return [
                Outcome(503, f"not stored: {exc}"[:300], r.event_id, r.event_type, r.case_id, why)
                if r is not None and r.status == 200
                else r
                for r in results
            ]
        finally:
            self._appending -= 1
        self._forward_kick.set()
        return results

    async def _forward_forever(self) -> None:
        """Store what the spool holds, oldest first, as soon as the database takes it."""
        loop = asyncio.get_running_loop()
        pause = FORWARD_RETRY_S[0]
        while True:
            await self._forward_kick.wait()
            self._forward_kick.clear()
            while True:
                rows = await loop.run_in_executor(
                    self._spool_thread, self.spool.oldest, FORWARD_BATCH
                )
                if not rows:
                    if self._appending == 0:
                        if self.spooling:
                            log.info("the spool is forwarded: deliveries go to the database again")
                        self.spooling = False
                    break
                try:
                    if self._db is None:
                        self._db = await self._run(self._open)
                    results = await self._run(
                        store_batch,
                        self._db,
                        [_item(row) for row in rows],
                        self.stats,
                        not self.postgresql,
                    )
                except StorageError as exc:
                    results = [not_stored(exc)] * len(rows)
                except Exception as exc:  # noqa: BLE001 - logged; tried again after a pause
                    log.exception("forwarding the spool failed")
                    results = [not_stored(exc)] * len(rows)
                if any(r is not None and r.status == 503 and r.why in SPOOLED_WHY for r in results):
                    self.database_error = next(
                        r.detail for r in results if r is not None and r.status == 503
                    )
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, FORWARD_RETRY_S[1])
                    continue
                pause = FORWARD_RETRY_S[0]
                self.database_error = None
                refused = [
                    (row.spool_id, result.detail)
                    for row, result in zip(rows, results, strict=True)
                    if result is not None and result.status != 200
                ]
                for spool_id, why in refused:
                    log.error("spooled delivery %d refused by the database: %s", spool_id, why)
                    await loop.run_in_executor(
                        self._spool_thread, self.spool.set_aside, [spool_id], why
                    )
                gone = {spool_id for spool_id, _ in refused}
                await loop.run_in_executor(
                    self._spool_thread,
                    self.spool.remove,
                    [row.spool_id for row in rows if row.spool_id not in gone],
                )
                log.info("forwarded %d spooled deliveries", len(rows) - len(gone))
                if self.postgresql:
                    self._project_wake.set()

    def figures(self) -> dict:
        """The database as this sidecar sees it, its spool and its projection (/healthz)."""
        return {
            "database": "ok" if self.database_error is None else self.database_error[:300],
            "spooling": self.spooling,
            "spool": None if self.spool is None else self.spool.figures(storage.now_ms()),
            "projection_error": self.projection_error,
        }

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

    def _project_loop(self) -> None:
        """PostgreSQL: apply what was acknowledged, on a connection of its own, apart from the
        acknowledgements (``storage.events.project_queued``)."""
        db = None
        while not self._stop_checkpoints.is_set():
            self._project_wake.wait(PROJECT_EVERY_S)
            self._project_wake.clear()
            try:
                db = db or storage.open_db(
                    self.db_path, busy_timeout=self.busy_timeout_ms, any_thread=True
                )
                while project_queued(db, FORWARD_BATCH) and not self._stop_checkpoints.is_set():
                    pass
                self.projection_error = None
            except StorageError as exc:
                self.projection_error = str(exc)[:300]
                log.info("projection waits: %s", exc)
                self._stop_checkpoints.wait(0.5)
            except Exception as exc:  # noqa: BLE001 - logged; the next pass tries again
                self.projection_error = repr(exc)[:300]
                log.exception("projection pass failed")
                self._stop_checkpoints.wait(0.5)
        if db is not None:
            db.conn.close()


def _item(row) -> Delivery | Rejection:
    """A spooled row as the writer's item again."""
    if row.fields is not None:
        return Rejection({**row.fields, "body": row.body})
    return Delivery(row.body, row.received_at, row.remote_addr, row.delivery_key)


def store_batch(
    db, items: list[Delivery | Rejection], stats: Stats | None = None, project: bool = True
) -> list[Outcome | None]:
    """Store one batch in one transaction; the outcome of each delivery, in order (None for a
    rejection noted for the record). ``project=False`` (PostgreSQL): no console lock, the
    projection queued (``storage.events.project_queued``)."""
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
        body, received_at, remote_addr, key = item
        remotes[index] = (remote_addr, key)
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
    lock = storage.pg.WRITE_LOCK if project else None
    try:
        with write_transaction(db, lock=lock):
            for fields in rejections:
                record_rejection(db, **fields)
            new = record_events(
                db, [(event, received_at) for _, event, received_at in events], project=project
            )
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
            _store_one_by_one(db, events, rejections, results, remotes, lock, project)
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


def _logged(event: Event, received_at: int, is_new: bool, remote: tuple) -> LoggedDelivery:
    outcome = "stored" if is_new else "duplicate"
    address, key = remote
    return LoggedDelivery(
        received_at, outcome, event.event_id, event.event_type, event.case_id, address, key
    )


def _store_one_by_one(db, events, rejections, results, remotes, lock, project) -> None:
    for fields in rejections:
        try:
            with write_transaction(db, lock=lock):
                record_rejection(db, **fields)
        except Exception as exc:  # noqa: BLE001 - a refusal's record is best effort
            _log_failure(exc, 1)
    for index, event, received_at in events:
        try:
            with write_transaction(db, lock=lock):
                (is_new,) = record_events(db, [(event, received_at)], project=project)
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
