"""Who else has a question open, who is typing an answer to it, and each operator's unsent
answers (``presence`` and ``drafts``, migration m018). Presence is a row per open Inbox (a
browser session), refreshed while the page is open; nothing ends it but time, so a closed tab
is gone after ``PRESENT_MS``. Drafts are keyed by operator and question: a reload, a new tab
or another operator's answer never loses one; sending it deletes it.

Each write is a one-row upsert that needs no other writer out of the way: on PostgreSQL it
takes none of the console's write lock (``lock=None``), so a writer of another instance holding
that lock delays neither a heartbeat nor a draft typed meanwhile."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.db import now_ms, write_transaction

PRESENT_MS = 10_000  # an Inbox not heard from for this long has been closed (or reloaded)
TYPING_MS = 8_000  # typing, if the last keystroke reported is younger than this
REFRESH_MS = 3_000  # how often an open Inbox says it is still there (sooner when it changes)
DRAFTS_KEPT_MS = 7 * 24 * 3_600_000  # an unsent draft no one touched for a week is dropped


@dataclass(frozen=True)
class Presence:
    operator: str
    typing: bool


def heartbeat(
    db: Database,
    session: str,
    operator: str,
    request_id: str | None,
    typing_at: int | None,
    now: int | None = None,
) -> None:
    """This browser session's operator has ``request_id`` open (None: none) and last typed an
    answer to it at ``typing_at``. Also forgets sessions long gone."""
    now = now_ms() if now is None else now
    with write_transaction(db, lock=None):
        db.execute(
            "INSERT INTO presence (session_id, operator, input_request_id, typing_at, seen_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
            " operator = excluded.operator, input_request_id = excluded.input_request_id,"
            " typing_at = excluded.typing_at, seen_at = excluded.seen_at",
            [session, operator, request_id, typing_at, now],
        )
        db.execute("DELETE FROM presence WHERE seen_at < ?", [now - 20 * PRESENT_MS])


def others_on(db: Database, me: str | None, now: int | None = None) -> dict[str, list[Presence]]:
    """Question id -> which other operators (not ``me``, names compared without case) have it
    open now, each once, typing first, then by name. The same operator's other tabs are not
    "others": the claim on a question already tells a tab that another of its tabs sends."""
    now = now_ms() if now is None else now
    mine = (me or "").strip().casefold()
    rows = db.query(
        "SELECT input_request_id, operator, max(coalesce(typing_at, 0)) AS typing_at"
        " FROM presence WHERE seen_at >= ? AND input_request_id IS NOT NULL"
        " GROUP BY input_request_id, operator",
        [now - PRESENT_MS],
    )
    present: dict[str, list[Presence]] = {}
    for row in rows:
        if row["operator"].strip().casefold() == mine:
            continue
        typing = row["typing_at"] >= now - TYPING_MS
        present.setdefault(row["input_request_id"], []).append(Presence(row["operator"], typing))
    for people in present.values():
        people.sort(key=lambda p: (not p.typing, p.operator.casefold()))
    return present


def save_draft(
    db: Database, operator: str, request_id: str, text: str, now: int | None = None
) -> None:
    """Keep ``operator``'s unsent answer to ``request_id`` (an empty one is deleted)."""
    now = now_ms() if now is None else now
    with write_transaction(db, lock=None):
        if text.strip():
            db.execute(
                "INSERT INTO drafts (operator, input_request_id, text, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (operator, input_request_id) DO UPDATE SET"
                " text = excluded.text, updated_at = excluded.updated_at",
                [operator, request_id, text, now],
            )
        else:
            db.execute(
                "DELETE FROM drafts WHERE operator = ? AND input_request_id = ?",
                [operator, request_id],
            )
        db.execute("DELETE FROM drafts WHERE updated_at < ?", [now - DRAFTS_KEPT_MS])


def draft_of(db: Database, operator: str, request_id: str) -> str | None:
    row = db.execute(
        "SELECT text FROM drafts WHERE operator = ? AND input_request_id = ?",
        [operator, request_id],
    ).fetchone()
    return row[0] if row else None


def drop_draft(db: Database, operator: str, request_id: str) -> None:
    save_draft(db, operator, request_id, "")
