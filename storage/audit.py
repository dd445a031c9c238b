"""The audit trail: who did what, when. Written by every operator action."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from storage.database import Database
from storage.db import now_ms, write_transaction
from storage.dialect import dialect


def record(
    db: Database,
    operator: str | None,
    action: str,
    *,
    case_id: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Every audited action names who did it: an empty ``operator`` is refused. Returns the
    entry's id."""
    if not (operator or "").strip():
        raise ValueError(f"audit: {action} without an operator")
    with write_transaction(db):
        return db.execute(
            "INSERT INTO audit_log (at, operator, action, case_id, target, detail)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            [
                now_ms(),
                operator,
                action,
                case_id,
                target,
                json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            ],
        ).lastrowid


def list_audit(
    db: Database,
    *,
    action: str | None = None,
    operator: str | None = None,
    case_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict]:
    wanted = {"action": action, "operator": operator, "case_id": case_id}
    wanted = {column: value for column, value in wanted.items() if value}
    where = " AND ".join(f"{column} = :{column}" for column in wanted)
    return list(
        db.query(
            f"SELECT * FROM audit_log{' WHERE ' + where if where else ''}"
            " ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {**wanted, "limit": limit, "offset": offset},
        )
    )


def audit_actions(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT action FROM audit_log ORDER BY 1")]


def sign_in_failures(
    db: Database, *, since_ms: int, name: str | None = None, client: str | None = None
) -> tuple[int, int | None]:
    """Refused sign-ins since ``since_ms`` for a name (since its last success) or from a
    client: ``(count, time of the last one)``."""
    if name is not None:
        last_success = db.execute(
            "SELECT max(at) FROM audit_log WHERE action = 'operator.signed_in' AND operator = ?",
            [name],
        ).fetchone()[0]
        where, params = "target = ? AND at > ?", [name, max(since_ms, last_success or 0)]
    else:
        client_of = dialect(db).json_text.format("detail", "client")
        where, params = f"{client_of} = ? AND at > ?", [client, since_ms]
    count, last = db.execute(
        f"SELECT count(*), max(at) FROM audit_log WHERE action = 'operator.sign_in_refused'"
        f" AND {where}",
        params,
    ).fetchone()
    return count, last


def begin_sign_in(
    db: Database, name: str, client: str, wait_s: Callable[[], int]
) -> tuple[int, int | None]:
    """One sign-in try, counted before its password is checked: in one write transaction,
    ``wait_s()`` (the back-off, read from the failures recorded so far) and either an
    ``operator.sign_in_throttled`` entry or an ``operator.sign_in_refused`` one that
    :func:`settle_sign_in` turns into ``operator.signed_in`` if the password was right. So
    tries made in parallel each see the ones before them. Returns ``(wait, entry id)``."""
    with write_transaction(db):
        wait = wait_s()
        action = "operator.sign_in_throttled" if wait else "operator.sign_in_refused"
        detail = {"client": client, **({"wait_s": wait} if wait else {})}
        entry = record(db, "(not signed in)", action, target=name, detail=detail)
    return wait, None if wait else entry


def settle_sign_in(db: Database, entry: int, name: str) -> None:
    """The password of the try counted as ``entry`` was right: it is ``operator.signed_in``."""
    with write_transaction(db):
        db.execute(
            "UPDATE audit_log SET action = 'operator.signed_in', operator = ?, target = NULL"
            " WHERE id = ? AND action = 'operator.sign_in_refused'",
            [name, entry],
        )
