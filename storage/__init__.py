"""The console's one SQLite database: schema, migrations and every SQL statement.

The schema is a public interface (see README, "Database"): users open the file with
sqlite-utils or Datasette. Every command that opens it goes through :func:`open_db`, which
applies pending migrations, so there is no separate init step.
"""

from storage.db import (
    DEFAULT_DB_NAME,
    DatabaseUnavailable,
    StorageError,
    now_ms,
    open_db,
)

__all__ = [
    "DEFAULT_DB_NAME",
    "DatabaseUnavailable",
    "StorageError",
    "now_ms",
    "open_db",
]
