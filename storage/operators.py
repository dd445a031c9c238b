"""Local operator accounts (used when no OIDC provider is configured)."""

from __future__ import annotations

from storage.database import Database
from storage.db import first_row, now_ms, write_transaction


def count_operators(db: Database) -> int:
    return db.execute("SELECT count(*) FROM operators").fetchone()[0]


ROLES = ("viewer", "operator", "admin")  # each may do what the one before it may, and more


def list_operators(db: Database) -> list[dict]:
    return list(
        db.query("SELECT name, created_at, created_by, role, email FROM operators ORDER BY name")
    )


def role_of(db: Database, name: str) -> str | None:
    """A local account's role (None: no such account)."""
    row = first_row(db, "SELECT role FROM operators WHERE name = ?", [name])
    return row["role"] if row else None


def set_role(db: Database, name: str, role: str) -> bool:
    """True when the account exists (its role is now ``role``)."""
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    with write_transaction(db):
        return (
            db.execute("UPDATE operators SET role = ? WHERE name = ?", [role, name]).rowcount == 1
        )


def get_password_hash(db: Database, name: str) -> str | None:
    row = first_row(db, "SELECT password_hash FROM operators WHERE name = ?", [name])
    return row["password_hash"] if row else None


def upsert_operator(db: Database, name: str, password_hash: str, created_by: str | None) -> bool:
    """Add or re-password an operator; True if it was new."""
    with write_transaction(db):
        existed = get_password_hash(db, name) is not None
        if existed:
            update_hash(db, name, password_hash)
        else:
            db.execute(
                "INSERT INTO operators (name, password_hash, created_at, created_by)"
                " VALUES (?, ?, ?, ?)",
                [name, password_hash, now_ms(), created_by],
            )
    return not existed


def set_email(db: Database, name: str, email: str | None) -> None:
    with write_transaction(db):
        db.execute("UPDATE operators SET email = ? WHERE name = ?", [email, name])


def operator_emails(db: Database) -> dict[str, str]:
    """Local operators' e-mails, by name (those who gave one)."""
    return {
        row["name"]: row["email"]
        for row in db.query("SELECT name, email FROM operators WHERE email IS NOT NULL")
    }


def update_hash(db: Database, name: str, password_hash: str) -> None:
    """A new hash for the account (nothing if it was removed meanwhile)."""
    with write_transaction(db):
        db.execute("UPDATE operators SET password_hash = ? WHERE name = ?", [password_hash, name])


def remove_operator(db: Database, name: str) -> bool:
    with write_transaction(db):
        return db.execute("DELETE FROM operators WHERE name = ?", [name]).rowcount == 1
