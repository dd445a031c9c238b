"""The submission outbox: every POST /cases the console makes, committed before it is sent."""

from __future__ import annotations

import json
from typing import Any

from storage.database import Database
from storage.db import first_row, now_ms, write_transaction
from storage.events import local_event, lock_case, record_event


def get_submission(db: Database, submission_id: str) -> dict | None:
    return first_row(db, "SELECT * FROM submissions WHERE submission_id = ?", [submission_id])


def create_submission(
    db: Database, submission_id: str, request: dict, created_by: str | None
) -> bool:
    """Commit a PENDING submission; False if this id exists already (a double submit)."""
    now = now_ms()
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO submissions (submission_id, status, request, created_by,"
            " created_at, updated_at) VALUES (?, 'PENDING', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [submission_id, json.dumps(request, ensure_ascii=False), created_by, now, now],
        )
    return cursor.rowcount == 1


def mark_sent(
    db: Database, submission_id: str, case_id: str, request: dict, actor: str | None
) -> None:
    """Offload returned a caseId: the submission is SENT and the case exists in ``cases``
    (CREATED, with the request sent) before any webhook arrives."""
    now = now_ms()
    data: dict[str, Any] = {
        "caseId": case_id,
        "status": "CREATED",
        "createdAt": now,
        "consoleRequest": request,
        **{
            key: request[key]
            for key in (
                "clientReferenceId",
                "channel",
                "goal",
                "counterparty",
                "maxAttempts",
                "resultSchema",
                "constraints",
                "metadata",
            )
            if key in request
        },
    }
    event = local_event(
        case_id,
        f"console_created_{case_id}",
        "case.created",
        now,
        data,
        source="console",
        state_ts=0,  # any state Offload reports wins over "we sent it"
        actor=actor,
    )
    with write_transaction(db):
        lock_case(db, case_id)  # before the submission's row: a projector may hold the case
        db.execute(
            "UPDATE submissions SET status = 'SENT', case_id = ?, updated_at = ?"
            " WHERE submission_id = ?",
            [case_id, now, submission_id],
        )
        record_event(db, event, now)


def mark_outcome(
    db: Database,
    submission_id: str,
    status: str,
    *,
    error_status: int | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """FAILED (Offload said no, or was never reached) or UNKNOWN (sent, no answer). A webhook
    carrying the submission id may later settle an UNKNOWN one (see storage.events)."""
    with write_transaction(db):
        db.execute(
            "UPDATE submissions SET status = ?, error_status = ?, error_code = ?,"
            " error_message = ?, updated_at = ? WHERE submission_id = ? AND status = 'PENDING'",
            [status, error_status, error_code, error_message, now_ms(), submission_id],
        )
