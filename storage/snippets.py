"""Saved replies the Inbox offers when answering a question, by name."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.db import NotFoundError

from storage import audit
from storage.db import now_ms, write_transaction


def list_snippets(db: sqlite_utils.Database) -> list[dict]:
    return list(db["reply_snippets"].rows_where(select="name, text, created_by", order_by="name"))


def save_snippet(db: sqlite_utils.Database, name: str, text: str, operator: str) -> None:
    with write_transaction(db):
        db["reply_snippets"].upsert(
            {"name": name, "text": text, "created_by": operator, "created_at": now_ms()},
            pk="name",
        )
        audit.record(db, operator, "snippet.saved", target=name)


def delete_snippet(db: sqlite_utils.Database, name: str, operator: str | None) -> None:
    with write_transaction(db):
        try:
            db["reply_snippets"].delete(name)
        except NotFoundError:
            return
        audit.record(db, operator, "snippet.deleted", target=name)
