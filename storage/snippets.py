"""Saved replies the Inbox offers when answering a question, by name."""

from __future__ import annotations

from storage import audit
from storage.database import Database
from storage.db import now_ms, write_transaction


def list_snippets(db: Database) -> list[dict]:
    return list(db.query("SELECT name, text, created_by FROM reply_snippets ORDER BY name"))


def save_snippet(db: Database, name: str, text: str, operator: str) -> None:
    with write_transaction(db):
        db.execute(
            "INSERT INTO reply_snippets (name, text, created_by, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET text = excluded.text,"
            " created_by = excluded.created_by, created_at = excluded.created_at",
            [name, text, operator, now_ms()],
        )
        audit.record(db, operator, "snippet.saved", target=name)


def delete_snippet(db: Database, name: str, operator: str | None) -> None:
    with write_transaction(db):
        if db.execute("DELETE FROM reply_snippets WHERE name = ?", [name]).rowcount:
            audit.record(db, operator, "snippet.deleted", target=name)
