"""Saved New case forms (case bodies), by name."""

from __future__ import annotations

import json

from storage import audit
from storage.database import Database
from storage.db import now_ms, write_transaction


def list_templates(db: Database) -> list[dict]:
    return [
        {**row, "body": json.loads(row["body"])}
        for row in db.query(
            "SELECT name, body, created_by, updated_at FROM case_templates ORDER BY name"
        )
    ]


def save_template(db: Database, name: str, body: dict, operator: str | None) -> None:
    now = now_ms()
    with write_transaction(db):
        db.execute(
            "INSERT INTO case_templates (name, body, created_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body,"
            " created_by = excluded.created_by, updated_at = excluded.updated_at",
            [name, json.dumps(body, ensure_ascii=False), operator, now, now],
        )
        audit.record(db, operator, "template.saved", target=name)


def delete_template(db: Database, name: str, operator: str | None) -> bool:
    with write_transaction(db):
        if not db.execute("DELETE FROM case_templates WHERE name = ?", [name]).rowcount:
            return False
        audit.record(db, operator, "template.deleted", target=name)
    return True
