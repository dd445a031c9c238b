"""Opening the database (a SQLite file, or PostgreSQL for ``postgresql://`` URLs): WAL and
durable commits on SQLite, a busy timeout, migrations applied; the transactions every storage
function writes in."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from pathlib import Path

import sqlite_utils

from storage import pg
from storage.database import Database
from storage.dialect import SQLITE
from storage.errors import DatabaseUnavailable, StorageError
from storage.migrations import ANALYZE_SAMPLED, migrations

DEFAULT_DB_NAME = "offload-console.db"  # in the console's data folder (settings)
DEFAULT_BUSY_TIMEOUT_MS = 5000
_migrated: set[str] = set()  # PostgreSQL databases this process brought up to date


def now_ms() -> int:
    """Unix time in milliseconds, the unit Offload uses and every time column here uses."""
    return time.time_ns() // 1_000_000


# SQLite's primary result codes that mean "try again later", by name (extended codes such as
# SQLITE_BUSY_SNAPSHOT or SQLITE_IOERR_WRITE share their primary's prefix). Anything else (a
# missing table, a corrupt page, a constraint) is a StorageError: trying again will not help.
UNAVAILABLE = {
    "SQLITE_BUSY": "busy",
    "SQLITE_LOCKED": "busy",
    "SQLITE_PROTOCOL": "busy",
    "SQLITE_FULL": "disk_full",
    "SQLITE_READONLY": "read_only",
    "SQLITE_IOERR": "io_error",
    "SQLITE_NOMEM": "no_memory",
}


def _translated(exc: sqlite3.Error) -> StorageError:
    """The storage error for a ``sqlite3`` one, by SQLite's error code (not its words)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    primary = "_".join(name.split("_")[:2])
    kind = UNAVAILABLE.get(primary)
    return DatabaseUnavailable(str(exc), kind) if kind else StorageError(str(exc))


@functools.cache
def _both(storage_class: type, sqlite_class: type) -> type:
    return type(storage_class.__name__, (storage_class, sqlite_class), {})


def _translated_read(exc: sqlite3.Error) -> StorageError:
    """:func:`_translated`, still the ``sqlite3`` class too: sqlite-utils' own table methods
    catch ``sqlite3.OperationalError`` from :meth:`SqliteDatabase.execute` (``alter=True``)."""
    translated = _translated(exc)
    error = _both(type(translated), type(exc)).__new__(_both(type(translated), type(exc)))
    error.args = translated.args
    error.__dict__.update({**exc.__dict__, **translated.__dict__})
    return error


class SqliteDatabase(sqlite_utils.Database):
    """sqlite-utils' ``Database`` whose reads raise the storage errors, as PostgreSQL's do."""

    dialect = SQLITE

    def execute(self, sql, parameters=None):
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise _translated_read(exc) from exc

    def query(self, sql, params=None):
        try:
            rows = super().query(sql, params)
        except sqlite3.Error as exc:
            raise _translated_read(exc) from exc
        return _translating(rows)


def _translating(rows):
    try:
        yield from rows
    except sqlite3.Error as exc:
        raise _translated_read(exc) from exc


def open_db(
    path: str | os.PathLike,
    *,
    busy_timeout: int = DEFAULT_BUSY_TIMEOUT_MS,
    any_thread: bool = False,
) -> Database:
    """Open (creating if needed) the console database and bring its schema up to date.

    ``path=":memory:"`` gives a private in-memory database (tests). File databases run in WAL
    mode with ``synchronous=FULL``: a commit that returned is on disk, even after power loss.
    A ``postgresql://`` URL opens that database instead (``storage.pg``); ``any_thread`` is
    then moot (one connection, used by one thread at a time, as here).
    """
    timeout = busy_timeout
    target = str(path)
    if pg.is_postgresql(target):
        db = pg.connect(target, busy_timeout_ms=timeout)
        if target not in _migrated:  # once a process: each open is a pool's connection
            try:
                apply_pg_migrations(db)
            except BaseException:
                db.conn.close()
                raise
            _migrated.add(target)
        return db
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(
            target,
            timeout=timeout / 1000,
            check_same_thread=not any_thread,
            isolation_level="",  # the default "deferred" handling sqlite-utils expects
        )
        conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
        if target != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Savepoint and statement journals in memory, not a temp file created and unlinked
        # per transaction (measured: a file open/unlink/close in most of the sidecar's commits).
        conn.execute("PRAGMA temp_store=MEMORY")
        db = SqliteDatabase(conn, execute_plugins=False)
        apply_migrations(db)
    except sqlite3.Error as exc:
        raise _translated(exc) from exc
    return db


def apply_migrations(db: Database) -> None:
    """Apply pending migrations under one write lock, so that two processes starting at once
    (sidecar and dashboard) cannot both try the same migration."""
    if not migrations.pending(db):
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        migrations.apply(db)  # nested: each migration runs in a savepoint of this transaction
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def apply_pg_migrations(db: pg.PgDatabase) -> None:
    """The PostgreSQL twin of :func:`apply_migrations`: pending ones in one transaction, under
    an advisory lock, so that consoles starting together on several machines apply each once."""
    from storage.pg_schema import MIGRATIONS, MIGRATIONS_TABLE

    conn = db.conn
    conn.execute("BEGIN")
    try:
        conn.execute("SET LOCAL statement_timeout = 0")  # an index over many rows takes a while
        conn.execute("SET LOCAL lock_timeout = 60000")  # another console migrating first
        conn.execute(f"SELECT pg_advisory_xact_lock({pg.MIGRATION_LOCK})")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name text PRIMARY KEY,"
            " applied_at bigint NOT NULL)"
        )
        applied = {r[0] for r in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        for name, sql in MIGRATIONS:
            if name not in applied:
                conn.raw.execute(sql)  # several statements, no parameters
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                    (name, now_ms()),
                )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def iter_rows(db, sql: str, params=None, batch: int = 1000):
    """The rows ``sql`` selects as dicts, fetched ``batch`` at a time, never all in memory
    (PostgreSQL: a server-side cursor, in a snapshot of its own)."""
    if isinstance(db, pg.PgDatabase):
        yield from pg.stream(db, sql, params, batch)
        return
    cursor = db.conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(batch):
        for row in rows:
            yield dict(zip(names, row, strict=True))


def applied_migrations(db) -> list[str]:
    """The names of the migrations the database has, in the order they were applied."""
    if isinstance(db, pg.PgDatabase):
        from storage.pg_schema import MIGRATIONS, MIGRATIONS_TABLE

        # Applied in one transaction on a new database: the same time for all, so the list's
        # own order decides (by name, p001 came last).
        order = {name: n for n, (name, _) in enumerate(MIGRATIONS)}
        names = [r[0] for r in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE}").fetchall()]
        return sorted(names, key=lambda name: order.get(name, len(order)))
    else:
        sql = f"SELECT name FROM {migrations.migrations_table} ORDER BY rowid"
    return [row[0] for row in db.execute(sql).fetchall()]


def first_row(db: Database, sql: str, params=None) -> dict | None:
    """The first row ``sql`` selects, as a dict; None when it selects none."""
    return next(iter(db.query(sql, params)), None)


@contextlib.contextmanager
def write_transaction(db: Database, *, lock: int | None = pg.WRITE_LOCK):
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any error): take the write lock up
    front, so a busy database waits (busy timeout) or fails here rather than halfway through,
    where a read-then-write transaction would fail at once if another writer went first.
    Inside a transaction already, a savepoint of it (``db.atomic()``).

    On PostgreSQL: ``BEGIN`` and the console's write lock (``storage.pg.WRITE_LOCK``, waited
    for up to the busy timeout, ``lock_timeout``), the same one-writer-at-a-time meaning;
    ``lock`` names another advisory lock, or None for none (``storage.pg``: the sidecar's
    acknowledgement and projection). SQLite has one writer whatever ``lock`` says.
    """
    conn = db.conn
    if isinstance(db, pg.PgDatabase):
        with db.write_transaction(lock):
            yield db
        return
    if conn.in_transaction:
        try:
            with db.atomic():
                yield db
        except sqlite3.Error as exc:
            raise _translated(exc) from exc
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise _translated(exc) from exc


@contextlib.contextmanager
def read_snapshot(db: Database):
    """Every query inside sees one snapshot (WAL; PostgreSQL: REPEATABLE READ), whatever
    commits meanwhile."""
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            if isinstance(db, pg.PgDatabase)
            else "BEGIN"
        )
    try:
        yield db
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")


def manual_checkpoints(db: Database) -> None:
    """This connection's commits no longer run WAL checkpoints; call :func:`checkpoint`."""
    if isinstance(db, pg.PgDatabase):
        return  # PostgreSQL checkpoints by itself
    db.conn.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(path: str) -> None:
    """A passive WAL checkpoint on a connection of its own (never blocks writers)."""
    if pg.is_postgresql(path):
        return
    try:
        conn = sqlite3.connect(path, timeout=1)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _translated(exc) from exc


def refresh_statistics(db: Database) -> None:
    """Give SQLite's query planner current table statistics (``ANALYZE_SAMPLED``). Without
    them it looks a case up on the primary key's index rather than a narrower one that holds
    every column a query reads (the overdue count at 100k cases: 10 ms against 2 ms).
    PostgreSQL gathers its own (autovacuum): nothing to do there."""
    if isinstance(db, pg.PgDatabase):
        return
    limit, analyze = ANALYZE_SAMPLED
    db.conn.execute(limit)  # a setting of the connection, outside the transaction
    with write_transaction(db):
        db.conn.execute(analyze)
