"""Answering: one POST /input per question, whatever two operators do at once."""

import threading

import httpx
import pytest

import storage
from offload_client import OffloadClient
from offload_console.answers import send_answer
from tests.helpers import input_needed, store


def seed(db, case_id="c1", request_id="r1"):
    store(db, input_needed(case_id, request_id, 1000))


class Offload:
    """A fake Offload behind httpx.MockTransport that counts POST /input."""

    def __init__(self, post_status=202, post_error=None, pending_after=False):
        self.posts = 0
        self.lock = threading.Lock()
        self.post_status = post_status
        self.post_error = post_error
        self.pending_after = pending_after

    def __call__(self, request):
        if request.method == "POST":
            with self.lock:
                self.posts += 1
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
    assert (outcome.ok, outcome.kind, outcome.keep_text, outcome.retry) == (
        False,
        "unknown",
        True,
        True,
    )
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
    assert claim_request(db, "r1", "Blake", "blakes-tab")["claimed"]
    with db.atomic():
        db.execute("UPDATE input_requests SET status = 'CLOSED' WHERE input_request_id = 'r1'")
    offload = Offload()
    outcome = send_answer(db, offload.client(), "r1", "Avery", "yes", session="averys-tab")
    assert not outcome.ok and offload.posts == 0
    assert outcome.message.startswith("Blake answered this question just now")
