"""Answering by e-mail against real servers: ``offload-console up`` (sandbox, sidecar), Debian's
dovecot as the answer mailbox (IMAP), the console's notifications and confirmations through an
SMTP server (aiosmtpd). Offload's sandbox is checked for exactly one answer with the exact text."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import threading

import httpx
import pytest

import storage
from offload_client import OffloadClient
from offload_console.accounts import add_operator
from offload_console.answers import send_answer
from storage.operators import set_email, upsert_operator
from tests import imap_server
from tests.browser import commit_text, launch_questions, needs_chromium, running_stack
from tests.helpers import wait_until
from tests.mail_shapes import reply
from tests.test_notify_servers import Mailbox
from tests.test_sign_in_cookie import sign_in

pytestmark = pytest.mark.skipif(
    imap_server.missing_reason() is not None, reason=str(imap_server.missing_reason())
)
ADDRESS = "answers@example.com"
WAIT = 90


@pytest.fixture(scope="module")
def imap():
    server = imap_server.ImapServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp():
    server = Mailbox()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, imap, smtp):
    env = {
        "OFFLOAD_CONSOLE_NOTIFY_URLS": smtp.url(to="avery@example.com"),
        "OFFLOAD_CONSOLE_NOTIFY_RETRY_S": "0.3",
        "OFFLOAD_CONSOLE_ANSWER_MAILBOX": imap.url(),
        "OFFLOAD_CONSOLE_ANSWER_ADDRESS": ADDRESS,
        "OFFLOAD_CONSOLE_DASHBOARD_URL": "http://console.example:8501",
    }
    with running_stack(tmp_path_factory.mktemp("mail"), "0", env) as running:
        db = storage.open_db(running["db"])
        for name in ("avery", "blake"):
            upsert_operator(db, name, "not-used", "setup")
            set_email(db, name, f"{name}@example.com")
        running["client"] = OffloadClient(running["sandbox"], "sandbox-local-key")
        yield running


def ask(stack, reference: str) -> str:
    """Launch a case whose counterparty asks one question; the question's id once it is in
    the console."""
    launch_questions(stack, [reference])
    db = storage.open_db(stack["db"])
    return db.execute(
        "SELECT r.input_request_id FROM input_requests r JOIN cases c USING (case_id)"
        " WHERE c.client_reference_id = ? AND r.status = 'PENDING'",
        [reference],
    ).fetchone()[0]


def mail_about(smtp, request_id: str):
    """The e-mail the console sent about ``request_id`` (parsed)."""

    def found():
        for _, _recipients, content in list(smtp.messages):
            parsed = email.message_from_string(content, policy=email.policy.default)
            text = parsed.get_body(("plain",)).get_content()
            if f"request={request_id}" in text and "Answer token" in text:
                return parsed
        return None

    def seen():
        return f"the e-mail about {request_id} (mailed: {[m[2][:600] for m in smtp.messages]})"

    return wait_until(found, WAIT, 0.2, seen)


def token_of(message) -> str:
    reply_to = str(message["Reply-To"])
    token = reply_to.split("+", 1)[1].split("@", 1)[0]
    assert f"Answer token: {token}" in message.get_body(("plain",)).get_content()
    return token


def answers_for(stack, request_id: str) -> list[str]:
    response = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    )
    return [
        a["providedContext"] for a in response.json()["data"] if a["inputRequestId"] == request_id
    ]


def mail_row(stack, message_id: str) -> dict | None:
    db = storage.open_db(stack["db"])
    return storage.db.first_row(db, "SELECT * FROM mail_replies WHERE message_id = ?", [message_id])


def confirmation_to(smtp, who: str, subject_start: str):
    def found():
        for _, recipients, content in list(smtp.messages):
            parsed = email.message_from_string(content, policy=email.policy.default)
            if recipients == [who] and str(parsed["Subject"]).startswith(subject_start):
                return parsed
        return None

    return wait_until(found, WAIT, 0.2, f"“{subject_start}” mailed to {who}")


def test_a_reply_from_a_mail_client_answers_once_and_is_confirmed(stack, imap, smtp):
    request_id = ask(stack, "mail-01")
    token = token_of(mail_about(smtp, request_id))
    done_before = imap.count("Answered")
    text = "Yes, accept the W-9 signed last year.\nUse PO 7781."
    message_id = "<reply-01@mail.example.com>"
    imap.deliver(reply(text, token, shape="outlook-html-only", message_id=message_id))
    wait_until(lambda: answers_for(stack, request_id), WAIT, 0.2, "the answer at Offload")
    assert answers_for(stack, request_id) == [text]
    wait_until(
        lambda: imap.count("Answered") == done_before + 1, WAIT, 0.2, "the reply moved to Answered"
    )
    assert imap.count("INBOX") == 0
    db = storage.open_db(stack["db"])
    row = db.execute(
        "SELECT answered_by, answered_via, answer FROM input_requests WHERE input_request_id = ?",
        [request_id],
    ).fetchone()
    assert tuple(row) == ("avery", "e-mail", text)
    confirmation = confirmation_to(smtp, "avery@example.com", "Answer sent")
    assert confirmation["Auto-Submitted"] == "auto-replied"
    assert "> Use PO 7781." in confirmation.get_body(("plain",)).get_content()
    # The same reply delivered again, and another from a stranger with the same token.
    imap.deliver(reply(text, token, message_id=message_id))
    forged = "<forged-01@evil.example>"
    imap.deliver(reply("No!", token, sender="mallory@evil.example", message_id=forged))
    wait_until(lambda: imap.count("Answered") == done_before + 3, WAIT, 0.2, "both moved")
    assert mail_row(stack, forged)["reason"] == "not_your_address"
    assert answers_for(stack, request_id) == [text]
    log = stack["log"].read_text()
    assert imap_server.PASSWORD not in log and token not in log


def test_a_reply_raced_against_a_dashboard_send_answers_once(stack, imap, smtp):
    for round_ in range(3):
        request_id = ask(stack, f"race-{round_}")
        token = token_of(mail_about(smtp, request_id))
        message_id = f"<race-{round_}@mail.example.com>"
        dashboard = {}
        db = storage.open_db(stack["db"], any_thread=True)

        def send_from_the_dashboard(db=db, request_id=request_id, dashboard=dashboard):
            dashboard["outcome"] = send_answer(
                db, stack["client"], request_id, "blake", "Blake, from the dashboard"
            )

        sender = threading.Thread(target=send_from_the_dashboard)
        imap.deliver(reply("Avery, by e-mail", token, message_id=message_id))
        sender.start()
        sender.join(WAIT)
        wait_until(
            lambda message_id=message_id: (mail_row(stack, message_id) or {}).get("outcome"),
            WAIT,
            0.2,
            "read",
        )
        sent = answers_for(stack, request_id)
        assert len(sent) == 1, sent  # exactly one answer reached Offload
        row = mail_row(stack, message_id)
        by_mail = sent == ["Avery, by e-mail"]
        assert (row["outcome"] == "answered") == by_mail
        assert dashboard["outcome"].ok == (not by_mail)
        if not by_mail:  # Avery is told who answered first
            assert "blake" in row["reply_body"]


def test_the_reader_killed_between_recording_and_moving_acts_once(stack, imap, smtp):
    request_id = ask(stack, "kill-01")
    token = token_of(mail_about(smtp, request_id))
    message_id = "<kill-01@mail.example.com>"
    # The done folder cannot be made (a file where its folder would be): every move fails,
    # so the reply stays recorded and not moved while the sidecar is killed.
    maildir = os.path.join(imap.folder, "home", imap_server.USER, "Maildir")
    with imap.mailbox() as box:  # move what earlier tests left, then take the folder away
        box.folder.set("Answered")
        box.delete(box.uids("ALL"))
        box.folder.set("INBOX")
        box.folder.delete("Answered")
    blocker = os.path.join(maildir, ".Answered")
    open(blocker, "w").close()
    try:
        imap.deliver(reply("Killed once", token, message_id=message_id))
        wait_until(lambda: (mail_row(stack, message_id) or {}).get("outcome"), WAIT, 0.2, "read")
        assert answers_for(stack, request_id) == ["Killed once"]
        assert imap.count("INBOX") == 1  # recorded, not moved
        port = stack["ports"]["sidecar"]
        pids = subprocess.run(
            ["pgrep", "-f", f"offload_console.cli sidecar --port {port}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert pids
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
    finally:
        os.unlink(blocker)
    # `up` starts the sidecar again; its reader finds the message recorded: moves it only.
    wait_until(lambda: imap.count("Answered") == 1, WAIT, 0.3, "moved after the restart")
    assert imap.count("INBOX") == 0
    assert answers_for(stack, request_id) == ["Killed once"]
    db = storage.open_db(stack["db"])
    assert (
        db.execute(
            "SELECT count(*) FROM mail_replies WHERE message_id = ?", [message_id]
        ).fetchone()[0]
        == 1
    )


def run_async(main) -> None:
    """``asyncio.run(main())`` in a thread of its own: a worker that also drives Chromium has
    Playwright's loop running in its main thread."""
    import asyncio

    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT + 60)
    if failed:
        raise failed[0]


async def until(condition, said) -> None:
    """Wait (in the event loop) until ``condition()`` holds, as long as a loaded machine
    needs; fail saying ``said()``."""
    import asyncio
    import time

    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {WAIT} s: {said()}")
        await asyncio.sleep(0.05)


def reader(db_url: str, box, state, job=None):
    """The sidecar's reader of ``box`` over ``db_url`` (Offload unreachable: these tests send
    nothing), passing every 0.1 s."""
    from offload_console.mail_reader import ReaderOptions, read_forever

    return read_forever(
        lambda: storage.open_db(db_url, any_thread=True),
        lambda: OffloadClient("http://127.0.0.1:9", "k"),
        box,
        ReaderOptions(ADDRESS, "http://c"),
        None,
        job=job,
        reader_state=state,
        poll_s=0.1,
    )


def test_health_names_a_mailbox_that_refuses_the_reader_and_then_one_that_reads(imap, tmp_path):
    import asyncio

    from dashboard.health_checks import instance_rows
    from offload_console.mail_reader import ReaderState
    from offload_console.mailbox import Mailbox
    from storage import now_ms

    path = str(tmp_path / "console.db")
    storage.open_db(path)  # migrated

    def read_until(box: Mailbox, done) -> ReaderState:
        state = ReaderState(box)

        async def main():
            task = asyncio.create_task(reader(path, box, state))
            try:
                await until(lambda: done(state), lambda: f"the reader got there: {state.figures()}")
            finally:
                task.cancel()

        run_async(main)
        return state

    def row(state: ReaderState):
        now = now_ms()
        (found,) = instance_rows(
            [
                {
                    "state": "running",
                    "host": "vm",
                    "port": 1,
                    "pid": 1,
                    "version": "0.1.0",
                    "started_at": now,
                    "stopped_at": None,
                    "last_seen_at": now,
                    "part": "sidecar",
                    "status": {"database": "ok", "answer_mail": state.figures()},
                }
            ],
            "UTC",
            now,
        )
        return found

    wrong = Mailbox.from_url(imap.url().replace(imap_server.PASSWORD, "Wrong-pw-123"))
    _, state, text = row(read_until(wrong, lambda s: s.error))
    assert state == "PROBLEM" and "answer mailbox failing" in text
    assert "Wrong-pw-123" not in text and "AUTHENTICATIONFAILED" in text.upper()
    _, state, text = row(read_until(Mailbox.from_url(imap.url()), lambda s: s.last_pass_at))
    assert state == "ok" and "reads the answer mailbox" in text


def test_the_answer_mailbox_command_checks_the_setup_without_showing_the_password(imap, tmp_path):
    from tests.helpers import run_cli

    env = {
        "OFFLOAD_CONSOLE_DB": str(tmp_path / "console.db"),
        "OFFLOAD_CONSOLE_ANSWER_MAILBOX": imap.url(),
        "OFFLOAD_CONSOLE_ANSWER_ADDRESS": ADDRESS,
        "OFFLOAD_CONSOLE_NOTIFY_URLS": "mailto://127.0.0.1:9?from=c@example.com&to=a@example.com",
    }
    storage.open_db(env["OFFLOAD_CONSOLE_DB"])  # the console's database, made
    done = run_cli("answer-mailbox", env=env)
    assert done.returncode == 0, done.stderr
    assert "logged in:" in done.stdout and "IDLE" in done.stdout
    assert "replies go to: answers@example.com" in done.stdout
    assert imap_server.PASSWORD not in done.stdout + done.stderr
    wrong = imap.url().replace(imap_server.PASSWORD, "Wrong-pw-123")
    refused = run_cli("answer-mailbox", env={**env, "OFFLOAD_CONSOLE_ANSWER_MAILBOX": wrong})
    assert refused.returncode == 1 and "cannot read it" in refused.stderr
    assert "Wrong-pw-123" not in refused.stdout + refused.stderr
    unset = run_cli("answer-mailbox", env={**env, "OFFLOAD_CONSOLE_ANSWER_MAILBOX": ""})
    assert unset.returncode == 2 and "is not set" in unset.stderr


def test_a_server_without_idle_shows_a_new_reply_at_the_next_pass(tmp_path):
    """Found by bench/mail_answers.py: without IDLE a SEARCH alone did not see a message that
    arrived since the last command (the server syncs on NOOP), so each reply waited a pass."""
    from offload_console.mail_reader import ReaderOptions, connect, read_once
    from offload_console.mailbox import Mailbox

    server = imap_server.ImapServer(idle=False)
    try:
        box = Mailbox.from_url(server.url())
        mailbox = connect(box)
        assert "IDLE" not in mailbox.client.capabilities
        db = storage.open_db(str(tmp_path / "console.db"))
        client = OffloadClient("http://127.0.0.1:9", "k")
        options = ReaderOptions(ADDRESS, "http://c")
        assert read_once(db, client, mailbox, box, options) == {}
        server.deliver(reply("Out of office", "a" * 26, headers={"Auto-Submitted": "auto-replied"}))
        assert read_once(db, client, mailbox, box, options) == {"ignored": 1}
        mailbox.logout()
        assert server.count("INBOX") == 0 and server.count("Answered") == 1
    finally:
        server.stop()


def test_on_postgresql_one_instance_reads_the_mailbox_at_a_time(postgres):
    """Two consoles on one PostgreSQL: the reader that does not hold the ``answer-mail`` job
    reads nothing (Health: another instance reads it); once the holder is gone it takes over."""
    import asyncio

    from offload_console.mail_reader import ReaderState
    from offload_console.mailbox import Mailbox
    from storage.jobs import JobLock

    url, imap = postgres.take(), imap_server.ImapServer()  # a mailbox no console reads
    try:
        other = JobLock(url, "answer-mail")
        assert other.held()  # another instance reads the mailbox
        imap.deliver(reply("Out of office", "c" * 26, headers={"Auto-Submitted": "auto-replied"}))
        before = imap.count("INBOX")
        box = Mailbox.from_url(imap.url())
        state = ReaderState(box)

        async def main():
            task = asyncio.create_task(reader(url, box, state, JobLock(url, "answer-mail")))
            try:
                await asyncio.sleep(1.0)
                assert not state.reading and imap.count("INBOX") == before
                other.release()  # the other instance stopped
                await until(
                    lambda: state.last_pass_at and imap.count("INBOX") == 0,
                    lambda: f"it took over: {state.figures()}",
                )
            finally:
                task.cancel()

        run_async(main)
        assert state.reading
    finally:
        imap.stop()
        storage.pg.close_pools()
        postgres.give_back(url)


@pytest.mark.browser
@needs_chromium
def test_in_chromium_a_reply_raced_against_send_answers_once_and_both_are_told(
    browser, stack, imap, smtp
):
    """Blake has the question open in the Inbox with an answer typed; Avery's reply lands in
    the mailbox; Blake clicks Send. Whichever wins, Offload gets one answer; the loser is
    told (on the page, or by mail) and Blake's typed text is never lost."""
    db = storage.open_db(stack["db"])
    add_operator(db, "blake", "blake's long password", by="setup")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, stack["dashboard"], "blake", "blake's long password")
        for round_ in range(2):
            request_id = ask(stack, f"chromium-{round_}")
            token = token_of(mail_about(smtp, request_id))
            page.goto(stack["dashboard"] + f"/?request={request_id}")
            page.wait_for_selector(f".st-key-send_{request_id}")
            commit_text(page, f".st-key-answer_{request_id} textarea", "Blake's typed answer")
            message_id = f"<chromium-{round_}@mail.example.com>"
            imap.deliver(reply("Avery, by e-mail", token, message_id=message_id))
            if round_ == 1:  # the second time the reply has surely landed before the click
                wait_until(lambda r=request_id: answers_for(stack, r), WAIT, 0.1, "answered")
            if page.locator(f".st-key-send_{request_id} button").count():
                page.locator(f".st-key-send_{request_id} button").click()
            wait_until(
                lambda m=message_id: (mail_row(stack, m) or {}).get("outcome"), WAIT, 0.2, "read"
            )
            sent = answers_for(stack, request_id)
            assert len(sent) == 1, sent
            if sent == ["Avery, by e-mail"]:  # the e-mail won: Blake sees it and keeps the draft
                wait_until(
                    lambda: (
                        "Answered by avery (by e-mail)"
                        in page.locator("[data-testid=stMain]").inner_text()
                    ),
                    WAIT,
                    0.2,
                    "told",
                )
                wait_until(
                    lambda r=request_id: (
                        "Blake's typed answer" in page.locator(f".st-key-draft_{r}").inner_text()
                    ),
                    WAIT,
                    0.2,
                    "the draft kept",
                )
                confirmation_to(smtp, "avery@example.com", "Answer sent: chromium-")
            else:  # the dashboard won: Avery is told by mail who answered
                assert sent == ["Blake's typed answer"] and round_ == 0
                told = mail_row(stack, message_id)["reply_body"]  # answered, or on its way
                assert "already answered by blake" in told or "blake is answering" in told
    finally:
        context.close()
