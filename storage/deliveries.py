"""Queries the webhook sidecar needs besides events: refused deliveries and health figures."""

from __future__ import annotations

import sqlite_utils

REJECTED_KEEP = 1000  # newest refused deliveries kept; a flood cannot fill the disk
EXCERPT_BYTES = 1024


def record_rejection(
    db: sqlite_utils.Database,
    *,
    received_at: int,
    remote_addr: str | None,
    status_code: int,
    reason: str,
    body: bytes,
    body_size: int | None = None,
) -> None:
    """Keep what was refused and why (inside the caller's transaction), pruning old rows."""
    cursor = db.conn.execute(
        "INSERT INTO rejected_deliveries (received_at, remote_addr, status_code, reason,"
        " body_size, body_excerpt) VALUES (?, ?, ?, ?, ?, ?)",
        (
            received_at,
            remote_addr,
            status_code,
            reason[:500],
            len(body) if body_size is None else body_size,
            body[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        ),
    )
    if cursor.lastrowid and cursor.lastrowid % 100 == 0:
        db.conn.execute(
            "DELETE FROM rejected_deliveries WHERE id <= ?", (cursor.lastrowid - REJECTED_KEEP,)
        )


def health_summary(db: sqlite_utils.Database) -> dict:
    """Row counts and the newest webhook, for ``GET /healthz`` and the Health page."""
    conn = db.conn
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("events", "cases", "input_requests", "rejected_deliveries")
    }
    pending = conn.execute(
        "SELECT count(*) FROM input_requests WHERE status = 'PENDING'"
    ).fetchone()[0]
    last = conn.execute("SELECT max(received_at) FROM events WHERE source = 'webhook'").fetchone()[
        0
    ]
    return {"counts": counts, "pending_input_requests": pending, "last_webhook_at": last}
