"""Local operator accounts (used when no OIDC provider is configured)."""

from __future__ import annotations

import sqlite_utils

from storage.db import now_ms


def count_operators(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM operators").fetchone()[0]


def list_operators(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT name, created_at, created_by FROM operators ORDER BY name"))


def get_password_hash(db: sqlite_utils.Database, name: str) -> str | None:
    row = db.execute("SELECT password_hash FROM operators WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def upsert_operator(
    db: sqlite_utils.Database, name: str, password_hash: str, created_by: str | None
) -> bool:
    """Add or re-password an operator; True if it was new."""
    with db.atomic():
        existed = get_password_hash(db, name) is not None
        db.execute(
            "INSERT INTO operators (name, password_hash, created_at, created_by)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " password_hash = excluded.password_hash",
            [name, password_hash, now_ms(), created_by],
        )
    return not existed


def update_hash(db: sqlite_utils.Database, name: str, password_hash: str) -> None:
    with db.atomic():
        db.execute("UPDATE operators SET password_hash = ? WHERE name = ?", [password_hash, name])


def remove_operator(db: sqlite_utils.Database, name: str) -> bool:
    with db.atomic():
        return db.execute("DELETE FROM operators WHERE name = ?", [name]).rowcount == 1
