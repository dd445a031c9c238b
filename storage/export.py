"""The rows behind a CSV export, read in one snapshot and streamed (never all in memory)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

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


@dataclass
class ExportFilter:
    statuses: list[str] = field(default_factory=list)
    created_since_ms: int | None = None
    created_until_ms: int | None = None  # exclusive
    completed_since_ms: int | None = None
    completed_until_ms: int | None = None  # exclusive
    result_statuses: list[str] = field(default_factory=list)
    objective: str = ""
    client_reference: str = ""

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        if self.statuses:
            clauses.append(f"status IN ({','.join('?' for _ in self.statuses)})")
            params += self.statuses
        if self.result_statuses:
            clauses.append(f"result_status IN ({','.join('?' for _ in self.result_statuses)})")
            params += self.result_statuses
        for column, value, op in (
            ("created_at", self.created_since_ms, ">="),
            ("created_at", self.created_until_ms, "<"),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        for value, op in ((self.completed_since_ms, ">="), (self.completed_until_ms, "<")):
            if value is not None:
                clauses.append(f"state_rank = 1 AND updated_at {op} ?")
                params.append(value)
        for column, text in (
            ("objective", self.objective),
            ("client_reference_id", self.client_reference),
        ):
            if text.strip():
                clauses.append(f"{column} LIKE ? ESCAPE '\\'")
                escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                params.append(f"%{escaped}%")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_SELECT = (
    "SELECT case_id, client_reference_id, status, result_status, objective, counterparty_name,"
    " counterparty_address, counterparty_company, attempt_count, created_at,"
    " CASE WHEN state_rank = 1 THEN updated_at END AS completed_at, failure_reason,"
    " result, result_schema FROM cases"
)


def count_cases(db: sqlite_utils.Database, flt: ExportFilter) -> int:
    where, params = flt.where()
    return db.execute(f"SELECT count(*) FROM cases{where}", params).fetchone()[0]


def iter_cases(db: sqlite_utils.Database, flt: ExportFilter, batch: int = 1000) -> Iterator[dict]:
    """Matching cases, oldest first, fetched ``batch`` rows at a time."""
    where, params = flt.where()
    cursor = db.conn.execute(f"{_SELECT}{where} ORDER BY created_at, case_id", params)
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(batch):
        for row in rows:
            yield dict(zip(names, row, strict=True))


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become ``a.b`` keys; arrays and scalars stay whole."""
    if isinstance(value, dict) and (value or not prefix):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix or "value": value}


@functools.lru_cache(maxsize=256)
def _schema_keys_of_text(text: str) -> tuple[str, ...]:
    return tuple(schema_keys(_loads(text)))


def schema_keys(schema: Any, prefix: str = "") -> list[str]:
    """The flattened keys a JSON Schema's (nested) properties describe, in schema order."""
    if not isinstance(schema, dict):
        return []
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [prefix] if prefix else []
    keys: list[str] = []
    for name, sub in properties.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        nested = sub.get("properties") if isinstance(sub, dict) else None
        keys += schema_keys(sub, path) if isinstance(nested, dict) and nested else [path]
    return keys


# Result fields no resultSchema names get a column each up to this many; the rest of such
# fields go, as JSON, into the one column OTHER_RESULT_KEY (one hostile result with 20,000
# keys must not give every export 20,000 columns).
MAX_UNDECLARED_COLUMNS = 100
OTHER_RESULT_KEY = "_other"


def result_keys(rows: Iterator[dict], max_undeclared: int = MAX_UNDECLARED_COLUMNS) -> list[str]:
    """The union of result fields over the exported cases: each case's resultSchema
    properties and its actual result, flattened, in first-seen order. Past
    ``max_undeclared`` fields that no schema declares, the list ends with
    :data:`OTHER_RESULT_KEY`."""
    seen: dict[str, None] = {}
    undeclared = 0
    overflow = False
    for row in rows:
        if row["result_schema"]:
            for key in _schema_keys_of_text(row["result_schema"]):
                seen.setdefault(key)
        result = _loads(row["result"])
        if result is not None:
            for key in flatten(result):
                if key in seen:
                    continue
                if undeclared < max_undeclared:
                    seen[key] = None
                    undeclared += 1
                else:
                    overflow = True
    keys = [k for k in seen if k != OTHER_RESULT_KEY]
    return [*keys, OTHER_RESULT_KEY] if overflow else keys


def result_cells(result: dict[str, Any], keys: list[str]) -> list[Any]:
    """The row's values for ``keys``; under :data:`OTHER_RESULT_KEY`, every field without a
    column of its own (as a JSON object), so nothing is lost."""
    values = [result.get(k) for k in keys]
    if keys and keys[-1] == OTHER_RESULT_KEY:
        named = set(keys)
        rest = {k: v for k, v in result.items() if k not in named}
        values[-1] = rest or None
    return values


def row_result(row: dict) -> dict[str, Any]:
    result = _loads(row["result"])
    return flatten(result) if result is not None else {}


def export_result_keys(db: sqlite_utils.Database, flt: ExportFilter) -> list[str]:
    """:func:`result_keys` over every matching case. SQLite groups the cases by result shape
    (the set of JSON paths, in C) and schema; Python flattens one case of each group, taken
    in export order, so the first-seen column order is the same as over every case."""
    where, params = flt.where()
    cursor = db.conn.execute(
        "SELECT result, result_schema, min(created_at) AS first_at, case_id FROM ("
        " SELECT case_id, created_at, result, result_schema,"
        " (SELECT group_concat(fullkey, char(31)) FROM json_tree(cases.result)) AS shape"
        f" FROM cases{where}) GROUP BY result_schema, shape ORDER BY first_at, case_id",
        params,
    )
    return result_keys({"result": r[0], "result_schema": r[1]} for r in cursor)


def result_statuses(db: sqlite_utils.Database) -> list[str]:
    """Every result status seen, for the Export page's filter."""
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT result_status FROM cases WHERE result_status IS NOT NULL ORDER BY 1"
        )
    ]
