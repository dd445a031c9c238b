"""Recording polls: news becomes a poll event; stale or repeated polls record nothing."""

from storage.cases import cases_to_poll, record_poll
from storage.events import Event, record_event
from tests.helpers import input_needed, store


def apply_webhook(db, envelope):
    store(db, envelope)


def known(db, case_id):
    return next(r for r in cases_to_poll(db) if r["case_id"] == case_id)


def test_poll_older_than_webhook_state_records_nothing(db):
    apply_webhook(db, input_needed("c1", "r1", 200))
    stale = {"caseId": "c1", "status": "RUNNING", "updatedAt": 150, "nextActionAt": 999}
    assert record_poll(db, known(db, "c1"), stale) is False
    row = db["cases"].get("c1")
    assert row["status"] == "INPUT_NEEDED" and row["next_action_at"] == 999
    assert db["events"].count == 1


def test_poll_of_same_state_as_webhook_records_nothing(db):
    apply_webhook(db, input_needed("c1", "r1", 200))
    same = {
        "caseId": "c1",
        "status": "INPUT_NEEDED",
        "updatedAt": 200,
        "inputRequest": {
            "id": "r1",
            "question": "Accept?",
            "status": "PENDING",
            "requestedAt": 200,
        },
        "goal": {"objective": "W-9"},
        "counterparty": {"name": "Maya", "address": "a@b"},
    }
    assert record_poll(db, known(db, "c1"), same) is False
    row = db["cases"].get("c1")
    assert row["objective"] == "W-9" and row["counterparty_name"] == "Maya"  # filled in
    assert db["events"].count == 1


def test_poll_revealing_a_question_adds_it_pending(db):
    with db.atomic():
        record_event(
            db,
            Event(
                "console_created_c1",
                "case.created",
                1,
                "c1",
                {"caseId": "c1", "status": "CREATED"},
                "{}",
                "console",
                0,
            ),
            1,
        )
    news = {
        "caseId": "c1",
        "status": "INPUT_NEEDED",
        "updatedAt": 300,
        "inputRequest": {
            "id": "r9",
            "question": "Which entity?",
            "status": "PENDING",
            "requestedAt": 290,
        },
    }
    assert record_poll(db, known(db, "c1"), news) is True
    assert db["input_requests"].get("r9")["status"] == "PENDING"
    assert db["events"].get("poll_c1_300")["source"] == "poll"


def test_terminal_cases_are_polled_once_after_they_change(db):
    from tests.helpers import webhook

    apply_webhook(db, webhook("c2", "case.completed", 100, resultStatus="goal_achieved"))
    db.execute("UPDATE cases SET last_event_at = ?", [__import__("storage").now_ms()])
    assert [r["case_id"] for r in cases_to_poll(db)] == ["c2"]
    record_poll(db, known(db, "c2"), {"caseId": "c2", "status": "COMPLETED", "updatedAt": 100})
    assert cases_to_poll(db) == []
