"""The console processes using this database: each sidecar and dashboard registers itself at
start (host, pid, port, version) and is seen again every :data:`HEARTBEAT_S`; a clean stop
says so. The Health page lists them; one not seen for :data:`GONE_AFTER_S` is shown as gone
(killed, or its machine lost)."""

from __future__ import annotations

import json
import os
import socket

from storage.database import Database
from storage.db import now_ms, write_transaction

HEARTBEAT_S = 10
GONE_AFTER_S = 3 * HEARTBEAT_S
KEEP_MS = 24 * 3_600_000  # stopped or gone instances are listed this long


def register(
    db: Database, part: str, port: int | None, version: str, *, now: int | None = None
) -> str:
    """Record this process as a running ``part``; returns its instance id."""
    now = now_ms() if now is None else now
    host = socket.gethostname()
    instance_id = f"{host}:{os.getpid()}:{now}"
    with write_transaction(db):
        db.execute(
            "INSERT INTO instances (instance_id, part, host, pid, port, version, started_at,"
            " last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [instance_id, part, host, os.getpid(), port, version, now, now],
        )
        db.execute(
            "DELETE FROM instances WHERE last_seen_at < ?",
            [now - KEEP_MS],
        )
    return instance_id


def seen(
    db: Database,
    instance_id: str,
    *,
    now: int | None = None,
    status: dict | None = None,
) -> None:
    """This instance is still running; ``status``: how it sees things (a sidecar: the
    database, its spool), shown on the Health page as it said it."""
    with write_transaction(db):
        db.execute(
            "UPDATE instances SET last_seen_at = ?, status = coalesce(?, status)"
            " WHERE instance_id = ?",
            [
                now_ms() if now is None else now,
                None if status is None else json.dumps(status),
                instance_id,
            ],
        )


def stopped(db: Database, instance_id: str) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE instances SET stopped_at = ?, last_seen_at = ? WHERE instance_id = ?",
            [now_ms(), now_ms(), instance_id],
        )


def list_instances(db: Database, *, now: int | None = None) -> list[dict]:
    """Every instance seen in the last day, running ones first, each with ``state``:
    ``running``, ``stopped`` or ``gone`` (not seen for :data:`GONE_AFTER_S`)."""
    now = now_ms() if now is None else now
    rows = list(
        db.query(
            "SELECT instance_id, part, host, pid, port, version, started_at, last_seen_at,"
            " stopped_at, status FROM instances WHERE last_seen_at >= ?"
            " ORDER BY part, host, port, pid",
            [now - KEEP_MS],
        )
    )
    for row in rows:
        try:
            row["status"] = json.loads(row["status"]) if row["status"] else {}
        except ValueError:
            row["status"] = {}
        if row["stopped_at"] is not None:
            row["state"] = "stopped"
        elif row["last_seen_at"] < now - GONE_AFTER_S * 1000:
            row["state"] = "gone"
        else:
            row["state"] = "running"
    rows.sort(key=lambda r: (r["state"] != "running", r["part"], r["host"], r["port"] or 0))
    return rows
