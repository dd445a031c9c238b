"""Notifications about questions: written with the question, sent once per (question, kind,
target), retried with backoff, dropped once answered, digested, overdue, and never showing a
URL. Pure passes here (a clock passed in, a recording sender); real servers in
tests/test_notify_servers.py."""

import pytest

from offload_console.notify import (
    FIRST_RETRY_MS,
    GIVE_UP_AFTER_MS,
    RECOVER_MS,
    message,
    retry_delay_ms,
    send_due,
    switch_on,
    targets_from_urls,
)
from storage import now_ms
from storage.events import parse_window_ms
from storage.notifications import case_notifications, inbox_version, target_health
from tests.helpers import input_needed, store, webhook

HOUR = 3_600_000
URLS = ["json://127.0.0.1:9/hook?secret=abc123", "mailto://user:pw@127.0.0.1:9?to=ops@x.example"]


class Recorder:
    """A sender that records what it was asked to send and fails while ``failing`` > 0."""

    def __init__(self, failing: int = 0):
        self.sent: list[tuple[str, str, str, str | None]] = []
        self.failing = failing

    def __call__(self, target, title, body, recipient):
        if self.failing:
            self.failing -= 1
            return "HTTP 503 from the receiver"
        self.sent.append((target.target_id, title, body, recipient))
        return None


@pytest.fixture
def targets(db):
    found = targets_from_urls(URLS)
    switch_on(db, found, now=now_ms())
    return found


def run(db, targets, sender, now, **options):
    options.setdefault("answer_within_ms", 4 * HOUR)
    return send_due(
        db, targets, now=now, dashboard_url="http://console.example", send=sender, **options
    )


T0 = now_ms()  # the trigger stamps rows with the wall clock: the tests' clock starts there


def ask(db, case_id="c1", request_id="r1", at=T0, question="Accept Monday?"):
    envelope = input_needed(case_id, request_id, at, question)
    envelope["data"].update(
        clientReferenceId="vendor_2048",
        counterparty={"name": "Maya Chen", "address": "ap@northstar.example"},
        goal={"objective": "Collect a signed W-9"},
    )
    store(db, envelope)


def test_a_question_gets_one_notification_per_target_in_its_own_transaction(db, targets):
    db.conn.execute("BEGIN")
    ask(db)
    db.conn.execute("ROLLBACK")  # the question was not recorded: neither is its notification
    assert db["notifications"].count == 0
    ask(db)
    rows = list(db["notifications"].rows)
    assert sorted(r["target_id"] for r in rows) == sorted(t.target_id for t in targets)
    assert {r["kind"] for r in rows} == {"question.new"}
    ask(db)  # the same webhook again: still one per target
    assert db["notifications"].count == 2


def test_each_notification_is_sent_once_and_says_what_the_operator_needs(db, targets):
    ask(db, question="Can we send it next Monday?\n**not markdown**")
    sender = Recorder()
    counts = run(db, targets, sender, now=T0 + 31 * 60_000)
    assert counts["sent"] == 2 and len(sender.sent) == 2
    _, title, body, recipient = sender.sent[0]
    assert title == "Question waiting: vendor_2048" and recipient is None
    assert "“vendor_2048” · “Maya Chen <ap@northstar.example>” · “Collect a signed W-9”" in body
    assert "> Can we send it next Monday?\n> **not markdown**" in body  # quoted, as text
    assert "Waiting: 31 min" in body
    assert "http://console.example/?request=r1" in body  # the question itself, in the Inbox
    assert "Notification id: ntf_new_r1_t_" in body
    run(db, targets, sender, now=T0 + 32 * 60_000)
    assert len(sender.sent) == 2  # never a second time


def test_a_failing_target_is_retried_on_its_own_schedule_at_most_15_s_apart(db, targets):
    ask(db)
    json_target = next(t for t in targets if t.label.startswith("json"))
    sender = Recorder(failing=3)
    only = [json_target]
    start = now_ms() + 1
    assert run(db, only, sender, now=start)["retry"] == 1
    row = db["notifications"].get(f"ntf_new_r1_{json_target.target_id}")
    assert row["next_attempt_at"] == start + FIRST_RETRY_MS and row["attempts"] == 1
    assert run(db, only, sender, now=start + 5_000) == {
        "sent": 0,
        "retry": 0,
        "failed": 0,
        "dropped": 0,
    }  # not due yet
    run(db, only, sender, now=start + FIRST_RETRY_MS)
    row = db["notifications"].get(row["notification_id"])
    assert row["next_attempt_at"] == start + FIRST_RETRY_MS + RECOVER_MS  # 20 s, capped at 15
    health = {h["target_id"]: h for h in target_health(db)}[json_target.target_id]
    assert health["last_error"] == "HTTP 503 from the receiver" and health["queued"] == 1
    assert health["failures"] == 2 and health["retry_at"] == row["next_attempt_at"]
    assert "abc123" not in str(health)
    run(db, only, sender, now=row["next_attempt_at"])
    run(db, only, sender, now=start + 10 * FIRST_RETRY_MS)  # the fourth try goes through
    assert db["notifications"].get(row["notification_id"])["status"] == "SENT"
    assert len(sender.sent) == 1
    assert {h["target_id"]: h for h in target_health(db)}[json_target.target_id]["failures"] == 0
    assert [retry_delay_ms(n) for n in (1, 2, 3, 7, 20)] == [10_000] + [RECOVER_MS] * 4
    assert retry_delay_ms(5, first_ms=60_000) == 60_000  # a slower first retry is kept


def test_after_a_day_of_failures_a_notification_is_given_up(db, targets):
    ask(db)
    sender = Recorder(failing=10**6)
    created = next(iter(db["notifications"].rows))["created_at"]
    run(db, targets[:1], sender, now=created + 1)
    counts = run(db, targets[:1], sender, now=created + GIVE_UP_AFTER_MS + 1)
    assert counts["failed"] == 1
    given_up = db["notifications"].get(f"ntf_new_r1_{targets[0].target_id}")
    assert given_up["status"] == "FAILED"
    run(db, targets[:1], sender, now=created + 2 * GIVE_UP_AFTER_MS)
    assert db["notifications"].get(given_up["notification_id"]) == given_up  # not tried again


def test_a_question_answered_before_its_turn_is_never_sent(db, targets):
    ask(db)
    store(db, webhook("c1", "case.completed", T0 + 5_000))  # the case moved on
    sender = Recorder()
    counts = run(db, targets, sender, now=now_ms() + 1)
    assert counts["dropped"] == 2 and sender.sent == []
    statuses = {r["status"] for r in case_notifications(db, "c1")}
    assert statuses == {"DROPPED"}


def test_new_questions_within_the_digest_window_go_in_one_message(db, targets):
    for n in range(3):
        ask(db, case_id=f"c{n}", request_id=f"r{n}", at=T0 + n)
    sender = Recorder()
    first = {r["created_at"] for r in db["notifications"].rows}
    created = min(first)
    assert run(db, targets[:1], sender, now=created + 1_000, digest_ms=60_000)["sent"] == 0
    counts = run(db, targets[:1], sender, now=created + 60_000, digest_ms=60_000)
    assert counts["sent"] == 3 and len(sender.sent) == 1
    _, title, body, _ = sender.sent[0]
    assert title == "Question waiting: 3 questions"
    assert body.count("Notification id: ntf_new_") == 3


def test_an_overdue_question_is_notified_once_and_a_case_may_set_its_own_window(db, targets):
    envelope = input_needed("default", "r-default", T0)
    store(db, envelope)
    envelope = input_needed("fast", "r-fast", T0)
    envelope["data"]["metadata"] = {"consoleAnswerWithin": "90m"}
    store(db, envelope)
    assert db["cases"].get("fast")["answer_within_ms"] == 90 * 60_000
    sender = Recorder()
    run(db, targets[:1], sender, now=now_ms() + 1)  # the two new-question messages
    run(db, targets[:1], sender, now=T0 + 90 * 60_000)
    overdue = [s for s in sender.sent if s[1].startswith("Question overdue")]
    assert [s[1] for s in overdue] == ["Question overdue: fast"]
    assert "Overdue by 0 min" in overdue[0][2]
    run(db, targets[:1], sender, now=T0 + 4 * HOUR)
    run(db, targets[:1], sender, now=T0 + 9 * HOUR)
    overdue = [s[1] for s in sender.sent if s[1].startswith("Question overdue")]
    assert sorted(overdue) == ["Question overdue: default", "Question overdue: fast"]


def test_targets_are_hashed_and_labelled_without_any_part_of_the_url(db):
    found = targets_from_urls([*URLS, URLS[0]])
    assert len(found) == 2
    for target in found:
        assert "abc123" not in target.label and "pw" not in target.label
        assert "127.0.0.1" not in target.label
    assert found[0].label.startswith("json:// (t_") and found[1].sends_mail


def test_a_target_dropped_from_the_configuration_gets_no_new_rows(db, targets):
    switch_on(db, targets[:1], now=now_ms())
    ask(db)
    assert {r["target_id"] for r in db["notifications"].rows} == {targets[0].target_id}


def test_the_inbox_version_moves_when_a_question_arrives_or_leaves(db):
    before = inbox_version(db)
    ask(db)
    after_ask = inbox_version(db)
    assert after_ask > before
    ask(db)  # nothing new
    assert inbox_version(db) == after_ask
    store(db, webhook("c1", "case.completed", T0 + 5_000))
    assert inbox_version(db) > after_ask


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90m", 5_400_000), ("4h", 14_400_000), ("2d", 172_800_000), (" 2H ", 7_200_000)],
)
def test_answer_windows_read_as_written(text, ms):
    assert parse_window_ms(text) == ms


@pytest.mark.parametrize("text", ["", "4", "h", "0h", "1.5h", "4 hours", None, 4])
def test_anything_else_is_not_a_window(text):
    assert parse_window_ms(text) is None


def test_a_digest_message_lists_each_question(db, targets):
    rows = [
        {
            "notification_id": f"ntf_new_r{n}_t",
            "input_request_id": f"r{n}",
            "client_reference_id": None,
            "case_id": f"c{n}",
            "counterparty_name": None,
            "counterparty_address": None,
            "objective": None,
            "question": None,
            "requested_at": 0,
        }
        for n in range(2)
    ]
    title, body = message("question.new", rows, now=HOUR, dashboard_url="http://x")
    assert title == "Question waiting: 2 questions"
    assert body.count("(no reference) · (no counterparty) · (no objective)") == 2
    assert "Waiting: 1 h" in body


def test_health_rows_say_each_targets_last_success_error_and_queue(db, targets):
    from dashboard.health_checks import notification_rows

    assert notification_rows([], "UTC", 0)[0][1] == "off"
    ask(db)
    sender = Recorder(failing=1)
    json_only = [t for t in targets if t.label.startswith("json")]
    run(db, json_only, sender, now=now_ms() + 1)
    rows = {
        part: (state, detail)
        for part, state, detail in notification_rows(target_health(db), "UTC", now_ms() + 2)
    }
    state, detail = rows[f"Notify {json_only[0].label}"]
    assert state == "PROBLEM" and "HTTP 503 from the receiver" in detail
    assert "nothing sent yet" in detail and "1 waiting" in detail
    assert "last error 0 s ago" in detail  # an error a moment ago: never "just now ago"
    mail_state, mail_detail = rows[f"Notify {targets[1].label}"]
    assert mail_state == "ok" and "1 waiting" in mail_detail
    assert all("abc123" not in d and "pw@" not in d for _, d in rows.values())


def test_the_timeline_lists_what_was_sent_for_the_case(db, targets):
    from dashboard.case_view import notification_rows

    ask(db)
    sender = Recorder(failing=1)
    run(db, targets, sender, now=now_ms() + 1)
    run(db, targets, sender, now=now_ms() + FIRST_RETRY_MS + 10)
    rows = notification_rows(case_notifications(db, "c1"), "UTC")
    assert sorted(r["outcome"] for r in rows) == ["sent", "sent after 2 tries"]
    assert {r["what"] for r in rows} == {"question.new"}
    assert all(r["id"].startswith("ntf_new_r1_") for r in rows)
    assert all("abc123" not in r["to"] for r in rows)


def test_notify_urls_come_from_the_environment_and_secrets_toml(monkeypatch):
    from offload_console import settings

    monkeypatch.setenv("OFFLOAD_CONSOLE_NOTIFY_URLS", "json://a/x  mailto://b")
    secrets = {"console": {"notify_urls": ["slack://T/B/C", "json://a/x"]}}
    assert settings.notify_urls(secrets) == ["json://a/x", "mailto://b", "slack://T/B/C"]
    assert settings.notify_urls({"console": {"notify_urls": "msteams://x json://y"}})[-2:] == [
        "msteams://x",
        "json://y",
    ]
    monkeypatch.delenv("OFFLOAD_CONSOLE_NOTIFY_URLS")
    assert settings.notify_urls({}) == []


def test_a_sidecar_with_an_answer_window_that_is_no_duration_says_so_and_stops(tmp_path):
    from click.testing import CliRunner

    from offload_console.cli import cli

    out = CliRunner().invoke(
        cli,
        ["sidecar", "--db", str(tmp_path / "c.db"), "--port", "1"],
        env={"OFFLOAD_CONSOLE_ANSWER_WITHIN": "soon", "OFFLOAD_WEBHOOK_TOKEN": ""},
        prog_name="offload-console",
    )
    assert out.exit_code == 2
    assert "OFFLOAD_CONSOLE_ANSWER_WITHIN='soon': should be a duration" in out.output


def test_a_send_whose_outcome_cannot_be_recorded_backs_off_like_a_failed_one(
    db, targets, monkeypatch
):
    """Issue 23, defect 10 (fails on the main before it: with the disk full one message went
    out every second). The send went; recording it fails: the next try waits 10 s, 20 s …"""
    from offload_console import notify
    from storage import DatabaseUnavailable

    start = now_ms()  # the trigger stamps the row with the wall clock (not T0: imported earlier)
    ask(db, at=start)
    only = [next(t for t in targets if t.label.startswith("json"))]

    def full(*args, **kwargs):
        raise DatabaseUnavailable("database or disk is full")

    monkeypatch.setattr(notify.store, "mark_sent", full)
    monkeypatch.setattr(notify, "RECORD_MARGIN_MS", 60_000)  # no retry of the record here
    sender = Recorder()
    for second in range(1, 26):  # the notifier's pass, once a second for 25 s
        try:
            run(db, only, sender, now=start + second * 1000)
        except DatabaseUnavailable:
            pass
    assert len(sender.sent) == 2  # at 1 s and 11 s (the next is due at 26 s)
    assert len({body for _, _, body, _ in sender.sent}) == 1  # the same id each time


def test_an_outcome_is_recorded_again_on_a_new_try_before_the_message_may_go_again(
    db, targets, monkeypatch
):
    """Issue 34, item 3: the database away for a moment after the send (a restart): the
    outcome is recorded on a later try within the booked retry, and the message is not sent
    again by the next passes."""
    from offload_console import notify
    from storage import DatabaseUnavailable

    start = now_ms()
    ask(db, at=start)
    only = [next(t for t in targets if t.label.startswith("json"))]
    real = notify.store.mark_sent
    failures = iter([True, True, True])

    def restarting(*args, **kwargs):
        if next(failures, False):
            raise DatabaseUnavailable("the connection was lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(notify.store, "mark_sent", restarting)
    monkeypatch.setattr(notify, "RECORD_RETRY_S", 0.01)
    sender = Recorder()
    for second in range(1, 40):
        run(db, only, sender, now=start + second * 1000)
    assert len(sender.sent) == 1
    assert next(failures, "used") == "used"  # every failure was met, then it was recorded
    rows = db["notifications"].rows_where("target_id = ?", [only[0].target_id])
    assert [row["status"] for row in rows] == ["SENT"]


def test_a_send_whose_record_outlasts_its_retry_is_recorded_not_sent_again(
    db, targets, monkeypatch
):
    """Found when the suite ran three workers on two cores: a writer stalled longer than the
    booked retry, the record gave up, the next pass sent the message again. A notifier keeps
    what it sent but could not record (``unrecorded``, kept from pass to pass): when that
    message comes due again it is recorded, not sent; only a process that dies in between
    leaves one to go twice (at least once, as documented)."""
    from offload_console import notify
    from storage import DatabaseUnavailable

    start = now_ms()
    ask(db, at=start)
    only = [next(t for t in targets if t.label.startswith("json"))]
    real = notify.store.mark_sent
    away_until = start + 30_000  # the database refuses every record for 30 s

    def stalled(database, ids, target_id, *, now):
        if now < away_until:
            raise DatabaseUnavailable("canceling statement due to lock timeout")
        return real(database, ids, target_id, now=now)

    monkeypatch.setattr(notify.store, "mark_sent", stalled)
    monkeypatch.setattr(notify, "RECORD_MARGIN_MS", 60_000)  # no retry within a pass
    sender, unrecorded = Recorder(), {}
    for second in range(1, 60):
        try:
            run(db, only, sender, now=start + second * 1000, unrecorded=unrecorded)
        except DatabaseUnavailable:
            pass
    assert len(sender.sent) == 1
    rows = db["notifications"].rows_where("target_id = ?", [only[0].target_id])
    assert [row["status"] for row in rows] == ["SENT"] and not unrecorded


def test_a_booking_that_cannot_be_written_sends_nothing(db, targets, monkeypatch):
    from offload_console import notify
    from storage import DatabaseUnavailable

    ask(db)

    def full(*args, **kwargs):
        raise DatabaseUnavailable("database or disk is full")

    monkeypatch.setattr(notify.store, "book_next_attempt", full)
    sender = Recorder()
    run(db, targets, sender, now=T0)
    assert sender.sent == []


def test_outside_text_cannot_forge_a_line_or_break_the_link(db, targets):
    """Issue 23, defect 11 (fails on the main before it): newlines in the objective put a
    forged "Answer it:" line first; a newline in the case id broke the real link."""
    from offload_console.notify import TITLE_LIMIT

    start = now_ms()
    envelope = input_needed("c1", "r1\nAnswer it: https://evil.example/x", start, "Q1\nQ2")
    envelope["data"].update(
        clientReferenceId="R" * 2000,
        counterparty={"name": "Maya\r\nAnswer it: https://evil.example/n", "address": "a@b"},
        goal={"objective": "Collect\nAnswer it: https://evil.example/o\u2028x\x1b[2J"},
    )
    store(db, envelope)
    sender = Recorder()
    run(db, targets[:1], sender, now=start + 60_000)
    [(_, title, body, _)] = sender.sent
    lines = body.splitlines()
    answer_lines = [line for line in lines if line.startswith("Answer it:")]
    assert answer_lines == [
        "Answer it: http://console.example/?request=r1%0AAnswer%20it%3A%20https%3A%2F%2Fevil.example%2Fx"
    ]
    assert lines[0].startswith("Case: “RRR") and "evil.example/o" in lines[0]  # one line
    assert "\x1b" not in body and "\u2028" not in body
    assert "> Q1" in lines and "> Q2" in lines
    assert len(title) <= TITLE_LIMIT and "\n" not in title


class Outage:
    """A receiver that refuses every message until ``back_at`` (on the test's clock)."""

    def __init__(self, back_at: int):
        self.back_at = back_at
        self.now = 0
        self.tries: list[int] = []
        self.sent: list[tuple[int, str]] = []

    def __call__(self, target, title, body, recipient):
        self.tries.append(self.now)
        if self.now < self.back_at:
            return "connection refused"
        self.sent.append((self.now, body))
        return None


@pytest.mark.parametrize("down_s", [60, 82, 600])
def test_a_target_that_comes_back_gets_everything_within_15_s(db, targets, down_s):
    """Defect 4: a receiver down for 82 s got its messages 74 s after it came back. Now every
    waiting message goes within 15 s of its return, whatever the backoff had grown to, and a
    dead target is tried with one message at a time, never twice within 10 s."""
    only = targets[:1]
    start = now_ms() + 1
    receiver = Outage(back_at=start + down_s * 1000)
    for n in range(5):  # questions arriving during the outage, each its own first failure
        ask(db, case_id=f"c{n}", request_id=f"r{n}", at=start)
        for second in range(n * 7, (n + 1) * 7):
            receiver.now = start + second * 1000
            run(db, only, receiver, now=receiver.now)
    for second in range(35, down_s + 60):  # the notifier's pass, once a second
        receiver.now = start + second * 1000
        run(db, only, receiver, now=receiver.now)
    assert len(receiver.sent) == 5
    assert max(at for at, _ in receiver.sent) - receiver.back_at <= RECOVER_MS
    refused = [t for t in receiver.tries if t < receiver.back_at]
    assert all(b - a >= FIRST_RETRY_MS for a, b in zip(refused, refused[1:], strict=False))
    assert len(refused) <= 1 + down_s * 1000 // FIRST_RETRY_MS


def test_one_reminder_goes_when_three_quarters_of_the_window_have_passed(db, targets):
    ask(db, at=T0)
    sender = Recorder()
    run(db, targets[:1], sender, now=now_ms() + 1)  # the new-question message
    run(db, targets[:1], sender, now=T0 + 3 * HOUR - 1)
    assert [s[1] for s in sender.sent] == ["Question waiting: vendor_2048"]
    for minute in range(0, 60, 5):  # 3 h of a 4 h window: one reminder, however many passes
        run(db, targets[:1], sender, now=T0 + 3 * HOUR + minute * 60_000)
    reminders = [s for s in sender.sent if s[1].startswith("Question due soon")]
    assert len(reminders) == 1 and "Due in 1 h" in reminders[0][2]
    assert "Notification id: ntf_due_soon_r1_" in reminders[0][2]
    sent = [n["kind"] for n in case_notifications(db, "c1") if n["status"] == "SENT"]
    assert sent.count("question.due_soon") == 1  # in the case's timeline
    ask(db, case_id="c2", request_id="r2", at=T0)
    run(db, targets[:1], sender, now=T0 + 3 * HOUR, remind_at=0)  # 0: no reminders
    assert not [n for n in case_notifications(db, "c2") if n["kind"] == "question.due_soon"]
    ask(db, case_id="c3", request_id="r3", at=T0 - 5 * HOUR)  # overdue already: no reminder
    run(db, targets[:1], sender, now=now_ms() + 2)
    kinds = {n["kind"] for n in case_notifications(db, "c3")}
    assert "question.due_soon" not in kinds and "question.overdue" in kinds


def test_overdue_questions_also_go_to_the_escalation_list_and_nothing_else_does(db):
    escalation = "json://127.0.0.1:9/escalate?secret=esc999"
    found = targets_from_urls(URLS[:1], [escalation, URLS[0]])
    assert [t.role for t in found] == ["notify", "escalate"]  # a URL in both: notified once
    assert found[1].label.endswith("escalation") and "esc999" not in found[1].label
    switch_on(db, found, now=now_ms())
    ask(db, at=T0)
    sender = Recorder()
    run(db, found, sender, now=now_ms() + 1)
    run(db, found, sender, now=T0 + 3 * HOUR)
    run(db, found, sender, now=T0 + 4 * HOUR)
    run(db, found, sender, now=T0 + 5 * HOUR)
    by_target = {}
    for target_id, title, _, _ in sender.sent:
        by_target.setdefault(target_id, []).append(title.split(":")[0])
    assert by_target[found[1].target_id] == ["Question overdue"]
    assert by_target[found[0].target_id] == [
        "Question waiting",
        "Question due soon",
        "Question overdue",
    ]
    health = {h["target_id"]: h for h in target_health(db)}
    assert health[found[1].target_id]["role"] == "escalate"


def test_questions_already_waiting_when_notifications_are_switched_on_get_one_digest(db):
    for n in range(3):
        ask(db, case_id=f"c{n}", request_id=f"r{n}", at=T0 - (3 - n) * 60_000)
    ask(db, case_id="done", request_id="r-done", at=T0)
    store(db, webhook("done", "case.completed", T0 + 1))
    assert db["notifications"].count == 0  # nobody was configured: nobody was told
    found = targets_from_urls(URLS[:1])
    assert switch_on(db, found, now=now_ms()) == 3
    assert switch_on(db, found, now=now_ms()) == 0  # a restart announces nothing again
    ask(db, case_id="c-new", request_id="r-new", at=T0)  # arrives after: its own message
    sender = Recorder()
    run(db, found, sender, now=now_ms() + 1)
    titles = sorted(s[1] for s in sender.sent)
    assert titles == ["Already waiting: 3 questions", "Question waiting: vendor_2048"]
    digest = next(s[2] for s in sender.sent if s[1].startswith("Already waiting"))
    assert digest.count("http://console.example/?request=r") == 3
    assert "request=r-done" not in digest and "request=r-new" not in digest
    assert digest.index("request=r0") < digest.index("request=r2")  # oldest first
    run(db, found, sender, now=now_ms() + 2)
    assert len(sender.sent) == 2
    switch_on(db, [], now=now_ms())  # switched off, a question arrives, switched on again
    ask(db, case_id="c-off", request_id="r-off", at=T0)
    assert switch_on(db, found, now=now_ms()) == 1


def test_a_target_switched_off_while_its_instance_looked_gone_comes_back_with_what_waited(db):
    """Issue 29: after an outage of the database longer than GONE_AFTER_S every instance
    looks gone; another instance's beat switched the notifying instance's target off, and it
    stayed off for good (questions after it were never notified). Now the owner's next beat
    switches it on again, and what waited meanwhile is queued for it."""
    from storage import instances
    from storage.notifications import refresh_targets

    now = now_ms()
    owner = instances.register(db, "sidecar", 1, "test", now=now)
    other = instances.register(db, "sidecar", 2, "test", now=now + 1)
    found = targets_from_urls(["json://localhost:1/hook"])
    switch_on(db, found, now=now, instance_id=owner)
    switch_on(db, [], now=now, instance_id=other)
    target_id = found[0].target_id
    later = now + (instances.GONE_AFTER_S + 5) * 1000  # the database was away this long
    instances.seen(db, other, now=later)  # the other's beat comes first
    assert refresh_targets(db, now=later) == (1, 0)
    ask(db, at=later)  # a question while the target is off: no row for it yet
    assert db["notifications"].count_where("target_id = ?", [target_id]) == 0
    instances.seen(db, owner, now=later + 1000)
    assert refresh_targets(db, now=later + 1000) == (0, 1)
    assert db["notify_targets"].get(target_id)["active"] == 1
    rows = list(db["notifications"].rows_where("target_id = ?", [target_id]))
    assert [(r["kind"], r["input_request_id"]) for r in rows] == [("question.waiting", "r1")]


def test_bidi_controls_in_a_question_are_written_out_in_its_message(db, targets):
    """Issue 34, item 5: a notification cannot be reordered by outside text either."""
    start = now_ms()
    ask(db, at=start, question="Pay \u202eLUN\u202c now? \u2067x\u2069")
    sender = Recorder()
    run(db, targets, sender, now=start + 1000)
    assert sender.sent
    for _, title, body, _ in sender.sent:
        text = title + body
        assert not any(
            ch in text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        )
        assert "\\u202eLUN\\u202c" in text
