"""The sidecar's local spool: deliveries the database could not take, kept on this machine's
disk until it can.

Offload sends each webhook once. While the console's database cannot store a delivery (a
PostgreSQL restart, a failover, every connection terminated, a writer stalled with locks held),
the sidecar writes it here instead, commits (``synchronous=FULL``: on disk before the 200), and
answers 200. A forwarder (``sidecar.writer``) stores what is spooled, oldest first, as soon as
the database answers, and only then removes it; a crash between the two forwards it again at
the next start, where the event's id and the delivery's key make the second time a no-op. A
``kill -9`` loses nothing: the next start forwards what is here.

One SQLite file per sidecar (an OS lock says whose), bounded by ``max_bytes`` of bodies: full,
the sidecar answers 503 with Retry-After, as it did before there was a spool. A spooled body
the database refuses for good (a value it cannot hold) stays in the file, marked ``failed``
with the reason, out of the queue, for a person to look at.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from typing import NamedTuple

from storage.errors import DatabaseUnavailable


class SpoolFull(Exception):
    """The spool holds ``max_bytes`` already: this delivery gets a 503."""


class SpoolInUse(Exception):
    """Another running sidecar owns this spool file."""


class Spooled(NamedTuple):
    """A spooled row: ``kind`` is ``delivery`` or ``rejection``; ``fields`` the rejection's."""

    spool_id: int
    received_at: int
    remote_addr: str | None
    delivery_key: str | None
    body: bytes
    fields: dict | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  INTEGER NOT NULL,
    remote_addr  TEXT,
    delivery_key TEXT,
    body         BLOB NOT NULL,
    rejection    TEXT,              -- JSON: a refusal to log (status_code, reason, body_size)
    failed       TEXT               -- the database refused it for good: why
)
"""


class Spool:
    def __init__(self, path: str, max_bytes: int):
        self.path = path
        self.max_bytes = max_bytes
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolInUse(f"another sidecar uses the spool {path}") from None
        self._guard = threading.Lock()
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute(_SCHEMA)
            os.chmod(path, 0o600)  # bodies are the customer's data
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            raise _unavailable(exc) from exc
        self.depth, self.bytes, self.oldest_at = self._figures()
        self.failed = self.conn.execute(
            "SELECT count(*) FROM spooled WHERE failed IS NOT NULL"
        ).fetchone()[0]

    def _figures(self) -> tuple[int, int, int | None]:
        count, size, oldest = self.conn.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0), min(received_at) FROM spooled"
            " WHERE failed IS NULL"
        ).fetchone()
        return count, size, oldest

    def append(self, entries: list[tuple[int, str | None, str | None, bytes, dict | None]]) -> None:
        """Keep ``(received_at, remote_addr, delivery_key, body, rejection fields)`` rows, in
        this order, on disk before returning; :class:`SpoolFull` when they do not fit."""
        size = sum(len(entry[3]) for entry in entries)
        with self._guard:
            if self.bytes + size > self.max_bytes:
                raise SpoolFull(
                    f"the spool holds {self.bytes} bytes of {self.max_bytes}"
                    " (OFFLOAD_CONSOLE_SPOOL_MB)"
                )
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.executemany(
                    "INSERT INTO spooled (received_at, remote_addr, delivery_key, body,"
                    " rejection) VALUES (?, ?, ?, ?, ?)",
                    [
                        (at, remote, key, body, None if fields is None else json.dumps(fields))
                        for at, remote, key, body, fields in entries
                    ],
                )
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise _unavailable(exc) from exc
            self.depth += len(entries)
            self.bytes += size
            if self.oldest_at is None and entries:
                self.oldest_at = min(entry[0] for entry in entries)

    def oldest(self, limit: int) -> list[Spooled]:
        """The oldest ``limit`` rows still to forward, in arrival order."""
        with self._guard:
            rows = self.conn.execute(
                "SELECT id, received_at, remote_addr, delivery_key, body, rejection FROM spooled"
                " WHERE failed IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Spooled(id_, at, remote, key, body, None if fields is None else json.loads(fields))
            for id_, at, remote, key, body, fields in rows
        ]

    def remove(self, ids: list[int]) -> None:
        """Forwarded: gone from the spool."""
        self._settle(ids, "DELETE FROM spooled WHERE id IN ({})", [])

    def set_aside(self, ids: list[int], why: str) -> None:
        """The database refuses these for good: kept, marked, out of the queue."""
        self._settle(ids, "UPDATE spooled SET failed = ? WHERE id IN ({})", [why[:500]])
        self.failed += len(ids)

    def _settle(self, ids: list[int], sql: str, params: list) -> None:
        if not ids:
            return
        with self._guard:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(sql.format(", ".join("?" for _ in ids)), [*params, *ids])
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise _unavailable(exc) from exc
            self.depth, self.bytes, self.oldest_at = self._figures()

    def figures(self, now_ms: int) -> dict:
        """What /healthz and the Health page show."""
        return {
            "depth": self.depth,
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "oldest_age_s": None
            if self.oldest_at is None
            else round(max(0, now_ms - self.oldest_at) / 1000, 1),
            "failed": self.failed,
        }

    def close(self) -> None:
        with self._guard:
            self.conn.close()
        os.close(self._lock_fd)


def _unavailable(exc: sqlite3.Error) -> DatabaseUnavailable:
    name = getattr(exc, "sqlite_errorname", "") or ""
    kind = "disk_full" if name.startswith("SQLITE_FULL") else "io_error"
    return DatabaseUnavailable(f"the spool cannot be written: {exc}", kind)
