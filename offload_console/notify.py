"""Telling operators about questions: Apprise targets, the messages, and the sender.

A notification is a row (``storage/notifications.py``): ``question.new`` rows are written by
the database itself in the transaction that records the question; ``question.overdue`` rows by
:func:`send_due`'s caller once a question's due time passes; ``question.assigned`` rows when a
question is assigned to an operator with an e-mail. The always-on sidecar sends them
(:func:`notify_forever`), retrying a target that fails (first retry after about 10 s, doubling,
at most 10 min apart) for up to 24 h. A question no longer pending when its turn comes is not
sent. Every message carries its notification id, so a receiver can drop the one copy a kill -9
between a send and its record can cause.

Apprise URLs are secrets (tokens, passwords): they live in memory only. The database keeps a
hash of each (its target id) and a label that shows the scheme alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from offload_client.text import one_line, printable
from offload_console.words import duration
from storage import StorageError
from storage import notifications as store

log = logging.getLogger("offload_console.notify")

FIRST_RETRY_MS = 10_000
MAX_RETRY_MS = 600_000
GIVE_UP_AFTER_MS = 24 * 3_600_000
TITLES = {
    "question.new": "Question waiting",
    "question.overdue": "Question overdue",
    "question.assigned": "Question assigned to you",
}


@dataclass(frozen=True)
class Target:
    target_id: str
    url: str  # secret: never stored, shown or logged
    label: str

    @property
    def sends_mail(self) -> bool:
        return self.url.split(":", 1)[0].lower() in ("mailto", "mailtos")


def targets_from_urls(urls: list[str]) -> list[Target]:
    """One target per distinct URL, identified by a hash of it."""
    found: dict[str, Target] = {}
    for url in urls:
        target_id = "t_" + hashlib.sha256(url.encode()).hexdigest()[:12]
        scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
        found.setdefault(target_id, Target(target_id, url, f"{scheme}:// ({target_id})"))
    return list(found.values())


def waited(ms: int) -> str:
    """How long, in the pages' words (``0 min`` under a minute)."""
    return duration(ms, zero="0 min")


TITLE_LIMIT = 120  # an e-mail subject of ~960+ characters fails on every try


def quoted(text: str | None, missing: str, limit: int = 200) -> str:
    """Outside text in a message: one line, in quotation marks (so it reads as quoted, not
    as the console's words), or the console's own ``missing`` in parentheses."""
    return f"“{one_line(text, limit)}”" if text else missing


def case_link(dashboard_url: str, case_id: str) -> str:
    """The console's link to a case: the id percent-encoded, so no character of it can end
    the link or start a line."""
    return f"{dashboard_url.rstrip('/')}/case?case={quote(case_id, safe='')}"


def message(kind: str, rows: list[dict], *, now: int, dashboard_url: str) -> tuple[str, str]:
    """Title and plain-text body for one notification (or a digest of several). Every piece
    of outside text is one line, labelled as quoted (the question: each of its lines behind
    ``> ``); the console's own lines (the link, the id) cannot be imitated by it."""
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
        lines.append(f"Answer it: {case_link(dashboard_url, row['case_id'])}")
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


def retry_delay_ms(attempts: int, first_ms: int = FIRST_RETRY_MS) -> int:
    """After the ``attempts``-th failure: 10 s, 20 s, 40 s, … at most 10 min."""
    return min(first_ms * 2 ** max(0, attempts - 1), MAX_RETRY_MS)


Sender = Callable[[Target, str, str, str | None], str | None]


def send_due(
    db,
    targets: list[Target],
    *,
    now: int,
    dashboard_url: str,
    answer_within_ms: int,
    digest_ms: int = 0,
    first_retry_ms: int = FIRST_RETRY_MS,
    send: Sender = apprise_send,
) -> dict[str, int]:
    """One pass: queue overdue notifications, then send every notification that is due.
    Returns counts by outcome (sent, failed, dropped, retry)."""
    by_id = {t.target_id: t for t in targets}
    counts = {"sent": 0, "retry": 0, "failed": 0, "dropped": 0}
    store.queue_overdue(db, now=now, answer_within_ms=answer_within_ms)
    dropped = store.drop_answered(db, now=now)
    counts["dropped"] += dropped
    for target_id, kind, rows in store.due_batches(
        db, now=now, answer_within_ms=answer_within_ms, digest_ms=digest_ms
    ):
        target = by_id.get(target_id)
        if target is None:
            continue  # no longer configured: kept, sent again if it comes back
        title, body = message(kind, rows, now=now, dashboard_url=dashboard_url)
        recipient = rows[0]["recipient"]
        ids = [row["notification_id"] for row in rows]
        attempts = rows[0]["attempts"] + 1
        next_attempt_at = now + retry_delay_ms(attempts, first_retry_ms)
        # The next try is booked before this one is made: a send whose outcome cannot be
        # recorded (a full disk) waits like a failed one instead of going again each second.
        # A booking that cannot be written sends nothing.
        try:
            store.book_next_attempt(db, ids, next_attempt_at)
        except StorageError as exc:
            log.warning("notifications not sent: the database cannot be written (%s)", exc)
            counts["retry"] += len(ids)
            break
        error = send(target, title, body, recipient)
        try:
            if error is None:
                store.mark_sent(db, ids, target_id, now=now)
                counts["sent"] += len(ids)
                continue
            log.warning("notification to %s failed: %s", target.label, error)
            give_up = now - min(row["created_at"] for row in rows) >= GIVE_UP_AFTER_MS
            store.mark_failed(
                db,
                ids,
                target_id,
                now=now,
                error=error,
                next_attempt_at=next_attempt_at,
                give_up=give_up,
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


async def notify_forever(open_db, targets: list[Target], every_s: float = 1.0, **options):
    """Run :func:`send_due` every ``every_s`` in a worker thread with its own connection
    (``open_db()``), so the sidecar's loop keeps answering webhooks. ``options`` go to
    :func:`send_due`, ``now`` excepted."""
    from storage import now_ms

    def one_pass() -> None:
        db = open_db()
        try:
            counts = send_due(db, targets, now=now_ms(), **options)
            if any(counts.values()):
                log.info("notifications: %s", counts)
        finally:
            db.conn.close()

    while True:
        try:
            await asyncio.to_thread(one_pass)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
            log.exception("notification pass failed")
        await asyncio.sleep(every_s)
