"""Sign-in sessions of local accounts (``sign_in_sessions``): begun when a password is
accepted, bound to a browser cookie through a one-time ticket, ended by sign-out, by a change
of the account, or by time. Tokens and tickets are random; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from storage.database import Database
from storage.db import first_row, write_transaction

TICKET_MS = 60_000


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def begin(
    db: Database, operator: str, fingerprint: str, *, now: int, lifetime_ms: int
) -> tuple[str, str]:
    """A new session for ``operator``: ``(session_id, ticket)``; the ticket, given once to
    :func:`exchange` within a minute, gets the browser its cookie."""
    session_id = secrets.token_urlsafe(16)
    ticket = secrets.token_urlsafe(32)
    with write_transaction(db):
        db.execute(
            "INSERT INTO sign_in_sessions (session_id, operator, fingerprint, ticket_hash,"
            " ticket_expires_at, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                session_id,
                operator,
                fingerprint,
                _hash(ticket),
                now + TICKET_MS,
                now,
                now + lifetime_ms,
            ],
        )
    return session_id, ticket


def exchange(db: Database, ticket: str, *, now: int) -> tuple[str, int] | None:
    """The ticket (once, before it expires) for a new cookie token: ``(token, expires_at)``;
    None for an unknown, used or expired ticket, or an ended session."""
    token = secrets.token_urlsafe(32)
    with write_transaction(db):
        row = first_row(
            db,
            "SELECT session_id, expires_at FROM sign_in_sessions WHERE ticket_hash = ?"
            " AND ticket_expires_at > ? AND ended_at IS NULL AND expires_at > ?",
            [_hash(ticket), now, now],
        )
        db.execute(
            "UPDATE sign_in_sessions SET ticket_hash = NULL, ticket_expires_at = NULL"
            " WHERE ticket_hash = ?",
            [_hash(ticket)],
        )
        if row is None:
            return None
        db.execute(
            "UPDATE sign_in_sessions SET token_hash = ? WHERE session_id = ?",
            [_hash(token), row["session_id"]],
        )
    return token, row["expires_at"]


def by_token(db: Database, token: str, *, now: int) -> dict | None:
    """The live session a cookie's token belongs to (not ended, not expired), or None."""
    if not token:
        return None
    return first_row(
        db,
        "SELECT session_id, operator, fingerprint, expires_at FROM sign_in_sessions"
        " WHERE token_hash = ? AND ended_at IS NULL AND expires_at > ?",
        [_hash(token), now],
    )


def is_live(db: Database, session_id: str, *, now: int) -> bool:
    return (
        first_row(
            db,
            "SELECT 1 AS live FROM sign_in_sessions WHERE session_id = ? AND ended_at IS NULL"
            " AND expires_at > ?",
            [session_id, now],
        )
        is not None
    )


def end(
    db: Database,
    *,
    now: int,
    why: str,
    session_id: str | None = None,
    token: str | None = None,
    operator: str | None = None,
) -> int:
    """End the session with this id, or this cookie token, or every session of ``operator``;
    returns how many ended."""
    if session_id is not None:
        where, value = "session_id = ?", session_id
    elif token is not None:
        where, value = "token_hash = ?", _hash(token)
    else:
        where, value = "operator = ?", operator
    with write_transaction(db):
        return db.execute(
            "UPDATE sign_in_sessions SET ended_at = ?, ended_why = ?, ticket_hash = NULL"
            f" WHERE {where} AND ended_at IS NULL",
            [now, why, value],
        ).rowcount


def ticket_waiting(db: Database, session_id: str, *, now: int) -> bool:
    """Whether this session's ticket is still to be exchanged (and may still be)."""
    return (
        first_row(
            db,
            "SELECT 1 AS waiting FROM sign_in_sessions WHERE session_id = ?"
            " AND ticket_hash IS NOT NULL AND ticket_expires_at > ?",
            [session_id, now],
        )
        is not None
    )
