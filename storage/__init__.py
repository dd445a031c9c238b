"""The console's database, SQLite by default or PostgreSQL: schema, migrations and every SQL
statement, written once against one interface (:class:`Database`).

The schema is a public interface (see README, "Database"): users open the file with
sqlite-utils or Datasette, or the PostgreSQL database with any client. Every command that
opens it goes through :func:`open_db`, which applies pending migrations (once a process on
PostgreSQL), so there is no separate init step.
"""

from storage import sqlite_utils_import  # noqa: F401 - first: sqlite-utils without pandas
from storage.database import Database
from storage.db import (
    DEFAULT_DB_NAME,
    DatabaseUnavailable,
    StorageError,
    now_ms,
    open_db,
)

__all__ = [
    "Database",
    "DEFAULT_DB_NAME",
    "DatabaseUnavailable",
    "StorageError",
    "now_ms",
    "open_db",
]
