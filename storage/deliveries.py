"""What happened to every webhook delivery (the ``deliveries`` log, refused bodies), and the
sidecar's health figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from storage import audit
from storage.database import Database
from storage.db import first_row, write_transaction
from storage.events import parse_envelope, project_stored_event

REJECTED_KEEP = 1000  # newest refused deliveries kept; a flood cannot fill the disk
DELIVERIES_KEEP = 100_000
EXCERPT_BYTES = 64 * 1024
OUTCOMES = ("stored", "duplicate", "rejected", "projection failed")
# A delivery's outcome as shown: "projection failed" for a stored event whose projection
# failed (d: deliveries, e: its event, joined).
OUTCOME_SQL = (
    "CASE WHEN d.outcome = 'stored' AND e.projection_error IS NOT NULL"
    " THEN 'projection failed' ELSE d.outcome END"
)


class LoggedDelivery(NamedTuple):
    """A delivery the sidecar stored, as the ``deliveries`` log keeps it."""

    received_at: int
    outcome: str  # stored | duplicate
    event_id: str
    event_type: str
    case_id: str
    remote_addr: str | None
    delivery_key: str | None = None  # the sidecar's own id for this request


def record_deliveries(db: Database, rows: list[LoggedDelivery]) -> None:
    """Log deliveries the sidecar stored (inside the caller's transaction); a delivery whose
    key is logged already (forwarded again from a spool after a crash) is not logged twice."""
    if not rows:
        return
    db.conn.executemany(
        "INSERT INTO deliveries (received_at, outcome, status_code, event_id, event_type,"
        " case_id, remote_addr, delivery_key) VALUES (?, ?, 200, ?, ?, ?, ?, ?)"
        " ON CONFLICT (delivery_key) DO NOTHING",
        [LoggedDelivery(*row) for row in rows],
    )
    # executemany leaves cursor.lastrowid unset: ask for the newest id
    _prune(db, db.conn.execute("SELECT max(id) FROM deliveries").fetchone()[0])


def _prune(db: Database, last_id: int | None) -> None:
    if last_id and last_id % 1000 < 50:  # now and then: keep the newest DELIVERIES_KEEP
        db.conn.execute("DELETE FROM deliveries WHERE id <= ?", (last_id - DELIVERIES_KEEP,))


def record_rejection(
    db: Database,
    *,
    received_at: int,
    remote_addr: str | None,
    status_code: int,
    reason: str,
    body: bytes,
    body_size: int | None = None,
) -> None:
    """Keep what was refused and why (inside the caller's transaction), pruning old rows;
    log the delivery."""
    cursor = db.conn.execute(
        "INSERT INTO rejected_deliveries (received_at, remote_addr, status_code, reason,"
        " body_size, body_excerpt) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
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
    logged = db.conn.execute(
        "INSERT INTO deliveries (received_at, outcome, status_code, reason, rejected_id,"
        " remote_addr) VALUES (?, 'rejected', ?, ?, ?, ?) RETURNING id",
        (received_at, status_code, reason[:500], cursor.lastrowid, remote_addr),
    )
    _prune(db, logged.lastrowid)


@dataclass
class DeliveryFilter:
    outcomes: list[str] | None = None
    event_type: str = ""
    case_id: str = ""
    since_ms: int | None = None
    until_ms: int | None = None  # exclusive

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        outcome = OUTCOME_SQL
        if self.outcomes:
            clauses.append(f"{outcome} IN ({','.join('?' for _ in self.outcomes)})")
            params += self.outcomes
        for column, value in (("d.event_type", self.event_type), ("d.case_id", self.case_id)):
            if value.strip():
                clauses.append(f"{column} = ?")
                params.append(value.strip())
        if self.since_ms is not None:
            clauses.append("d.received_at >= ?")
            params.append(self.since_ms)
        if self.until_ms is not None:
            clauses.append("d.received_at < ?")
            params.append(self.until_ms)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_deliveries(
    db: Database, flt: DeliveryFilter | None = None, limit: int = 200, offset: int = 0
) -> list[dict]:
    """Deliveries newest first: time, outcome (``projection failed`` for a stored event whose
    projection failed), status, event type, case, reason, and the refused body's row."""
    where, params = (flt or DeliveryFilter()).where()
    return list(
        db.query(
            f"SELECT d.id, d.received_at, {OUTCOME_SQL}"
            " AS outcome, d.status_code, d.event_id, d.event_type, d.case_id,"
            " coalesce(d.reason, e.projection_error) AS reason, d.rejected_id, d.remote_addr"
            " FROM deliveries d LEFT JOIN events e ON e.event_id = d.event_id"
            f"{where} ORDER BY d.id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    )


def event_types_seen(db: Database) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT event_type FROM deliveries WHERE event_type IS NOT NULL ORDER BY 1"
        )
    ]


def rejected_body(db: Database, rejected_id: int) -> dict | None:
    return first_row(
        db,
        "SELECT id, body_size, body_excerpt, reason, status_code FROM rejected_deliveries"
        " WHERE id = ?",
        [rejected_id],
    )


def failed_projections(db: Database) -> list[dict]:
    """Stored events whose projection failed (kept, never lost), oldest first."""
    return list(
        db.query(
            "SELECT event_id, event_type, case_id, received_at, projection_error FROM events"
            " WHERE projection_error IS NOT NULL ORDER BY received_at, event_id"
        )
    )


def reproject(db: Database, operator: str) -> list[dict]:
    """Apply again every event whose projection failed (after an upgrade fixed the bug):
    ``{event_id, case_id, outcome, error}`` each; an event that fails again keeps its error.
    Audited as ``events.reprojected`` by ``operator`` (the page's and the CLI's alike) when
    there was anything to apply."""
    results = _reproject(db)
    if results:
        audit.record(
            db,
            operator,
            "events.reprojected",
            detail={"applied": sum(r["outcome"] == "applied" for r in results), "of": len(results)},
        )
    return results


def _reproject(db: Database) -> list[dict]:
    results = []
    for row in failed_projections(db):
        stored = db.execute(
            "SELECT payload, source, state_ts, actor, received_at FROM events WHERE event_id = ?",
            [row["event_id"]],
        ).fetchone()
        payload, source, state_ts, actor, received_at = stored
        try:
            event = parse_envelope(json.loads(payload), payload)
        except ValueError as exc:
            results.append({**_id(row), "outcome": "still failing", "error": str(exc)})
            continue
        with write_transaction(db):
            error = project_stored_event(
                db, event, received_at, source=source, state_ts=state_ts, actor=actor
            )
        results.append(
            {**_id(row), "outcome": "applied" if error is None else "still failing", "error": error}
        )
    return results


def _id(row: dict) -> dict:
    return {"event_id": row["event_id"], "case_id": row["case_id"]}


def health_summary(db: Database) -> dict:
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
