"""The few pieces of SQL that differ between SQLite and PostgreSQL, by name.

Storage functions are written once; where an engine spells something its own way they take
the spelling from ``dialect(db)``. Larger differences (search, JSON reading, the schema) are
written out per engine beside each other in the module that uses them.
"""

from __future__ import annotations

from typing import NamedTuple


class Dialect(NamedTuple):
    name: str
    greatest: str  # the larger of two values
    least: str
    distinct: str  # null-safe "differs from"
    not_distinct: str  # null-safe "equals"
    like: str  # case-insensitive LIKE (SQLite's LIKE is, for ASCII)
    now_ms: str  # the current Unix time in ms, as SQL
    day: str  # "YYYY-MM-DD" (UTC) of a Unix-ms column: .format(column)
    json_text: str  # a top-level field of a JSON text column, as text: .format(column, key)


SQLITE = Dialect(
    name="sqlite",
    greatest="max",
    least="min",
    distinct="IS NOT",
    not_distinct="IS",
    like="LIKE",
    now_ms="CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    day="date({} / 1000, 'unixepoch')",
    json_text="json_extract({}, '$.{}')",
)

POSTGRESQL = Dialect(
    name="postgresql",
    greatest="greatest",
    least="least",
    distinct="IS DISTINCT FROM",
    not_distinct="IS NOT DISTINCT FROM",
    like="ILIKE",
    now_ms="(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
    day="to_char(to_timestamp({} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    json_text="(({})::jsonb ->> '{}')",
)


def dialect(db) -> Dialect:
    """The dialect of a database ``storage.open_db`` returned."""
    return getattr(db, "dialect", SQLITE)
