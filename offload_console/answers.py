"""Answering a pending question: claim it, send it once, say plainly what happened.

The claim in SQLite comes first, so two operators (two browser sessions) cannot both send
an answer for the same request: the loser is told who is answering. A 409 is explained in
the operator's words and the case is refreshed from GET /cases/{id}. A failure before the
request reached Offload releases the claim and keeps the typed answer for a retry; one whose
outcome is unknown is settled by reading the case back.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from offload_client import (
    OffloadAPIError,
    OffloadClient,
    OffloadConnectError,
    OffloadError,
)
from storage import StorageError, audit
from storage.cases import poll_target, record_poll
from storage.database import Database
from storage.db import now_ms
from storage.inbox import (
    DASHBOARD,
    Via,
    claim_is_fresh,
    claim_request,
    get_request,
    mark_unsettled,
    record_answer,
    release_claim,
    requests_by_ids,
    send_in_flight,
)

log = logging.getLogger("offload_console.answers")

CONFLICT_WORDS = {
    "CASE_NOT_WAITING_FOR_INPUT": "the case is no longer waiting for input (it moved on)",
    "INPUT_REQUEST_NOT_PENDING": "this question was already answered",
    "INPUT_REQUEST_MISMATCH": "Offload has asked a newer question on this case (this one is stale)",
}


@dataclass(frozen=True)
class AnswerOutcome:
    ok: bool
    # sent | sent_unrecorded | empty | too_long | busy | taken | closed | conflict |
    # unreachable | unknown | in_flight | error | confirm | signed_out
    kind: str
    message: str  # the console's own words, safe to show
    detail: str | None = None  # Offload's code and message (untrusted: show as text)
    keep_text: bool = True  # leave the operator's typed answer in place


def refresh_case(db: Database, client: OffloadClient, case_id: str) -> bool:
    """GET the case now and record what it shows; True if that changed anything."""
    fetched_at = now_ms()
    state = client.get_case(case_id)
    row = poll_target(db, case_id)
    return False if row is None else record_poll(db, row, state, fetched_at)


def send_answer(
    db: Database,
    client: OffloadClient,
    request_id: str,
    operator: str,
    text: str,
    *,
    session: str | None = None,
    via: Via = DASHBOARD,
) -> AnswerOutcome:
    """Send an operator's answer once; every attempt that got past an empty box is audited
    (a sent answer in the transaction that records it, see :func:`record_answer`).
    ``session`` identifies the browser session (tab) acting: a claim belongs to it, so one
    operator in two tabs, or one tab clicking twice, sends one answer. Without one, each call
    is a session of its own. ``via``: how the answer came (the dashboard, bulk, e-mail)."""
    outcome = _send_answer(
        db, client, request_id, operator, text, session or secrets.token_hex(16), via
    )
    if outcome.kind not in ("empty", "too_long") and not outcome.ok:
        try:
            request = get_request(db, request_id)
            audit.record(
                db,
                operator,
                "answer.not_sent",
                case_id=request["case_id"] if request else None,
                target=request_id,
                detail={"outcome": outcome.kind, "answer": (text or "").strip(), **via.detail()},
            )
        except StorageError as exc:  # nothing was sent: a lost "not sent" entry loses no answer
            log.warning("answer.not_sent for %r not audited: %s", request_id, exc)
    return outcome


BUSY = AnswerOutcome(
    False,
    "busy",
    "The console's database is busy, so nothing was sent. Your answer is kept: send again in "
    "a moment.",
)
EMPTY = AnswerOutcome(False, "empty", "Type an answer before sending; nothing was sent.")
# The longest answer the console sends (Offload publishes no limit): a pasted log or a whole
# e-mail thread is refused in words instead of going out as a question's answer.
ANSWER_MAX_CHARS = 10_000
SENT = AnswerOutcome(True, "sent", "Answer sent. Offload resumes the case.", keep_text=False)
# Recording an accepted answer: tried at once, then after these pauses (each try may also wait
# the connection's busy timeout); after that the reconciler records it from the answer outbox.
RECORD_RETRY_S = (0.5, 2.0)
IN_FLIGHT_WAIT_S = 40.0  # the longest a send takes: a 15 s POST, then reading the case back


def _send_answer(
    db: Database,
    client: OffloadClient,
    request_id: str,
    operator: str,
    text: str,
    session: str,
    via: Via,
) -> AnswerOutcome:
    answer = (text or "").strip()
    if not answer:
        return EMPTY
    if len(answer) > ANSWER_MAX_CHARS:
        return AnswerOutcome(
            False,
            "too_long",
            f"An answer is at most {ANSWER_MAX_CHARS:,} characters; this one has "
            f"{len(answer):,}. Nothing was sent: shorten it and send again.",
        )
    try:
        claim = claim_request(db, request_id, operator, session, sending=answer)
    except StorageError:
        return BUSY
    if claim.in_flight:
        return _wait_for_the_first_send(db, request_id, operator, session)
    request = claim.request
    if request is None:
        return AnswerOutcome(
            False, "closed", "This question is no longer in the console.", keep_text=False
        )
    if not claim.claimed:
        return _not_claimed(request, operator, session)
    case_id = request["case_id"]
    try:
        client.provide_input(case_id, request_id, answer)
    except OffloadAPIError as exc:
        if exc.status == 409:
            _release(db, request_id, session)
            _try_refresh(db, client, case_id)
            words = CONFLICT_WORDS.get(exc.code, "Offload refused the answer")
            return AnswerOutcome(
                False,
                "conflict",
                f"Offload says {words} (409 {exc.code}). The case was refreshed from Offload; "
                "nothing more to do here.",
                detail=f"{exc.code}: {exc.message}",
            )
        if exc.ambiguous:
            return _settle_unknown(
                db, client, request_id, case_id, operator, session, answer, exc, via
            )
        _release(db, request_id, session)
        return AnswerOutcome(
            False,
            "error",
            f"Offload refused the answer (HTTP {exc.status}). {exc.advice} Your answer is kept.",
            detail=f"{exc.code}: {exc.message}",
        )
    except OffloadConnectError as exc:
        _release(db, request_id, session)
        return AnswerOutcome(
            False,
            "unreachable",
            "Could not reach Offload, so nothing was sent. Your answer is kept: retry when "
            "Health shows Offload reachable.",
            detail=str(exc),
        )
    except OffloadError as exc:
        return _settle_unknown(db, client, request_id, case_id, operator, session, answer, exc, via)
    return _record(db, request_id, operator, answer, SENT, via=via)


def _not_claimed(request: dict, operator: str, session: str) -> AnswerOutcome:
    """Why this session could not take the question, in the operator's words."""
    if request["answered_at"]:
        if request["claim_token"] == session and request["answered_by"] == operator:
            # This tab's earlier click sent it (a second click, or a rerun of the first).
            return AnswerOutcome(
                True, "sent", "Answer sent (once: the second click sent nothing).", keep_text=False
            )
        return AnswerOutcome(
            False,
            "taken",
            f"Already answered by {request['answered_by']}; nothing was sent.",
            keep_text=False,
        )
    if send_in_flight(request):
        return AnswerOutcome(
            False,
            "taken",
            f"{request['send_by']} is answering this question right now (their answer is on "
            "its way to Offload); nothing was sent.",
        )
    if request["status"] != "PENDING" and claim_is_fresh(request):
        # Sent by the claim's holder, and the case moved on before its answer was recorded.
        return AnswerOutcome(
            False,
            "taken",
            f"{request['claimed_by']} answered this question just now and the case moved "
            "on; nothing was sent.",
            keep_text=False,
        )
    if request["status"] != "PENDING":
        return AnswerOutcome(
            False,
            "closed",
            "This question is closed (the case moved on or a newer question replaced it); "
            "nothing was sent.",
            keep_text=False,
        )
    if request["claimed_by"] == operator:
        return AnswerOutcome(
            False,
            "taken",
            "You are answering this question in another tab or window; nothing was sent "
            "from this one.",
        )
    return AnswerOutcome(
        False,
        "taken",
        f"{request['claimed_by']} is answering this question right now; nothing was sent.",
    )


def _wait_for_the_first_send(
    db: Database, request_id: str, operator: str, session: str
) -> AnswerOutcome:
    """This session already has a POST of the question under way (a second click while
    Offload is slow): send nothing, wait for the first to finish and say how it ended."""
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    while True:
        try:
            request = get_request(db, request_id)
        except StorageError:
            request = None
        if request is not None and not send_in_flight(request):
            break
        if time.monotonic() > deadline:
            return AnswerOutcome(
                False,
                "in_flight",
                "Your first click's answer is still being sent; this click sent nothing. "
                "The outcome shows here when Offload replies.",
            )
        time.sleep(0.1)
    if request["answered_at"]:
        return _not_claimed(request, operator, session)
    if request["send_state"] == "UNSETTLED":
        return AnswerOutcome(
            False,
            "unknown",
            "Offload did not confirm your first click's answer; this click sent nothing. The "
            "console checks with Offload and records it if it arrived.",
        )
    return AnswerOutcome(
        False,
        "error",
        "Your first click's answer did not go through; this click sent nothing. Your answer "
        "is kept: send again.",
    )


def _release(db, request_id: str, session: str) -> None:
    try:
        release_claim(db, request_id, session)
    except StorageError as exc:  # the claim and the SENDING mark go stale by themselves
        log.warning("claim on %r not released: %s", request_id, exc)


def _record(
    db,
    request_id: str,
    operator: str,
    answer: str,
    sent: AnswerOutcome,
    note: str = "",
    *,
    via: Via,
) -> AnswerOutcome:
    """Offload accepted the answer: record it (and its audit entry), retrying while the
    database is busy. If it stays busy the answer is still written down as SENDING, and the
    reconciler records it once it reads the case back: the operator is told so."""
    for pause in (0.0, *RECORD_RETRY_S):
        time.sleep(pause)
        try:
            record_answer(
                db,
                request_id,
                operator,
                answer,
                note,
                outcome="sent" if not note else "confirmed",
                via=via,
            )
            return sent
        except StorageError as exc:
            log.warning("accepted answer to %r not recorded yet: %s", request_id, exc)
    return AnswerOutcome(
        True,
        "sent_unrecorded",
        "Offload accepted your answer, but the console's database is busy, so it is not "
        "recorded here yet. Nothing more to do: the console records it within two minutes "
        "(Health shows it while it waits). Do not send it again.",
        keep_text=False,
    )


def _try_refresh(db, client, case_id) -> None:
    try:
        refresh_case(db, client, case_id)
    except (OffloadError, StorageError):
        pass  # the reconciler will catch up


def _settle_unknown(
    db, client, request_id, case_id, operator, session, answer, exc, via
) -> AnswerOutcome:
    """The answer may or may not have reached Offload: read the case back to find out."""
    try:
        state = client.get_case(case_id)
    except OffloadError:
        try:
            mark_unsettled(db, request_id, session)
        except StorageError:
            pass  # still SENDING: once stale, the reconciler settles it the same way
        return AnswerOutcome(
            False,
            "unknown",
            "Offload did not confirm the answer and could not be asked whether it arrived. "
            "The question stays claimed by you; the console checks with Offload and records "
            "it if it arrived, or use Retry once Offload is reachable (a second copy is "
            "refused by Offload if the first arrived).",
            detail=str(exc),
        )
    if state.waits_on(request_id):
        _release(db, request_id, session)
        return AnswerOutcome(
            False,
            "unknown",
            "Offload did not receive the answer (the question is still pending there). Your "
            "answer is kept: retry.",
            detail=str(exc),
        )
    outcome = _record(
        db,
        request_id,
        operator,
        answer,
        AnswerOutcome(
            True, "sent", "Answer sent (confirmed by reading the case back).", keep_text=False
        ),
        note="confirmed by reading the case back",
        via=via,
    )
    _try_refresh(db, client, case_id)
    return outcome


def why_not_pending(row: dict | None) -> str:
    """Why a question picked earlier is not sent now: it left the Inbox since."""
    if row is None:
        return "no longer in the console"
    if row["answered_by"]:
        return f"already answered by {row['answered_by']}"
    return "closed (the case moved on or asked a newer question)"


@dataclass(frozen=True)
class BulkResult:
    """What one question of a bulk answer came to: its row (with its case; None when it is
    no longer in the console), whether the answer went, and the console's words for it."""

    request_id: str
    row: dict | None
    sent: bool
    message: str


def send_to_many(
    db: Database,
    client: OffloadClient,
    request_ids: list[str],
    operator: str,
    text: str,
    *,
    session: str,
) -> list[BulkResult]:
    """Send ``text`` to exactly ``request_ids`` (the questions the operator saw picked), each
    once through :func:`send_answer`; one that left the Inbox since is not sent, and its result
    says why. Raises ``StorageError`` when the questions cannot be read (nothing was sent)."""
    rows = requests_by_ids(db, list(request_ids))
    results = []
    for request_id in request_ids:
        row = rows.get(request_id)
        if row is None or row["status"] != "PENDING":
            results.append(BulkResult(request_id, row, False, f"Not sent: {why_not_pending(row)}."))
            continue
        outcome = send_answer(
            db, client, request_id, operator, text, session=session, via=Via("bulk")
        )
        results.append(BulkResult(request_id, row, outcome.ok, outcome.message))
    return results
