"""Issue 23, defect 7: times from outside that no calendar holds (year 0, year 10,000, 10^16
ms) are stored as sent and shown as "invalid time"; no page errors, for anyone."""

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.cases_view import filters_from_query
from dashboard.format import INVALID_TIME, short_when, when
from tests.helpers import ROOT, input_needed, store, webhook

APP = str(ROOT / "dashboard" / "app.py")
BAD_TIMES = [-62135596800001, 253402300800000, 9999999999999999, -(2**63), 2**63 - 1]


@pytest.mark.parametrize("ms", BAD_TIMES)
def test_times_no_calendar_holds_are_shown_as_invalid(ms):
    assert when(ms, "Asia/Tokyo") == INVALID_TIME
    assert when(ms, "UTC", seconds=True) == INVALID_TIME
    assert short_when(ms, "America/Los_Angeles") == INVALID_TIME


def test_a_date_filter_no_calendar_holds_is_ignored():
    for day in ("9999-12-31", "0001-01-01"):
        assert filters_from_query({"from": [day]})["cases_dates"] == ()
    assert filters_from_query({"from": ["2026-11-01"], "to": ["2026-11-02"]})["cases_dates"]


@pytest.fixture
def hostile_db(env_db):
    db = env_db
    request = input_needed("c-year0", "r-year0", 1000)
    request["data"]["inputRequestedAt"] = -62135596800001
    store(db, request)
    store(db, input_needed("c-late", "r-late", 2000))
    store(db, webhook("c-created", "case.completed", 3000, createdAt=253402300800000, result={}))
    store(db, webhook("c-stamp", "case.completed", 9999999999999999, timestamp=9999999999999999))
    store(db, input_needed("c-stamp2", "r-stamp2", 9999999999999999))
    return db


PAGES = [
    ("inbox", None, {}),
    ("cases", "app_pages/cases.py", {}),
    ("cases from 9999", "app_pages/cases.py", {"from": "9999-12-31"}),
    ("timeline year 0", "app_pages/case.py", {"case": "c-year0"}),
    ("timeline created", "app_pages/case.py", {"case": "c-created"}),
    ("timeline stamp", "app_pages/case.py", {"case": "c-stamp"}),
    ("timeline stamp2", "app_pages/case.py", {"case": "c-stamp2"}),
    ("export", "app_pages/export.py", {}),
    ("deliveries", "app_pages/deliveries.py", {}),
    ("audit", "app_pages/audit.py", {}),
    ("health", "app_pages/health.py", {}),
]


@pytest.mark.parametrize("name, page, query", PAGES, ids=[p[0] for p in PAGES])
def test_no_page_errors_on_times_no_calendar_holds(hostile_db, name, page, query):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["operator_name"] = "Avery"
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
    assert not at.exception, (name, at.exception)


def test_the_csv_export_takes_them_too(hostile_db):
    from offload_console.csv_export import csv_bytes
    from storage.case_filter import CaseFilter

    exported = csv_bytes(hostile_db, CaseFilter()).decode()
    assert "c-created" in exported and "c-stamp" in exported


@pytest.mark.parametrize("asked", [-1, 0, -62135596800001, 253402300800000])
def test_a_question_asked_at_no_time_is_timed_from_its_event(env_db, asked):
    """Issue 34, item 6 (failed on the main before it: ``inputRequestedAt=-1`` read "overdue
    by 20791 days")."""
    from storage import now_ms
    from storage.inbox import DEFAULT_ANSWER_WITHIN_MS, pending_requests

    now = now_ms()
    request = input_needed("c-never", "r-never", now)
    request["data"]["inputRequestedAt"] = asked
    store(env_db, request)
    assert env_db["input_requests"].get("r-never")["requested_at"] == now
    [row] = pending_requests(env_db)
    assert row["due_at"] == now + DEFAULT_ANSWER_WITHIN_MS
