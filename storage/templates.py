"""Saved New case forms (case bodies), by name."""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.db import NotFoundError

from storage import audit
from storage.db import now_ms, write_transaction


def list_templates(db: sqlite_utils.Database) -> list[dict]:
    return [
        {**row, "body": json.loads(row["body"])}
        for row in db["case_templates"].rows_where(
            select="name, body, created_by, updated_at", order_by="name"
        )
    ]


def save_template(db: sqlite_utils.Database, name: str, body: dict, operator: str | None) -> None:
    now = now_ms()
    text = json.dumps(body, ensure_ascii=False)
    with write_transaction(db):
        table = db["case_templates"]
        try:
            table.get(name)
        except NotFoundError:
            table.insert(
                {
                    "name": name,
                    "body": text,
                    "created_by": operator,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        else:
            table.update(name, {"body": text, "created_by": operator, "updated_at": now})
        audit.record(db, operator, "template.saved", target=name)


def delete_template(db: sqlite_utils.Database, name: str, operator: str | None) -> bool:
    with write_transaction(db):
        try:
            db["case_templates"].delete(name)
        except NotFoundError:
            return False
        audit.record(db, operator, "template.deleted", target=name)
    return True
