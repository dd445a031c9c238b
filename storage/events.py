"""Events in, projections out.

Every webhook, poll repair and console action is an *event* row, stored once under its
``event_id``. Applying an event to ``cases`` and ``input_requests`` is order-independent: the
state shown is that of the winning event under :func:`state_key` (terminal beats non-terminal,
then the newer case ``updatedAt``, then webhook over poll, then event id), and each input
request's status is a pure function of the case's state and the set of requests. So any
arrival order of the same events ends in the same rows.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from storage.database import Database
from storage.dialect import POSTGRESQL, dialect
from storage.errors import DatabaseUnavailable

KNOWN_TYPES = {"case.completed", "case.failed", "case.input_needed", "case.polled", "case.created"}
TERMINAL = {"COMPLETED", "FAILED"}
STATUS_BY_TYPE = {
    "case.completed": "COMPLETED",
    "case.failed": "FAILED",
    "case.input_needed": "INPUT_NEEDED",
    "case.created": "CREATED",
}
SOURCE_RANK = {"poll": 0, "console": 0, "webhook": 1}
_EVENT_ID_MS = re.compile(r"_(\d{1,16})$")


class InvalidEvent(ValueError):
    """The body is JSON but not an Offload event envelope (a 422 at the sidecar)."""


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    timestamp: int
    case_id: str
    data: dict[str, Any]
    payload: str  # the raw JSON text as stored
    source: str = "webhook"
    state_ts: int | None = None
    actor: str | None = None

    @property
    def effective_state_ts(self) -> int:
        """The case ``updatedAt`` this event reports.

        Offload's event ids end in the case's updatedAt (``evt_{caseId}_{type}_{updatedAt}``);
        that orders events better than the send-time ``timestamp``. Falls back to timestamp.
        """
        if self.state_ts is not None:
            return self.state_ts
        match = _EVENT_ID_MS.search(self.event_id)
        if match and self.event_id.startswith(f"evt_{self.case_id}_"):
            return int(match.group(1))
        return self.timestamp


def local_event(
    case_id: str,
    event_id: str,
    event_type: str,
    timestamp: int,
    data: dict[str, Any],
    *,
    source: str,
    state_ts: int,
    actor: str | None = None,
) -> Event:
    """An event the console makes itself (a poll, a console action), stored like a webhook:
    its payload is the envelope Offload would have sent."""
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": timestamp,
        "data": data,
    }
    return Event(
        event_id=event_id,
        event_type=event_type,
        timestamp=timestamp,
        case_id=case_id,
        data=data,
        payload=json.dumps(envelope, ensure_ascii=False),
        source=source,
        state_ts=state_ts,
        actor=actor,
    )


_WINDOW = re.compile(r"\s*(\d{1,6})\s*([mhd])\s*", re.IGNORECASE)
_WINDOW_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_window_ms(text: Any) -> int | None:
    """``"90m"``, ``"4h"``, ``"2d"`` in milliseconds; None for anything else (or zero)."""
    match = _WINDOW.fullmatch(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _WINDOW_UNIT_MS[match.group(2).lower()]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_envelope(obj: Any, payload: str) -> Event:
    """Check an already-decoded webhook body; raise :class:`InvalidEvent` saying what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidEvent("body must be a JSON object")
    problems = []
    for key in ("event_id", "event_type"):
        if not isinstance(obj.get(key), str) or not obj.get(key).strip():
            problems.append(f"{key} must be a non-empty string")
    if not _is_int(obj.get("timestamp")) or not 0 <= obj["timestamp"] < 10**16:
        problems.append("timestamp must be an integer (Unix ms)")
    data = obj.get("data")
    if not isinstance(data, dict):
        problems.append("data must be an object")
    elif not isinstance(data.get("caseId"), str) or not data["caseId"].strip():
        problems.append("data.caseId must be a non-empty string")
    if problems:
        raise InvalidEvent("; ".join(problems))
    if len(obj["event_id"]) > 512 or len(data["caseId"]) > 256:
        raise InvalidEvent("event_id or data.caseId is implausibly long")
    return Event(
        event_id=obj["event_id"],
        event_type=obj["event_type"],
        timestamp=obj["timestamp"],
        case_id=data["caseId"],
        data=data,
        payload=payload,
    )


def state_key(rank: int, state_ts: int, source: str, event_id: str) -> tuple:
    return (rank, state_ts, SOURCE_RANK.get(source, 0), event_id)


_INSERT_EVENT = (
    "INSERT INTO events (event_id, case_id, event_type, timestamp, state_ts,"
    " received_at, source, actor, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_INSERT_EVENTS = (
    "INSERT INTO events (event_id, case_id, event_type, timestamp, state_ts,"
    " received_at, source, actor, payload) VALUES {} ON CONFLICT DO NOTHING RETURNING event_id"
)
_EVENT_MARKS = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_IN_CHUNK = 500  # bound parameters per "IN (...)" query; rows per multi-row insert


def _event_row(event: Event, received_at: int) -> tuple:
    return (
        event.event_id,
        event.case_id,
        event.event_type,
        event.timestamp,
        event.effective_state_ts,
        received_at,
        event.source,
        event.actor,
        event.payload,
    )


def record_event(db: Database, event: Event, received_at: int) -> bool:
    """Store ``event`` and apply it; return False if its event_id was already stored.

    Must run inside a transaction the caller commits. The row is stored before projecting, so
    a projection bug never loses the raw event: it is kept, with ``projection_error`` set.
    """
    cursor = db.conn.execute(_INSERT_EVENT, _event_row(event, received_at))
    if cursor.rowcount == 0:
        return False
    if event.event_type in KNOWN_TYPES:  # others are stored for later: Offload may add types
        _project_guarded(db, event, received_at)
    return True


def record_events(
    db: Database, batch: list[tuple[Event, int]], *, project: bool = True
) -> list[bool]:
    """:func:`record_event` for a batch of ``(event, received_at)``, in a few statements.

    Ends in exactly the state that recording them one by one, in this order, would: events
    are stored with one ``executemany``, cases that are new and named once in the batch are
    inserted together, and every other event is applied one by one. Must run inside a
    transaction the caller commits. Returns, per item, whether its event_id was new.
    ``project=False`` stores them and queues their projection (:func:`project_queued`).
    """
    conn = db.conn
    firsts: dict[str, tuple[Event, int]] = {}
    for event, received_at in batch:
        firsts.setdefault(event.event_id, (event, received_at))
    # Which were new is what the insert itself says (RETURNING): two sidecars storing the
    # same event at once, without a lock between them, get one "new" between them.
    inserted: set[str] = set()
    candidates = list(firsts.values())
    for start in range(0, len(candidates), _IN_CHUNK):
        chunk = candidates[start : start + _IN_CHUNK]
        rows = conn.execute(
            _INSERT_EVENTS.format(", ".join(_EVENT_MARKS for _ in chunk)),
            [value for event, received_at in chunk for value in _event_row(event, received_at)],
        ).fetchall()
        inserted.update(row[0] for row in rows)
    fresh: list[tuple[Event, int]] = []
    new_flags = []
    for event, received_at in batch:
        new = event.event_id in inserted
        new_flags.append(new)
        if new:
            inserted.discard(event.event_id)  # a repeat later in the batch is a duplicate
            fresh.append((event, received_at))
    known = [(e, r) for e, r in fresh if e.event_type in KNOWN_TYPES]
    if not known:
        return new_flags
    if not project:
        conn.executemany(
            "INSERT INTO projection_queue (event_id, queued_at) VALUES (?, ?)"
            " ON CONFLICT DO NOTHING",
            [(e.event_id, r) for e, r in known],
        )
        return new_flags
    _apply(db, known)
    return new_flags


def _apply(db: Database, known: list[tuple[Event, int]]) -> None:
    """Project a batch together; if that fails, one by one, each error kept with its event."""
    conn = db.conn
    conn.execute("SAVEPOINT project_batch")
    try:
        _project_batch(db, known)
    except DatabaseUnavailable:
        raise  # the database's state (a lock, a lost connection): the whole batch waits
    except Exception:  # noqa: BLE001 - redo one by one, keeping each error with its event
        conn.execute("ROLLBACK TO SAVEPOINT project_batch")
        for event, received_at in known:
            _project_guarded(db, event, received_at)
    conn.execute("RELEASE SAVEPOINT project_batch")


def project_queued(db: Database, limit: int = 500) -> int:
    """Apply up to ``limit`` queued events (oldest first) and unqueue them; returns how many.

    On PostgreSQL this runs under the projectors' own lock (``storage.pg.PROJECTION_LOCK``,
    one projector at a time across sidecars), never the console's write lock, and takes each
    case's lock without waiting: an event of a case another writer holds stays queued for the
    next pass. So a stalled writer delays the projection of its cases, and no acknowledgement.
    """
    from storage import pg
    from storage.db import write_transaction

    on_pg = isinstance(db, pg.PgDatabase)
    with write_transaction(db, lock=pg.PROJECTION_LOCK if on_pg else pg.WRITE_LOCK):
        rows = db.conn.execute(
            "SELECT e.event_id, e.case_id, e.event_type, e.timestamp, e.state_ts,"
            " e.received_at, e.source, e.actor, e.payload FROM projection_queue q"
            " JOIN events e ON e.event_id = q.event_id ORDER BY q.queued_at, q.event_id"
            " LIMIT ?",
            [limit],
        ).fetchall()
        orphans = db.conn.execute(  # queued, then its event deleted: nothing to apply
            "DELETE FROM projection_queue WHERE event_id NOT IN (SELECT event_id FROM events)"
        ).rowcount
        locked = set()
        if on_pg:
            locked = {
                case_id
                for case_id in sorted({row[1] for row in rows})
                if not pg.case_lock(db, case_id, wait=False)
            }
        known = [
            (
                Event(
                    event_id=event_id,
                    event_type=event_type,
                    timestamp=timestamp,
                    case_id=case_id,
                    data=_data_of(payload),
                    payload=payload,
                    source=source,
                    state_ts=state_ts,
                    actor=actor,
                ),
                received_at,
            )
            for event_id, case_id, event_type, timestamp, state_ts, received_at, source, actor, payload in rows
            if case_id not in locked
        ]
        if known:
            _apply(db, known)
        done = [event.event_id for event, _ in known]
        for start in range(0, len(done), _IN_CHUNK):
            chunk = done[start : start + _IN_CHUNK]
            db.conn.execute(
                f"DELETE FROM projection_queue WHERE event_id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
    return len(done) + orphans


def queued_projections(db: Database) -> tuple[int, int | None]:
    """How many stored events wait to be applied, and since when (ms) the oldest has."""
    count, oldest = db.execute("SELECT count(*), min(queued_at) FROM projection_queue").fetchone()
    return count, oldest


def _data_of(payload: str) -> dict:
    try:
        data = json.loads(payload).get("data")
    except (ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


def _stored_ids(conn, table: str, column: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` are already in ``table``."""
    found: set[str] = set()
    ordered = list(ids)
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = conn.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk)
        found.update(row[0] for row in rows)
    return found


def _project_batch(db: Database, known: list[tuple[Event, int]]) -> None:
    """Insert the batch's plain new cases together; apply every other event one by one."""
    conn = db.conn
    named = Counter(event.case_id for event, _ in known)
    existing = _stored_ids(conn, "cases", "case_id", set(named))
    rows = []
    for event, received_at in known:
        if (
            named[event.case_id] == 1
            and event.case_id not in existing
            and _event_input_request(event) is None
            and not _submission_id(event.data)
        ):
            rows.append(_new_case_row(event, received_at))
        else:
            _project(db, event, received_at)
    if not rows:
        return
    columns = list(rows[0])
    conn.executemany(
        f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [list(row.values()) for row in rows],
    )
    for status, count in sorted(Counter(row["status"] for row in rows).items()):
        _bump_count(conn, status, count)  # in one order: two projectors never deadlock here
    if dialect(db) is POSTGRESQL:
        return  # its search index is PostgreSQL's own (storage.pg_schema)
    case_ids = [row["case_id"] for row in rows]
    for start in range(0, len(case_ids), _IN_CHUNK):
        chunk = case_ids[start : start + _IN_CHUNK]
        conn.execute(
            "INSERT INTO search_pending (case_rowid) SELECT rowid FROM cases"
            f" WHERE case_id IN ({', '.join('?' for _ in chunk)}) ON CONFLICT DO NOTHING",
            chunk,
        )


def project_stored_event(
    db: Database,
    event: Event,
    received_at: int,
    *,
    source: str,
    state_ts: int | None,
    actor: str | None,
) -> str | None:
    """Apply an already stored event again (its projection had failed); clear its error on
    success. Returns the error when it fails again. Inside the caller's transaction."""
    event = dataclasses.replace(event, source=source, state_ts=state_ts, actor=actor)
    lock_case(db, event.case_id)  # before the event's row (see lock_case)
    db.conn.execute(
        "UPDATE events SET projection_error = NULL WHERE event_id = ?", (event.event_id,)
    )
    _project_guarded(db, event, received_at)
    row = db.conn.execute(
        "SELECT projection_error FROM events WHERE event_id = ?", (event.event_id,)
    ).fetchone()
    return row[0] if row else None


def _project_guarded(db: Database, event: Event, received_at: int) -> None:
    db.conn.execute("SAVEPOINT project_event")
    try:
        _project(db, event, received_at)
    except DatabaseUnavailable:
        raise  # a lock or the connection, not this event: its transaction fails and is retried
    except Exception as exc:  # noqa: BLE001 - keep the event whatever the projection does
        db.conn.execute("ROLLBACK TO SAVEPOINT project_event")
        db.conn.execute(
            "UPDATE events SET projection_error = ? WHERE event_id = ?",
            (f"{type(exc).__name__}: {exc}"[:500], event.event_id),
        )
    db.conn.execute("RELEASE SAVEPOINT project_event")


def _bump_count(conn, status: str, delta: int) -> None:
    """What the insert trigger dropped in migration m008 did: keep ``case_status_counts``."""
    conn.execute(
        "INSERT INTO case_status_counts (status, cases) VALUES (?, ?)"
        " ON CONFLICT (status) DO UPDATE SET cases = case_status_counts.cases + excluded.cases",
        (status, delta),
    )


def _new_case_row(event: Event, received_at: int) -> dict[str, Any]:
    row = {"case_id": event.case_id, **case_details(event.data), **_event_state(event)}
    row["first_seen_at"] = received_at
    row["last_event_at"] = received_at
    if row["created_at"] is None:
        row["created_at"] = event.effective_state_ts
    return row


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: Any) -> int | None:
    return value if _is_int(value) else None


_YEAR_10000_MS = 253_402_300_800_000


def _time_or_none(value: Any) -> int | None:
    """A time in ms that some calendar holds after 1970 (``-1``, ``0``, a year past 9999:
    None, so the event's own time stands in; a question "asked" at -1 was shown "overdue by
    20791 days")."""
    return value if _is_int(value) and 0 < value < _YEAR_10000_MS else None


def _event_state(event: Event) -> dict[str, Any]:
    """The case state an event reports, in ``cases`` column names."""
    data = event.data
    status = data.get("status") if isinstance(data.get("status"), str) else None
    status = status or STATUS_BY_TYPE.get(event.event_type, "RUNNING")
    request = _event_input_request(event)
    return {
        "status": status,
        "result_status": _str_or_none(data.get("resultStatus")),
        "result": _json_or_none(data.get("result")),
        "failure_reason": _str_or_none(data.get("failureReason")),
        "attempt_count": _int_or_none(data.get("attemptCount")),
        "input_request_id": request["id"] if request else None,
        "input_request_status": request["status"] if request else None,
        "updated_at": event.effective_state_ts,
        "state_event_id": event.event_id,
        "state_rank": 1 if status in TERMINAL else 0,
    }


def case_details(data: dict[str, Any]) -> dict[str, Any]:
    """Columns that describe the case rather than its state, from an event's or a GET's
    ``data``: filled once, never cleared (webhooks and polls alike)."""
    goal = data.get("goal") if isinstance(data.get("goal"), dict) else {}
    counterparty = data.get("counterparty") if isinstance(data.get("counterparty"), dict) else {}
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return {
        "client_reference_id": _str_or_none(data.get("clientReferenceId")),
        "channel": _str_or_none(data.get("channel")),
        "metadata": _json_or_none(data.get("metadata"))
        if isinstance(data.get("metadata"), dict)
        else None,
        "max_attempts": _int_or_none(data.get("maxAttempts")),
        "objective": _str_or_none(goal.get("objective")),
        "counterparty_name": _str_or_none(counterparty.get("name")),
        "counterparty_address": _str_or_none(counterparty.get("address")),
        "counterparty_company": _str_or_none(counterparty.get("company")),
        "counterparty_timezone": _str_or_none(counterparty.get("timezone")),
        "result_schema": _json_or_none(data.get("resultSchema"))
        if isinstance(data.get("resultSchema"), dict)
        else None,
        "created_at": _int_or_none(data.get("createdAt")),
        "request": _json_or_none(data.get("consoleRequest"))
        if isinstance(data.get("consoleRequest"), dict)
        else None,
        "submission_id": _submission_id(data),
        "constraints": _json_or_none(data.get("constraints"))
        if isinstance(data.get("constraints"), list)
        else None,
        "answer_within_ms": parse_window_ms(metadata.get("consoleAnswerWithin")),
    }


def _submission_id(data: dict) -> str | None:
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        return _str_or_none(metadata.get("consoleSubmissionId"))
    return None


def _event_input_request(event: Event) -> dict[str, Any] | None:
    """The input request an event names: webhook fields, or GET's ``inputRequest`` object."""
    data = event.data
    nested = data.get("inputRequest")
    if isinstance(nested, dict) and isinstance(nested.get("id"), str):
        return {
            "id": nested["id"],
            "question": _str_or_none(nested.get("question")),
            "status": _str_or_none(nested.get("status")),
            "requested_at": _time_or_none(nested.get("requestedAt")),
        }
    if isinstance(data.get("inputRequestId"), str) and data["inputRequestId"]:
        return {
            "id": data["inputRequestId"],
            "question": _str_or_none(nested),
            "status": _str_or_none(data.get("inputRequestStatus")),
            "requested_at": _time_or_none(data.get("inputRequestedAt")),
        }
    return None


def lock_case(db: Database, case_id: str) -> None:
    """On PostgreSQL, lock one case for the rest of the transaction (SQLite's write lock is
    the whole database already). Every writer takes it before it writes any of the case's
    rows: the sidecars' projectors lock a case, then write its rows, so a writer that wrote
    a row first and then waited for the lock would deadlock with one (taking it twice in a
    transaction is harmless)."""
    if dialect(db) is POSTGRESQL:
        from storage import pg

        pg.case_lock(db, case_id)


def _project(db: Database, event: Event, received_at: int) -> None:
    conn = db.conn
    lock_case(db, event.case_id)  # the sidecars' projectors may run beside this writer
    current = conn.execute(
        "SELECT state_rank, updated_at, state_event_id,"
        " (SELECT source FROM events WHERE event_id = cases.state_event_id) AS state_source"
        " FROM cases WHERE case_id = ?",
        (event.case_id,),
    ).fetchone()
    if current is None:
        row = _new_case_row(event, received_at)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = conn.execute(f"INSERT INTO cases ({columns}) VALUES ({marks})", list(row.values()))
        # What the insert triggers dropped in migration m008 did: count it, note it for search.
        _bump_count(conn, row["status"], 1)
        if dialect(db) is not POSTGRESQL:
            conn.execute(
                "INSERT INTO search_pending (case_rowid) VALUES (?) ON CONFLICT DO NOTHING",
                (cursor.lastrowid,),
            )
    else:
        state = _event_state(event)
        descriptive = case_details(event.data)
        rank, updated_at, state_event_id, state_source = current
        old_key = state_key(rank, updated_at or 0, state_source or "poll", state_event_id or "")
        new_key = state_key(state["state_rank"], state["updated_at"], event.source, event.event_id)
        created_at = descriptive.pop("created_at") or event.effective_state_ts
        sets = [f"{k} = coalesce({k}, ?)" for k in descriptive]
        values = list(descriptive.values())
        sql = dialect(db)
        sets.append(f"created_at = {sql.least}(coalesce(created_at, ?), ?)")  # earliest seen wins
        values += [created_at, created_at]
        attempts = state.pop("attempt_count")
        if attempts is not None:  # attempts only grow: the most any event reported
            sets.append(f"attempt_count = {sql.greatest}(coalesce(attempt_count, 0), ?)")
            values.append(attempts)
        if new_key > old_key:
            sets += [f"{k} = ?" for k in state]
            values += list(state.values())
        sets.append(f"last_event_at = {sql.greatest}(coalesce(last_event_at, 0), ?)")
        values.append(received_at)
        conn.execute(
            f"UPDATE cases SET {', '.join(sets)} WHERE case_id = ?",
            [*values, event.case_id],
        )
    submission_id = _submission_id(event.data)
    if submission_id:
        # A webhook echoing our submission id settles a submission whose outcome was unknown.
        conn.execute(
            "UPDATE submissions SET status = 'SENT', case_id = ?, updated_at = ?"
            " WHERE submission_id = ? AND status IN ('PENDING', 'UNKNOWN')",
            (event.case_id, received_at, submission_id),
        )
    request = _event_input_request(event)
    if request is None and current is None:
        return  # a new case with no request: no request statuses to recompute
    if request:
        conn.execute(
            "INSERT INTO input_requests (input_request_id, case_id, question, status,"
            " requested_at, event_id) VALUES (?, ?, ?, 'PENDING', ?, ?)"
            " ON CONFLICT (input_request_id) DO UPDATE SET"
            " question = coalesce(input_requests.question, excluded.question),"
            " requested_at = coalesce(input_requests.requested_at, excluded.requested_at),"
            " event_id = coalesce(input_requests.event_id, excluded.event_id)",
            (
                request["id"],
                event.case_id,
                request["question"],
                request["requested_at"] or event.effective_state_ts,
                event.event_id,
            ),
        )
    refresh_request_statuses(db, event.case_id)


def refresh_request_statuses(db: Database, case_id: str) -> None:
    """Recompute every input request's status of one case from the case's state.

    PENDING only for the case's newest request while the case waits on exactly it; an answer
    the console sent is ANSWERED for good; an older request is SUPERSEDED; anything else CLOSED.
    """
    conn = db.conn
    case = conn.execute(
        "SELECT status, input_request_id, input_request_status FROM cases WHERE case_id = ?",
        (case_id,),
    ).fetchone()
    if case is None:
        return
    status, active_id, active_status = case
    requests = conn.execute(
        "SELECT input_request_id, status, requested_at, answered_at FROM input_requests"
        " WHERE case_id = ?",
        (case_id,),
    ).fetchall()
    if not requests:
        return
    newest = max(requests, key=lambda r: (r[2] or 0, r[0]))[0]
    # The request the case's state names is its current one, whatever the clocks said when
    # each was asked (Offload's clock may have run ahead and been corrected).
    known_ids = {r[0] for r in requests}
    if status == "INPUT_NEEDED" and active_id in known_ids:
        newest = active_id
    for request_id, old_status, _requested_at, answered_at in requests:
        if answered_at is not None:
            new_status = "ANSWERED"
        elif request_id != newest:
            new_status = "SUPERSEDED"
        elif (
            status == "INPUT_NEEDED"
            and active_id in (None, request_id)
            and active_status in (None, "PENDING")
        ):
            new_status = "PENDING"
        else:
            new_status = "CLOSED"
        if new_status != old_status:
            conn.execute(
                "UPDATE input_requests SET status = ? WHERE input_request_id = ?",
                (new_status, request_id),
            )
