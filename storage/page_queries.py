"""The reads behind the Cases, Case timeline and Health pages (queries, not SQL views). Filtering, counting and
paging happen here, in SQL, so the pages stay fast at 100k cases."""

from __future__ import annotations

import os

from storage.case_filter import CaseFilter
from storage.database import Database
from storage.db import first_row, now_ms, write_transaction
from storage.dialect import POSTGRESQL, dialect

STATUSES = ("CREATED", "RUNNING", "INPUT_NEEDED", "COMPLETED", "FAILED")
LIST_COLUMNS = (
    "case_id, status, client_reference_id, counterparty_name, counterparty_address,"
    " counterparty_company, objective, attempt_count, max_attempts, result_status,"
    " created_at, updated_at, state_event_id"
)


def list_page(db: Database, flt: CaseFilter, limit: int = 50, offset: int = 0) -> list[dict]:
    """One page of matching cases, newest first."""
    if flt.uses_search_index():
        refresh_search_index(db)
    where, params = flt.where(sql=dialect(db))
    return list(
        db.query(
            f"SELECT {LIST_COLUMNS} FROM cases{where} ORDER BY created_at DESC, case_id"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    )


def total_of(counts: dict[str, int], flt: CaseFilter) -> int:
    """How many cases match, from :func:`status_counts` (which ignores the status filter)."""
    return sum(n for status, n in counts.items() if not flt.statuses or status in flt.statuses)


def list_cases(db: Database, flt: CaseFilter, limit: int = 50, offset: int = 0):
    """One page of cases, newest first, and the total matching."""
    return list_page(db, flt, limit, offset), total_of(status_counts(db, flt), flt)


def _kept_counts(db: Database) -> dict[str, int]:
    """Per-status counts the triggers keep in ``case_status_counts`` (no scan)."""
    return dict(db.execute("SELECT status, cases FROM case_status_counts").fetchall())


def status_counts(db: Database, flt: CaseFilter) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    if flt.uses_search_index():
        refresh_search_index(db)
    if flt.only_status():
        counts.update(_kept_counts(db))
        return {s: n for s, n in counts.items() if n or s in STATUSES}
    where, params = flt.where(include_status=False, sql=dialect(db))
    for status, n in db.execute(
        f"SELECT status, count(*) FROM cases{where} GROUP BY status", params
    ).fetchall():
        counts[status] = n
    return counts


DAY_MS = 86_400_000


def _recent(db: Database, flt: CaseFilter, days: int) -> tuple[str, list]:
    """The filter's WHERE, limited to cases created in the last ``days`` days (the charts'
    window: it keeps their cost flat however much history there is)."""
    if flt.uses_search_index():
        refresh_search_index(db)
    where, params = flt.where(sql=dialect(db))
    since = now_ms() - days * DAY_MS
    return (where + " AND" if where else " WHERE") + " created_at >= ?", [*params, since]


def cases_per_day(db: Database, flt: CaseFilter, days: int = 60) -> list[dict]:
    """Cases created per UTC day by outcome, over the last ``days`` days."""
    where, params = _recent(db, flt, days)
    return list(
        db.query(
            f"SELECT {dialect(db).day.format('created_at')} AS day,"
            " CASE WHEN status IN ('COMPLETED', 'FAILED') THEN status ELSE 'OPEN' END AS outcome,"
            f" count(*) AS cases FROM cases{where} GROUP BY day, outcome ORDER BY day",
            params,
        )
    )


def completion_hours(db: Database, flt: CaseFilter, days: int = 60) -> list[dict]:
    """How long completed cases created in the last ``days`` days took, in whole hours
    (10 and more together)."""
    where, params = _recent(db, flt, days)
    sql = dialect(db)
    completed = f"{flt.searched_status()} = 'COMPLETED'"
    return list(
        db.query(
            f"SELECT {sql.least}(10, {sql.greatest}(0, (updated_at - created_at) / 3600000))"
            f" AS hours, count(*) AS cases FROM cases{where} AND {completed}"
            " GROUP BY hours ORDER BY hours",
            params,
        )
    )


def unknown_submissions(db: Database) -> list[dict]:
    return list(
        db.query(
            "SELECT submission_id, created_by, created_at, error_code, error_message"
            " FROM submissions WHERE status = 'UNKNOWN' ORDER BY created_at DESC LIMIT 100"
        )
    )


def get_case(db: Database, case_id: str) -> dict | None:
    return first_row(db, "SELECT * FROM cases WHERE case_id = ?", [case_id])


def case_version(db: Database, case_id: str) -> tuple:
    """What changes whenever something is stored about a case (an event, a poll's repair, an
    answer, an assignment): what an open timeline polls to know it must redraw."""
    row = db.execute(
        "SELECT count(*), coalesce(max(received_at), 0) FROM events WHERE case_id = ?", [case_id]
    ).fetchone()
    changed = db.execute(
        "SELECT updated_at, last_event_at, last_polled_at FROM cases WHERE case_id = ?", [case_id]
    ).fetchone()
    version = db.execute("SELECT n FROM inbox_version WHERE id = 1").fetchone()
    return (*row, *(changed or ()), version[0] if version else 0)


def case_events(db: Database, case_id: str, limit: int = 500) -> list[dict]:
    """A case's events in the order they happened (Offload's updatedAt, then arrival)."""
    return list(
        db.query(
            "SELECT event_id, event_type, source, actor, timestamp, state_ts, received_at, payload"
            " FROM events WHERE case_id = ?"
            " ORDER BY CASE WHEN source = 'console' AND event_type = 'case.created' THEN 0"
            " ELSE 1 END, coalesce(nullif(state_ts, 0), received_at), received_at LIMIT ?",
            [case_id, limit],
        )
    )


def case_attachments(db: Database, case_id: str) -> list[dict]:
    """Every file Offload reported for a case (``data.attachments`` of its events), once
    each as first reported, in that order. SQLite reads the stored payloads (``json_each``);
    with ``min()`` the other columns come from the row that has it. PostgreSQL: the same with
    ``jsonb``, the first report of each picked by ``DISTINCT ON``."""
    if dialect(db) is POSTGRESQL:
        return list(db.query(_PG_ATTACHMENTS, [case_id]))
    return list(
        db.query(
            "SELECT attachment_id, name, type, size, min(received_at) AS first_at FROM ("
            " SELECT json_extract(a.value, '$.attachmentId') AS attachment_id,"
            " json_extract(a.value, '$.name') AS name, json_extract(a.value, '$.type') AS type,"
            " json_extract(a.value, '$.size') AS size, e.received_at, a.key"
            " FROM events e, json_each(e.payload, '$.data.attachments') a"
            " WHERE e.case_id = ? AND json_valid(e.payload) AND a.type = 'object'"
            " AND json_type(a.value, '$.attachmentId') = 'text'"
            " ORDER BY e.received_at, a.key)"
            " GROUP BY attachment_id ORDER BY first_at, attachment_id",
            [case_id],
        )
    )


_PG_ATTACHMENTS = """
SELECT attachment_id, name, type, size, first_at FROM (
    SELECT DISTINCT ON (a.value ->> 'attachmentId') a.value ->> 'attachmentId' AS attachment_id,
        a.value ->> 'name' AS name, a.value ->> 'type' AS type, CASE WHEN
            jsonb_typeof(a.value -> 'size') = 'number' AND (a.value ->> 'size') ~ '^-?[0-9]{1,18}$'
            THEN (a.value ->> 'size')::bigint END AS size,
        e.received_at AS first_at
    FROM events e,
        jsonb_array_elements(CASE
            WHEN jsonb_typeof(try_jsonb(e.payload) -> 'data' -> 'attachments') = 'array'
            THEN try_jsonb(e.payload) -> 'data' -> 'attachments' ELSE '[]' END)
            WITH ORDINALITY AS a(value, key)
    WHERE e.case_id = ? AND jsonb_typeof(a.value) = 'object'
        AND jsonb_typeof(a.value -> 'attachmentId') = 'string'
    ORDER BY a.value ->> 'attachmentId', e.received_at, a.key
) first_reports ORDER BY first_at, attachment_id
"""


def case_submission(db: Database, case_id: str) -> dict | None:
    return first_row(db, "SELECT * FROM submissions WHERE case_id = ? LIMIT 1", [case_id])


def last_reconciler_run(db: Database) -> dict | None:
    return first_row(db, "SELECT * FROM reconciler_runs ORDER BY id DESC LIMIT 1")


def drift_found_recently(db: Database, runs: int = 20) -> int:
    return db.execute(
        "SELECT coalesce(sum(changed), 0) FROM (SELECT changed FROM reconciler_runs"
        " ORDER BY id DESC LIMIT ?) recent",
        [runs],
    ).fetchone()[0]


def database_file_size(db: Database) -> int | None:
    if dialect(db) is POSTGRESQL:
        return db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    path = db.execute("PRAGMA database_list").fetchone()[2]
    if not path:
        return None
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def database_path(db: Database) -> str:
    """The SQLite file, or the PostgreSQL URL without its password."""
    if dialect(db) is POSTGRESQL:
        from storage.pg import redacted

        return redacted(db.url)
    return db.execute("PRAGMA database_list").fetchone()[2] or ":memory:"


def refresh_search_index(db: Database) -> int:
    """Index the cases that changed since the last refresh (noted by triggers); return how
    many. Bulk FTS5 work here is far cheaper than one insert per webhook."""
    from storage.migrations import SEARCH_COLUMNS

    if dialect(db) is POSTGRESQL:
        return 0  # PostgreSQL keeps its trigram index itself
    if not db.execute("SELECT 1 FROM search_pending LIMIT 1").fetchone():
        return 0
    columns = ", ".join(SEARCH_COLUMNS)
    with write_transaction(db):
        pending = db.execute("SELECT count(*) FROM search_pending").fetchone()[0]
        db.execute(
            "DELETE FROM cases_search WHERE rowid IN (SELECT case_rowid FROM search_pending)"
        )
        db.execute(
            f"INSERT INTO cases_search (rowid, {columns}) SELECT rowid, {columns} FROM cases"
            " WHERE rowid IN (SELECT case_rowid FROM search_pending)"
        )
        db.execute("DELETE FROM search_pending")
    return pending
