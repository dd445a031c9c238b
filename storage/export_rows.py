"""The rows behind a CSV export, streamed (never all in memory); the CSV itself is made in
:mod:`offload_console.csv_export`."""

from __future__ import annotations

from collections.abc import Iterator

from storage.case_filter import CaseFilter
from storage.database import Database
from storage.db import iter_rows
from storage.dialect import POSTGRESQL, dialect

CASE_COLUMNS = (
    "case_id",
    "client_reference_id",
    "status",
    "result_status",
    "objective",
    "counterparty_name",
    "counterparty_address",
    "counterparty_company",
    "attempt_count",
    "created_at",
    "completed_at",
    "failure_reason",
)
TIME_COLUMNS = {"created_at", "completed_at"}


_SELECT = (
    "SELECT case_id, client_reference_id, status, result_status, objective, counterparty_name,"
    " counterparty_address, counterparty_company, attempt_count, created_at,"
    " CASE WHEN state_rank = 1 THEN updated_at END AS completed_at, failure_reason,"
    " result, result_schema FROM cases"
)


def count_cases(db: Database, flt: CaseFilter) -> int:
    where, params = flt.where(sql=dialect(db))
    return db.execute(f"SELECT count(*) FROM cases{where}", params).fetchone()[0]


def iter_cases(db: Database, flt: CaseFilter, batch: int = 1000) -> Iterator[dict]:
    """Matching cases, oldest first, fetched ``batch`` rows at a time."""
    where, params = flt.where(sql=dialect(db))
    yield from iter_rows(db, f"{_SELECT}{where} ORDER BY created_at, case_id", params, batch)


def result_shapes(db: Database, flt: CaseFilter) -> Iterator[dict]:
    """One matching case per (result shape, result schema), in export order: SQLite groups
    the cases by the set of JSON paths of their result (in C), so the caller walks one result
    of each shape instead of every case's. PostgreSQL: ``DISTINCT ON`` the shape its
    ``result_shape`` function gives (``storage.pg_schema``)."""
    where, params = flt.where(sql=dialect(db))
    if dialect(db) is POSTGRESQL:
        sql = (
            "SELECT result, result_schema, first_at, case_id FROM ("
            " SELECT DISTINCT ON (result_schema, shape) result, result_schema,"
            " created_at AS first_at, case_id FROM (SELECT case_id, created_at, result,"
            f" result_schema, result_shape(result) AS shape FROM cases{where}) shaped"
            " ORDER BY result_schema, shape, created_at, case_id) firsts"
            " ORDER BY first_at, case_id"
        )
    else:
        sql = (
            "SELECT result, result_schema, min(created_at) AS first_at, case_id FROM ("
            " SELECT case_id, created_at, result, result_schema,"
            " (SELECT group_concat(fullkey, char(31)) FROM json_tree(cases.result)) AS shape"
            f" FROM cases{where}) GROUP BY result_schema, shape ORDER BY first_at, case_id"
        )
    cursor = db.conn.execute(sql, params)
    for result, result_schema, _, _ in cursor:
        yield {"result": result, "result_schema": result_schema}


def result_statuses(db: Database) -> list[str]:
    """Every result status seen, for the Export page's filter."""
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT result_status FROM cases WHERE result_status IS NOT NULL ORDER BY 1"
        )
    ]


# -- questions and their answers --------------------------------------------------------------

QUESTION_COLUMNS = (
    "case_id",
    "client_reference_id",
    "input_request_id",
    "question",
    "status",
    "asked_at",
    "due_at",
    "answered_at",
    "answered_by",
    "answered_via",
    "seconds_to_answer",
)
QUESTION_TIME_COLUMNS = {"asked_at", "due_at", "answered_at"}


def _questions_where(since_ms: int | None, until_ms: int | None) -> tuple[str, dict]:
    clauses, params = [], {}
    if since_ms is not None:
        clauses.append("r.requested_at >= :since")
        params["since"] = since_ms
    if until_ms is not None:
        clauses.append("r.requested_at < :until")
        params["until"] = until_ms
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def count_questions(db: Database, since_ms: int | None = None, until_ms: int | None = None) -> int:
    where, params = _questions_where(since_ms, until_ms)
    return db.execute(f"SELECT count(*) FROM input_requests r{where}", params).fetchone()[0]


def iter_questions(
    db: Database,
    *,
    answer_within_ms: int,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch: int = 1000,
) -> Iterator[dict]:
    """Every question asked in ``[since_ms, until_ms)`` (all without bounds), oldest first,
    with its case's reference, due time (the case's own window, else ``answer_within_ms``),
    and, once answered by the console, who answered, how and how long it took."""
    where, params = _questions_where(since_ms, until_ms)
    params["within"] = answer_within_ms
    sql = (
        "SELECT r.case_id, c.client_reference_id, r.input_request_id, r.question, r.status,"
        " r.requested_at AS asked_at,"
        " r.requested_at + coalesce(c.answer_within_ms, :within) AS due_at,"
        " r.answered_at, r.answered_by, r.answered_via,"
        " CASE WHEN r.answered_at IS NOT NULL AND r.requested_at IS NOT NULL"
        " THEN (r.answered_at - r.requested_at) / 1000.0 END AS seconds_to_answer"
        f" FROM input_requests r JOIN cases c ON c.case_id = r.case_id{where}"
        " ORDER BY r.requested_at, r.input_request_id"
    )
    yield from iter_rows(db, sql, params, batch)
