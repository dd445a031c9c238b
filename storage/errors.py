"""The errors storage functions raise, whichever the engine."""

from __future__ import annotations


class StorageError(Exception):
    """The database could not do what was asked (the ``sqlite3`` error is its ``__cause__``).
    Code outside ``storage`` catches this, never a ``sqlite3`` type."""


class DatabaseUnavailable(StorageError):
    """Locked, busy, full, read-only or failing I/O: the database's state, not the data's; the
    same write may succeed later. ``kind`` says which, in the log's words (``busy``,
    ``disk_full``, ``read_only``, ``io_error``, ``no_memory``)."""

    def __init__(self, message: str, kind: str = "busy"):
        super().__init__(message)
        self.kind = kind
