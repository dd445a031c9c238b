"""Group commit through a store process: whatever deliveries are waiting go into one commit.

The server's event loop only reads request bodies and answers. Each body goes, unparsed, into
a queue; the queue is sent as one batch to the store process (:mod:`sidecar.store_worker`),
which parses, stores and projects the whole batch in one transaction, commits once
(``synchronous=FULL``: one fsync per batch) and sends back a result per delivery. One batch is
in flight at a time, so a batch holds everything that arrived during the previous commit: the
busier the sidecar, the more deliveries share an fsync. No request is answered before the
commit holding its event has returned: concurrency raises throughput without weakening
durability.

If the store process dies, the deliveries it held are answered 503 (with Retry-After) and a
new one is started; until it is up, deliveries are answered 503 too, never dropped in silence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import storage
from sidecar.store_worker import frame, take_frames

log = logging.getLogger("offload_console.sidecar")

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0


class DatabaseBusy(Exception):
    """The delivery could not be committed (database locked, store process gone): a 503.
    ``event_id`` and ``event_type`` are set when the store process had parsed it."""

    def __init__(self, message: str, event_id: str | None = None, event_type: str | None = None):
        super().__init__(message)
        self.event_id = event_id
        self.event_type = event_type


class GroupCommitWriter:
    def __init__(self, db_path: str, busy_timeout_ms: int | None = None):
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self._pending: list[tuple[tuple, asyncio.Future | None]] = []
        self._in_flight: deque[list[tuple[tuple, asyncio.Future | None]]] = deque()
        self._idle = asyncio.Event()  # set while nothing is pending or in flight
        self._idle.set()
        self._send_scheduled = False
        self._proc: subprocess.Popen | None = None
        self._link: _StoreLink | None = None
        self._restart_task: asyncio.Task | None = None
        self._stopping = False
        self.store_stats: tuple = (0, 0, 0.0, 0.0)  # the store process's Stats, as sent
        self.restarts = 0

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._link is not None else None

    async def start(self) -> None:
        """Start the store process and wait until its database is open and migrated."""
        loop = asyncio.get_running_loop()
        timeout = self.busy_timeout_ms
        if timeout is None:
            timeout = storage.db.busy_timeout_ms()
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sidecar.store_worker",
                    str(theirs.fileno()),
                    os.path.abspath(self.db_path),
                    str(timeout),
                    str(log.getEffectiveLevel()),
                ],
                pass_fds=(theirs.fileno(),),
                env={**os.environ, "PYTHONPATH": _pythonpath()},
            )
        finally:
            theirs.close()
        ready = loop.create_future()
        _, link = await loop.create_unix_connection(lambda: _StoreLink(self, ready), sock=ours)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await ready
        except (ConnectionError, TimeoutError):
            link.transport.close()
            await loop.run_in_executor(None, self._reap)
            raise RuntimeError(
                f"the sidecar's store process did not start (database {self.db_path}); "
                "its error is printed above"
            ) from None
        self._link = link
        if self._pending:
            self._schedule_send()

    async def stop(self) -> None:
        """Answer every delivery already accepted, then let the store process finish."""
        self._stopping = True
        if self._link is not None:
            await self._idle.wait()
        if self._restart_task is not None:
            self._restart_task.cancel()
        if self._link is not None:
            self._link.transport.close()  # the store process reads end-of-file and exits
            self._link = None
        self._fail_all(DatabaseBusy("the sidecar is stopping"))
        await asyncio.get_running_loop().run_in_executor(None, self._reap)

    async def deliver(self, body: bytes, received_at: int, remote_addr: str | None) -> tuple:
        """Store one delivery: ``(status, detail, event_id, event_type, case_id)``.

        Raises :class:`DatabaseBusy` when it could not be committed."""
        if self._link is None:
            raise DatabaseBusy("the store process is not running (restarting); retry")
        future = asyncio.get_running_loop().create_future()
        self._enqueue(("delivery", body, received_at, remote_addr), future)
        result = await future
        if result[0] == 503:
            raise DatabaseBusy(result[1], event_id=result[2], event_type=result[3])
        return result

    def note_rejection(self, **fields: Any) -> None:
        """Queue a refusal the server made itself, for the record; nobody waits on it."""
        self._enqueue(("rejection", fields), None)

    def _enqueue(self, item: tuple, future: asyncio.Future | None) -> None:
        self._pending.append((item, future))
        self._idle.clear()
        self._schedule_send()

    def _schedule_send(self) -> None:
        if not self._send_scheduled and self._link is not None:
            self._send_scheduled = True
            # After this loop turn: requests read in the same turn go in one frame.
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._send_scheduled = False
        if not self._pending or self._link is None:
            return
        batch, self._pending = self._pending, []
        self._in_flight.append(batch)
        self._link.transport.write(frame([item for item, _ in batch]))

    def _on_results(self, reply: tuple) -> None:
        results, self.store_stats = reply
        batch = self._in_flight.popleft()
        for (_, future), result in zip(batch, results, strict=True):
            if future is not None and not future.done():
                future.set_result(result)
        if not self._in_flight and not self._pending:
            self._idle.set()

    def _on_link_lost(self) -> None:
        if self._link is None:
            return  # never started, or stopped on purpose
        self._link = None
        if self._stopping:
            self._fail_all(DatabaseBusy("the sidecar is stopping"))
            return
        self.restarts += 1
        self._fail_all(DatabaseBusy("the store process exited; retry"))
        self._restart_task = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        code = await asyncio.get_running_loop().run_in_executor(None, self._reap)
        log.error("the store process exited (code %s); starting a new one", code)
        while not self._stopping:
            try:
                await self.start()
                self._restart_task = None
                return
            except Exception as exc:  # noqa: BLE001 - keep trying; deliveries get 503 meanwhile
                log.error("could not restart the store process: %s", exc)
                await asyncio.sleep(RESTART_DELAY_S)

    def _fail_all(self, error: Exception) -> None:
        batch = [job for sent in self._in_flight for job in sent] + self._pending
        self._in_flight, self._pending = deque(), []
        for _, future in batch:
            if future is not None and not future.done():
                future.set_exception(error)
        self._idle.set()

    def _reap(self) -> int | None:
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        return code


class _StoreLink(asyncio.Protocol):
    """The server's end of the socket to the store process: frames in, results out."""

    def __init__(self, writer: GroupCommitWriter, ready: asyncio.Future):
        self.writer = writer
        self.ready = ready
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for message in take_frames(self.buffer):
            if not self.ready.done():
                self.ready.set_result(message)  # ("ready", pid)
            else:
                self.writer._on_results(message)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("the store process exited"))
        self.writer._on_link_lost()


def _pythonpath() -> str:
    """The store process imports this project the way the server did."""
    existing = os.environ.get("PYTHONPATH")
    return f"{ROOT}{os.pathsep}{existing}" if existing else str(ROOT)
