"""Answering: one POST /input per question, whatever two operators do at once."""

import threading

import httpx
import pytest

import storage
from offload_client import OffloadClient
from offload_console.answers import send_answer
from tests.helpers import input_needed, store, wait_until


def seed(db, case_id="c1", request_id="r1"):
    store(db, input_needed(case_id, request_id, 1000))


class Offload:
    """A fake Offload behind httpx.MockTransport that counts POST /input."""

    def __init__(self, post_status=202, post_error=None, pending_after=False, on_post=None):
        self.posts = 0
        self.lock = threading.Lock()
        self.on_post = on_post  # called while the POST is being answered (a slow Offload)
        self.post_status = post_status
        self.post_error = post_error
        self.pending_after = pending_after

    def __call__(self, request):
        if request.method == "POST":
            with self.lock:
                self.posts += 1
            if self.on_post:
                self.on_post()
            if self.post_error:
                raise self.post_error("boom", request=request)
            if self.post_status == 202:
                return httpx.Response(
                    202,
                    json={
                        "ok": True,
                        "data": {"caseId": "c1", "inputRequestId": "r1", "accepted": True},
                    },
                )
            return httpx.Response(
                self.post_status,
                json={
                    "ok": False,
                    "error": {"code": "INPUT_REQUEST_NOT_PENDING", "message": "not pending"},
                },
            )
        status = "PENDING" if self.pending_after else "RESOLVED"
        return httpx.Response(
            200,
            json={
                "ok": True,
                "data": {
                    "caseId": "c1",
                    "status": "INPUT_NEEDED",
                    "updatedAt": 2000,
                    "inputRequest": {
                        "id": "r1",
                        "question": "Accept?",
                        "status": status,
                        "requestedAt": 1000,
                    },
                },
            },
        )

    def client(self):
        return OffloadClient(
            "https://offload.example",
            "k",
            transport=httpx.MockTransport(self),
            sleep=lambda s: None,
        )


@pytest.mark.parametrize("round_", range(10))
def test_two_operators_at_once_make_one_post(db_path, round_):
    seed(storage.open_db(db_path))
    offload = Offload()
    barrier = threading.Barrier(2)
    outcomes = {}

    def operator(name):
        db = storage.open_db(db_path)
        client = offload.client()
        barrier.wait()
        outcomes[name] = send_answer(db, client, "r1", name, f"answer from {name}")

    threads = [threading.Thread(target=operator, args=(n,)) for n in ("Avery", "Blake")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert offload.posts == 1
    kinds = sorted(o.kind for o in outcomes.values())
    assert kinds == ["sent", "taken"]
    row = storage.open_db(db_path)["input_requests"].get("r1")
    winner = next(name for name, o in outcomes.items() if o.ok)
    assert (row["status"], row["answered_by"]) == ("ANSWERED", winner)


def test_second_click_after_success_sends_nothing(db):
    seed(db)
    offload = Offload()
    client = offload.client()
    assert send_answer(db, client, "r1", "Avery", "yes").ok
    again = send_answer(db, client, "r1", "Avery", "yes")
    assert (again.ok, again.kind, offload.posts) == (False, "taken", 1)
    assert "Already answered by Avery" in again.message
    from storage.audit import list_audit

    audited = [(r["operator"], r["action"], r["case_id"]) for r in reversed(list_audit(db))]
    assert audited == [("Avery", "answer.sent", "c1"), ("Avery", "answer.not_sent", "c1")]


def test_empty_answer_is_refused_without_a_call(db):
    seed(db)
    offload = Offload()
    outcome = send_answer(db, offload.client(), "r1", "Avery", "   ")
    assert outcome.kind == "empty" and offload.posts == 0


def test_unknown_outcome_settled_as_sent_when_offload_shows_it_resolved(db):
    seed(db)
    offload = Offload(post_error=httpx.ReadTimeout)
    outcome = send_answer(db, offload.client(), "r1", "Avery", "yes")
    assert outcome.ok and "confirmed" in outcome.message
    assert db["input_requests"].get("r1")["status"] == "ANSWERED"


def test_unknown_outcome_still_pending_keeps_text_and_releases_claim(db):
    seed(db)
    offload = Offload(post_error=httpx.ReadTimeout, pending_after=True)
    outcome = send_answer(db, offload.client(), "r1", "Avery", "yes")
    assert (outcome.ok, outcome.kind, outcome.keep_text) == (False, "unknown", True)
    row = db["input_requests"].get("r1")
    assert row["status"] == "PENDING" and row["claimed_by"] is None


def test_409_is_explained_in_plain_words(db):
    seed(db)
    outcome = send_answer(db, Offload(post_status=409).client(), "r1", "Avery", "yes")
    assert outcome.kind == "conflict"
    assert "already answered" in outcome.message and "INPUT_REQUEST_NOT_PENDING" in outcome.message
    assert db["input_requests"].get("r1")["status"] == "CLOSED"  # refreshed from GET


def test_loser_is_told_who_answered_when_the_case_moved_on_first(db):
    """The winner's answer went out and Offload's next webhook closed the question before the
    winner recorded it: the loser is told who answered, not only that it is closed."""
    from storage.inbox import claim_request

    seed(db)
    assert claim_request(db, "r1", "Blake", "blakes-tab").claimed
    with db.atomic():
        db.execute("UPDATE input_requests SET status = 'CLOSED' WHERE input_request_id = 'r1'")
    offload = Offload()
    outcome = send_answer(db, offload.client(), "r1", "Avery", "yes", session="averys-tab")
    assert not outcome.ok and offload.posts == 0
    assert outcome.message.startswith("Blake answered this question just now")


def test_a_second_click_while_offload_is_slow_sends_nothing_and_reports_the_first(
    db_path, monkeypatch
):
    """Issue 23, defect 1 (fails on the main before it: two POSTs, 202 then 409). Streamlit
    starts a second run of the tab's callback while the first waits on a slow POST; both hold
    the tab's claim. The claim says a send is in flight: the second waits and reports."""
    from offload_console import answers

    seed(storage.open_db(db_path))
    slow, waiting = threading.Event(), threading.Event()
    offload = Offload(on_post=lambda: slow.wait(30))
    real_sleep = answers.time.sleep

    def noting_sleep(seconds):
        waiting.set()  # the second click is waiting on the first
        real_sleep(seconds)

    monkeypatch.setattr(answers.time, "sleep", noting_sleep)
    outcomes = {}

    def click(n):
        db = storage.open_db(db_path)
        outcomes[n] = send_answer(db, offload.client(), "r1", "Avery", "yes", session="tab")

    first = threading.Thread(target=click, args=(1,))
    first.start()
    wait_until(lambda: offload.posts == 1, message="the first POST under way")
    second = threading.Thread(target=click, args=(2,))
    second.start()
    wait_until(lambda: waiting.is_set() or offload.posts > 1, message="the second click acting")
    slow.set()
    first.join(30)
    second.join(30)
    assert offload.posts == 1
    assert [outcomes[n].kind for n in (1, 2)] == ["sent", "sent"]
    assert "second click sent nothing" in outcomes[2].message
    row = storage.open_db(db_path)["input_requests"].get("r1")
    assert (row["status"], row["answered_by"], row["send_state"]) == ("ANSWERED", "Avery", None)


def hold_the_write_lock(db_path):
    """Another writer takes the database's write lock (returns its connection: rollback to
    let go)."""
    import sqlite3

    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_an_accepted_answer_is_recorded_even_when_the_database_is_busy_after_the_post(
    db_path, monkeypatch
):
    """Issue 23, defect 2 (fails on the main before it: the error escaped and nothing was
    recorded). Offload answers 202, then another writer holds the database past every retry:
    the operator is told the answer went to Offload, and the reconciler records it (with its
    audit entry) from the answer written down before the POST."""
    from offload_console import answers
    from reconciler.answers import settle_unsettled_sends
    from storage.audit import list_audit

    seed(storage.open_db(db_path))
    monkeypatch.setattr(answers, "RECORD_RETRY_S", (0.01, 0.01))
    holder = {}
    offload = Offload(on_post=lambda: holder.setdefault("conn", hold_the_write_lock(db_path)))
    db = storage.open_db(db_path, busy_timeout=50)
    outcome = send_answer(db, offload.client(), "r1", "Avery", "yes, Monday", session="tab")
    assert (outcome.ok, outcome.kind, outcome.keep_text) == (True, "sent_unrecorded", False)
    assert "Offload accepted your answer" in outcome.message
    holder["conn"].rollback()
    row = db["input_requests"].get("r1")
    assert (row["answered_at"], row["send_state"], row["send_text"]) == (
        None,
        "SENDING",
        "yes, Monday",
    )
    # Too fresh to settle: a POST may still be under way.
    assert settle_unsettled_sends(db, offload.client()) == []
    later = row["send_started_at"] + 61_000
    assert settle_unsettled_sends(db, offload.client(), now=later) == [
        "r1: recorded as answered by Avery"
    ]
    row = db["input_requests"].get("r1")
    assert (row["status"], row["answered_by"], row["answer"]) == (
        "ANSWERED",
        "Avery",
        "yes, Monday",
    )
    [entry] = list_audit(db, action="answer.sent")
    assert entry["operator"] == "Avery" and '"reconciled"' in entry["detail"]
    assert offload.posts == 1
    assert settle_unsettled_sends(db, offload.client(), now=later) == []  # once


def test_an_unsettled_send_offload_never_got_frees_the_question(db):
    """The sender was killed mid-POST and Offload still waits on the question: the reconciler
    frees it for another try instead of recording an answer that never arrived."""
    from reconciler.answers import settle_unsettled_sends
    from storage.inbox import claim_request

    seed(db)
    assert claim_request(db, "r1", "Avery", "tab", sending="yes").claimed
    started = db["input_requests"].get("r1")["send_started_at"]
    offload = Offload(pending_after=True)
    assert settle_unsettled_sends(db, offload.client(), now=started + 61_000) == [
        "r1: never reached Offload; the question is free again"
    ]
    row = db["input_requests"].get("r1")
    assert (row["status"], row["claimed_by"], row["send_state"], row["answered_at"]) == (
        "PENDING",
        None,
        None,
        None,
    )


def test_a_busy_database_before_the_post_sends_nothing_and_says_so(db_path):
    seed(storage.open_db(db_path))
    offload = Offload()
    holder = hold_the_write_lock(db_path)
    try:
        db = storage.open_db(db_path, busy_timeout=50)
        outcome = send_answer(db, offload.client(), "r1", "Avery", "yes")
    finally:
        holder.rollback()
    assert (outcome.ok, outcome.kind, outcome.keep_text, offload.posts) == (False, "busy", True, 0)


def test_a_bulk_answer_goes_to_exactly_the_picked_questions_still_waiting(db):
    """The Inbox's bulk send, without Streamlit: one POST per picked question still waiting;
    a picked question answered since is not sent and says by whom."""
    from offload_console.answers import send_to_many
    from storage.inbox import record_answer

    seed(db, "c1", "r1")
    seed(db, "c2", "r2")
    record_answer(db, "r2", "Blake", "Blake's answer")
    offload = Offload()
    results = send_to_many(
        db, offload.client(), ["r1", "r2", "r-gone"], "Avery", "yes", session="t"
    )
    assert [(r.request_id, r.sent) for r in results] == [
        ("r1", True),
        ("r2", False),
        ("r-gone", False),
    ]
    assert results[1].message == "Not sent: already answered by Blake."
    assert results[2].message == "Not sent: no longer in the console."
    assert offload.posts == 1
