"""The Cases page's queries: kept counts, trigram search, filters, paging."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.case_filter import CaseFilter
from storage.db import write_transaction
from storage.page_queries import list_cases, status_counts
from tests.helpers import input_needed, store, webhook


def add(db, envelope):
    store(db, envelope)


def scanned_counts(db):
    return dict(db.execute("SELECT status, count(*) FROM cases GROUP BY status").fetchall())


def test_kept_counts_follow_inserts_updates_and_deletes(db):
    add(db, input_needed("c1", "r1", 100))
    add(db, input_needed("c2", "r2", 100))
    add(db, webhook("c1", "case.completed", 200))
    kept = {k: v for k, v in status_counts(db, CaseFilter()).items() if v}
    assert kept == scanned_counts(db) == {"INPUT_NEEDED": 1, "COMPLETED": 1}
    db.execute("DELETE FROM cases WHERE case_id = 'c2'")
    assert status_counts(db, CaseFilter())["INPUT_NEEDED"] == 0
    rows, total = list_cases(db, CaseFilter(statuses=["COMPLETED"]))
    assert total == 1 and [r["case_id"] for r in rows] == ["c1"]


def test_search_finds_substrings_case_insensitively(db):
    add(db, webhook("c1", "case.completed", 1, clientReferenceId="vendor_2048"))
    add(db, webhook("c2", "case.completed", 2, clientReferenceId="vendor_20480"))
    add(db, webhook("c3", "case.completed", 3, clientReferenceId="other"))
    db.execute("UPDATE cases SET counterparty_company = 'Northstar Supplies' WHERE case_id='c3'")

    def found(text):
        return sorted(r["case_id"] for r in list_cases(db, CaseFilter(text=text))[0])

    assert found("dor_2048") == ["c1", "c2"]
    assert found("NORTHSTAR") == ["c3"]  # the update re-indexed the row
    assert found("c2") == ["c2"]  # under three characters: LIKE, and the exact id
    assert found('say "hi"') == []
    assert list_cases(db, CaseFilter(text="vendor"))[1] == 2
    searched = CaseFilter(text="dor_2048", statuses=["COMPLETED"])  # the status, unindexed
    assert sorted(r["case_id"] for r in list_cases(db, searched)[0]) == ["c1", "c2"]
    assert list_cases(db, CaseFilter(text="dor_2048", statuses=["FAILED"]))[0] == []


@pytest.mark.sqlite_only  # SQLite's planner: the status index would be walked first
def test_a_search_with_a_status_starts_from_the_searchs_matches(db):
    """Searched and filtered by status, the Cases page's reads start from the search index,
    never from every case of that status (100k cases: 148 ms against 1 ms)."""
    from storage.page_queries import cases_per_day, completion_hours

    for n in range(30):
        add(db, webhook(f"c{n}", "case.completed", n + 1, clientReferenceId=f"vendor_{n}"))
    db.execute("ANALYZE")
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    flt = CaseFilter(text="vendor_7", statuses=["COMPLETED"])
    list_cases(db, flt)
    status_counts(db, flt)
    cases_per_day(db, flt)
    completion_hours(db, flt)
    db.conn.set_trace_callback(None)
    searched = [s for s in statements if "MATCH" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(searched) >= 4
    for sql in searched:
        plan = " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SEARCH cases USING INDEX cases_status_created" not in plan, (sql, plan)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["case.completed", "case.failed", "case.input_needed"]),
            st.integers(min_value=0, max_value=5),
            st.integers(min_value=1, max_value=50),
        ),
        max_size=25,
    )
)
def test_kept_counts_always_equal_a_scan(blank_db, events):
    db = blank_db()
    for kind, case, at in events:
        envelope = (
            input_needed(f"c{case}", f"r{case}-{at}", at)
            if kind == "case.input_needed"
            else webhook(f"c{case}", kind, at)
        )
        add(db, envelope)
    kept = {k: v for k, v in status_counts(db, CaseFilter()).items() if v}
    assert kept == scanned_counts(db)


@pytest.mark.sqlite_only  # PostgreSQL's trigram index is its own (storage.pg_schema)
def test_ingest_only_notes_cases_for_the_search_index(db):
    from storage.page_queries import refresh_search_index

    add(db, webhook("c1", "case.completed", 1, clientReferenceId="vendor_9"))
    assert db.execute("SELECT count(*) FROM cases_search").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM search_pending").fetchone()[0] == 1
    assert refresh_search_index(db) == 1
    assert refresh_search_index(db) == 0


def test_search_finds_a_case_edited_by_hand_and_takes_wildcards_literally(db):
    add(db, webhook("c1", "case.completed", 1, clientReferenceId="vendor_9"))
    add(db, webhook("c2", "case.completed", 2, clientReferenceId="vendor%9"))
    with write_transaction(db):
        db.execute("UPDATE cases SET objective = 'Collect a W-9' WHERE case_id = 'c1'")
    assert [r["case_id"] for r in list_cases(db, CaseFilter(text="a w-9"))[0]] == ["c1"]
    assert [r["case_id"] for r in list_cases(db, CaseFilter(text="VENDOR%"))[0]] == ["c2"]
    assert [r["case_id"] for r in list_cases(db, CaseFilter(text="c2"))[0]] == ["c2"]


def test_counts_and_labels_read_as_words():
    from dashboard.format import gap, plural
    from offload_console.case_form import FIELD_LABELS

    assert [plural(1, "row"), plural(2, "row"), plural(1204, "entry", "entries")] == [
        "1 row",
        "2 rows",
        "1,204 entries",
    ]
    assert [gap(4000), gap(125_000), gap(3 * 3600_000 + 600_000)] == [
        "+4 s",
        "+2 min 05 s",
        "+3 h 10 min",
    ]
    assert FIELD_LABELS["cp_address"] == "Counterparty address"


def test_instances_register_are_seen_and_show_as_running_gone_or_stopped(db):
    from dashboard.health_checks import instance_rows
    from storage import instances

    t0 = 1_800_000_000_000
    a = instances.register(db, "sidecar", 8787, "1.0", now=t0)
    b = instances.register(db, "dashboard", 8501, "1.0", now=t0 + 1)
    c = instances.register(db, "sidecar", 9787, "1.0", now=t0 + 2)
    later = t0 + (instances.GONE_AFTER_S + 5) * 1000
    instances.seen(db, a, now=later)
    instances.stopped(db, c)
    states = {
        row["instance_id"]: row["state"]
        for row in instances.list_instances(db, now=later)
        if row["instance_id"] in (a, b)
    }
    assert states == {a: "running", b: "gone"}
    assert [r["state"] for r in instances.list_instances(db) if r["instance_id"] == c] == [
        "stopped"
    ]
    rows = instance_rows(instances.list_instances(db, now=later), "UTC", later)
    assert ("Sidecar on " in rows[0][0], rows[0][1]) == (True, "ok")
    assert {state for _, state, _ in rows} >= {"ok", "GONE"}
    day_later = later + instances.KEEP_MS + 1
    instances.register(db, "sidecar", 8787, "1.0", now=day_later)  # prunes the old rows
    assert len(instances.list_instances(db, now=day_later)) == 1
