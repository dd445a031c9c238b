"""Fill a database with N realistic cases and their events, through the storage layer.

    .venv/bin/python bench/generate.py --cases 100000 --db bench/out/cases-100000.db

Mix (per case): ~62% completed, ~14% failed, ~20% running, ~2% waiting on a question (the
inbox), ~2% created; the first WAITING cases (100: the Inbox's queue) all wait on a question, so
a small database fills the Inbox's queue as a large one does. About 4 events per case (console
created, webhooks, polls, answers), results shaped by the W-9 schema, times spread over the
last 400 days.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import storage
from storage.events import local_event, record_event
from storage.inbox import record_answer
from storage.page_queries import refresh_search_index
from storage.pg import is_postgresql

SCHEMA = {
    "type": "object",
    "properties": {
        "signedW9Received": {"type": "boolean"},
        "taxId": {"type": "string"},
        "documentUrl": {"type": "string"},
        "entity": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
        },
    },
    "required": ["signedW9Received"],
}
COMPANIES = [
    "Northstar Supplies",
    "Harbor Freight",
    "Kestrel Analytics",
    "Blue Fjord",
    "Sakura Components",
    "Old Mill Bakery",
    "Quartz Legal",
    "Silent Partners",
]
ZONES = ["America/Los_Angeles", "America/New_York", "Europe/London", "Asia/Tokyo", None]
DAY = 86_400_000


def event(case_id, kind, ts, data, source="webhook", actor=None, event_id=None):
    data = {"caseId": case_id, **data}
    eid = event_id or f"evt_{case_id}_{kind.replace('.', '_')}_{ts}"
    state_ts = 0 if kind == "case.created" else ts
    return local_event(case_id, eid, kind, ts, data, source=source, state_ts=state_ts, actor=actor)


WAITING = 100  # the Inbox's QUEUE_SIZE: rows it draws at most
OPERATORS = ("avery", "blake", "casey", "drew")
VIAS = ("dashboard", "dashboard", "bulk", "e-mail")


def generate(db_path: str, cases: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    db = storage.open_db(db_path)
    now = storage.now_ms()
    start = time.perf_counter()
    for first in range(0, cases, 2000):
        with db.atomic():
            for i in range(first, min(cases, first + 2000)):
                case_id = f"case-{i:07d}"
                created = now - rnd.randint(0, 400) * DAY - rnd.randint(0, DAY)
                company = rnd.choice(COMPANIES)
                request = {
                    "clientReferenceId": f"vendor_{i}",
                    "channel": "EMAIL",
                    "goal": {
                        "objective": rnd.choice(
                            [
                                "Collect a signed W-9 from the vendor",
                                "Confirm remittance address",
                                "Collect a W-8BEN",
                            ]
                        )
                    },
                    "counterparty": {
                        "address": f"ap{i}@{company.split()[0].lower()}.example",
                        "name": f"Contact {i}",
                        "company": company,
                        **({"timezone": z} if (z := rnd.choice(ZONES)) else {}),
                    },
                    "maxAttempts": 3,
                    "resultSchema": SCHEMA,
                    "constraints": ["Email only"],
                    "metadata": {"consoleSubmissionId": f"sub_{i}"},
                }
                record_event(
                    db,
                    event(
                        case_id,
                        "case.created",
                        created,
                        {
                            "status": "CREATED",
                            "createdAt": created,
                            "consoleRequest": request,
                            **request,
                        },
                        source="console",
                        actor="bench",
                        event_id=f"console_created_{case_id}",
                    ),
                    created,
                )
                roll = rnd.random()
                if i < WAITING:
                    roll = 0.28 + roll % 0.02  # waiting on a question
                t = created + rnd.randint(1, 48) * 3_600_000
                if roll < 0.02:
                    continue  # still CREATED
                asks = roll < 0.30
                if asks:
                    rid = f"ir_{i}"
                    record_event(
                        db,
                        event(
                            case_id,
                            "case.input_needed",
                            t,
                            {
                                "status": "INPUT_NEEDED",
                                "attemptCount": 1,
                                "inputRequestId": rid,
                                "inputRequest": f"Vendor {i} asks: may they send the form next week?",
                                "inputRequestStatus": "PENDING",
                                "inputRequestedAt": t,
                            },
                        ),
                        t,
                    )
                    if roll < 0.28:  # answered, minutes to hours after it was asked
                        who = rnd.choice(OPERATORS)
                        record_answer(db, rid, who, "Yes, next week is fine.")
                        db.execute(
                            "UPDATE input_requests SET answered_at = ?, answered_via = ?"
                            " WHERE input_request_id = ?",
                            [t + rnd.randint(2, 600) * 60_000, rnd.choice(VIAS), rid],
                        )
                    else:
                        continue  # waiting in the inbox (~2%)
                    t += 3_600_000
                # the reconciler saw it running (after any answer)
                record_event(
                    db,
                    event(
                        case_id,
                        "case.polled",
                        t,
                        {"status": "RUNNING", "attemptCount": 2, "updatedAt": t},
                        source="poll",
                        event_id=f"poll_{case_id}_{t}",
                    ),
                    t,
                )
                t += 3_600_000
                if roll < 0.84 or asks:
                    if rnd.random() < 0.82:
                        result = {
                            "signedW9Received": True,
                            "taxId": f"{rnd.randint(10, 99)}-{rnd.randint(1000000, 9999999)}",
                            "documentUrl": f"https://files.example.com/{i}.pdf",
                            "entity": {"name": company, "kind": "LLC"},
                        }
                        record_event(
                            db,
                            event(
                                case_id,
                                "case.completed",
                                t,
                                {
                                    "status": "COMPLETED",
                                    "attemptCount": 2,
                                    "resultStatus": "goal_achieved",
                                    "result": result,
                                    "metadata": request["metadata"],
                                },
                            ),
                            t,
                        )
                    else:
                        record_event(
                            db,
                            event(
                                case_id,
                                "case.failed",
                                t,
                                {
                                    "status": "FAILED",
                                    "attemptCount": 4,
                                    "resultStatus": rnd.choice(["max_retries", "BOUNCED"]),
                                    "failureReason": None,
                                    "metadata": request["metadata"],
                                },
                            ),
                            t,
                        )
                else:
                    record_event(
                        db,
                        event(
                            case_id,
                            "case.polled",
                            t,
                            {
                                "status": "RUNNING",
                                "attemptCount": 1,
                                "updatedAt": t,
                                "nextActionAt": t + 72 * 3_600_000,
                            },
                            source="poll",
                            event_id=f"poll_{case_id}_{t}",
                        ),
                        t,
                    )
    refresh_search_index(db)
    db.execute("ANALYZE" if is_postgresql(db_path) else "PRAGMA optimize")
    print(f"generated {cases} cases in {time.perf_counter() - start:.1f} s into {db_path}")


def copy_into(sqlite_path: str, url: str) -> None:
    """The tables of a generated SQLite database copied into a migrated PostgreSQL one
    (``COPY``): the same cases on both engines, without PostgreSQL paying a round trip per
    statement of the generator (100,000 cases would take about 17 minutes here)."""
    import sqlite3

    start = time.perf_counter()
    target = storage.open_db(url)  # migrated
    source = sqlite3.connect(sqlite_path)
    tables = [t for t in target.table_names() if t not in ("_console_migrations",)]
    raw = target.conn.raw
    with raw.transaction():
        raw.execute(f"TRUNCATE {', '.join(tables)}")
        for table in tables:
            wanted = [r[0] for r in raw.execute(f"SELECT * FROM {table} LIMIT 0").description]
            have = {r[1] for r in source.execute(f"PRAGMA table_info({table})")}
            columns = [c for c in wanted if c in have]
            if not columns:
                continue
            with raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {', '.join(columns)} FROM {table}"):
                    copy.write_row(row)
            if "id" in columns:  # identity columns go on from the copied ids
                raw.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
    raw.execute("ANALYZE")
    target.conn.close()
    print(f"copied {sqlite_path} into PostgreSQL in {time.perf_counter() - start:.1f} s")


def ensure(db_path: str, cases: int) -> str:
    """Generate once; later runs reuse the file (one made before ``WAITING``, or before answers
    had their own times, is made again)."""
    if Path(db_path).exists():
        old = storage.open_db(db_path)
        waiting = old.execute("SELECT count(*) FROM input_requests WHERE status = 'PENDING'")
        stale = waiting.fetchone()[0] < min(cases, WAITING)
        # Made before answers had their own times (all "now": a week held every answer).
        stale = stale or bool(
            old.execute(
                "SELECT 1 FROM input_requests WHERE answered_by = 'bench' LIMIT 1"
            ).fetchone()
        )
        old.conn.close()
        for path in (db_path, f"{db_path}-wal", f"{db_path}-shm") if stale else ():
            Path(path).unlink(missing_ok=True)
    if not Path(db_path).exists():
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        generate(db_path, cases)
    return db_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    path = args.db or f"bench/out/cases-{args.cases}.db"
    if Path(path).exists():
        raise SystemExit(f"{path} exists; remove it to regenerate")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    generate(path, args.cases)
