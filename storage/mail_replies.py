"""Answering by e-mail: reply tokens and the messages read from the answer mailbox (migration
m020; ``offload_console.mail_answers`` decides what each message does).

- ``reply_tokens``: one row per e-mail about a question sent to an operator, keyed by the
  SHA-256 of its token (the token itself is only in that e-mail). It names the question, the
  operator and the address it went to; it is good while the question is pending.
- ``mail_replies``: one row per message read, keyed by its Message-ID (or the hash of its bytes
  when it has none), written before the message is acted on: a message read again (a crash
  before it was moved out of the inbox, a copy delivered twice) is recognised and acts once.
  ``outcome`` is NULL while its answer is being sent; then ``answered``, ``refused`` or
  ``ignored``, with ``reason``. The confirmation or refusal mailed back is kept with it
  (``reply_status`` ``PENDING`` → ``SENT`` or ``FAILED``; ``NONE``: none is sent).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.db import first_row, now_ms, write_transaction

REPLY_GIVE_UP_AFTER = 20  # a confirmation that failed this many times is not tried again


@dataclass(frozen=True)
class MailBack:
    """The confirmation or refusal a message's sender is mailed."""

    to: str
    subject: str
    body: str


def add_token(
    db: Database, token_hash: str, request_id: str, operator: str, address: str, now: int
) -> None:
    with write_transaction(db, lock=None):
        db.execute(
            "INSERT INTO reply_tokens (token_hash, input_request_id, operator, address,"
            " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [token_hash, request_id, operator, address, now],
        )


def token(db: Database, token_hash: str) -> dict | None:
    """The token's row with its question (``status``, ``answered_by``, ``case_id``,
    ``client_reference_id``, ``question``), or None for a token the console never made."""
    return first_row(
        db,
        "SELECT t.token_hash, t.input_request_id, t.operator, t.address, t.created_at,"
        " r.status, r.answered_by, r.answered_via, r.answered_at, r.case_id, r.question,"
        " c.client_reference_id"
        " FROM reply_tokens t LEFT JOIN input_requests r USING (input_request_id)"
        " LEFT JOIN cases c ON c.case_id = r.case_id WHERE t.token_hash = ?",
        [token_hash],
    )


def message(db: Database, message_key: str) -> dict | None:
    return first_row(db, "SELECT * FROM mail_replies WHERE message_key = ?", [message_key])


def begin(
    db: Database,
    message_key: str,
    *,
    message_id: str | None,
    sender: str | None,
    request_id: str | None,
    operator: str | None,
    answer: str | None,
) -> dict:
    """Write down that the message is being acted on (nothing if it was already): returns
    its row as it stands, so a message read a second time is seen for what it was."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO mail_replies (message_key, message_id, sender, received_at,"
            " input_request_id, operator, answer) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [message_key, message_id, sender, now_ms(), request_id, operator, answer],
        )
        return message(db, message_key)


def finish(
    db: Database,
    message_key: str,
    *,
    outcome: str,
    reason: str,
    reply: MailBack | None,
) -> None:
    """The message's outcome, and the mail that tells its sender (sent by the reader's next
    pass; None: nothing is mailed back)."""
    to, subject, body = (reply.to, reply.subject, reply.body) if reply else (None, None, None)
    with write_transaction(db):
        db.execute(
            "UPDATE mail_replies SET outcome = ?, reason = ?, handled_at = ?, reply_to = ?,"
            " reply_subject = ?, reply_body = ?, reply_status = ? WHERE message_key = ?",
            [
                outcome,
                reason,
                now_ms(),
                to,
                subject,
                body,
                "PENDING" if reply else "NONE",
                message_key,
            ],
        )


def replies_due(db: Database, limit: int = 20) -> list[dict]:
    return list(
        db.query(
            "SELECT message_key, reply_to, reply_subject, reply_body, reply_attempts"
            " FROM mail_replies WHERE reply_status = 'PENDING' ORDER BY handled_at LIMIT ?",
            [limit],
        )
    )


def mark_replied(db: Database, message_key: str, error: str | None = None) -> None:
    """The confirmation went (``error`` None), or failed: tried again by the next pass until
    :data:`REPLY_GIVE_UP_AFTER` failures."""
    with write_transaction(db, lock=None):
        if error is None:
            db.execute(
                "UPDATE mail_replies SET reply_status = 'SENT', replied_at = ?,"
                " reply_attempts = reply_attempts + 1, reply_error = NULL WHERE message_key = ?",
                [now_ms(), message_key],
            )
            return
        db.execute(
            "UPDATE mail_replies SET reply_attempts = reply_attempts + 1, reply_error = ?,"
            " reply_status = CASE WHEN reply_attempts + 1 >= ? THEN 'FAILED' ELSE reply_status"
            " END WHERE message_key = ?",
            [error[:300], REPLY_GIVE_UP_AFTER, message_key],
        )


def recent(db: Database, limit: int = 50) -> list[dict]:
    """The newest messages read, for Health and the CLI."""
    return list(
        db.query(
            "SELECT message_key, message_id, sender, received_at, input_request_id, operator,"
            " outcome, reason, reply_status, reply_error FROM mail_replies"
            " ORDER BY received_at DESC LIMIT ?",
            [limit],
        )
    )


def summary(db: Database, since: int) -> dict:
    """For Health: messages read since ``since`` by outcome, the newest one's time, and the
    confirmations waiting or given up (with the last error)."""
    outcomes = {
        row["outcome"] or "being sent": row["n"]
        for row in db.query(
            "SELECT outcome, count(*) AS n FROM mail_replies WHERE received_at >= ?"
            " GROUP BY outcome",
            [since],
        )
    }
    newest = db.execute("SELECT max(received_at) FROM mail_replies").fetchone()[0]
    replies = {
        row["reply_status"]: row["n"]
        for row in db.query(
            "SELECT reply_status, count(*) AS n FROM mail_replies"
            " WHERE reply_status IN ('PENDING', 'FAILED') GROUP BY reply_status"
        )
    }
    error = first_row(
        db,
        "SELECT reply_error FROM mail_replies WHERE reply_error IS NOT NULL"
        " ORDER BY handled_at DESC LIMIT 1",
    )
    return {
        "outcomes": outcomes,
        "newest": newest,
        "waiting": replies.get("PENDING", 0),
        "failed": replies.get("FAILED", 0),
        "last_error": error["reply_error"] if error else None,
    }
