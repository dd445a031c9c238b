"""Local operator accounts (used when no OIDC provider is configured)."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.db import NotFoundError

from storage.db import now_ms, write_transaction


def count_operators(db: sqlite_utils.Database) -> int:
    return db["operators"].count


def list_operators(db: sqlite_utils.Database) -> list[dict]:
    return list(db["operators"].rows_where(select="name, created_at, created_by", order_by="name"))


def get_password_hash(db: sqlite_utils.Database, name: str) -> str | None:
    try:
        return db["operators"].get(name)["password_hash"]
    except NotFoundError:
        return None


def upsert_operator(
    db: sqlite_utils.Database, name: str, password_hash: str, created_by: str | None
) -> bool:
    """Add or re-password an operator; True if it was new."""
    with write_transaction(db):
        existed = get_password_hash(db, name) is not None
        if existed:
            db["operators"].update(name, {"password_hash": password_hash})
        else:
            db["operators"].insert(
                {
                    "name": name,
                    "password_hash": password_hash,
                    "created_at": now_ms(),
                    "created_by": created_by,
                }
            )
    return not existed


def set_email(db: sqlite_utils.Database, name: str, email: str | None) -> None:
    with write_transaction(db):
        db["operators"].update(name, {"email": email})


def operator_emails(db: sqlite_utils.Database) -> dict[str, str]:
    """Local operators' e-mails, by name (those who gave one)."""
    return {
        row["name"]: row["email"]
        for row in db["operators"].rows_where("email IS NOT NULL", select="name, email")
    }


def update_hash(db: sqlite_utils.Database, name: str, password_hash: str) -> None:
    with write_transaction(db):
        try:
            db["operators"].update(name, {"password_hash": password_hash})
        except NotFoundError:
            pass  # removed meanwhile: nothing to re-hash


def remove_operator(db: sqlite_utils.Database, name: str) -> bool:
    with write_transaction(db):
        if get_password_hash(db, name) is None:
            return False
        db["operators"].delete(name)
        return True
