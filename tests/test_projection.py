"""Applying events to ``cases`` and ``input_requests``: the same final state in any order."""

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.events import parse_envelope, record_event, record_events
from storage.submissions import create_submission, mark_outcome
from tests.helpers import input_needed, store, webhook


def apply(db, envelope, source="webhook", received_at=1):
    return store(db, envelope, source=source, received_at=received_at)


def case_row(db, case_id):
    return db.execute("SELECT * FROM cases WHERE case_id = ?", [case_id]).fetchone()


def requests(db, case_id):
    return dict(
        db.execute(
            "SELECT input_request_id, status FROM input_requests WHERE case_id = ?", [case_id]
        ).fetchall()
    )


FIXTURE_PER_EXAMPLE = [HealthCheck.function_scoped_fixture]  # blank_db() makes one each


def snapshot(db):
    cases = [
        {k: v for k, v in row.items() if k not in ("first_seen_at", "last_event_at")}
        for row in db.query("SELECT * FROM cases ORDER BY case_id")
    ]
    reqs = list(db.query("SELECT * FROM input_requests ORDER BY input_request_id"))
    return cases, reqs


def test_event_for_unknown_case_creates_it(db):
    assert apply(
        db,
        webhook(
            "c1",
            "case.completed",
            100,
            clientReferenceId="v1",
            resultStatus="goal_achieved",
            result={"ok": True},
        ),
    )
    row = db["cases"].get("c1")
    assert row["status"] == "COMPLETED"
    assert row["client_reference_id"] == "v1"
    assert json.loads(row["result"]) == {"ok": True}


def test_duplicate_event_id_is_stored_once_and_applied_once(db):
    env = input_needed("c1", "r1", 100)
    assert apply(db, env) is True
    assert apply(db, env) is False
    assert db["events"].count == 1
    assert requests(db, "c1") == {"r1": "PENDING"}


def test_older_input_needed_after_completed_does_not_reopen(db):
    apply(db, webhook("c1", "case.completed", 200, resultStatus="goal_achieved", result={}))
    apply(db, input_needed("c1", "r1", 100))
    assert db["cases"].get("c1")["status"] == "COMPLETED"
    assert requests(db, "c1") == {"r1": "CLOSED"}


def test_newer_input_request_supersedes_older_pending_one(db):
    apply(db, input_needed("c1", "r2", 200, "second?"))
    apply(db, input_needed("c1", "r1", 100, "first?"))
    assert requests(db, "c1") == {"r1": "SUPERSEDED", "r2": "PENDING"}
    assert db["cases"].get("c1")["input_request_id"] == "r2"


def test_terminal_state_is_not_left_for_a_newer_non_terminal_event(db):
    apply(db, webhook("c1", "case.failed", 100, resultStatus="BOUNCED"))
    apply(db, input_needed("c1", "r1", 300))
    assert db["cases"].get("c1")["status"] == "FAILED"
    assert requests(db, "c1") == {"r1": "CLOSED"}


def test_unknown_event_type_is_stored_without_projection(db):
    assert apply(db, webhook("c9", "case.escalated", 100))
    assert db["events"].count == 1
    assert db["cases"].count == 0


def test_poll_repair_that_shows_request_resolved_closes_it(db):
    apply(db, input_needed("c1", "r1", 100))
    poll = {
        "event_id": "poll_c1_150",
        "event_type": "case.polled",
        "timestamp": 150,
        "data": {
            "caseId": "c1",
            "status": "INPUT_NEEDED",
            "updatedAt": 150,
            "inputRequest": {"id": "r1", "question": "Accept?", "status": "RESOLVED"},
        },
    }
    apply(db, poll, source="poll")
    assert requests(db, "c1") == {"r1": "CLOSED"}


def test_webhook_wins_tie_with_poll_of_same_update(db):
    poll = {
        "event_id": "poll_c1_200",
        "event_type": "case.polled",
        "timestamp": 200,
        "data": {"caseId": "c1", "status": "FAILED", "resultStatus": "BOUNCED"},
    }
    apply(db, poll, source="poll")
    apply(
        db, webhook("c1", "case.failed", 200, resultStatus="BOUNCED", failureReason="mailbox gone")
    )
    row = db["cases"].get("c1")
    assert row["failure_reason"] == "mailbox gone"
    assert row["state_event_id"] == "evt_c1_case_failed_200"


def test_projection_error_keeps_the_event(db, monkeypatch):
    import storage.events as events

    def boom(*a, **k):
        raise RuntimeError("bug")

    monkeypatch.setattr(events, "_project", boom)
    assert apply(db, input_needed("c1", "r1", 100))
    row = db["events"].get("evt_c1_case_input_needed_100")
    assert row["projection_error"] == "RuntimeError: bug"


# A case's life, as webhooks and polls: every ordering must end in the same rows.
LIFE = [
    input_needed("c1", "r1", 100, "first?"),
    input_needed("c1", "r2", 200, "second?"),
    webhook(
        "c1",
        "case.completed",
        300,
        attemptCount=3,
        resultStatus="goal_achieved",
        result={"signedW9Received": True},
        clientReferenceId="v1",
        metadata={"k": "v"},
    ),
    input_needed("c2", "r3", 150, "other case?"),
    webhook("c3", "case.failed", 400, resultStatus="max_retries", failureReason=None),
    input_needed("c3", "r4", 120),
    webhook("c4", "case.unheard_of", 50),
]


def test_every_permutation_of_a_small_life_gives_same_state(blank_db):
    reference = None
    for order in itertools.permutations(LIFE[:5]):
        db = blank_db()
        for env in order:
            apply(db, env)
        state = snapshot(db)
        reference = reference or state
        assert state == reference
        db.conn.close()


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_PER_EXAMPLE)
@given(st.permutations(LIFE + LIFE[:3]))
def test_any_order_with_duplicates_gives_same_state(blank_db, order):
    db = blank_db()
    for env in order:
        apply(db, env)
    ref = blank_db(1)
    for env in LIFE:
        apply(ref, env)
    assert snapshot(db) == snapshot(ref)
    cases = {row["case_id"]: row["status"] for row in db.query("select * from cases")}
    assert cases == {"c1": "COMPLETED", "c2": "INPUT_NEEDED", "c3": "FAILED"}
    assert requests(db, "c1") == {"r1": "SUPERSEDED", "r2": "CLOSED"}
    assert requests(db, "c2") == {"r3": "PENDING"}
    db.conn.close()
    ref.conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_PER_EXAMPLE)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["case.input_needed", "case.completed", "case.failed"]),
            st.integers(min_value=1, max_value=50),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda t: t[1],
    ),
    st.randoms(use_true_random=False),
)
def test_generated_lives_are_order_independent(blank_db, steps, rnd):
    envelopes = []
    for event_type, at in steps:
        if event_type == "case.input_needed":
            envelopes.append(input_needed("cx", f"r{at}", at))
        else:
            envelopes.append(webhook("cx", event_type, at, resultStatus="x", result={"n": at}))
    shuffled = envelopes[:]
    rnd.shuffle(shuffled)
    a, b = blank_db(), blank_db(1)
    for env in envelopes:
        apply(a, env)
    for env in shuffled:
        apply(b, env)
    assert snapshot(a) == snapshot(b)
    pending = [r for r, s in requests(a, "cx").items() if s == "PENDING"]
    assert len(pending) <= 1
    a.conn.close()
    b.conn.close()


@pytest.mark.parametrize(
    "envelope, problem",
    [
        ([], "body must be a JSON object"),
        ({"event_type": "x", "timestamp": 1, "data": {"caseId": "c"}}, "event_id"),
        (
            {"event_id": "e", "event_type": "x", "timestamp": "1", "data": {"caseId": "c"}},
            "timestamp",
        ),
        (
            {"event_id": "e", "event_type": "x", "timestamp": True, "data": {"caseId": "c"}},
            "timestamp",
        ),
        (
            {"event_id": "e", "event_type": "x", "timestamp": 1, "data": []},
            "data must be an object",
        ),
        (
            {"event_id": "e", "event_type": "x", "timestamp": 1, "data": {"caseId": 5}},
            "data.caseId",
        ),
        ({"event_id": "", "event_type": "x", "timestamp": 1, "data": {"caseId": "c"}}, "event_id"),
    ],
)
def test_parse_envelope_rejects_wrong_shapes(envelope, problem):
    from storage.events import InvalidEvent

    with pytest.raises(InvalidEvent, match=problem):
        parse_envelope(envelope, "{}")


def _events(envelopes):
    return [parse_envelope(env, json.dumps(env)) for env in envelopes]


many_cases = st.lists(
    st.tuples(
        st.sampled_from(["case.completed", "case.failed", "case.input_needed", "case.weird"]),
        st.integers(min_value=0, max_value=6),  # case
        st.integers(min_value=1, max_value=40),  # updatedAt
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE_PER_EXAMPLE)
@given(many_cases, st.data())
def test_a_batch_ends_where_one_by_one_does(blank_db, engine, steps, data):
    envelopes = []
    for kind, case, at in steps:
        if kind == "case.input_needed":
            envelopes.append(input_needed(f"c{case}", f"r{case}-{at}", at))
        elif case == 5:  # a case the console launched: its submission gets settled
            envelopes.append(webhook(f"c{case}", kind, at, metadata={"consoleSubmissionId": "s"}))
        else:
            envelopes.append(webhook(f"c{case}", kind, at, clientReferenceId=f"v{case}"))
    envelopes += data.draw(st.lists(st.sampled_from(envelopes), max_size=5))  # duplicates
    events = _events(envelopes)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=4)))
    one, batched = blank_db(), blank_db(1)
    for db in (one, batched):
        create_submission(db, "s", {"goal": {}}, None)
        mark_outcome(db, "s", "UNKNOWN")
    with one.atomic():
        expected = [record_event(one, event, 7) for event in events]
    flags = []
    for start, end in zip([0, *cuts], [*cuts, len(events)], strict=True):
        with batched.atomic():
            flags += record_events(batched, [(event, 7) for event in events[start:end]])
    assert flags == expected
    assert snapshot(batched) == snapshot(one)
    counts = "SELECT status, cases FROM case_status_counts WHERE cases != 0 ORDER BY status"
    assert batched.execute(counts).fetchall() == one.execute(counts).fetchall()
    submission = "SELECT status, case_id FROM submissions"
    assert batched.execute(submission).fetchall() == one.execute(submission).fetchall()
    if engine == "sqlite":
        pending = "SELECT count(*) FROM search_pending"
        assert batched.execute(pending).fetchone() == one.execute(pending).fetchone()
    one.conn.close()
    batched.conn.close()


def test_a_failing_projection_in_a_batch_keeps_every_event_and_the_others_applied(db, monkeypatch):
    import storage.events as events_module

    real = events_module._new_case_row

    def broken(event, received_at):
        if event.case_id == "bad":
            raise ValueError("boom")
        return real(event, received_at)

    monkeypatch.setattr(events_module, "_new_case_row", broken)
    batch = _events([webhook("good", "case.completed", 5), webhook("bad", "case.completed", 6)])
    with db.atomic():
        assert record_events(db, [(event, 1) for event in batch]) == [True, True]
    assert db["events"].count == 2
    assert db["cases"].get("good")["status"] == "COMPLETED"
    assert [r["case_id"] for r in db.query("SELECT case_id FROM cases")] == ["good"]
    error = db["events"].get(batch[1].event_id)["projection_error"]
    assert error == "ValueError: boom"
