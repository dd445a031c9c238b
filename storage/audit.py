"""The audit trail: who did what, when. Written by every operator action."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from storage.db import now_ms, write_transaction


def record(
    db: sqlite_utils.Database,
    operator: str | None,
    action: str,
    *,
    case_id: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Every audited action names who did it: an empty ``operator`` is refused."""
    if not (operator or "").strip():
        raise ValueError(f"audit: {action} without an operator")
    with write_transaction(db):
        db["audit_log"].insert(
            {
                "at": now_ms(),
                "operator": operator,
                "action": action,
                "case_id": case_id,
                "target": target,
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)
                if detail
                else None,
            }
        )


def operators_seen(db: sqlite_utils.Database, limit: int = 200) -> list[str]:
    """Every name the audit log has seen act, most recent first."""
    return [
        r[0]
        for r in db.execute(
            "SELECT operator FROM audit_log GROUP BY operator ORDER BY max(id) DESC LIMIT ?",
            [limit],
        )
    ]


def list_audit(
    db: sqlite_utils.Database,
    *,
    action: str | None = None,
    operator: str | None = None,
    case_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict]:
    wanted = {"action": action, "operator": operator, "case_id": case_id}
    wanted = {column: value for column, value in wanted.items() if value}
    return list(
        db["audit_log"].rows_where(
            " AND ".join(f"{column} = :{column}" for column in wanted) or None,
            wanted,
            order_by="id DESC",
            limit=limit,
            offset=offset,
        )
    )


def audit_actions(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT action FROM audit_log ORDER BY 1")]


def sign_in_failures(
    db: sqlite_utils.Database, *, since_ms: int, name: str | None = None, client: str | None = None
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
        where, params = "json_extract(detail, '$.client') = ? AND at > ?", [client, since_ms]
    count, last = db.execute(
        f"SELECT count(*), max(at) FROM audit_log WHERE action = 'operator.sign_in_refused'"
        f" AND {where}",
        params,
    ).fetchone()
    return count, last
