"""Issue 33: the Reports page's figures, computed on a fixture whose answers are known (both
engines), and the page itself (the period in the URL, charts, tables, CSV downloads)."""

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

import storage
from dashboard.reports_view import (
    answer_figures,
    bounds_ms,
    grouped_figures,
    percentile,
    period_from_query,
)
from storage.inbox import Via, record_answer
from storage.reports import (
    answer_times,
    case_buckets,
    finished_cases,
    overdue_now,
    question_buckets,
)
from tests.helpers import ROOT, input_needed, store, webhook

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
MONDAY = dt.date(2026, 11, 30)
SINCE, UNTIL = bounds_ms(MONDAY, MONDAY + dt.timedelta(days=6))  # Mon 30 Nov to Sun 6 Dec
WITHIN = 4 * HOUR
# (case, question, asked, answer: (who, after)); case c0 asked the week before (out).
ASKED = [
    ("c0", "r0", SINCE - DAY, ("avery", 10 * MIN)),
    ("c1", "r1", SINCE + 1 * HOUR, ("avery", 10 * MIN)),
    ("c2", "r2", SINCE + 2 * HOUR, ("avery", 30 * MIN)),
    ("c3", "r3", SINCE + 3 * HOUR, ("blake", 5 * HOUR)),  # late: due after 4 h
    ("c4", "r4", SINCE + DAY + HOUR, ("blake", 60 * MIN)),
    ("c5", "r5", SINCE + DAY + 2 * HOUR, None),  # waiting, overdue by now
    ("c6", "r6", SINCE + 2 * DAY, None),
]


@pytest.fixture
def week(db, monkeypatch):
    import storage.inbox

    for case_id, request_id, asked, _ in ASKED:
        store(db, input_needed(case_id, request_id, asked, f"Question {request_id}?"))
    for _, request_id, asked, answer in ASKED:
        if answer:
            who, after = answer
            monkeypatch.setattr(storage.inbox, "now_ms", lambda t=asked + after: t)
            record_answer(db, request_id, who, "yes", via=Via("dashboard"))
    store(db, webhook("c1", "case.completed", SINCE + 5 * HOUR, resultStatus="goal_achieved"))
    store(db, webhook("c2", "case.completed", SINCE + 6 * HOUR, resultStatus="goal_achieved"))
    store(db, webhook("c3", "case.failed", SINCE + DAY, resultStatus="BOUNCED"))
    return db


def test_the_weeks_figures_are_what_the_fixture_says(week):
    questions = question_buckets(week, SINCE, UNTIL, DAY)
    assert questions["asked"] == {0: 3, 1: 2, 2: 1}
    assert questions["answered"] == {0: 3, 1: 1}  # r0's answer came the week before
    assert questions["waiting"] == {1: 1, 2: 1}
    assert overdue_now(week, SINCE, UNTIL, now=SINCE + 2 * DAY + HOUR, answer_within_ms=WITHIN) == 1
    times = list(answer_times(week, SINCE, UNTIL, answer_within_ms=WITHIN))
    assert sorted(round(t["seconds"]) for t in times) == [600, 1800, 3600, 18000]
    overall = answer_figures(times)
    assert overall == {
        "count": 4,
        "median_min": 45.0,
        "p90_min": 300.0,
        "longest_min": 300.0,
        "in_time_pct": 75.0,
    }
    by_operator = {r["answered_by"]: r for r in grouped_figures(times, "answered_by", "?")}
    assert by_operator["avery"]["median_min"] == 20.0 and by_operator["avery"]["count"] == 2
    assert by_operator["blake"]["in_time_pct"] == 50.0
    assert by_operator["blake"]["longest_min"] == 300.0
    launched = case_buckets(week, SINCE, UNTIL, DAY)
    assert sum(launched.values()) == 6 and launched[0] == 3  # c0 was created the week before
    finished = {
        (r["status"], r["result_status"]): r["cases"] for r in finished_cases(week, SINCE, UNTIL)
    }
    assert finished == {("COMPLETED", "goal_achieved"): 2, ("FAILED", "BOUNCED"): 1}
    weekly = question_buckets(week, SINCE, UNTIL, 7 * DAY)
    assert weekly["asked"] == {0: 6}


def test_percentiles_by_nearest_rank():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert percentile([5], 0.9) == 5
    assert answer_figures([]) == {"count": 0}


def test_the_period_comes_from_the_url_and_defaults_to_this_week():
    today = dt.date(2026, 12, 3)  # a Thursday
    assert period_from_query({}, today) == (MONDAY, today, "day")
    assert period_from_query({"from": "2026-12-06", "to": "2026-11-01", "by": "week"}, today) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 6),
        "week",
    )
    assert period_from_query({"from": "garbage", "by": "year"}, today) == (MONDAY, today, "day")


def test_the_page_shows_the_period_in_its_url(db_path, monkeypatch):
    db = storage.open_db(db_path)
    for case_id, request_id, asked, _ in ASKED:
        store(db, input_needed(case_id, request_id, asked, f"=cmd|'/C calc'!A0 {request_id}"))
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.session_state["operator_name"] = "Lead"
    at.run()
    at.switch_page("app_pages/reports.py")
    at.query_params["from"] = "2026-11-30"
    at.query_params["to"] = "2026-12-06"
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Questions asked"] == "6" and metrics["Still waiting"] == "6"
    assert at.session_state["rep_period"] == (MONDAY, dt.date(2026, 12, 6))
    at.segmented_control(key="rep_by").set_value("week").run()
    assert at.query_params["by"] == "week"
