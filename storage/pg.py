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
storage functions do (claims, the outboxes, the console's own events) keeps the meaning it has
on SQLite whatever the number of machines. Readers never wait for it. Two writers take other
locks instead (``write_transaction(lock=None)``): the sidecar's acknowledgement, which only
inserts (its event, its ``deliveries`` row: unique keys dedupe across sidecars), and the
projection of what it acknowledged, which locks the one case it changes (:func:`case_lock`)
under a lock of the projectors' own (:data:`PROJECTION_LOCK`). A stalled writer holding the
write lock therefore never refuses a webhook.

Connections come from a pool per database (``psycopg_pool``): each is checked when taken,
a broken one is replaced, and a statement that opens a transaction (or a lone read) on a
connection the server dropped meanwhile (a restart, a failover, a terminated backend) runs
again on a new one; inside a transaction the loss is the transaction's
(:class:`~storage.errors.DatabaseUnavailable`), and the next one starts on a new connection.
Every session sets ``lock_timeout`` (the busy timeout), ``idle_in_transaction_session_timeout``
(a stalled holder's locks are freed), ``statement_timeout`` and TCP keepalives.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from urllib.parse import unquote

from sqlite_utils.db import NotFoundError

from storage.dialect import POSTGRESQL
from storage.errors import DatabaseUnavailable, StorageError

try:  # an extra: pip install 'offload-console[postgresql]'
    import psycopg
    import psycopg_pool
    from psycopg.pq import TransactionStatus
except ImportError:  # SQLite alone needs none of it
    psycopg = None

WRITE_LOCK = 0x0FF10AD  # pg_advisory_xact_lock key every console writer takes
MIGRATION_LOCK = 0x0FF10AE  # pg_advisory_xact_lock key of the migrations
PROJECTION_LOCK = 0x0FF10AF  # pg_advisory_xact_lock key of the sidecars' projectors
CASE_LOCKS = 0x0FF1  # first half of a case's two-key advisory lock (case_lock)

CONNECT_TIMEOUT_S = 5  # libpq's connect_timeout: a server that does not answer at all
CHECKOUT_WAIT_S = 3.0  # how long taking a connection from the pool may wait
IDLE_IN_TRANSACTION_MS = 30_000  # a transaction left idle this long is ended by the server
STATEMENT_TIMEOUT_MS = 120_000
POOL_MAX = 200  # connections one process may hold per database (each dashboard session holds one)

_TOKENS = re.compile(
    r"'(?:[^']|'')*'"  # a string
    r"|\"(?:[^\"]|\"\")*\""  # a quoted name
    r"|--[^\n]*|/\*.*?\*/"  # a comment
    r"|::|\?[|&]"  # a cast; jsonb's ?| and ?& operators
    r"|\?|:(\w+)|%|[^'\"?:%/-]+|.",
    re.S,
)


@functools.lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """``sql`` with SQLite's parameter marks as psycopg's: ``?`` → ``%s``, ``:name`` →
    ``%(name)s``, a literal ``%`` → ``%%``; quoted text, comments, ``::`` casts and jsonb's
    ``?|``/``?&`` untouched (jsonb's lone ``?`` cannot be told from a mark: shared SQL says
    ``jsonb_exists(doc, key)``)."""
    out = []
    for match in _TOKENS.finditer(sql):
        token = match.group(0)
        if token[0] == "'" or token[:2] in ("--", "/*"):
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
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not state:
        return DatabaseUnavailable(str(exc), "unavailable")  # a lost or closed connection
    kind = {
        "53100": "disk_full",
        "53200": "no_memory",
        "25006": "read_only",
        "40001": "busy",  # serialization failure
        "40P01": "busy",  # deadlock detected
        "55P03": "busy",  # lock_not_available: lock_timeout (the busy timeout), NOWAIT
        "57014": "busy",  # query_canceled: statement_timeout
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
    """sqlite3.Connection's surface over a pooled psycopg connection (autocommit; explicit
    BEGIN), replaced by a new one from the pool when the server dropped it."""

    def __init__(self, pool):
        self.pool = pool
        self._raw = None
        self._began = False  # a BEGIN of ours is open on _raw

    @property
    def raw(self) -> psycopg.Connection:
        """A live connection: the one held, or a new one from the pool when it was lost
        (never within a transaction: that transaction is gone, and saying so is the caller's
        error)."""
        raw = self._raw
        if raw is not None and not raw.closed and not raw.broken:
            return raw
        if self._began:
            self._began = False
            raise DatabaseUnavailable("the connection was lost mid-transaction", "unavailable")
        self._put_back()
        self._raw = checkout(self.pool)
        return self._raw

    @property
    def in_transaction(self) -> bool:
        raw = self._raw
        if raw is None or raw.closed or raw.broken:
            return False
        return raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params=None) -> PgCursor:
        began = self._began
        raw = self.raw
        try:
            cursor = raw.execute(pg_sql(sql), _params(params), prepare=False)
        except psycopg.Error as exc:
            if not (raw.broken and not began and _may_run_again(sql)):
                if raw.broken:
                    self._began = False
                raise translated(exc) from exc
            try:  # the server dropped an idle connection: once more on a new one
                cursor = self.raw.execute(pg_sql(sql), _params(params), prepare=False)
            except psycopg.Error as again:
                raise translated(again) from again
        head = sql.lstrip()[:8].upper()
        if head.startswith("BEGIN"):
            self._began = True
        elif head.startswith(("COMMIT", "ROLLBACK")) and "TO" not in sql.upper().split()[1:2]:
            self._began = False
        return PgCursor(cursor, " RETURNING " in sql.upper())

    def executemany(self, sql: str, rows) -> None:
        rows = [_params(r) for r in rows]
        if not rows:
            return
        raw = self.raw
        try:
            with raw.cursor() as cursor:
                cursor.executemany(pg_sql(sql), rows)
        except psycopg.Error as exc:
            if raw.broken:
                self._began = False
            raise translated(exc) from exc

    def commit(self) -> None:
        """sqlite3's ``commit()``: ends a transaction of ours if one is open (statements
        outside one are committed as they run)."""
        if self._began:
            self.execute("COMMIT")

    def close(self) -> None:
        """Give the connection back to the pool (rolled back there if a transaction is open)."""
        self._began = False
        self._put_back()

    def _put_back(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                self.pool.putconn(raw)
            except Exception:  # noqa: BLE001 - a pool closed meanwhile: just close it
                raw.close()


def _may_run_again(sql: str) -> bool:
    """A statement that can run again, whole, on a new connection: one that opens a
    transaction, or a read outside one."""
    return sql.lstrip()[:6].upper() in ("BEGIN", "BEGIN ", "SELECT")


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

    def count_where(self, where: str, where_args=None) -> int:
        sql = f"SELECT count(*) FROM {self.name} WHERE {where}"
        return self.db.execute(sql, where_args).fetchone()[0]

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

    def __init__(self, url: str, pool):
        self.url = url
        self.conn = PgConnection(pool)

    def execute(self, sql: str, params=None) -> PgCursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params=None) -> Iterator[dict]:
        cursor = self.conn.execute(sql, params)
        columns = [c.name for c in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(columns, row, strict=True))

    @contextlib.contextmanager
    def write_transaction(self, lock: int | None = WRITE_LOCK):
        """``storage.db.write_transaction`` here: ``BEGIN`` and the advisory lock ``lock``
        (the console's write lock unless told otherwise; waited for up to ``lock_timeout``;
        None: no lock); a savepoint inside one."""
        conn = self.conn
        if conn.in_transaction:
            with self.atomic():
                yield self
            return
        conn.execute("BEGIN")
        try:
            if lock is not None:
                conn.execute(f"SELECT pg_advisory_xact_lock({int(lock)})")
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
        with psycopg.connect(db.url, connect_timeout=CONNECT_TIMEOUT_S) as own:
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


def session_options(busy_timeout_ms: int) -> dict:
    """Every console connection's settings: ``lock_timeout`` plays SQLite's busy timeout; a
    transaction left idle (its process stalled or stopped) is ended by the server, freeing its
    locks; TCP keepalives and ``tcp_user_timeout`` notice a server that went silent."""
    return {
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": "offload-console",
        "options": (
            f"-c lock_timeout={int(busy_timeout_ms)} -c TimeZone=UTC"
            f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
            f" -c statement_timeout={STATEMENT_TIMEOUT_MS}"
        ),
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,
    }


_pools: dict[tuple[str, int], object] = {}
_pools_lock = threading.Lock()


def pool_for(url: str, busy_timeout_ms: int):
    """This process's pool for ``url`` (one per busy timeout): connections made on demand,
    checked when taken, dropped after a minute idle; a failed connect is tried again within
    about two seconds of the next request (``reconnect_timeout``), never given up on."""
    if psycopg is None:
        raise StorageError(
            "a postgresql:// database needs psycopg: pip install 'offload-console[postgresql]'"
        )
    key = (url, int(busy_timeout_ms))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            try:
                pool = psycopg_pool.ConnectionPool(
                    url,
                    kwargs=session_options(busy_timeout_ms),
                    min_size=0,
                    max_size=POOL_MAX,
                    check=psycopg_pool.ConnectionPool.check_connection,
                    timeout=CHECKOUT_WAIT_S,
                    reconnect_timeout=2.0,
                    max_idle=60.0,
                    num_workers=1,
                    name=f"offload-console-{len(_pools)}",
                    open=True,
                )
            except Exception as exc:  # a malformed URL
                raise StorageError(f"cannot connect to {redacted(url)}: {exc}") from exc
            _pools[key] = pool
        return pool


def checkout(pool) -> psycopg.Connection:
    """A checked connection from ``pool``; DatabaseUnavailable when none can be had in time."""
    try:
        return pool.getconn()
    except psycopg_pool.PoolTimeout as exc:
        raise DatabaseUnavailable(
            f"the database does not answer (no connection within {CHECKOUT_WAIT_S:g} s)",
            "unavailable",
        ) from exc
    except psycopg.Error as exc:
        raise translated(exc) from exc


def close_pools() -> None:
    """Close every pool of this process (tests; a process that ends)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close(timeout=2)


def connect(url: str, *, busy_timeout_ms: int) -> PgDatabase:
    """A database handle on this process's pool for ``url``; its first statement takes a
    connection (so opening one never fails: the first use may)."""
    return PgDatabase(url, pool_for(url, busy_timeout_ms))


def case_lock(db: PgDatabase, case_id: str, *, wait: bool = True) -> bool:
    """Lock one case for the rest of the transaction (two-key advisory lock on the case id's
    hash); ``wait=False`` tries once and says whether it got it."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    row = db.conn.execute(f"SELECT {function}({CASE_LOCKS}, hashtext(?))", [case_id]).fetchone()
    return True if wait else bool(row[0])


# Where a password sits in a database target: the user info of a URL (up to the last "@"
# that a host list follows), ``password=`` in a URL's query, ``password=`` in a libpq
# key=value conninfo (quoted or not). Whatever characters the password holds.
_HOSTS = re.compile(r"(\[[^\]]*\]|[^@/?:,\[\]]*)(:\d*)?(,(\[[^\]]*\]|[^@/?:,]*)(:\d*)?)*(?=[/?]|$)")
_QUERY_PASSWORD = re.compile(r"[?&]password=([^&#]*)", re.IGNORECASE)
_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
MASKED = "***"


def _password_spans(target: str) -> list[tuple[int, int]]:
    spans = []
    if is_postgresql(target):
        start = target.index("://") + 3
        query = target.find("?", start)
        before_query = range((query if query >= 0 else len(target)) - 1, start - 1, -1)
        # a "?" in the password itself: then the user info's ":" comes before the first "?"
        maybe = query >= 0 and ":" in target[start:query]
        anywhere = range(len(target) - 1, start - 1, -1) if maybe else ()
        ats = [at for at in (*before_query, *anywhere) if target[at] == "@"]
        at = next((at for at in ats if _HOSTS.match(target, at + 1)), None)
        if at is not None:
            colon = target.find(":", start, at)
            if colon >= 0 and colon + 1 < at:
                spans.append((colon + 1, at))
        spans += [m.span(1) for m in _QUERY_PASSWORD.finditer(target) if m.group(1)]
    else:
        spans += [m.span(1) for m in _CONNINFO_PASSWORD.finditer(target) if m.group(1)]
    return spans


def db_passwords(target: str) -> list[str]:
    """Every password in a ``--db`` value (URL or key=value conninfo), as written and as
    decoded (percent-escapes, conninfo quotes), longest first: the secrets to mask."""
    found = set()
    for begin, end in _password_spans(str(target)):
        written = str(target)[begin:end]
        found.update({written, unquote(written)})
        if written.startswith("'") and written.endswith("'") and len(written) > 1:
            found.add(re.sub(r"\\(.)", r"\1", written[1:-1]))
    return sorted((f for f in found if f), key=len, reverse=True)


def redacted(target: str) -> str:
    """A ``--db`` value (a URL or a key=value conninfo) without its password, to show or
    log."""
    text = str(target)
    for begin, end in sorted(_password_spans(text), reverse=True):
        text = text[:begin] + MASKED + text[end:]
    return text


def masked(text: str, target: str) -> str:
    """``text`` (an error message, say) with every form of ``target``'s password masked."""
    for password in db_passwords(target):
        text = text.replace(password, MASKED)
    return text
