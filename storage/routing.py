"""Who is on duty, and giving each new question to one of them (migration m022).

``duty`` holds a row per operator on duty (``since``; ``last_assigned_at``: when the router
last gave them a question). :func:`route_one` hands the oldest question the router has not
handled to the on-duty operator who waited longest for one (round-robin), skipping those who
already hold ``cap`` open questions. The question's update is conditional (unassigned, never
routed), so two routers, two instances, or a person assigning it at the same moment never give
one question twice; ``routed_at`` marks it handled, so one a person unassigns later stays so.
"""

from __future__ import annotations

from storage import audit
from storage.database import Database
from storage.db import first_row, write_transaction


def go_on_duty(db: Database, operator: str, now: int) -> None:
    with write_transaction(db):
        db.execute(
            "INSERT INTO duty (operator, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [operator, now],
        )
        audit.record(db, operator, "operator.on_duty")


def go_off_duty(db: Database, operator: str) -> None:
    with write_transaction(db):
        if db.execute("DELETE FROM duty WHERE operator = ?", [operator]).rowcount:
            audit.record(db, operator, "operator.off_duty")


def on_duty(db: Database) -> list[dict]:
    """Everyone on duty, with how many pending questions each holds, in the router's order."""
    return list(
        db.query(
            "SELECT d.operator, d.since, d.last_assigned_at,"
            " (SELECT count(*) FROM input_requests r WHERE r.status = 'PENDING'"
            "  AND r.assigned_to = d.operator) AS open_questions"
            " FROM duty d ORDER BY coalesce(d.last_assigned_at, 0), d.since, d.operator"
        )
    )


def is_on_duty(db: Database, operator: str) -> bool:
    return first_row(db, "SELECT 1 AS yes FROM duty WHERE operator = ?", [operator]) is not None


def next_unrouted(db: Database) -> dict | None:
    """The oldest waiting question nobody assigned and the router has not handled."""
    return first_row(
        db,
        "SELECT input_request_id, case_id FROM input_requests WHERE status = 'PENDING'"
        " AND assigned_to IS NULL AND routed_at IS NULL"
        " ORDER BY requested_at, input_request_id LIMIT 1",
    )


def route_one(db: Database, *, cap: int, now: int) -> tuple[dict, str] | None:
    """Give the oldest unrouted question to the next on-duty operator under ``cap``:
    ``(question, operator)``, or None when there is no question or nobody to take it (the
    question waits for the next pass)."""
    with write_transaction(db):
        question = next_unrouted(db)
        if question is None:
            return None
        taker = next((p for p in on_duty(db) if p["open_questions"] < cap), None)
        if taker is None:
            return None
        changed = db.execute(
            "UPDATE input_requests SET assigned_to = ?, routed_at = ?"
            " WHERE input_request_id = ? AND status = 'PENDING' AND assigned_to IS NULL"
            " AND routed_at IS NULL",
            [taker["operator"], now, question["input_request_id"]],
        ).rowcount
        if changed != 1:
            return None
        # After every stamp already given, whatever this router's clock says: the turn order
        # holds across routers whose clocks (or passes) differ.
        top = db.execute("SELECT coalesce(max(last_assigned_at), 0) FROM duty").fetchone()[0]
        db.execute(
            "UPDATE duty SET last_assigned_at = ? WHERE operator = ?",
            [max(now, top + 1), taker["operator"]],
        )
        audit.record(
            db,
            "router",
            "question.assigned",
            case_id=question["case_id"],
            target=question["input_request_id"],
            detail={"from": None, "to": taker["operator"], "via": "routing"},
        )
    return question, taker["operator"]
