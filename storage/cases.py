"""Case queries the reconciler needs: which cases to poll, and recording what a poll found."""

from __future__ import annotations

import json

import sqlite_utils

from storage.db import now_ms
from storage.events import local_event, record_event

_POLL_COLUMNS = "case_id, status, updated_at, input_request_id, input_request_status, last_event_at"


def cases_to_poll(db: sqlite_utils.Database, recent_ms: int = 10 * 60 * 1000) -> list[dict]:
    """Every non-terminal case, and terminal ones that changed recently and have not been
    polled since (their final webhook may have raced a lost earlier one)."""
    since = now_ms() - recent_ms
    return list(
        db.query(
            f"SELECT {_POLL_COLUMNS} FROM cases WHERE status NOT IN ('COMPLETED', 'FAILED')"
            f" UNION ALL SELECT {_POLL_COLUMNS} FROM cases WHERE status IN ('COMPLETED', 'FAILED') AND last_event_at >= ?"
            " AND (last_polled_at IS NULL OR last_polled_at < last_event_at)",
            [since],
        )
    )


def poll_is_news(known: dict, data: dict) -> bool:
    """Does a GET show anything the console has not recorded?"""
    updated = data.get("updatedAt")
    if not isinstance(updated, int):
        return data.get("status") != known["status"]
    if known["updated_at"] is None or updated > known["updated_at"]:
        return True
    request = data.get("inputRequest")
    if isinstance(request, dict) and request.get("id") != known["input_request_id"]:
        return updated >= (known["updated_at"] or 0) and data.get("status") == "INPUT_NEEDED"
    return False


def poll_disagrees(known: dict, data: dict) -> bool:
    """Does a GET show another state than the one the console shows?"""
    if data.get("status") != known["status"]:
        return True
    request = data.get("inputRequest")
    return isinstance(request, dict) and request.get("id") != known["input_request_id"]


def record_poll(
    db: sqlite_utils.Database, known: dict, data: dict, fetched_at: int | None = None
) -> bool:
    """Store what a GET showed. A new state becomes a ``case.polled`` event (source ``poll``)
    applied like a webhook; otherwise only ``last_polled_at`` and ``next_action_at`` move, and
    missing descriptive fields are filled. Returns True when the poll repaired something.

    ``fetched_at``: when the GET was sent. A GET sent after the case's last stored event is
    Offload's current truth: if it disagrees with the console (Offload's clock ran ahead and
    was corrected, so its newer state carries an older ``updatedAt``), it is recorded to win,
    one millisecond after the state it corrects. A terminal state is never undone."""
    now = now_ms()
    updated = data.get("updatedAt") if isinstance(data.get("updatedAt"), int) else now
    news = poll_is_news(known, data)
    case_id = known["case_id"]
    event_id, state_ts = f"poll_{case_id}_{updated}", updated
    last_event = known.get("last_event_at")
    if (
        not news
        and fetched_at is not None
        and last_event is not None
        and fetched_at > last_event
        and known["status"] not in ("COMPLETED", "FAILED")
        and poll_disagrees(known, data)
    ):
        news = True
        state_ts = max(updated, (known["updated_at"] or 0) + 1)
        event_id = f"poll_{case_id}_{updated}_current_{fetched_at}"
    with db.atomic():
        if news:
            event = local_event(
                case_id,
                event_id,
                "case.polled",
                updated,
                data,
                source="poll",
                state_ts=state_ts,
            )
            record_event(db, event, now)
        goal = data.get("goal") if isinstance(data.get("goal"), dict) else {}
        counterparty = (
            data.get("counterparty") if isinstance(data.get("counterparty"), dict) else {}
        )
        schema = data.get("resultSchema")
        db.execute(
            "UPDATE cases SET last_polled_at = ?, next_action_at = ?,"
            " objective = coalesce(objective, ?), counterparty_name = coalesce(counterparty_name, ?),"
            " counterparty_address = coalesce(counterparty_address, ?),"
            " counterparty_company = coalesce(counterparty_company, ?),"
            " counterparty_timezone = coalesce(counterparty_timezone, ?),"
            " max_attempts = coalesce(max_attempts, ?), result_schema = coalesce(result_schema, ?),"
            " constraints = coalesce(constraints, ?)"
            " WHERE case_id = ?",
            [
                now,
                data.get("nextActionAt") if isinstance(data.get("nextActionAt"), int) else None,
                goal.get("objective"),
                counterparty.get("name"),
                counterparty.get("address"),
                counterparty.get("company"),
                counterparty.get("timezone"),
                data.get("maxAttempts") if isinstance(data.get("maxAttempts"), int) else None,
                json.dumps(schema, sort_keys=True) if isinstance(schema, dict) else None,
                json.dumps(data["constraints"])
                if isinstance(data.get("constraints"), list)
                else None,
                known["case_id"],
            ],
        )
    return news


def start_reconciler_run(db: sqlite_utils.Database) -> int:
    with db.atomic():
        return db.execute(
            "INSERT INTO reconciler_runs (started_at) VALUES (?)", [now_ms()]
        ).lastrowid


def finish_reconciler_run(
    db: sqlite_utils.Database, run_id: int, polled: int, changed: int, errors: list[str]
) -> None:
    with db.atomic():
        db.execute(
            "UPDATE reconciler_runs SET finished_at = ?, polled = ?, changed = ?, errors = ?,"
            " error_sample = ? WHERE id = ?",
            [now_ms(), polled, changed, len(errors), errors[0][:500] if errors else None, run_id],
        )
        db.execute("DELETE FROM reconciler_runs WHERE id <= ?", [run_id - 1000])


def poll_target(db: sqlite_utils.Database, case_id: str) -> dict | None:
    """What :func:`record_poll` compares a GET against, for one case."""
    rows = list(db.query(f"SELECT {_POLL_COLUMNS} FROM cases WHERE case_id = ?", [case_id]))
    return rows[0] if rows else None
