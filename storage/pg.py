"""The console's database on PostgreSQL (psycopg 3): the object the storage functions take.

Every storage function is written once against a small database interface, the part of
sqlite-utils' ``Database`` the console uses: ``execute`` and ``query`` with ``?`` or ``:name``
parameters, ``conn.execute``/``executemany``/``in_transaction``/``close``, and, for scripts and
tests, ``db[table]`` with ``get``, ``count``, ``rows``, ``rows_where``, ``update``.
:class:`PgDatabase` is that interface on one psycopg connection in autocommit mode; the
transactions are :func:`storage.db.write_transaction` and :func:`storage.db.read_snapshot`, as
on SQLite. The parameter marks are rewritten to psycopg's (``%s``, ``%(name)s``), nothing else:
SQL that must differ per engine is written per engine where it is used (``storage.dialect``).

One writer at a time, as on SQLite: a write transaction first takes a transaction-level
advisory lock (:data:`WRITE_LOCK`) that every console writer takes, so each read-then-write the
storage functions do (claims, the projection, the outboxes) keeps the meaning it has on SQLite
whatever the number of machines. Readers never wait for it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator

from sqlite_utils.db import NotFoundError

from storage.dialect import POSTGRESQL
from storage.errors import DatabaseUnavailable, StorageError

try:  # an extra: pip install 'offload-console[postgresql]'
    import psycopg
    from psycopg.pq import TransactionStatus
except ImportError:  # SQLite alone needs none of it
    psycopg = None

WRITE_LOCK = 0x0FF10AD  # pg_advisory_xact_lock key every console writer takes
MIGRATION_LOCK = 0x0FF10AE  # pg_advisory_xact_lock key of the migrations

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|:(\w+)|%|[^'\"?:%]+|.", re.S)


@functools.lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """``sql`` with SQLite's parameter marks as psycopg's: ``?`` → ``%s``, ``:name`` →
    ``%(name)s``, a literal ``%`` → ``%%``; quoted text and ``::`` casts untouched."""
    out = []
    for match in _TOKENS.finditer(sql):
        token = match.group(0)
        if token[0] == "'":
            out.append(token.replace("%", "%%"))
        elif token == "?":
            out.append("%s")
        elif match.group(1):
            out.append(f"%({match.group(1)})s")
        elif token == "%":
            out.append("%%")
        else:
            out.append(token)
    return "".join(out)


def _params(params):
    """Always a sequence or a mapping (psycopg reads ``%%`` as ``%`` only when it has one),
    with NUL characters, which PostgreSQL's text cannot hold, as U+FFFD."""
    if params is None:
        return []
    if isinstance(params, dict):
        return {k: _text(v) for k, v in params.items()}
    return [_text(v) for v in params]


def _text(value):
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def translated(exc: psycopg.Error):
    """The storage error for a psycopg one, by SQLSTATE: lost connections, lock and
    serialization failures, a full disk or a server shutting down may succeed later."""
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, psycopg.OperationalError) and not state:
        return DatabaseUnavailable(str(exc), "unavailable")
    kind = {
        "53100": "disk_full",
        "53200": "no_memory",
        "25006": "read_only",
        "40001": "busy",
        "40P01": "busy",
        "55P03": "busy",
        "57014": "busy",  # statement_timeout / lock_timeout
    }.get(state)
    if kind is None and state[:2] in ("08", "57", "53", "58"):
        kind = "unavailable"
    return DatabaseUnavailable(str(exc), kind) if kind else StorageError(str(exc))


class PgCursor:
    """A psycopg cursor with sqlite3's ``lastrowid`` (the first column of a ``RETURNING``)."""

    def __init__(self, cursor: psycopg.Cursor, returning: bool):
        self._cursor = cursor
        self.rowcount = cursor.rowcount
        self.lastrowid = None
        self._first = None
        if returning and cursor.description is not None:
            self._first = cursor.fetchone()
            self.lastrowid = self._first[0] if self._first else None

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self):
        if self._first is not None:
            row, self._first = self._first, None
            return row
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self):
        rows = [self._first] if self._first is not None else []
        self._first = None
        if self._cursor.description:
            rows += self._cursor.fetchall()
        return rows

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """sqlite3.Connection's surface over one psycopg connection (autocommit; explicit BEGIN)."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params=None) -> PgCursor:
        try:
            cursor = self.raw.execute(pg_sql(sql), _params(params), prepare=False)
        except psycopg.Error as exc:
            raise translated(exc) from exc
        return PgCursor(cursor, " RETURNING " in sql.upper())

    def executemany(self, sql: str, rows) -> None:
        rows = [_params(r) for r in rows]
        if not rows:
            return
        try:
            with self.raw.cursor() as cursor:
                cursor.executemany(pg_sql(sql), rows)
        except psycopg.Error as exc:
            raise translated(exc) from exc

    def close(self) -> None:
        self.raw.close()


class PgTable:
    """``db[name]``: the few sqlite-utils table calls scripts and tests use."""

    def __init__(self, db: PgDatabase, name: str):
        self.db, self.name = db, name

    def _key(self) -> str:
        row = self.db.conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = i.indkey[0] WHERE i.indrelid = ?::regclass AND i.indisprimary",
            [self.name],
        ).fetchone()
        return row[0]

    def get(self, key) -> dict:
        row = next(self.rows_where(f"{self._key()} = ?", [key]), None)
        if row is None:
            raise NotFoundError(f"{self.name}: {key!r}")
        return row

    @property
    def count(self) -> int:
        return self.db.execute(f"SELECT count(*) FROM {self.name}").fetchone()[0]

    @property
    def rows(self) -> Iterator[dict]:
        return self.rows_where()

    def rows_where(self, where=None, where_args=None, order_by=None, limit=None, select="*"):
        sql = f"SELECT {select} FROM {self.name}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.query(sql, where_args)

    def update(self, key, updates: dict) -> PgTable:
        sets = ", ".join(f"{column} = ?" for column in updates)
        with self.db.write_transaction():
            self.db.execute(
                f"UPDATE {self.name} SET {sets} WHERE {self._key()} = ?", [*updates.values(), key]
            )
        return self


class PgDatabase:
    """The console database on PostgreSQL; see the module's docstring."""

    dialect = POSTGRESQL

    def __init__(self, url: str, raw: psycopg.Connection):
        self.url = url
        self.conn = PgConnection(raw)

    def execute(self, sql: str, params=None) -> PgCursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params=None) -> Iterator[dict]:
        cursor = self.conn.execute(sql, params)
        columns = [c.name for c in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(columns, row, strict=True))

    @contextlib.contextmanager
    def write_transaction(self):
        """``storage.db.write_transaction`` here: ``BEGIN`` and the console's write lock
        (:data:`WRITE_LOCK`, waited for up to ``lock_timeout``); a savepoint inside one."""
        conn = self.conn
        if conn.in_transaction:
            with self.atomic():
                yield self
            return
        conn.execute("BEGIN")
        try:
            conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            yield self
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except StorageError:
                    pass  # the connection is gone: so is the transaction
            raise
        conn.execute("COMMIT")

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self, name)

    def table_names(self) -> list[str]:
        return [
            r[0]
            for r in self.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " ORDER BY tablename"
            )
        ]

    @contextlib.contextmanager
    def atomic(self):
        """A savepoint of the transaction under way; outside one, a write transaction."""
        if not self.conn.in_transaction:
            with self.write_transaction():
                yield self
            return
        self.conn.execute("SAVEPOINT atomic")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK TO SAVEPOINT atomic")
            raise
        self.conn.execute("RELEASE SAVEPOINT atomic")


def stream(db: PgDatabase, sql: str, params, batch: int) -> Iterator[dict]:
    """:func:`storage.db.iter_rows` on PostgreSQL: a named (server-side) cursor, on a
    connection of its own so the caller's stays free for other queries meanwhile."""
    try:
        with psycopg.connect(db.url, connect_timeout=10) as own:
            with own.cursor(name="console_stream") as cursor:
                cursor.itersize = batch
                cursor.execute(pg_sql(sql), _params(params))
                names = [c.name for c in cursor.description]
                for row in cursor:
                    yield dict(zip(names, row, strict=True))
    except psycopg.Error as exc:
        raise translated(exc) from exc


def is_postgresql(target: str) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database rather than a SQLite file."""
    return str(target).startswith(("postgresql://", "postgres://"))


def connect(url: str, *, busy_timeout_ms: int) -> PgDatabase:
    """One autocommit connection; ``lock_timeout`` plays SQLite's busy timeout."""
    if psycopg is None:
        raise StorageError(
            "a postgresql:// database needs psycopg: pip install 'offload-console[postgresql]'"
        )
    try:
        raw = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=10,
            application_name="offload-console",
            options=f"-c lock_timeout={int(busy_timeout_ms)} -c TimeZone=UTC",
        )
    except psycopg.Error as exc:
        raise translated(exc) from exc
    except Exception as exc:  # a malformed URL: ProgrammingError is a psycopg.Error, this is not
        raise StorageError(f"cannot connect to {redacted(url)}: {exc}") from exc
    return PgDatabase(url, raw)


def redacted(url: str) -> str:
    """``url`` without its password, to show or log."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
