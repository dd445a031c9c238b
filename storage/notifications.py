"""Notifications about questions: the outbox rows the sidecar sends, and their targets.

``question.new`` rows are written by a trigger on ``input_requests`` (migration m010) in the
same transaction that records the question, one per active target; the primary key
(``ntf_<kind>_<input request>_<target>``) makes each (question, kind, target) happen once.
"""

from __future__ import annotations

from collections.abc import Iterator

from storage.database import Database
from storage.db import write_transaction
from storage.dialect import dialect

_FIELDS = (
    "SELECT n.notification_id, n.kind, n.target_id, n.recipient, n.attempts, n.created_at,"
    " n.input_request_id, n.case_id, r.question, r.requested_at, r.assigned_to,"
    " r.requested_at + coalesce(c.answer_within_ms, :within) AS due_at,"
    " c.client_reference_id, c.counterparty_name, c.counterparty_address, c.objective,"
    " t.failures AS target_failures"
    " FROM notifications n JOIN input_requests r ON r.input_request_id = n.input_request_id"
    " JOIN cases c ON c.case_id = n.case_id"
)


def sync_targets(
    db: Database,
    targets: list[tuple[str, str, str]],
    *,
    now: int,
    instance_id: str | None = None,
) -> int:
    """The configured targets (``(target_id, label, role)``) become active; the others stay,
    with their history. Without ``instance_id`` (SQLite: one console per database, the holder
    of its sidecar lock) the configured ones are the only active ones. With it (PostgreSQL,
    several consoles): they become this instance's, and a target stays active while any
    running instance has it (:func:`refresh_targets`): an instance started without a target
    switches off nobody else's. Every question already waiting that a ``notify`` target was
    never told about gets a ``question.waiting`` row for it (sent as one digest); returns how
    many such rows were queued."""
    with write_transaction(db):
        if instance_id is None:
            db.execute("UPDATE notify_targets SET active = 0")
        else:
            db.execute("DELETE FROM instance_targets WHERE instance_id = ?", [instance_id])
        for target_id, label, role in targets:
            db.execute(
                "INSERT INTO notify_targets (target_id, label, active, role) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (target_id) DO UPDATE SET label = excluded.label, active = 1,"
                " role = excluded.role",
                [target_id, label, role],
            )
            if instance_id is not None:
                db.execute(
                    "INSERT INTO instance_targets (instance_id, target_id) VALUES (?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [instance_id, target_id],
                )
        if instance_id is not None:
            refresh_targets(db, now=now)
        return _queue_waiting(db, now=now)


def _queue_waiting(db: Database, *, now: int) -> int:
    """A ``question.waiting`` row per active ``notify`` target for every pending question it
    was never told about (sent as one digest); returns how many were queued."""
    return db.execute(
        "INSERT INTO notifications (notification_id, kind, input_request_id,"
        " case_id, target_id, created_at, next_attempt_at)"
        " SELECT 'ntf_waiting_' || r.input_request_id || '_' || t.target_id,"
        " 'question.waiting', r.input_request_id, r.case_id, t.target_id, :now, :now"
        " FROM input_requests r JOIN notify_targets t ON t.active = 1 AND t.role = 'notify'"
        " WHERE r.status = 'PENDING' AND NOT EXISTS (SELECT 1 FROM notifications n"
        " WHERE n.input_request_id = r.input_request_id AND n.target_id = t.target_id)"
        " ON CONFLICT DO NOTHING",
        {"now": now},
    ).rowcount


_RUNNING_TARGETS = (
    "SELECT it.target_id FROM instance_targets it"
    " JOIN instances i ON i.instance_id = it.instance_id"
    " WHERE i.stopped_at IS NULL AND i.last_seen_at >= ?"
)


def refresh_targets(db: Database, *, now: int) -> tuple[int, int]:
    """A target is active while some running instance has it (PostgreSQL; run at each
    instance's start and heartbeat): switch off every active target no running instance has
    (stopped, or unseen for ``storage.instances.GONE_AFTER_S``), and on again every inactive
    one a running instance has (its heartbeats resumed after the database was away long
    enough to make it look gone), queueing what waited meanwhile (:func:`_queue_waiting`).
    Returns (switched off, switched on)."""
    from storage.instances import GONE_AFTER_S

    seen_since = now - GONE_AFTER_S * 1000
    with write_transaction(db):
        off = db.execute(
            "UPDATE notify_targets SET active = 0 WHERE active = 1"
            f" AND target_id NOT IN ({_RUNNING_TARGETS})",
            [seen_since],
        ).rowcount
        on = db.execute(
            f"UPDATE notify_targets SET active = 1 WHERE active = 0 AND target_id IN ({_RUNNING_TARGETS})",
            [seen_since],
        ).rowcount
        if on:
            _queue_waiting(db, now=now)
        return off, on


def queue_overdue(db: Database, *, now: int, answer_within_ms: int) -> int:
    """A ``question.overdue`` row per active target (escalation targets too) for every pending
    question past its due time (once each)."""
    return _queue_by_due_time(db, "overdue", now=now, within=answer_within_ms, share=1.0)


def queue_due_soon(db: Database, *, now: int, answer_within_ms: int, share: float) -> int:
    """A ``question.due_soon`` reminder per ``notify`` target for every pending question that
    has waited ``share`` (e.g. 0.75) of its window and is not yet overdue (once each)."""
    if not 0 < share < 1:
        return 0
    return _queue_by_due_time(db, "due_soon", now=now, within=answer_within_ms, share=share)


def _queue_by_due_time(db: Database, kind: str, *, now: int, within: int, share: float) -> int:
    window = "coalesce(c.answer_within_ms, :within)"
    roles = "" if kind == "overdue" else " AND t.role = 'notify'"
    not_yet_overdue = "" if kind == "overdue" else f" AND r.requested_at + {window} > :now"
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO notifications (notification_id, kind, input_request_id,"
            " case_id, target_id, created_at, next_attempt_at)"
            f" SELECT 'ntf_{kind}_' || r.input_request_id || '_' || t.target_id,"
            f" 'question.{kind}', r.input_request_id, r.case_id, t.target_id,"
            " :now, :now"
            " FROM input_requests r JOIN cases c ON c.case_id = r.case_id"
            f" JOIN notify_targets t ON t.active = 1{roles}"
            " WHERE r.status = 'PENDING'"
            f" AND r.requested_at + CAST({window} * :share AS BIGINT) <= :now{not_yet_overdue}"
            " ON CONFLICT DO NOTHING",
            {"now": now, "within": within, "share": share},
        )
        return cursor.rowcount


def queue_assigned(
    db: Database,
    *,
    input_request_id: str,
    case_id: str,
    recipient: str,
    target_id: str,
    now: int,
) -> bool:
    """A ``question.assigned`` row for one operator's e-mail (once per question and
    address); True if it is new."""
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO notifications (notification_id, kind, input_request_id,"
            " case_id, target_id, recipient, created_at, next_attempt_at)"
            " VALUES (?, 'question.assigned', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                f"ntf_assigned_{input_request_id}_{target_id}_{recipient.lower()}",
                input_request_id,
                case_id,
                target_id,
                recipient,
                now,
                now,
            ],
        )
        return cursor.rowcount == 1


def drop_answered(db: Database, *, now: int) -> int:
    """Waiting notifications of questions no longer pending are never sent."""
    with write_transaction(db):
        return db.execute(
            "UPDATE notifications SET status = 'DROPPED', sent_at = ?,"
            " last_error = 'the question was no longer waiting'"
            " WHERE status = 'PENDING' AND input_request_id IN (SELECT input_request_id"
            " FROM input_requests WHERE status != 'PENDING')",
            [now],
        ).rowcount


def drop_other_assignment_mail(
    db: Database, input_request_id: str, keep: str | None, *, now: int
) -> int:
    """An assignment e-mail not yet sent goes no further once the question is assigned to
    someone else (``keep``: the new assignee's address, or None)."""
    with write_transaction(db):
        return db.execute(
            "UPDATE notifications SET status = 'DROPPED', sent_at = ?,"
            " last_error = 'the question was assigned to someone else'"
            " WHERE status = 'PENDING' AND kind = 'question.assigned'"
            f" AND input_request_id = ? AND recipient {dialect(db).distinct} ?",
            [now, input_request_id, keep],
        ).rowcount


DIGESTS = ("question.waiting",)  # kinds always sent as one message per target


def due_batches(
    db: Database, *, now: int, answer_within_ms: int, digest_ms: int = 0
) -> Iterator[tuple[str, str, list[dict]]]:
    """``(target_id, kind, rows)`` for each message to send now, oldest first; nothing for a
    failing target before its ``retry_at`` (each row says ``target_failures``). With
    ``digest_ms``, a target's new questions wait until the oldest has waited that long and then
    go in one message; ``question.waiting`` rows always go as one message."""
    params = {"now": now, "within": answer_within_ms}
    rows = list(
        db.query(
            _FIELDS + " JOIN notify_targets t ON t.target_id = n.target_id"
            " WHERE n.status = 'PENDING' AND n.next_attempt_at <= :now"
            " AND r.status = 'PENDING' AND (t.retry_at IS NULL OR t.retry_at <= :now)"
            " ORDER BY n.created_at, n.notification_id",
            params,
        )
    )
    digests: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["kind"] in DIGESTS or (digest_ms and row["kind"] == "question.new"):
            digests.setdefault((row["target_id"], row["kind"]), []).append(row)
        else:
            yield row["target_id"], row["kind"], [row]
    for (target_id, kind), group in digests.items():
        if kind in DIGESTS or min(r["created_at"] for r in group) + digest_ms <= now:
            yield target_id, kind, group


def book_next_attempt(db: Database, ids: list[str], next_attempt_at: int) -> None:
    """Before a send: the try is counted and the next one booked, should this one's outcome
    never be recorded (:func:`mark_sent` and :func:`mark_failed` then count nothing more)."""
    marks = ",".join("?" for _ in ids)
    with write_transaction(db):
        db.execute(
            "UPDATE notifications SET next_attempt_at = ?, attempts = attempts + 1"
            f" WHERE notification_id IN ({marks})"
            " AND status = 'PENDING'",
            [next_attempt_at, *ids],
        )


def mark_sent(db: Database, ids: list[str], target_id: str, *, now: int) -> int:
    """The message went. A target that was failing is healthy again: everything waiting for
    it becomes due now, whatever its own backoff had grown to; returns how many were."""
    marks = ",".join("?" for _ in ids)
    with write_transaction(db):
        db.execute(
            "UPDATE notifications SET status = 'SENT', sent_at = ?,"
            f" last_error = NULL WHERE notification_id IN ({marks})",
            [now, *ids],
        )
        row = db.execute(
            "SELECT failures FROM notify_targets WHERE target_id = ?", [target_id]
        ).fetchone()
        db.execute(
            "UPDATE notify_targets SET last_success_at = ?, failures = 0, retry_at = NULL"
            " WHERE target_id = ?",
            [now, target_id],
        )
        if not row or not row[0]:
            return 0
        return db.execute(
            "UPDATE notifications SET next_attempt_at = ? WHERE target_id = ?"
            " AND status = 'PENDING' AND next_attempt_at > ?",
            [now, target_id, now],
        ).rowcount


def mark_failed(
    db: Database,
    ids: list[str],
    target_id: str,
    *,
    now: int,
    error: str,
    next_attempt_at: int,
    give_up: bool,
) -> None:
    """The message did not go: it and its target wait until ``next_attempt_at`` (the target's
    other messages with it: a failing target is tried one message at a time)."""
    marks = ",".join("?" for _ in ids)
    with write_transaction(db):
        db.execute(
            "UPDATE notifications SET last_error = ?,"
            " next_attempt_at = ?, status = CASE WHEN ? THEN 'FAILED' ELSE status END"
            f" WHERE notification_id IN ({marks})",
            [error, next_attempt_at, give_up, *ids],
        )
        db.execute(
            "UPDATE notify_targets SET last_error_at = ?, last_error = ?,"
            " failures = failures + 1, retry_at = ? WHERE target_id = ?",
            [now, error, next_attempt_at, target_id],
        )


def target_health(db: Database) -> list[dict]:
    """Each active target: last success, last error, and how many notifications wait."""
    return list(
        db.query(
            "SELECT t.target_id, t.label, t.role, t.failures, t.retry_at, t.last_success_at,"
            " t.last_error_at, t.last_error,"
            " (SELECT count(*) FROM notifications n WHERE n.target_id = t.target_id"
            " AND n.status = 'PENDING') AS queued"
            " FROM notify_targets t WHERE t.active = 1 ORDER BY t.label"
        )
    )


def case_notifications(db: Database, case_id: str) -> list[dict]:
    """What was sent (or is waiting, or failed) about a case's questions."""
    return list(
        db.query(
            "SELECT n.notification_id, n.kind, n.status, n.attempts, n.created_at, n.sent_at,"
            " n.last_error, n.recipient, coalesce(t.label, n.target_id) AS target"
            " FROM notifications n LEFT JOIN notify_targets t ON t.target_id = n.target_id"
            " WHERE n.case_id = ? ORDER BY n.created_at, n.notification_id",
            [case_id],
        )
    )


def inbox_version(db: Database) -> int:
    """A number that changes whenever a question arrives, is answered, closes or is
    (un)assigned: what an open Inbox polls to know it must redraw."""
    row = db.execute("SELECT n FROM inbox_version WHERE id = 1").fetchone()
    return row[0] if row else 0


def known_target_count(db: Database) -> int:
    """Every target ever configured, active or not."""
    return db.execute("SELECT count(*) FROM notify_targets").fetchone()[0]
