"""Reading the answer mailbox over IMAP (``imap-tools``) and mailing back what happened.

``OFFLOAD_CONSOLE_ANSWER_MAILBOX`` names it: ``imaps://user:password@host[:port]/folder``
(``imap://`` is plain IMAP, upgraded with STARTTLS when the server offers it; a password goes
unencrypted only to a loopback host), ``?done=Answered``: the folder a handled message is moved
to (created when missing). One instance reads at a time (the ``answer-mail`` job lock); each
message is recorded (``mail_replies``) before it is moved, so a crash between the two moves it
at the next pass without acting on it again. Between passes the reader waits in IMAP IDLE when
the server has it (a new message starts the next pass at once), else polls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import imaplib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from offload_console import mail_answers
from offload_console.mail_parse import MAX_MESSAGE_BYTES
from offload_console.mailbox import BadMailbox, Mailbox
from offload_console.notify import Target, apprise_send, with_query
from storage import StorageError, now_ms
from storage import mail_replies as store

log = logging.getLogger("offload_console.mail_reader")

WAIT_S = 5.0  # the longest one wait (IDLE or a poll) lasts: a stop is never kept waiting long
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def connect(box: Mailbox, timeout: float = 30.0):
    """Logged in, the folder selected, the done folder there."""
    from imap_tools import MailBox, MailBoxUnencrypted

    if box.secure:
        mailbox = MailBox(
            box.host, box.port, timeout=timeout, ssl_context=ssl.create_default_context()
        )
    else:
        mailbox = MailBoxUnencrypted(box.host, box.port, timeout=timeout)
        if "STARTTLS" in mailbox.client.capabilities:
            mailbox.client.starttls(ssl.create_default_context())
        elif box.host not in LOOPBACK:
            mailbox.client.shutdown()
            raise BadMailbox(
                f"{box.label}: the server offers no STARTTLS; use imaps:// (the password is "
                "sent in the clear only to this machine)"
            )
    try:
        mailbox.login(box.user, box.password, initial_folder=None)
        if not mailbox.folder.exists(box.done):
            mailbox.folder.create(box.done)
        mailbox.folder.set(box.folder)
    except BaseException:
        mailbox.client.shutdown()  # a refused login leaves no socket open
        raise
    return mailbox


@dataclass(frozen=True)
class ReaderOptions:
    answer_address: str
    dashboard_url: str
    require_auth: bool = False
    allowed: frozenset[str] = frozenset()
    authserv_id: str | None = None  # whose Authentication-Results count (None: the topmost)


def _fetch(mailbox, uid: str, part: str) -> bytes | None:
    typ, data = mailbox.client.uid("FETCH", uid, f"({part})")
    if typ != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def _size(mailbox, uid: str) -> int | None:
    typ, data = mailbox.client.uid("FETCH", uid, "(RFC822.SIZE)")
    if typ != "OK" or not data or data[0] is None:
        return None
    text = data[0].decode("ascii", "replace") if isinstance(data[0], bytes) else str(data[0])
    marker = "RFC822.SIZE "
    at = text.find(marker)
    if at < 0:
        return None
    digits = text[at + len(marker) :].split(")")[0].split()[0]
    return int(digits) if digits.isdigit() else None


def read_once(db, client, mailbox, box: Mailbox, options: ReaderOptions) -> dict[str, int]:
    """Handle every message in the folder, oldest first; move each once its outcome is
    recorded. Returns counts by outcome."""
    counts: dict[str, int] = {}
    # A server shows what arrived since the last command only after a sync (NOOP): without
    # IDLE, a SEARCH alone would find a new reply one pass late.
    mailbox.client.noop()
    for uid in mailbox.uids("ALL"):
        size = _size(mailbox, uid)
        big = size is not None and size > MAX_MESSAGE_BYTES
        # A message over the limit is not fetched whole: its headers say enough to refuse it.
        raw = _fetch(mailbox, uid, "BODY.PEEK[HEADER]" if big else "BODY.PEEK[]")
        if raw is None:
            continue  # expunged meanwhile by another client
        try:
            done = mail_answers.handle(
                db,
                client,
                raw,
                size=size,
                answer_address=options.answer_address,
                dashboard_url=options.dashboard_url,
                allowed=set(options.allowed),
                require_auth=options.require_auth,
                authserv_id=options.authserv_id,
            )
        except StorageError:
            raise  # not recorded: the message stays for the next pass
        except Exception:  # noqa: BLE001 - one message the console cannot read stops no other
            log.exception("answer mailbox: message %s could not be handled", uid)
            done = mail_answers.unhandled(db, raw)
        log.info("answer mailbox: message %s: %s (%s)", uid, done.outcome, done.reason)
        counts[done.outcome] = counts.get(done.outcome, 0) + 1
        mailbox.move(uid, box.done)
    return counts


Mailer = Callable[[str, str, str], str | None]  # (to, subject, body) -> None, or what failed


def mailer_for(target: Target) -> Mailer:
    """Confirmations go through the console's ``mailto://`` notification target, marked as
    automatic mail (``Auto-Submitted: auto-replied``) so no auto-responder answers them."""
    marked = dataclasses.replace(
        target, url=with_query(target.url, "+Auto-Submitted", "auto-replied")
    )
    return lambda to, subject, body: apprise_send(marked, subject, body, to)


def send_replies(db, mailer: Mailer | None) -> int:
    """Mail the confirmations and refusals waiting; returns how many went."""
    sent = 0
    for row in store.replies_due(db):
        error = (
            "no mailto:// notification target is configured"
            if mailer is None
            else mailer(row["reply_to"], row["reply_subject"], row["reply_body"])
        )
        store.mark_replied(db, row["message_key"], error)
        if error is None:
            sent += 1
        else:
            log.warning("confirmation to an operator not sent: %s", error)
            break  # the target is failing: the next pass tries again
    return sent


def wait_for_mail(mailbox, seconds: float) -> None:
    """IDLE up to ``seconds`` where the server has it (returns at a new message), else sleep."""
    if "IDLE" in mailbox.client.capabilities:
        mailbox.idle.wait(timeout=seconds)
    else:
        time.sleep(seconds)


class ReaderState:
    """How the reader fares, for Health (the sidecar's status in ``instances``): reading (and
    when its last pass ended), failing (what failed, since when: never the password), or
    another instance reading."""

    def __init__(self, box: Mailbox):
        self.box = box
        self.last_pass_at: int | None = None
        self.error: str | None = None
        self.failing_since: int | None = None
        self.reading = False

    def passed(self) -> None:
        self.last_pass_at, self.error, self.failing_since, self.reading = now_ms(), None, None, True

    def failed(self, problem: object) -> None:
        text = str(problem).replace(self.box.password, "•••") if self.box.password else str(problem)
        self.error = text[:300]
        self.failing_since = self.failing_since or now_ms()

    def idle(self) -> None:
        self.reading, self.error, self.failing_since = False, None, None

    def figures(self) -> dict:
        return {
            "mailbox": self.box.label,
            "reading": self.reading,
            "last_pass_at": self.last_pass_at,
            "error": self.error,
            "failing_since": self.failing_since,
        }


MAX_BACKOFF_S = 60.0  # a mailbox that keeps failing is tried at least this often


async def read_forever(
    open_db,
    client_factory,
    box: Mailbox,
    options: ReaderOptions,
    mailer: Mailer | None,
    *,
    job=None,
    poll_s: float = WAIT_S,
    reader_state: ReaderState | None = None,
):
    """The reader: a pass (in a worker thread, so the sidecar keeps serving) whenever the
    mailbox has news or ``poll_s`` has passed, while this instance holds ``job``. A server
    that refuses or drops the connection is tried again (after twice as long each time, at
    most a minute apart); a message the console cannot record (the database away) stays in
    the mailbox for the next pass. ``reader_state`` is kept up to date for Health."""
    state: dict = {"mailbox": None}
    health = reader_state or ReaderState(box)
    failures = 0

    def one_pass() -> None:
        if job is not None and not job.held():
            _close(state)
            health.idle()
            time.sleep(poll_s)
            return
        if state["mailbox"] is None:
            state["mailbox"] = connect(box)
            log.info("answer mailbox: reading %s", box.label)
        mailbox = state["mailbox"]
        db = open_db()
        try:
            client = client_factory()
            try:
                counts = read_once(db, client, mailbox, box, options)
            finally:
                client.close()
            send_replies(db, mailer)
        finally:
            db.conn.close()
        if counts:
            log.info("answer mailbox: %s", counts)
        health.passed()
        wait_for_mail(mailbox, poll_s)

    try:
        while True:
            try:
                await asyncio.to_thread(one_pass)
                failures = 0
                continue
            except StorageError as exc:
                health.failed(f"the database is unavailable: {exc}")
                log.warning("answer mailbox: the database is unavailable (%s)", exc)
            except (OSError, imaplib.IMAP4.error, BadMailbox) as exc:  # TimeoutError: an OSError
                health.failed(exc)
                log.warning("answer mailbox %s: %s; trying again", box.label, health.error)
                _close(state)
            except Exception as exc:  # noqa: BLE001 - logged; the next pass tries again
                health.failed(f"{type(exc).__name__}: {exc}")
                log.exception("answer mailbox pass failed")
                _close(state)
            failures += 1
            await asyncio.sleep(min(poll_s * 2 ** (failures - 1), MAX_BACKOFF_S))
    finally:
        _close(state)
        if job is not None:
            job.release()


def _close(state: dict) -> None:
    mailbox, state["mailbox"] = state["mailbox"], None
    if mailbox is not None:
        try:
            mailbox.logout()
        except Exception:  # noqa: BLE001 - a dead connection needs no goodbye
            pass
