"""Case queries the reconciler needs: which cases to poll, and recording what a poll found."""

from __future__ import annotations

from typing import Any, Protocol

from storage.database import Database
from storage.db import first_row, now_ms, write_transaction
from storage.events import case_details, local_event, record_event


class PolledRequest(Protocol):
    id: str


class PolledCase(Protocol):
    """What a GET showed, already parsed (``offload_client.CaseState`` is one): the fields
    a poll is judged by, and ``raw``, Offload's ``data`` object, stored as the poll's record."""

    status: str
    updated_at: int | None
    next_action_at: int | None
    input_request: PolledRequest | None
    raw: dict[str, Any]


_POLL_COLUMNS = "case_id, status, updated_at, input_request_id, input_request_status, last_event_at"


def cases_to_poll(db: Database, recent_ms: int = 10 * 60 * 1000) -> list[dict]:
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


def poll_is_news(known: dict, state: PolledCase) -> bool:
    """Does a GET show anything the console has not recorded?"""
    updated = state.updated_at
    if updated is None:
        return state.status != known["status"]
    if known["updated_at"] is None or updated > known["updated_at"]:
        return True
    request = state.input_request
    if request is not None and request.id != known["input_request_id"]:
        return updated >= (known["updated_at"] or 0) and state.status == "INPUT_NEEDED"
    return False


def poll_disagrees(known: dict, state: PolledCase) -> bool:
    """Does a GET show another state than the one the console shows?"""
    if state.status != known["status"]:
        return True
    request = state.input_request
    return request is not None and request.id != known["input_request_id"]


def record_poll(
    db: Database, known: dict, state: PolledCase, fetched_at: int | None = None
) -> bool:
    """Store what a GET showed. A new state becomes a ``case.polled`` event (source ``poll``)
    applied like a webhook; otherwise only ``last_polled_at`` and ``next_action_at`` move, and
    missing descriptive fields are filled. Returns True when the poll repaired something.

    ``fetched_at``: when the GET was sent. A GET sent after the case's last stored event is
    Offload's current truth: if it disagrees with the console (Offload's clock ran ahead and
    was corrected, so its newer state carries an older ``updatedAt``), it is recorded to win,
    one millisecond after the state it corrects. A terminal state is never undone."""
    now = now_ms()
    updated = state.updated_at if state.updated_at is not None else now
    news = poll_is_news(known, state)
    case_id = known["case_id"]
    event_id, state_ts = f"poll_{case_id}_{updated}", updated
    last_event = known.get("last_event_at")
    if (
        not news
        and fetched_at is not None
        and last_event is not None
        and fetched_at > last_event
        and known["status"] not in ("COMPLETED", "FAILED")
        and poll_disagrees(known, state)
    ):
        news = True
        state_ts = max(updated, (known["updated_at"] or 0) + 1)
        event_id = f"poll_{case_id}_{updated}_current_{fetched_at}"
    with write_transaction(db):
        if news:
            event = local_event(
                case_id,
                event_id,
                "case.polled",
                updated,
                state.raw,
                source="poll",
                state_ts=state_ts,
            )
            record_event(db, event, now)
        # Fields that describe the case are filled as the projection fills them (one rule).
        details = case_details(state.raw)
        details.pop("created_at")
        sets = [f"{column} = coalesce({column}, ?)" for column in details]
        db.execute(
            f"UPDATE cases SET last_polled_at = ?, next_action_at = ?, {', '.join(sets)}"
            " WHERE case_id = ?",
            [now, state.next_action_at, *details.values(), case_id],
        )
    return news


def start_reconciler_run(db: Database) -> int:
    with write_transaction(db):
        return db.execute(
            "INSERT INTO reconciler_runs (started_at) VALUES (?) RETURNING id", [now_ms()]
        ).lastrowid


def finish_reconciler_run(
    db: Database, run_id: int, polled: int, changed: int, errors: list[str]
) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE reconciler_runs SET finished_at = ?, polled = ?, changed = ?, errors = ?,"
            " error_sample = ? WHERE id = ?",
            [now_ms(), polled, changed, len(errors), errors[0][:500] if errors else None, run_id],
        )
        db.execute("DELETE FROM reconciler_runs WHERE id <= ?", [run_id - 1000])


def poll_target(db: Database, case_id: str) -> dict | None:
    """What :func:`record_poll` compares a GET against, for one case."""
    return first_row(db, f"SELECT {_POLL_COLUMNS} FROM cases WHERE case_id = ?", [case_id])
