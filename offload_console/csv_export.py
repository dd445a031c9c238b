"""CSV export: RFC 4180, UTF-8, ISO 8601 UTC times, one column per result field, and no cell
a spreadsheet could run as a formula. The dashboard and ``offload-console export`` both call
:func:`write_csv`, so the same filters give the same bytes."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from offload_console.schema_tools import MAX_KEY_DEPTH, schema_keys
from storage import audit
from storage.case_filter import CaseFilter, day_start_ms
from storage.database import Database
from storage.db import read_snapshot
from storage.export_rows import (
    CASE_COLUMNS,
    QUESTION_COLUMNS,
    QUESTION_TIME_COLUMNS,
    TIME_COLUMNS,
    count_cases,
    count_questions,
    iter_cases,
    iter_questions,
    result_shapes,
)

# -- result columns: each case's result, flattened, under the union of declared fields -------


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def flatten(value: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Nested objects become ``a.b`` keys of at most ``schema_tools.MAX_KEY_DEPTH`` parts;
    arrays, scalars and deeper objects stay whole."""
    if isinstance(value, dict) and (value or not prefix) and depth < MAX_KEY_DEPTH:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key), depth + 1))
        return out
    return {prefix or "value": value}


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


@functools.lru_cache(maxsize=256)
def _schema_keys_of_text(text: str) -> tuple[str, ...]:
    return tuple(schema_keys(_loads(text)))


def export_result_keys(db: Database, flt: CaseFilter) -> list[str]:
    """:func:`result_keys` over every matching case, walking one case per result shape (the
    first-seen column order is the same as over every case)."""
    return result_keys(result_shapes(db, flt))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset(FORMULA_START)
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")


def iso_utc(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def neutralise(text: str) -> str:
    """OWASP's advice for CSV injection: a cell that starts like a formula gets a leading
    single quote, so spreadsheets show it as text."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(value: Any) -> str:
    """One CSV cell: JSON numbers stay numbers; arrays and objects become JSON text; every
    string that could start a formula is neutralised."""
    if type(value) is str:  # the common case first: this runs once per cell
        return "'" + value if value[:1] in _FORMULA_CHARS else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = json.dumps(value)
        return text if PLAIN_NUMBER.match(text) else neutralise(text)
    if isinstance(value, list | dict):
        return neutralise(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return neutralise(str(value))


def header(columns: list[str], keys: list[str]) -> list[str]:
    return [*columns, *(f"result.{k}" for k in keys)]


def row_cells(columns: list[str], keys: list[str]) -> Callable[[dict], list[str]]:
    """A case row as its CSV cells (the file's and the Export page's preview alike): the
    columns, times in ISO 8601 UTC, then one cell per result key."""
    plan = [(c, c in TIME_COLUMNS) for c in columns]

    def to_cells(row: dict) -> list[str]:
        values = [iso_utc(row[c]) if is_time else cell(row[c]) for c, is_time in plan]
        if keys:
            values += [cell(v) for v in result_cells(row_result(row), keys)]
        return values

    return to_cells


def write_csv(
    db: Database,
    flt: CaseFilter,
    out: BinaryIO,
    *,
    columns: list[str] | None = None,
    include_results: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Stream matching cases to ``out`` as CSV bytes; return the number of rows written.

    Two passes (result columns, then rows) inside one read transaction, so both see the same
    snapshot while the sidecar keeps writing."""
    columns = list(columns or CASE_COLUMNS)
    with read_snapshot(db):
        total = count_cases(db, flt)
        keys = export_result_keys(db, flt) if include_results else []
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([neutralise(h) for h in header(columns, keys)])
        written = 0
        to_cells = row_cells(columns, keys)
        for row in iter_cases(db, flt):
            writer.writerow(to_cells(row))
            written += 1
            if progress and written % 1000 == 0:
                progress(written, total)
        text.flush()
        text.detach()  # leave ``out`` open for the caller
        if progress:
            progress(written, total)
        return written


def question_cells(row: dict) -> list[str]:
    """A question row as its CSV cells: times in ISO 8601 UTC, the rest formula-safe."""
    return [
        iso_utc(row[c]) if c in QUESTION_TIME_COLUMNS else cell(row[c]) for c in QUESTION_COLUMNS
    ]


def write_questions_csv(
    db: Database,
    out: BinaryIO,
    *,
    answer_within_ms: int,
    since_ms: int | None = None,
    until_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Stream every question asked in ``[since_ms, until_ms)`` to ``out`` as CSV bytes (case,
    reference, question, asked, due, answered, by whom, how, seconds to answer), with the case
    export's formula-safe cells; return the number of rows."""
    with read_snapshot(db):
        total = count_questions(db, since_ms, until_ms)
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(QUESTION_COLUMNS)
        written = 0
        rows = iter_questions(
            db, answer_within_ms=answer_within_ms, since_ms=since_ms, until_ms=until_ms
        )
        for row in rows:
            writer.writerow(question_cells(row))
            written += 1
            if progress and written % 1000 == 0:
                progress(written, total)
        text.flush()
        text.detach()
        if progress:
            progress(written, total)
        return written


def csv_bytes(db: Database, flt: CaseFilter, **kwargs) -> bytes:
    buffer = io.BytesIO()
    write_csv(db, flt, buffer, **kwargs)
    return buffer.getvalue()


def date_range_ms(since: dt.date | None, until: dt.date | None) -> tuple[int | None, int | None]:
    """UTC day bounds: ``since`` from its midnight, ``until`` through the end of its day."""
    return (
        day_start_ms(since) if since else None,
        day_start_ms(until + dt.timedelta(days=1)) if until else None,
    )


def parse_day(text: str) -> dt.date:
    return dt.date.fromisoformat(text.strip()[:10])


def record_export(db: Database, operator: str | None, flt: CaseFilter, rows: int, via: str) -> None:
    audit.record(
        db, operator, "export.made", detail={"rows": rows, "via": via, "filters": flt.__dict__}
    )


def record_questions_export(
    db: Database, operator: str | None, rows: int, via: str, since_ms, until_ms
) -> None:
    audit.record(
        db,
        operator,
        "export.made",
        detail={
            "what": "questions",
            "rows": rows,
            "via": via,
            "filters": {"asked_since_ms": since_ms, "asked_until_ms": until_ms},
        },
    )


# -- the dashboard's prepared files --------------------------------------------------------
# The Export page writes the CSV to a temporary file first (memory stays flat) and offers it
# for download. Each file is deleted once downloaded, when its session signs out or prepares
# another, and, for files left behind by a dashboard that stopped, when a dashboard starts.
SPOOL_PREFIX = "offload-export-"
SPOOL_MAX_AGE_S = 3600


def spool_file():
    import tempfile

    return tempfile.NamedTemporaryFile(prefix=SPOOL_PREFIX, suffix=".csv", delete=False)


def drop_spool_file(path: str | None) -> None:
    import os

    if path and os.path.basename(path).startswith(SPOOL_PREFIX):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def sweep_spool_files(older_than_s: float = SPOOL_MAX_AGE_S, now: float | None = None) -> int:
    """Delete prepared files older than ``older_than_s`` (another dashboard's fresh ones
    stay); returns how many went."""
    import glob
    import os
    import tempfile

    now = time.time() if now is None else now
    gone = 0
    for path in glob.glob(os.path.join(tempfile.gettempdir(), SPOOL_PREFIX + "*.csv")):
        try:
            if now - os.path.getmtime(path) > older_than_s:
                os.unlink(path)
                gone += 1
        except FileNotFoundError:
            pass
    return gone
