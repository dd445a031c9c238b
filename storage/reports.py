"""The team lead's figures for a period ``[since, until)`` (milliseconds, UTC), in buckets of
``bucket_ms`` (a day or a week) counted from ``since``: questions asked, answered and still
waiting; how long answers took; cases launched and finished. Every query reads only the
period's rows through an index (``cases_created``, ``cases_status``, and m021's
``input_requests_asked`` / ``input_requests_answered``), so a page over a week costs the same at
1k cases as at 100k. Percentiles are computed by the caller from :func:`answer_times`."""

from __future__ import annotations

from storage.database import Database
from storage.db import iter_rows


def _by_bucket(db: Database, sql: str, params: dict) -> dict[int, int]:
    return {int(row[0]): row[1] for row in db.execute(sql, params).fetchall()}


def question_buckets(
    db: Database, since: int, until: int, bucket_ms: int
) -> dict[str, dict[int, int]]:
    """Per bucket: questions ``asked``, ``answered`` (by when they were answered) and, of the
    ones asked then, ``waiting`` now."""
    params = {"since": since, "until": until, "bucket": bucket_ms}
    asked = _by_bucket(
        db,
        "SELECT (requested_at - :since) / :bucket AS b, count(*) FROM input_requests"
        " WHERE requested_at >= :since AND requested_at < :until GROUP BY 1",
        params,
    )
    waiting = _by_bucket(
        db,
        "SELECT (requested_at - :since) / :bucket AS b, count(*) FROM input_requests"
        " WHERE requested_at >= :since AND requested_at < :until AND status = 'PENDING'"
        " GROUP BY 1",
        params,
    )
    answered = _by_bucket(
        db,
        "SELECT (answered_at - :since) / :bucket AS b, count(*) FROM input_requests"
        " WHERE answered_at >= :since AND answered_at < :until GROUP BY 1",
        params,
    )
    return {"asked": asked, "answered": answered, "waiting": waiting}


def overdue_now(db: Database, since: int, until: int, *, now: int, answer_within_ms: int) -> int:
    """Of the questions asked in the period, how many wait past their due time now."""
    return db.execute(
        "SELECT count(*) FROM input_requests r JOIN cases c ON c.case_id = r.case_id"
        " WHERE r.requested_at >= :since AND r.requested_at < :until AND r.status = 'PENDING'"
        " AND r.requested_at + coalesce(c.answer_within_ms, :within) < :now",
        {"since": since, "until": until, "now": now, "within": answer_within_ms},
    ).fetchone()[0]


def answer_times(db: Database, since: int, until: int, *, answer_within_ms: int):
    """Each question the console answered in the period: who, the case's objective, how it
    came (``answered_via``), seconds from asked to answered, and whether inside its due time."""
    yield from iter_rows(
        db,
        "SELECT r.answered_by, c.objective, r.answered_via,"
        " (r.answered_at - r.requested_at) / 1000.0 AS seconds,"
        " CASE WHEN r.answered_at <= r.requested_at + coalesce(c.answer_within_ms, :within)"
        " THEN 1 ELSE 0 END AS in_time"
        " FROM input_requests r JOIN cases c ON c.case_id = r.case_id"
        " WHERE r.answered_at >= :since AND r.answered_at < :until"
        " AND r.requested_at IS NOT NULL",
        {"since": since, "until": until, "within": answer_within_ms},
    )


def case_buckets(db: Database, since: int, until: int, bucket_ms: int) -> dict[int, int]:
    """Cases launched per bucket."""
    return _by_bucket(
        db,
        "SELECT (created_at - :since) / :bucket AS b, count(*) FROM cases"
        " WHERE created_at >= :since AND created_at < :until GROUP BY 1",
        {"since": since, "until": until, "bucket": bucket_ms},
    )


def finished_cases(db: Database, since: int, until: int) -> list[dict]:
    """Cases that finished in the period (their last update), by status and result status."""
    return list(
        db.query(
            "SELECT status, coalesce(result_status, '') AS result_status, count(*) AS cases"
            " FROM cases WHERE status IN ('COMPLETED', 'FAILED')"
            " AND updated_at >= :since AND updated_at < :until"
            " GROUP BY status, coalesce(result_status, '') ORDER BY status, cases DESC",
            {"since": since, "until": until},
        )
    )
