"""One storage interface on two engines, checked: the shared SQL's parameter marks as
psycopg's (``storage.pg.pg_sql``), the two schemas alike (tables, columns, nullability,
indexes, triggers, migrations), and both engines' connections implementing the same
``storage.Database`` surface."""

import pytest

import storage
from storage.db import applied_migrations
from storage.pg import pg_sql

# What exists on one engine only, on purpose (docs/database.md says why).
SQLITE_ONLY_TABLES = {
    "_sqlite_migrations",  # sqlite-utils' migrations table; PostgreSQL: _console_migrations
    "sqlite_sequence",
    "sqlite_stat1",  # the planner's statistics (storage.db.refresh_statistics)
    "search_pending",  # the FTS5 index is filled off the ingest path
    "cases_search",  # FTS5 and its shadow tables; PostgreSQL: a pg_trgm index
    "cases_search_config",
    "cases_search_content",
    "cases_search_data",
    "cases_search_docsize",
    "cases_search_idx",
}
PG_ONLY_TABLES = {"_console_migrations"}
SQLITE_ONLY_INDEXES = {"idx__sqlite_migrations_migration_set_name"}
PG_ONLY_INDEXES = {"cases_search"}  # the trigram index over the same text as FTS5's
SQLITE_ONLY_TRIGGERS = {"cases_search_delete", "cases_search_update"}
TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("UPDATE t SET a = :a WHERE id = :id", "UPDATE t SET a = %(a)s WHERE id = %(id)s"),
        ("SELECT 'what?' , ?", "SELECT 'what?' , %s"),
        ("SELECT 'it''s :not a name ?'", "SELECT 'it''s :not a name ?'"),
        ("SELECT '50%' || ?", "SELECT '50%%' || %s"),
        ("SELECT a % 2 FROM t", "SELECT a %% 2 FROM t"),
        ("SELECT x::bigint, ?::text", "SELECT x::bigint, %s::text"),
        ('SELECT "odd?col" FROM t', 'SELECT "odd?col" FROM t'),
        ("SELECT 1 -- who? :nobody\n, ?", "SELECT 1 -- who? :nobody\n, %s"),
        ("SELECT /* a ? b :c */ ?", "SELECT /* a ? b :c */ %s"),
        ("SELECT doc ?| array['a'] AND doc ?& ?", "SELECT doc ?| array['a'] AND doc ?& %s"),
        ("SELECT '-- not a comment ?', ?", "SELECT '-- not a comment ?', %s"),
    ],
)
def test_parameter_marks_become_psycopgs_and_nothing_else_changes(sql, expected):
    assert pg_sql(sql) == expected


def _sqlite_schema(db) -> dict:
    tables = {
        name: [
            (column, TYPES.get(kind.upper(), kind), bool(notnull) or bool(pk))
            for _, column, kind, notnull, _, pk in db.execute(f"PRAGMA table_info({name})")
        ]
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    indexes = {
        name: table
        for name, table in db.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
            " AND name NOT LIKE 'sqlite_autoindex%'"
        )
    }
    triggers = {
        name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    return {"tables": tables, "indexes": indexes, "triggers": triggers}


def _pg_schema(db) -> dict:
    tables = {
        name: [
            (column, kind, nullable == "NO")
            for column, kind, nullable in db.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?"
                " ORDER BY ordinal_position",
                [name],
            )
        ]
        for name in db.table_names()
    }
    indexes = {
        name: table
        for name, table in db.execute(
            "SELECT i.relname, t.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE n.nspname = current_schema() AND NOT x.indisprimary AND NOT EXISTS ("
            " SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
    }
    triggers = {
        name
        for (name,) in db.execute(
            "SELECT DISTINCT trigger_name FROM information_schema.triggers"
            " WHERE trigger_schema = current_schema()"
        )
    }
    return {"tables": tables, "indexes": indexes, "triggers": triggers}


def test_the_two_schemas_are_the_same_but_for_what_differs_on_purpose(postgres):
    sqlite = storage.open_db(":memory:")
    pg = storage.open_db(postgres.new_database(postgres.template))
    try:
        lite, post = _sqlite_schema(sqlite), _pg_schema(pg)
        assert set(lite["tables"]) - SQLITE_ONLY_TABLES == set(post["tables"]) - PG_ONLY_TABLES
        for table in set(lite["tables"]) - SQLITE_ONLY_TABLES - PG_ONLY_TABLES:
            # Same columns, in the same order, of the same kinds, null where the other is.
            assert lite["tables"][table] == post["tables"][table], table
        assert {k: v for k, v in lite["indexes"].items() if k not in SQLITE_ONLY_INDEXES} == {
            k: v for k, v in post["indexes"].items() if k not in PG_ONLY_INDEXES
        }
        assert lite["triggers"] - SQLITE_ONLY_TRIGGERS == post["triggers"]
        # PostgreSQL's first migration is SQLite's first fourteen; every later one is shared.
        lite_names, pg_names = applied_migrations(sqlite), applied_migrations(pg)
        assert (
            pg_names[0]
            == "p001_schema_as_sqlite_m014"
            == f"p001_schema_as_sqlite_{lite_names[13][:4]}"
        )
        assert pg_names[1:] == lite_names[14:]
    finally:
        sqlite.conn.close()
        pg.conn.close()


def test_both_engines_implement_the_database_interface(db):
    assert isinstance(db, storage.Database)
    with storage.db.write_transaction(db):
        db.execute("INSERT INTO case_status_counts (status, cases) VALUES (?, ?)", ["X", 1])
    with storage.db.read_snapshot(db):
        assert (
            db.execute("SELECT cases FROM case_status_counts WHERE status = ?", ["X"]).fetchone()[0]
            == 1
        )
    assert next(
        db.query("SELECT status FROM case_status_counts WHERE status = :s", {"s": "X"})
    ) == {"status": "X"}


def test_read_errors_are_storage_errors_on_both_engines(db):
    with pytest.raises(storage.StorageError):
        db.execute("SELECT nothing FROM no_such_table").fetchall()
    with pytest.raises(storage.StorageError):
        list(db.query("SELECT nothing FROM no_such_table"))


def _waiting_on_a_lock(admin, pid: int) -> bool:
    row = admin.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return bool(row) and row[0] == "Lock"


@pytest.mark.parametrize("writer", ["mark_sent", "record_answer"])
def test_a_writer_meeting_a_projector_on_its_case_waits_and_never_deadlocks(postgres, writer):
    """A projector holds a case and then writes its rows (a webhook naming the submission,
    or the question); a writer of the same case that wrote such a row before asking for the
    case's lock deadlocked with it (found under the parallel suite: ``create`` failed with
    "deadlock detected"). Every writer now takes the case first: it waits, then both finish."""
    import threading

    import psycopg

    from storage.events import parse_envelope, record_event
    from storage.inbox import record_answer
    from storage.submissions import create_submission, mark_sent
    from tests.helpers import input_needed, wait_until

    url = postgres.take()
    db = storage.open_db(url)
    create_submission(db, "sub-1", {"goal": "x"}, "avery")
    envelope = input_needed("case-1", "ir-1", 1000, "Which entity?")
    if writer == "record_answer":
        with db.atomic():
            record_event(db, parse_envelope(envelope, "{}"), 1)
    projector = psycopg.connect(url)  # the part that holds the case, then writes its rows
    projector.execute(f"SELECT pg_advisory_xact_lock({storage.pg.CASE_LOCKS}, hashtext('case-1'))")
    outcome: dict = {}

    def write() -> None:
        other = storage.open_db(url)
        other.execute("SELECT 1")
        outcome["pid"] = other.conn.raw.info.backend_pid
        try:
            if writer == "mark_sent":
                mark_sent(other, "sub-1", "case-1", {"goal": "x"}, "avery")
            else:
                record_answer(other, "ir-1", "avery", "the LLC")
            outcome["done"] = True
        except Exception as exc:  # noqa: BLE001 - the outcome is what is asserted
            outcome["error"] = exc

    thread = threading.Thread(target=write)
    thread.start()
    with psycopg.connect(url, autocommit=True) as admin:
        wait_until(
            lambda: "pid" in outcome and _waiting_on_a_lock(admin, outcome["pid"]),
            timeout=90,  # a loaded machine: the thread may take long to reach its wait
            message="the writer waiting on the case's lock",
        )
    if writer == "mark_sent":
        projector.execute(
            "UPDATE submissions SET status = 'SENT', case_id = 'case-1' WHERE submission_id"
            " = 'sub-1' AND status IN ('PENDING', 'UNKNOWN')"
        )
    else:
        projector.execute(
            "UPDATE input_requests SET question = question WHERE input_request_id = 'ir-1'"
        )
    projector.commit()
    projector.close()
    thread.join(timeout=30)
    assert outcome.get("done") and "error" not in outcome, outcome
    storage.pg.close_pools()
