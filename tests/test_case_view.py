"""The Case timeline page's logic, tested without Streamlit (dashboard/case_view.py and the
attachments query)."""

import json

from dashboard.case_view import (
    TIMELINE_WIDTHS,
    attachment_line,
    audit_rows,
    case_facts,
    header_figures,
    result_check,
    result_rows,
    timeline_rows,
)
from storage.page_queries import case_attachments, case_events, get_case
from tests.helpers import input_needed, store, webhook

SCHEMA = {
    "type": "object",
    "properties": {"signedW9Received": {"type": "boolean"}, "taxId": {"type": "string"}},
    "required": ["signedW9Received", "taxId"],
}


def completed(db, case_id="c1", result=None, schema=SCHEMA, **data):
    store(db, input_needed(case_id, "r1", 1_000))
    store(
        db,
        webhook(
            case_id,
            "case.completed",
            61_000,
            result=result,
            resultSchema=schema,
            resultStatus="goal_achieved",
            attemptCount=2,
            maxAttempts=3,
            counterparty={"name": "Maya Chen", "address": "ap@northstar.example"},
            **data,
        ),
    )
    return get_case(db, case_id)


def test_header_figures_are_the_consoles_own_words(db):
    case = completed(db, result={"signedW9Received": True, "taxId": "12"})
    assert header_figures(case) == [
        ("Status", "completed"),
        ("Result", "yes"),
        ("Messages sent", "2 of 4"),
        ("Attempts left", "none"),
    ]
    store(db, input_needed("c2", "r2", 5))
    open_case = get_case(db, "c2")
    assert dict(header_figures(open_case))["Attempts left"] == "?"  # maxAttempts unknown
    assert dict(header_figures(open_case))["Result"] == "—"


def test_case_facts_name_the_counterparty_and_who_sent_it(db):
    case = completed(db, result={"signedW9Received": True, "taxId": "12"})
    facts = case_facts(case, {"created_by": "Avery", "created_at": 0}, "UTC")
    assert facts["Counterparty"] == "Maya Chen <ap@northstar.example>"
    assert facts["Last polled"] == "never"
    assert facts["Next follow-up"] == "none scheduled"
    assert facts["Sent by"].startswith("Avery at 1970-01-01")
    assert "Sent by" not in case_facts(case, None, "UTC")


def test_result_rows_flatten_nested_fields_and_keep_values_as_text(db):
    case = completed(db, result={"vendor": {"tin": "12-3", "ok": True}, "files": ["a", "b"]})
    assert result_rows(case) == [  # stored with sorted keys
        ("files", '["a", "b"]'),
        ("vendor.ok", "true"),
        ("vendor.tin", "12-3"),
    ]
    store(db, input_needed("c2", "r2", 5))
    assert result_rows(get_case(db, "c2")) is None


def test_result_check_says_whether_the_result_matches_its_schema(db):
    good = completed(db, "good", result={"signedW9Received": True, "taxId": "12"})
    assert result_check(good) == ([], "Matches the case's result schema.")
    bad = completed(db, "bad", result={"signedW9Received": "yes"})
    problems, verdict = result_check(bad)
    assert len(problems) == 2 and "(2 problems)" in verdict
    one = completed(db, "one", result={"signedW9Received": True, "taxId": 12})
    assert "(1 problem)" in result_check(one)[1]  # not "(1 problems)"
    plain = completed(db, "plain", result={"anything": 1}, schema=None)
    assert result_check(plain) == ([], None)


def test_timeline_rows_give_each_event_its_gap_and_the_counterpartys_time(db):
    completed(db, result={"signedW9Received": True, "taxId": "12"})
    rows = timeline_rows(case_events(db, "c1"), "UTC", "Asia/Tokyo")
    assert [r["after"] for r in rows] == ["", "+1 min 00 s"]
    assert rows[0]["when"] == "1970-01-01 00:00:01 UTC" and rows[0]["their time"].startswith(
        "1970-01-01 09:00:01"
    )
    assert rows[0]["what"] == "Question: Accept?" and rows[1]["via"] == "webhook · case.completed"
    # Every column has its width, and together they fit the page at 1280x800 (issue 31: "what"
    # and "via" ran past its right edge).
    assert set(TIMELINE_WIDTHS) == set(rows[0]) and sum(TIMELINE_WIDTHS.values()) <= 916


def test_attachments_come_once_each_as_first_reported(db):
    first = {"attachmentId": "a1", "name": "W-9.pdf", "type": "application/pdf", "size": 10}
    store(db, webhook("c1", "case.updated", 1, attachments=[first, "junk", {"name": "no id"}]))
    renamed = {**first, "name": "later name"}
    second = {"attachmentId": "a0", "name": None, "type": None, "size": None}
    store(db, webhook("c1", "case.completed", 2, attachments=[renamed, second]), received_at=2)
    store(db, webhook("c2", "case.completed", 2, attachments=[{"attachmentId": "x"}]))
    found = case_attachments(db, "c1")
    assert [(a["attachment_id"], a["name"]) for a in found] == [("a1", "W-9.pdf"), ("a0", None)]
    assert attachment_line(found[0]) == "W-9.pdf · application/pdf · 10 bytes"
    assert attachment_line(found[1]) == "a0 ·  · ? bytes"


def test_audit_rows_mask_secrets(db, monkeypatch):
    monkeypatch.setenv("OFFLOAD_API_KEY", "sk_live_canary_123")
    rows = audit_rows(
        [
            {
                "at": 0,
                "operator": "Avery",
                "action": "case.sent",
                "detail": json.dumps({"echo": "sk_live_canary_123"}),
            }
        ],
        "UTC",
    )
    assert "sk_live_canary_123" not in rows[0]["detail"] and "•••" in rows[0]["detail"]


def test_inbox_card_facts_and_earlier_questions_read_as_words(db):
    from dashboard.inbox_view import earlier_question_text, question_facts
    from offload_console.answers import why_not_pending
    from storage.inbox import case_questions, pending_requests

    first = input_needed("c1", "r1", 2, "First?")
    first["data"].update(
        counterparty={"name": "Maya", "address": "ap@x.example", "timezone": "Asia/Tokyo"},
        constraints=["Email only", "No legal threats"],
        maxAttempts=2,
    )
    store(db, first)
    store(db, input_needed("c1", "r2", 3, "Second?"))
    (row,) = pending_requests(db, 10, 0)
    facts = question_facts(row)
    assert facts["Counterparty"] == "Maya <ap@x.example>"
    assert facts["Constraints"] == "Email only; No legal threats"
    assert facts["Attempts"] == "1 of 3 sent, 2 left"
    assert "(Asia/Tokyo)" in facts["Their local time"]
    earlier = next(q for q in case_questions(db, "c1") if q["input_request_id"] == "r1")
    assert earlier_question_text(earlier, "UTC").splitlines()[1:] == ["Q: First?", "A: (none)"]
    assert why_not_pending(None) == "no longer in the console"
    assert why_not_pending({"answered_by": "Blake"}) == "already answered by Blake"
    assert why_not_pending({"answered_by": None}).startswith("closed")


def test_figures_and_verdicts_hold_only_the_consoles_words(db):
    """They reach markdown-rendering calls (st.metric, st.warning, st.caption): whatever
    the case holds, they are built from the console's own vocabulary."""
    hostile = "**bold** [link](javascript:alert(1)) <img src=x>"
    case = completed(
        db,
        "h1",
        result={"signedW9Received": hostile, "taxId": hostile},
        status=hostile,
    )
    case["status"] = hostile  # an open string from outside, whatever the projection kept
    for label, figure in header_figures(case):
        assert hostile not in label + figure and "*" not in figure and "<" not in figure
    problems, verdict = result_check(case)
    assert problems and hostile not in verdict and "*" not in verdict
