"""The sidecar's store process: parses, stores and projects deliveries, one commit per batch.

    python -m sidecar.store_worker FD DB_PATH BUSY_TIMEOUT_MS LOG_LEVEL

Started by :class:`sidecar.writer.GroupCommitWriter`, which talks to it over the socket ``FD``
in frames (4-byte big-endian length, then a pickle). The first frame out says ``ready`` (the
database is open and migrated). Then, for every batch the server sends, one frame back with a
result per item, written only after the batch's ``COMMIT`` has returned (``synchronous=FULL``:
the batch is on disk). It exits when the server closes the socket, or dies with it.

Why a process of its own: parsing, projecting and the commit's fsync take as long as the HTTP
request itself, and in the server's process they would hold the event loop (sqlite3 calls
retake the GIL, so a thread does not help). Here they run on the other core while the server
keeps answering requests, and each batch holds whatever arrived during the previous commit.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import socket
import sqlite3
import struct
import sys
import threading
import time
from typing import Any

import storage
from sidecar.delivery import Refused, parse_delivery
from storage.db import checkpoint, manual_checkpoints, write_transaction
from storage.deliveries import record_rejection
from storage.events import Event, record_events

log = logging.getLogger("offload_console.sidecar")

HEADER = struct.Struct(">I")
CHECKPOINT_EVERY_S = 1.0
RECV_BYTES = 1 << 20
MAX_MERGED_FRAMES = 64  # bounds one transaction when the server runs far ahead

# Items the server sends, and results sent back (one per item, same order):
#   ("delivery", body: bytes, received_at: int, remote_addr: str | None)
#       -> (status, detail, event_id, event_type, case_id)
#          status 200: detail "stored" or "duplicate"; 400/422: detail is the reason;
#          503: the batch could not be committed, detail is the error.
#   ("rejection", fields: dict)  a refusal the server made itself, for the record -> None
# A reply frame is (results, Stats.as_tuple()).


def frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def take_frames(buffer: bytearray) -> list:
    """Remove every whole frame from the front of ``buffer``; their messages, in order."""
    messages, offset = [], 0
    while len(buffer) - offset >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, offset)
        end = offset + HEADER.size + size
        if len(buffer) < end:
            break
        messages.append(pickle.loads(buffer[offset + HEADER.size : end]))
        offset = end
    del buffer[:offset]
    return messages


class Stats:
    """What the store process has done, sent with every reply (the sidecar's /healthz)."""

    def __init__(self) -> None:
        self.commits = 0
        self.deliveries = 0
        self.busy_s = 0.0  # parsing, storing, projecting and committing
        self.commit_s = 0.0  # of which in COMMIT (the fsync)

    def as_tuple(self) -> tuple:
        return (self.commits, self.deliveries, self.busy_s, self.commit_s)


def store_batch(db, items: list[tuple], stats: Stats | None = None) -> list[tuple | None]:
    """Store one batch in one transaction; the results to send back, item by item."""
    started = time.perf_counter()
    committing = started
    results: list[tuple | None] = [None] * len(items)
    events: list[tuple[int, Event, int]] = []  # (index, event, received_at)
    rejections: list[dict] = []
    for index, item in enumerate(items):
        if item[0] == "rejection":
            rejections.append(item[1])
            continue
        _, body, received_at, remote_addr = item
        try:
            events.append((index, parse_delivery(body), received_at))
        except Refused as refused:
            results[index] = (refused.status, refused.reason, None, None, None)
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
            committing = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - rolled back: each delivery alone, below
        _log_failure(exc, len(items))
        if len(events) + len(rejections) <= 1 or isinstance(exc, sqlite3.OperationalError):
            # Busy, locked or full is the database's state, not a body's: all wait alike.
            for index, event, _ in events:
                results[index] = _failed(exc, event)
        else:
            # A delivery's fate depends on its own body only: store each alone, so one that
            # cannot be stored fails by itself and its neighbours are still acked.
            _store_one_by_one(db, events, rejections, results)
    else:
        for (index, event, _), is_new in zip(events, new, strict=True):
            outcome = "stored" if is_new else "duplicate"
            results[index] = (200, outcome, event.event_id, event.event_type, event.case_id)
    if stats is not None:
        finished = time.perf_counter()
        stats.commits += 1
        stats.deliveries += len(items)
        stats.busy_s += finished - started
        stats.commit_s += finished - committing
    return results


def _log_failure(exc: Exception, count: int) -> None:
    if isinstance(exc, sqlite3.Error):
        log.warning("write of %d deliveries failed: %s", count, exc)
    else:
        log.error("unexpected error writing %d deliveries: %r", count, exc)


def _failed(exc: Exception, event: Event) -> tuple:
    """What a delivery that could not be stored is answered: 422 when its body itself cannot
    be stored (text SQLite refuses, a number out of range), else 503 (database busy or full,
    a bug: the same body may be stored later)."""
    status = 422 if isinstance(exc, UnicodeError | OverflowError | ValueError) else 503
    reason = f"could not be stored: {exc!r}"[:300]
    return (status, reason, event.event_id, event.event_type, event.case_id)


def _store_one_by_one(db, events, rejections, results) -> None:
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
        except Exception as exc:  # noqa: BLE001 - this delivery alone fails
            _log_failure(exc, 1)
            results[index] = _failed(exc, event)
        else:
            outcome = "stored" if is_new else "duplicate"
            results[index] = (200, outcome, event.event_id, event.event_type, event.case_id)


def serve(sock: socket.socket, db_path: str, busy_timeout_ms: int) -> None:
    db = storage.open_db(db_path, busy_timeout=busy_timeout_ms)
    stopping = threading.Event()
    # WAL checkpoints (several fsyncs each) run beside the batches, not inside one.
    manual_checkpoints(db)
    checkpointer = threading.Thread(
        target=_checkpoint_loop, args=(db_path, stopping), name="wal-checkpoint", daemon=True
    )
    checkpointer.start()
    incoming = FrameReader(sock)
    stats = Stats()
    gc.freeze()  # modules and schema live as long as the process: no full collections of them
    sock.sendall(frame(("ready", os.getpid())))
    try:
        while (batches := incoming.read_available()) is not None:
            # Everything that queued up during the previous commit shares this one.
            results = store_batch(db, [item for batch in batches for item in batch], stats)
            replies = []
            for batch in batches:
                replies.append(frame((results[: len(batch)], stats.as_tuple())))
                del results[: len(batch)]
            sock.sendall(b"".join(replies))
    except (BrokenPipeError, ConnectionResetError):
        return  # the server is gone
    finally:
        stopping.set()
        checkpointer.join(timeout=10)
        db.conn.close()


class FrameReader:
    """Frames from a socket: wait for at least one, then take every one already arrived."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def read_available(self) -> list | None:
        """The batches that have arrived (waiting for one); None once the socket is closed."""
        batches = take_frames(self.buffer)
        while not batches:
            if self.eof:
                return None
            self._receive(blocking=True)
            batches = take_frames(self.buffer)
        while not self.eof and len(batches) < MAX_MERGED_FRAMES:
            if not self._receive(blocking=False):
                break
            batches += take_frames(self.buffer)
        return batches

    def _receive(self, *, blocking: bool) -> bool:
        try:
            chunk = self.sock.recv(RECV_BYTES, 0 if blocking else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True


def _checkpoint_loop(db_path: str, stopping: threading.Event) -> None:
    while not stopping.wait(CHECKPOINT_EVERY_S):
        try:
            checkpoint(db_path)
        except sqlite3.Error as exc:
            log.debug("checkpoint skipped: %s", exc)


def main(argv: list[str]) -> int:
    fd, db_path, busy_timeout_ms, log_level = int(argv[0]), argv[1], int(argv[2]), int(argv[3])
    # Ctrl-C, or a service manager's SIGTERM, may reach the whole process group. The server
    # stops this process by closing the socket once every delivery it accepted has been
    # answered (or by dying, which closes it too): only then does it exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level,  # the sidecar's
        format="%(asctime)s %(levelname)s %(name)s[store]: %(message)s",
    )
    from offload_console.redact import install_log_redaction

    install_log_redaction()
    serve(socket.socket(fileno=fd), db_path, busy_timeout_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
