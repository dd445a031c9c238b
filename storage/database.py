"""The database interface every storage function takes, whichever the engine.

:class:`storage.db.SqliteDatabase` (sqlite-utils' ``Database``) and
:class:`storage.pg.PgDatabase` both implement it; storage functions are written once against
it. Its transactions are :func:`storage.db.write_transaction` and
:func:`storage.db.read_snapshot`; :func:`storage.db.iter_rows` streams a big read. Errors are
:class:`storage.StorageError` (:class:`storage.DatabaseUnavailable` for the database's state:
busy, unreachable, full) on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Connection(Protocol):
    """The part of ``sqlite3.Connection`` the storage functions use."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Any = ...) -> Any: ...

    def executemany(self, sql: str, rows: Any) -> Any: ...

    def close(self) -> None: ...


@runtime_checkable
class Database(Protocol):
    """``?`` or ``:name`` parameters; ``dialect`` says which engine (``storage.dialect``)."""

    conn: Connection
    dialect: Any

    def execute(self, sql: str, params: Any = ...) -> Any: ...

    def query(self, sql: str, params: Any = ...) -> Iterator[dict]: ...

    def table_names(self) -> list[str]: ...

    def __getitem__(self, name: str) -> Any: ...
