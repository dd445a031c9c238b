"""Recording polls: news becomes a poll event; stale or repeated polls record nothing."""

import pytest

from offload_client import CaseState
from storage.cases import cases_to_poll
from storage.cases import record_poll as record_state
from storage.events import Event, record_event
from tests.helpers import input_needed, store, wait_until


def apply_webhook(db, envelope):
    store(db, envelope)


def record_poll(db, known, data, fetched_at=None):
    """What a GET of ``data`` records (the client parses it into a CaseState first)."""
    return record_state(db, known, CaseState.from_data(data), fetched_at)


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


def _running(db, case_id: str, at: int) -> None:
    from tests.helpers import webhook

    store(db, webhook(case_id, "case.progress", at, status="RUNNING"))
    store(db, input_needed(case_id, f"old-{case_id}", at))


def test_poll_with_a_lone_surrogate_is_stored_and_one_bad_case_never_stops_the_pass(
    db, monkeypatch
):
    """Issue 13, defect 2: text from GET /cases/{id} is made storable where it comes in, and
    a case whose poll cannot be recorded is logged and counted while the pass goes on."""
    import sys

    import httpx

    import reconciler  # noqa: F401 - loads reconciler.sync (the package exports its function)

    sync_module = sys.modules["reconciler.sync"]
    from offload_client import OffloadClient

    for case_id in ("c-surrogate", "c-broken", "c-fine"):
        _running(db, case_id, 100)
    body = (
        '{"ok": true, "data": {"caseId": "%s", "status": "INPUT_NEEDED", "updatedAt": 500,'
        ' "inputRequest": {"id": "new-%s", "question": "Which entity\\ud800?",'
        ' "status": "PENDING", "requestedAt": 500}}}'
    )

    def offload(request):
        case_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(
            200,
            content=(body % (case_id, case_id)).encode(),
            headers={"content-type": "application/json"},
        )

    client = OffloadClient("http://offload.test", "k", transport=httpx.MockTransport(offload))
    real = sync_module.record_poll

    def fragile(db, row, data, fetched_at=None):
        if row["case_id"] == "c-broken":
            raise RuntimeError("a bug in one case")
        return real(db, row, data, fetched_at)

    monkeypatch.setattr(sync_module, "record_poll", fragile)
    report = sync_module.sync(db, client)
    assert report.polled == 3 and report.changed == 2
    assert len(report.errors) == 1 and "c-broken" in report.errors[0]
    question = db["input_requests"].get("new-c-surrogate")
    assert question["status"] == "PENDING" and question["question"] == "Which entity\ufffd?"
    assert db["input_requests"].get("new-c-fine")["status"] == "PENDING"
    run = db.execute("SELECT errors FROM reconciler_runs ORDER BY id DESC").fetchone()
    assert run[0] == 1


def test_poll_after_the_last_event_is_the_truth_when_offloads_clock_stepped_back(db):
    """Issue 13, defect 9: Offload's clock ran ahead (question r1 at 2000), then was corrected
    (the real next question r2 at 1500). The webhook of r2 loses on updatedAt; a poll sent
    after both were stored shows r2: the projection follows it."""
    store(db, input_needed("c1", "r1", 2000, "Stale question?"), received_at=10)
    store(db, input_needed("c1", "r2", 1500, "The real question?"), received_at=20)
    statuses = {r["input_request_id"]: r["status"] for r in db["input_requests"].rows}
    assert statuses == {"r1": "PENDING", "r2": "SUPERSEDED"}  # what the clock step did
    current = {
        "caseId": "c1",
        "status": "INPUT_NEEDED",
        "updatedAt": 1500,
        "inputRequest": {
            "id": "r2",
            "question": "The real question?",
            "status": "PENDING",
            "requestedAt": 1500,
        },
    }
    # A GET sent before the last event was stored proves nothing: not recorded.
    assert record_poll(db, known(db, "c1"), current, fetched_at=5) is False
    assert record_poll(db, known(db, "c1"), current, fetched_at=10**13) is True
    statuses = {r["input_request_id"]: r["status"] for r in db["input_requests"].rows}
    assert statuses == {"r1": "SUPERSEDED", "r2": "PENDING"}
    assert db["cases"].get("c1")["input_request_id"] == "r2"
    # Polling again with the same view changes nothing more.
    assert record_poll(db, known(db, "c1"), current, fetched_at=10**13 + 1) is False


def test_poll_never_undoes_a_terminal_state(db):
    store(db, input_needed("c1", "r1", 1000), received_at=10)
    from tests.helpers import webhook

    store(db, webhook("c1", "case.completed", 2000), received_at=20)
    from storage.cases import poll_target

    running = {"caseId": "c1", "status": "RUNNING", "updatedAt": 1500}
    assert record_poll(db, poll_target(db, "c1"), running, fetched_at=10**13) is False
    assert db["cases"].get("c1")["status"] == "COMPLETED"


@pytest.mark.sqlite_only  # SQLite's planner statistics (PostgreSQL's autovacuum keeps its own)
def test_a_reconciler_pass_gives_the_planner_statistics_for_the_overdue_count(tmp_path):
    """Without statistics SQLite looks each waiting question's case up on the primary key's
    index; with them, on the narrow one that holds every column the overdue count reads."""
    import asyncio
    import threading

    import httpx

    import storage
    from offload_client import OffloadClient
    from reconciler.loop import reconcile_forever

    path = str(tmp_path / "console.db")
    db = storage.open_db(path)
    for n in range(8):
        store(db, input_needed(f"c{n}", f"r{n}", 1_000 + n))
    db.execute("DELETE FROM sqlite_stat1")
    db.conn.commit()
    db.conn.close()

    def plan() -> str:
        db = storage.open_db(path)
        try:
            sql = (
                "EXPLAIN QUERY PLAN SELECT count(*) FROM input_requests r JOIN cases c"
                " ON c.case_id = r.case_id WHERE r.status = 'PENDING'"
                " AND r.requested_at + coalesce(c.answer_within_ms, 1) <= 2"
            )
            return " / ".join(row[3] for row in db.execute(sql))
        finally:
            db.conn.close()

    assert "COVERING INDEX cases_answer_within" not in plan()

    def offline(request):
        raise httpx.ConnectError("Offload is down", request=request)

    def client():
        return OffloadClient("http://offload.test", "k", transport=httpx.MockTransport(offline))

    async def one_pass():
        task = asyncio.create_task(reconcile_forever(lambda: storage.open_db(path), client, 0))
        try:
            await asyncio.to_thread(
                lambda: wait_until(lambda: "cases_answer_within" in plan(), 30, message="stats")
            )
        finally:
            task.cancel()

    # A loop of its own, in a thread: the suite's browser tests may leave one in this thread.
    runner = threading.Thread(target=asyncio.run, args=(one_pass(),))
    runner.start()
    runner.join()
    assert "COVERING INDEX cases_answer_within" in plan()
