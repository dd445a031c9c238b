"""Pending questions, claiming one to answer (compare-and-set), and recording answers."""

from __future__ import annotations

from dataclasses import dataclass

from storage import audit
from storage.case_filter import like_pattern
from storage.database import Database
from storage.db import first_row, now_ms, write_transaction
from storage.dialect import dialect
from storage.events import local_event, lock_case, record_event, refresh_request_statuses

CLAIM_STALE_MS = 2 * 60 * 1000  # a claim older than this (a closed tab) may be taken over

_REQUEST_SELECT = """
SELECT r.input_request_id, r.case_id, r.question, r.requested_at, r.claimed_by, r.claimed_at,
       r.claim_token, r.status, r.answer, r.answered_by, r.answered_at, r.answered_via,
       r.assigned_to,
       r.requested_at + coalesce(c.answer_within_ms, :within) AS due_at,
       c.objective, c.client_reference_id, c.counterparty_name, c.counterparty_address,
       c.counterparty_company, c.counterparty_timezone, c.attempt_count, c.max_attempts,
       c.constraints, c.status AS case_status
FROM input_requests r JOIN cases c ON c.case_id = r.case_id
"""
_PENDING_SELECT = _REQUEST_SELECT + " WHERE r.status = 'PENDING'"


DEFAULT_ANSWER_WITHIN_MS = 4 * 3_600_000
VIEWS = ("all", "mine", "unassigned")
# The Inbox's orders; each ends on the request id, so the order is total and stable.
SORTS = {
    "due": "due_at, r.requested_at, r.input_request_id",
    "waiting": "r.requested_at, r.input_request_id",
    "case": "coalesce(c.client_reference_id, c.case_id), r.requested_at, r.input_request_id",
}


@dataclass
class InboxFilter:
    """Which waiting questions the Inbox shows: ``view`` all, ``mine`` (assigned to ``me``)
    or ``unassigned``; ``text`` searches question, counterparty, reference and objective."""

    view: str = "all"
    me: str | None = None
    text: str = ""

    def where(self) -> tuple[str, dict]:
        clauses, params = [], {}
        if self.view == "mine":  # one identity per person: "Avery" is account "avery"
            clauses.append("lower(r.assigned_to) = lower(:me)")
            params["me"] = self.me or ""
        elif self.view == "unassigned":
            clauses.append("r.assigned_to IS NULL")
        text = self.text.replace("\x00", "").strip()
        if text:
            columns = (
                "r.question",
                "c.counterparty_name",
                "c.counterparty_address",
                "c.client_reference_id",
                "c.objective",
            )
            clauses.append(
                "("
                + " OR ".join(f"lower({c}) LIKE lower(:text) ESCAPE '\\'" for c in columns)
                + ")"
            )
            params["text"] = like_pattern(text)
        return "".join(f" AND {clause}" for clause in clauses), params


def pending_count(db: Database, flt: InboxFilter | None = None) -> int:
    where, params = (flt or InboxFilter()).where()  # the same SQL on both engines
    if not where:  # every waiting question: no join (an index's count)
        return db.execute(
            "SELECT count(*) FROM input_requests WHERE status = 'PENDING'"
        ).fetchone()[0]
    return db.execute(
        "SELECT count(*) FROM input_requests r JOIN cases c ON c.case_id = r.case_id"
        f" WHERE r.status = 'PENDING'{where}",
        params,
    ).fetchone()[0]


def pending_ids(db: Database) -> set[str]:
    """The ids of every waiting question (the live Inbox compares them to spot arrivals)."""
    return {
        r[0]
        for r in db.execute("SELECT input_request_id FROM input_requests WHERE status = 'PENDING'")
    }


def overdue_count(db: Database, *, within_ms: int, now: int) -> int:
    """Waiting questions past their due time (asked + the case's window, or ``within_ms``)."""
    return db.execute(
        "SELECT count(*) FROM input_requests r JOIN cases c ON c.case_id = r.case_id"
        " WHERE r.status = 'PENDING' AND r.requested_at + coalesce(c.answer_within_ms, ?) <= ?",
        [within_ms, now],
    ).fetchone()[0]


def pending_requests(
    db: Database,
    limit: int = 20,
    offset: int = 0,
    *,
    within_ms: int = DEFAULT_ANSWER_WITHIN_MS,
    flt: InboxFilter | None = None,
    sort: str = "due",
) -> list[dict]:
    """The inbox: the PENDING requests ``flt`` lets through, with their cases and due times
    (``due_at``), in a :data:`SORTS` order (soonest due first by default)."""
    where, params = (flt or InboxFilter()).where()
    return list(
        db.query(
            _PENDING_SELECT + where + f" ORDER BY {SORTS.get(sort, SORTS['due'])}"
            " LIMIT :limit OFFSET :offset",
            {**params, "within": within_ms, "limit": limit, "offset": offset},
        )
    )


def requests_by_ids(
    db: Database, request_ids: list[str], *, within_ms: int = DEFAULT_ANSWER_WITHIN_MS
) -> dict[str, dict]:
    """The requests (whatever their status) with their cases, by id."""
    if not request_ids:
        return {}  # PostgreSQL refuses "IN ()"
    params = {f"id{n}": request_id for n, request_id in enumerate(request_ids)}
    marks = ",".join(f":{name}" for name in params)
    rows = db.query(
        _REQUEST_SELECT + f" WHERE r.input_request_id IN ({marks})",
        {**params, "within": within_ms},
    )
    return {row["input_request_id"]: row for row in rows}


def pending_for_case(
    db: Database, case_id: str, *, within_ms: int = DEFAULT_ANSWER_WITHIN_MS
) -> dict | None:
    """The case's PENDING question with its case (None when it waits on none)."""
    return first_row(
        db, _PENDING_SELECT + " AND r.case_id = :case", {"case": case_id, "within": within_ms}
    )


def assign_request(db: Database, request_id: str, assignee: str | None, by: str) -> dict | None:
    """Assign a waiting question to ``assignee`` (None: unassign), audited. Returns the
    question as it was, or None when it is not waiting any more (nothing changed)."""
    with write_transaction(db):
        row = get_request(db, request_id)
        if row is None or row["status"] != "PENDING":
            return None
        if row["assigned_to"] == assignee:
            return row
        db.execute(
            "UPDATE input_requests SET assigned_to = ? WHERE input_request_id = ?",
            [assignee, request_id],
        )
        audit.record(
            db,
            by,
            "question.assigned" if assignee else "question.unassigned",
            case_id=row["case_id"],
            target=request_id,
            detail={"from": row["assigned_to"], "to": assignee},
        )
    return row


def answerers(db: Database, limit: int = 200) -> list[str]:
    """Who has answered questions in the console, most recent first."""
    return [
        r[0]
        for r in db.execute(
            "SELECT answered_by FROM input_requests WHERE answered_by IS NOT NULL"
            " GROUP BY answered_by ORDER BY max(answered_at) DESC LIMIT ?",
            [limit],
        )
    ]


def get_request(db: Database, request_id: str) -> dict | None:
    return first_row(db, "SELECT * FROM input_requests WHERE input_request_id = ?", [request_id])


def case_questions(db: Database, case_id: str) -> list[dict]:
    """Every question of a case with its answer, oldest first."""
    return list(
        db.query(
            "SELECT input_request_id, question, status, requested_at, answer, answered_by,"
            " answered_at FROM input_requests WHERE case_id = ? ORDER BY requested_at",
            [case_id],
        )
    )


def claim_is_fresh(request: dict, now: int | None = None) -> bool:
    """Someone holds the request and has not abandoned it (a closed tab's claim goes stale)."""
    now = now_ms() if now is None else now
    return bool(request["claimed_by"]) and (request["claimed_at"] or 0) > now - CLAIM_STALE_MS


SEND_STALE_MS = 60_000  # a POST takes 15 s at most (the client's timeout): older was cut off


@dataclass(frozen=True)
class Claim:
    """What :func:`claim_request` got: ``claimed`` (this session holds the question now),
    the request row as it is after the attempt (None: no such question), and ``in_flight``:
    this same session already has a send of it under way (a second click)."""

    claimed: bool
    request: dict | None
    in_flight: bool = False


def send_in_flight(request: dict, now: int | None = None) -> bool:
    """A POST of this question's answer is under way (started less than SEND_STALE_MS ago)."""
    now = now_ms() if now is None else now
    return request.get("send_state") == "SENDING" and (request["send_started_at"] or 0) > (
        now - SEND_STALE_MS
    )


def claim_request(
    db: Database,
    request_id: str,
    operator: str,
    token: str,
    *,
    sending: str | None = None,
) -> Claim:
    """Take the request for ``operator``'s browser session ``token`` if it is still PENDING,
    no other session holds a fresh claim and no send of it is under way. One UPDATE with the
    condition in its WHERE: two sessions (two operators, or one operator in two tabs) cannot
    both win, nor can two script runs of one session. With ``sending`` (the answer about to
    be POSTed) the claim also writes the answer down as SENDING, in the same statement."""
    now = now_ms()
    send_columns = (
        ", send_state = 'SENDING', send_text = :text, send_by = :operator, send_started_at = :now"
        if sending is not None
        else ""
    )
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE input_requests SET claimed_by = :operator, claimed_at = :now,"
            f" claim_token = :token{send_columns}"
            " WHERE input_request_id = :id AND status = 'PENDING' AND answered_at IS NULL"
            " AND (send_state IS NULL OR send_state != 'SENDING' OR send_started_at < :send_stale)"
            " AND (claim_token IS NULL OR claim_token = :token OR claimed_at < :claim_stale)",
            {
                "operator": operator,
                "now": now,
                "token": token,
                "text": sending,
                "id": request_id,
                "send_stale": now - SEND_STALE_MS,
                "claim_stale": now - CLAIM_STALE_MS,
            },
        )
    request = get_request(db, request_id)
    claimed = cursor.rowcount == 1
    in_flight = (
        not claimed
        and request is not None
        and request["claim_token"] == token
        and send_in_flight(request, now)
    )
    return Claim(claimed, request, in_flight)


def release_claim(db: Database, request_id: str, token: str) -> None:
    """The question is free again and nothing of it is in flight (the POST was refused, or
    Offload shows it still pending)."""
    with write_transaction(db):
        db.execute(
            "UPDATE input_requests SET claimed_by = NULL, claimed_at = NULL, claim_token = NULL,"
            " send_state = NULL, send_text = NULL, send_by = NULL, send_started_at = NULL"
            " WHERE input_request_id = ? AND claim_token = ? AND answered_at IS NULL",
            [request_id, token],
        )


def mark_unsettled(db: Database, request_id: str, token: str) -> None:
    """The POST went out and no reply came back, nor could Offload be asked: the claim stays
    with the session (a retry may send again: Offload refuses a second copy) and the
    reconciler settles it by reading the case."""
    with write_transaction(db):
        db.execute(
            "UPDATE input_requests SET send_state = 'UNSETTLED'"
            " WHERE input_request_id = ? AND claim_token = ? AND answered_at IS NULL",
            [request_id, token],
        )


def unsettled_sends(db: Database, now: int | None = None) -> list[dict]:
    """Answers written down for sending whose fate the console does not know: UNSETTLED, or
    SENDING for longer than any POST takes (the sender was killed, or could not record the
    202 because the database was busy). The reconciler reads each case to settle them."""
    now = now_ms() if now is None else now
    return list(
        db.query(
            "SELECT * FROM input_requests WHERE send_state IS NOT NULL AND answered_at IS NULL"
            " AND (send_state = 'UNSETTLED' OR send_started_at < ?)",
            [now - SEND_STALE_MS],
        )
    )


def abandon_send(db: Database, request_id: str, started_at: int | None) -> None:
    """Offload shows the question still pending: the unsettled send never arrived. Free the
    question (only if no newer send started meanwhile)."""
    with write_transaction(db):
        db.execute(
            "UPDATE input_requests SET claimed_by = NULL, claimed_at = NULL, claim_token = NULL,"
            " send_state = NULL, send_text = NULL, send_by = NULL, send_started_at = NULL"
            " WHERE input_request_id = ? AND answered_at IS NULL"
            f" AND send_started_at {dialect(db).not_distinct} ?",
            [request_id, started_at],
        )


@dataclass(frozen=True)
class Via:
    """How an answer reached the console: ``how`` is ``dashboard``, ``bulk`` or ``e-mail``
    (``input_requests.answered_via``); an e-mail's ``message_id`` goes in the audit entry."""

    how: str = "dashboard"
    message_id: str | None = None

    def detail(self) -> dict:
        return {"via": self.how, **({"messageId": self.message_id} if self.message_id else {})}


DASHBOARD = Via()


def record_answer(
    db: Database,
    request_id: str,
    operator: str,
    answer: str,
    note: str = "",
    *,
    outcome: str = "sent",
    via: Via | None = DASHBOARD,
) -> bool:
    """Offload accepted ``answer``: in one transaction the request is ANSWERED for good, the
    case's timeline gets a ``console.answered`` event saying who answered what and when, and
    the audit log an ``answer.sent`` entry (``outcome`` says how it was confirmed, ``via``
    how it came: None when unknown, as for an answer the reconciler settles). False, writing
    nothing, when the request was recorded as answered already."""
    now = now_ms()
    with write_transaction(db):
        request = get_request(db, request_id)
        if request is not None:
            lock_case(db, request["case_id"])  # before the request's row (see lock_case)
            request = get_request(db, request_id)  # as it stands once the case is ours
        if request is None or request["answered_at"] is not None:
            return False
        event = local_event(
            request["case_id"],
            f"console_answer_{request_id}",
            "console.answered",
            now,
            {
                "caseId": request["case_id"],
                "inputRequestId": request_id,
                "question": request["question"],
                "providedContext": answer,
                "answeredBy": operator,
                "note": note,
                **({"answeredVia": via.how} if via else {}),
            },
            source="console",
            state_ts=now,
            actor=operator,
        )
        db.execute(
            "UPDATE input_requests SET answer = ?, answered_by = ?, answered_at = ?,"
            " answered_via = ?, claimed_by = ?, claimed_at = coalesce(claimed_at, ?),"
            " send_state = NULL, send_text = NULL, send_by = NULL, send_started_at = NULL"
            " WHERE input_request_id = ?",
            [answer, operator, now, via.how if via else None, operator, now, request_id],
        )
        record_event(db, event, now)
        refresh_request_statuses(db, request["case_id"])
        audit.record(
            db,
            operator,
            "answer.sent",
            case_id=request["case_id"],
            target=request_id,
            detail={
                "outcome": outcome,
                "answer": answer,
                **({"note": note} if note else {}),
                **(via.detail() if via else {}),
            },
        )
    return True
