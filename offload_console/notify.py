"""Telling operators about questions: Apprise targets, the messages, and the sender.

A notification is a row (``storage/notifications.py``), one per (question, kind, target):
- ``question.new``: written by the database itself in the transaction that records the question;
- ``question.waiting``: for questions already waiting when a target is switched on (one digest);
- ``question.due_soon``: a reminder once a share of the question's window has passed
  (``OFFLOAD_CONSOLE_REMIND_AT``, 75 % by default);
- ``question.overdue``: once its due time passes, also to the escalation targets
  (``OFFLOAD_CONSOLE_ESCALATE_URLS``), which get no other kind;
- ``question.assigned``: to an operator's e-mail when a question is assigned to them.

The always-on sidecar sends them (:func:`notify_forever`). A target that fails is tried again
with one message at a time (the oldest), 10 s after the first failure, then twice as long each
time but never more than 15 s apart (``OFFLOAD_CONSOLE_NOTIFY_RECOVER_S``), so a target that
comes back is found within 15 s; the moment it accepts a message, everything waiting for it
goes. A message is given up after 24 h of failures. A question no longer pending when its turn
comes is not sent. Every message carries its notification id, so a receiver can drop the one
copy a kill -9 between a send and its record can cause.

Apprise URLs are secrets (tokens, passwords): they live in memory only. The database keeps a
hash of each (its target id) and a label that shows the scheme alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from offload_client.text import one_line, printable
from offload_console.words import duration, question_link
from storage import StorageError
from storage import notifications as store

log = logging.getLogger("offload_console.notify")

FIRST_RETRY_MS = 10_000
RECOVER_MS = 15_000  # a failing target is tried at least this often: it is found when it returns
GIVE_UP_AFTER_MS = 24 * 3_600_000
REMIND_AT = 0.75
DIGEST_LINES = 50
TITLES = {
    "question.new": "Question waiting",
    "question.waiting": "Already waiting",
    "question.due_soon": "Question due soon",
    "question.overdue": "Question overdue",
    "question.assigned": "Question assigned to you",
}


@dataclass(frozen=True)
class Target:
    target_id: str
    url: str  # secret: never stored, shown or logged
    label: str
    role: str = "notify"  # or "escalate": overdue questions only

    @property
    def sends_mail(self) -> bool:
        return self.url.split(":", 1)[0].lower() in ("mailto", "mailtos")


def targets_from_urls(urls: list[str], escalate: list[str] = ()) -> list[Target]:
    """One target per distinct URL, identified by a hash of it: the ``notify`` ones, then the
    ``escalate`` ones not already among them (those get the overdue message anyway)."""
    found: dict[str, Target] = {}
    for role, group in (("notify", urls), ("escalate", escalate)):
        for url in group:
            target_id = "t_" + hashlib.sha256(url.encode()).hexdigest()[:12]
            scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
            label = f"{scheme}:// ({target_id})" + (" escalation" if role == "escalate" else "")
            found.setdefault(target_id, Target(target_id, url, label, role))
    return list(found.values())


def switch_on(db, targets: list[Target], *, now: int, instance_id: str | None = None) -> int:
    """Make ``targets`` active: the only active ones (SQLite: the caller holds the database's
    sidecar lock), or, with ``instance_id``, this instance's beside those of the others
    running (``storage.notifications.sync_targets``). The questions already waiting that a
    target was never told about are queued for one digest to it. Returns how many were
    queued."""
    return store.sync_targets(
        db, [(t.target_id, t.label, t.role) for t in targets], now=now, instance_id=instance_id
    )


def waited(ms: int) -> str:
    """How long, in the pages' words (``0 min`` under a minute)."""
    return duration(ms, zero="0 min")


TITLE_LIMIT = 120  # an e-mail subject of ~960+ characters fails on every try


def quoted(text: str | None, missing: str, limit: int = 200) -> str:
    """Outside text in a message: one line, in quotation marks (so it reads as quoted, not
    as the console's words), or the console's own ``missing`` in parentheses."""
    return f"“{one_line(text, limit)}”" if text else missing


def waiting_digest(rows: list[dict], *, now: int, dashboard_url: str) -> tuple[str, str]:
    """The one message naming the questions that were already waiting when a target was
    switched on: a line each (the first :data:`DIGEST_LINES`), then the Inbox's link."""
    lines = [
        f"{len(rows)} question{'s' if len(rows) != 1 else ''} were already waiting when "
        "notifications were switched on (oldest first):"
    ]
    for row in sorted(rows, key=lambda r: r["requested_at"] or 0)[:DIGEST_LINES]:
        waiting = waited(now - row["requested_at"]) if row["requested_at"] is not None else "?"
        lines.append(
            f"- {quoted(row['client_reference_id'], '(no reference)', 80)} · "
            f"{quoted(row['question'], '(no question text)', 120)} · waiting {waiting} · "
            f"{question_link(dashboard_url, row['input_request_id'])}"
        )
    if len(rows) > DIGEST_LINES:
        lines.append(f"… and {len(rows) - DIGEST_LINES} more.")
    lines.append(f"The Inbox: {dashboard_url.rstrip('/')}/")
    lines.append(f"Notification id: {printable(min(r['notification_id'] for r in rows))}")
    title = f"{TITLES['question.waiting']}: {len(rows)} question{'s' if len(rows) != 1 else ''}"
    return title, "\n".join(lines)


def message(kind: str, rows: list[dict], *, now: int, dashboard_url: str) -> tuple[str, str]:
    """Title and plain-text body for one notification (or a digest of several). Every piece
    of outside text is one line, labelled as quoted (the question: each of its lines behind
    ``> ``); the console's own lines (the link, the id) cannot be imitated by it."""
    if kind == "question.waiting":
        return waiting_digest(rows, now=now, dashboard_url=dashboard_url)
    parts = []
    for row in rows:
        counterparty = " ".join(
            filter(
                None,
                [
                    one_line(row["counterparty_name"], 100) if row["counterparty_name"] else None,
                    f"<{one_line(row['counterparty_address'], 100)}>"
                    if row["counterparty_address"]
                    else None,
                ],
            )
        )
        question = (row["question"] or "").splitlines() or ["(no question text)"]
        lines = [
            f"Case: {quoted(row['client_reference_id'], '(no reference)', 100)} · "
            f"{quoted(counterparty, '(no counterparty)')} · "
            f"{quoted(row['objective'], '(no objective)')}",
            "Question (quoted as received):",
            *(f"> {printable(line)}" for line in question[:40]),
            *(["> …"] if len(question) > 40 else []),
            f"Waiting: {waited(now - row['requested_at'])}"
            if row["requested_at"] is not None
            else "Waiting: since an unknown time",
        ]
        if row.get("due_at") is not None:
            late = now - row["due_at"]
            lines.append(f"Overdue by {waited(late)}" if late >= 0 else f"Due in {waited(-late)}")
        if row.get("assigned_to"):
            lines.append(f"Assigned to: {quoted(row['assigned_to'], '', 100)}")
        lines.append(f"Answer it: {question_link(dashboard_url, row['input_request_id'])}")
        lines.append(f"Notification id: {printable(row['notification_id'])}")
        parts.append("\n".join(lines))
    title = TITLES.get(kind, "Offload console")
    if len(rows) == 1:
        title += f": {one_line(rows[0]['client_reference_id'] or rows[0]['case_id'], 80)}"
    else:
        title += f": {len(rows)} questions"
    return one_line(title, TITLE_LIMIT), "\n\n".join(parts)


def apprise_send(target: Target, title: str, body: str, recipient: str | None) -> str | None:
    """Send one message with Apprise; None when it went, else what went wrong (no URL in it)."""
    import apprise

    url = target.url if recipient is None else _mail_to(target.url, recipient)
    url = _with_id_header(url, body)
    sender = apprise.Apprise()
    if not sender.add(url):
        return f"{target.label}: Apprise does not understand this URL"
    result = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    if result:
        return None
    details = []
    for service in getattr(result, "results", ()):
        for entry in service.logs():
            text = getattr(entry, "message", None) or str(entry)
            details.append(text)
    detail = "; ".join(details[-2:]) or "the target refused or could not be reached"
    return _without(detail, [target.url, url])[:300]


# Services whose Apprise URL takes extra headers (``+Name=value``): each message carries its
# notification id there too, the key a receiver drops repeats by (delivery is at least once).
ID_HEADER = "X-Offload-Console-Notification-Id"
_HEADER_SCHEMES = {"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"}
_NOTIFICATION_ID = re.compile(r"^Notification id: (\S+)$", re.MULTILINE)


def _with_id_header(url: str, body: str) -> str:
    found = _NOTIFICATION_ID.search(body)
    parts = urlsplit(url)
    if found is None or parts.scheme.lower() not in _HEADER_SCHEMES:
        return url
    query = [*parse_qsl(parts.query, keep_blank_values=True), (f"+{ID_HEADER}", found.group(1))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _without(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "•••")
    return text


def _mail_to(url: str, recipient: str) -> str:
    """The mailto URL with its recipients replaced by one operator's address."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "to"]
    query.append(("to", recipient))
    return urlunsplit(parts._replace(query=urlencode(query)))


def retry_delay_ms(
    failures: int, first_ms: int = FIRST_RETRY_MS, recover_ms: int = RECOVER_MS
) -> int:
    """After a target's ``failures``-th failure in a row: ``first_ms`` (10 s), then twice as
    long each time, never more than ``recover_ms`` (15 s; or ``first_ms`` if that is longer)."""
    return min(first_ms * 2 ** max(0, failures - 1), max(recover_ms, first_ms))


Sender = Callable[[Target, str, str, str | None], str | None]
# ``invite(db, question id, recipient address)``: a reply address and the footer that lets the
# recipient answer by replying (``offload_console.mail_answers``), or None for an address that
# is no operator's.
Invite = Callable[[object, str, str], tuple[str, str] | None]
REPLYABLE = ("question.new", "question.due_soon", "question.overdue", "question.assigned")


@functools.lru_cache(maxsize=32)
def mail_recipients(url: str) -> tuple[str, ...]:
    """The addresses a ``mailto://`` target sends to (Apprise's own reading of its URL, once
    per URL: the URLs are fixed for the process's life)."""
    import apprise

    found = apprise.Apprise.instantiate(url)
    return tuple(address for _, address in getattr(found, "targets", None) or [])


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with its query parameter ``name`` set to ``value`` (once)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


def _sends(db, target: Target, kind: str, rows: list[dict], body: str, invite: Invite | None):
    """``(target, body, recipient)`` for each message one notification makes: one, or, for an
    e-mail about one question with ``invite``, one per recipient, each operator's carrying the
    reply address (as Reply-To) and footer that let that operator answer by replying."""
    recipient = rows[0]["recipient"]
    if invite is None or not target.sends_mail or kind not in REPLYABLE or len(rows) != 1:
        return [(target, body, recipient)]
    addresses = [recipient] if recipient else mail_recipients(target.url)
    sends, invited = [], False
    for address in addresses:
        try:
            made = invite(db, rows[0]["input_request_id"], address)
        except StorageError as exc:  # the e-mail still goes, only without a reply address
            log.warning("no reply address for a notification: %s", exc)
            made = None
        if made is None:
            sends.append((target, body, address))
            continue
        invited = True
        reply_to, footer = made
        personal = dataclasses.replace(target, url=with_query(target.url, "reply", reply_to))
        head, marker, notification_id = body.rpartition("\nNotification id: ")
        personal_body = (
            f"{head}\n\n{footer}\n{marker.lstrip()}{notification_id}"  # the id stays last
            if marker
            else f"{body}\n\n{footer}"
        )
        sends.append((personal, personal_body, address))
    return sends if invited else [(target, body, recipient)]


RECORD_MARGIN_MS = 1000  # a send's outcome is retried until this long before its next try


def _recorded(record, *, budget_ms: int):
    """``record()``, tried again while the database is unavailable (a restart, a failover:
    the pool gives a new connection) for ``budget_ms``: until shortly before the send's booked
    next try, after which another pass, of this instance or another, may send it again. So the
    message goes twice only when the database stayed away that long."""
    deadline = time.monotonic() + (budget_ms - RECORD_MARGIN_MS) / 1000
    while True:
        try:
            return record()
        except StorageError as exc:  # whatever it was: the record is what prevents a double
            if time.monotonic() + RECORD_RETRY_S >= deadline:
                raise
            log.info("the outcome of a send is not recorded yet (%s); trying again", exc)
            time.sleep(RECORD_RETRY_S)


RECORD_RETRY_S = 0.2


def _record_sent_earlier(db, unrecorded: dict[str, str], now: int) -> None:
    """Record the messages sent by earlier passes whose records failed (``send_due``)."""
    by_target: dict[str, list[str]] = {}
    for notification_id, target_id in unrecorded.items():
        by_target.setdefault(target_id, []).append(notification_id)
    for target_id, ids in by_target.items():
        try:
            store.mark_sent(db, ids, target_id, now=now)
        except StorageError:
            continue  # still unavailable: the next pass tries again
        for notification_id in ids:
            del unrecorded[notification_id]


def send_due(
    db,
    targets: list[Target],
    *,
    now: int,
    dashboard_url: str,
    answer_within_ms: int,
    digest_ms: int = 0,
    first_retry_ms: int = FIRST_RETRY_MS,
    recover_ms: int = RECOVER_MS,
    remind_at: float = REMIND_AT,
    send: Sender = apprise_send,
    unrecorded: dict[str, str] | None = None,
    invite: Invite | None = None,
) -> dict[str, int]:
    """One pass: queue reminders and overdue notifications, then send every notification that
    is due; a failing target gets one message per pass at most (its oldest). Returns counts by
    outcome (sent, retry, failed, dropped).

    ``unrecorded``: the messages this process sent whose outcome it could not record yet
    (notification id → target id, kept by the caller from pass to pass). Each pass records
    them first; a batch holding one still unrecorded waits: only a process that dies between a
    send and its record leaves a message to go twice.

    ``invite``: e-mails about one question to an operator carry a reply address (:func:`_sends`);
    one to several recipients goes to each alone, and a failure sends them all again."""
    unrecorded = {} if unrecorded is None else unrecorded
    _record_sent_earlier(db, unrecorded, now)
    by_id = {t.target_id: t for t in targets}
    counts = {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}
    store.queue_due_soon(db, now=now, answer_within_ms=answer_within_ms, share=remind_at)
    store.queue_overdue(db, now=now, answer_within_ms=answer_within_ms)
    counts["dropped"] += store.drop_answered(db, now=now)
    tried_while_failing: set[str] = set()
    for target_id, kind, rows in store.due_batches(
        db, now=now, answer_within_ms=answer_within_ms, digest_ms=digest_ms
    ):
        target = by_id.get(target_id)
        if target is None or target_id in tried_while_failing:
            continue  # not configured (kept, sent if it comes back); failing: tried once a pass
        if any(row["notification_id"] in unrecorded for row in rows):
            counts["retry"] += len(rows)  # sent already: recorded when the database lets it
            continue
        # The target's failures in a row; or this message's own tries, when their outcomes
        # could not be recorded.
        failures = max(rows[0]["target_failures"], rows[0]["attempts"])
        title, body = message(kind, rows, now=now, dashboard_url=dashboard_url)
        ids = [row["notification_id"] for row in rows]
        next_attempt_at = now + retry_delay_ms(failures + 1, first_retry_ms, recover_ms)
        # The next try is booked before this one is made: a send whose outcome cannot be
        # recorded (a full disk) waits like a failed one instead of going again each second.
        # A booking that cannot be written sends nothing.
        try:
            store.book_next_attempt(db, ids, next_attempt_at)
        except StorageError as exc:
            log.warning("notifications not sent: the database cannot be written (%s)", exc)
            counts["retry"] += len(ids)
            break
        error = None
        for one_target, one_body, one_recipient in _sends(db, target, kind, rows, body, invite):
            error = send(one_target, title, one_body, one_recipient)
            if error is not None:
                break
        try:
            if error is None:
                unrecorded.update(dict.fromkeys(ids, target_id))
                released = _recorded(
                    partial(store.mark_sent, db, ids, target_id, now=now),
                    budget_ms=next_attempt_at - now,
                )
                for sent_id in ids:
                    del unrecorded[sent_id]
                if released:
                    log.info("%s accepts messages again: %d waiting go now", target.label, released)
                counts["sent"] += len(ids)
                continue
            tried_while_failing.add(target_id)
            log.warning("notification to %s failed: %s", target.label, error)
            give_up = now - min(row["created_at"] for row in rows) >= GIVE_UP_AFTER_MS
            _recorded(
                partial(
                    store.mark_failed,
                    db,
                    ids,
                    target_id,
                    now=now,
                    error=error,
                    next_attempt_at=next_attempt_at,
                    give_up=give_up,
                ),
                budget_ms=next_attempt_at - now,
            )
        except StorageError as exc:
            log.warning(
                "notification %s to %s: outcome not recorded (%s); next try as booked",
                ids[0],
                target.label,
                exc,
            )
            counts["retry"] += len(ids)
            continue
        counts["failed" if give_up else "retry"] += len(ids)
    return counts


@dataclass(frozen=True)
class NotifyOptions:
    """What :func:`send_due` is told besides the pass's time (from the settings)."""

    dashboard_url: str
    answer_within_ms: int
    digest_ms: int = 0
    first_retry_ms: int = FIRST_RETRY_MS
    recover_ms: int = RECOVER_MS
    remind_at: float = REMIND_AT
    invite: Invite | None = None  # answering by e-mail: see :func:`send_due`


async def notify_forever(
    open_db,
    targets: list[Target],
    options: NotifyOptions,
    every_s: float = 1.0,
    *,
    job_for=None,
):
    """Run :func:`send_due` every ``every_s`` in a worker thread with its own connection
    (``open_db()``), so the sidecar's loop keeps answering webhooks, with ``options``. ``job_for(target_id)``: a ``storage.jobs.JobLock``
    per target; a pass sends to the targets whose lock this instance holds (one sender per
    target across all instances of a database, whichever instances have it configured)."""
    from storage import now_ms

    jobs = {t.target_id: job_for(t.target_id) for t in targets} if job_for else {}
    unrecorded: dict[str, str] = {}  # sent, not recorded yet (send_due): never sent again

    def one_pass() -> None:
        mine = [t for t in targets if t.target_id not in jobs or jobs[t.target_id].held()]
        if not mine:
            return  # other instances send to every target this one has
        db = open_db()
        try:
            counts = send_due(
                db, mine, now=now_ms(), unrecorded=unrecorded, **dataclasses.asdict(options)
            )
            if any(counts.values()):
                log.info("notifications: %s", counts)
        finally:
            db.conn.close()

    try:
        while True:
            try:
                await asyncio.to_thread(one_pass)
            except StorageError as exc:  # a restart, a failover: the next pass reconnects
                log.warning(
                    "notification pass: the database is unavailable (%s); trying again", exc
                )
            except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
                log.exception("notification pass failed")
            await asyncio.sleep(every_s)
    finally:
        for job in jobs.values():
            job.release()
