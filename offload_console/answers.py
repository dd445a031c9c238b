"""Answering a pending question: claim it, send it once, say plainly what happened.

The claim in SQLite comes first, so two operators (two browser sessions) cannot both send
an answer for the same request: the loser is told who is answering. A 409 is explained in
the operator's words and the case is refreshed from GET /cases/{id}. A failure before the
request reached Offload releases the claim and keeps the typed answer for a retry; one whose
outcome is unknown is settled by reading the case back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlite_utils

from offload_client import (
    OffloadAPIError,
    OffloadClient,
    OffloadConnectError,
    OffloadError,
)
from storage import audit
from storage.cases import poll_target, record_poll
from storage.db import now_ms
from storage.inbox import (
    claim_is_fresh,
    claim_request,
    get_request,
    record_answer,
    release_claim,
)

CONFLICT_WORDS = {
    "CASE_NOT_WAITING_FOR_INPUT": "the case is no longer waiting for input (it moved on)",
    "INPUT_REQUEST_NOT_PENDING": "this question was already answered",
    "INPUT_REQUEST_MISMATCH": "Offload has asked a newer question on this case (this one is stale)",
}


@dataclass(frozen=True)
class AnswerOutcome:
    ok: bool
    kind: str  # sent | empty | taken | closed | conflict | unreachable | unknown | error | confirm
    message: str  # the console's own words, safe to show
    detail: str | None = None  # Offload's code and message (untrusted: show as text)
    keep_text: bool = True  # leave the operator's typed answer in place

    @property
    def retry(self) -> bool:
        return self.kind in ("unreachable", "unknown", "error")


def refresh_case(db: sqlite_utils.Database, client: OffloadClient, case_id: str) -> bool:
    """GET the case now and record what it shows; True if that changed anything."""
    fetched_at = now_ms()
    state = client.get_case(case_id)
    row = poll_target(db, case_id)
    return False if row is None else record_poll(db, row, state, fetched_at)


def send_answer(
    db: sqlite_utils.Database,
    client: OffloadClient,
    request_id: str,
    operator: str,
    text: str,
    *,
    session: str | None = None,
) -> AnswerOutcome:
    """Send an operator's answer once; every attempt that got past an empty box is audited.
    ``session`` identifies the browser session (tab) acting: a claim belongs to it, so one
    operator in two tabs sends one answer. Without one, each call is a session of its own."""
    outcome = _send_answer(db, client, request_id, operator, text, session or secrets.token_hex(16))
    if outcome.kind != "empty":
        request = get_request(db, request_id)
        audit.record(
            db,
            operator,
            "answer.sent" if outcome.ok else "answer.not_sent",
            case_id=request["case_id"] if request else None,
            target=request_id,
            detail={"outcome": outcome.kind, "answer": (text or "").strip()},
        )
    return outcome


def _send_answer(
    db: sqlite_utils.Database,
    client: OffloadClient,
    request_id: str,
    operator: str,
    text: str,
    session: str,
) -> AnswerOutcome:
    answer = (text or "").strip()
    if not answer:
        return AnswerOutcome(False, "empty", "Type an answer before sending.")
    claim = claim_request(db, request_id, operator, session)
    request = claim["request"]
    if request is None:
        return AnswerOutcome(
            False, "closed", "This question is no longer in the console.", keep_text=False
        )
    if not claim["claimed"]:
        if request["answered_at"]:
            return AnswerOutcome(
                False,
                "taken",
                f"Already answered by {request['answered_by']}; nothing was sent.",
                keep_text=False,
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
    case_id = request["case_id"]
    try:
        client.provide_input(case_id, request_id, answer)
    except OffloadAPIError as exc:
        if exc.status == 409:
            release_claim(db, request_id, session)
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
            return _settle_unknown(db, client, request_id, case_id, operator, session, answer, exc)
        release_claim(db, request_id, session)
        return AnswerOutcome(
            False,
            "error",
            f"Offload refused the answer (HTTP {exc.status}). {exc.advice} Your answer is kept.",
            detail=f"{exc.code}: {exc.message}",
        )
    except OffloadConnectError as exc:
        release_claim(db, request_id, session)
        return AnswerOutcome(
            False,
            "unreachable",
            "Could not reach Offload, so nothing was sent. Your answer is kept: retry when "
            "Health shows Offload reachable.",
            detail=str(exc),
        )
    except OffloadError as exc:
        return _settle_unknown(db, client, request_id, case_id, operator, session, answer, exc)
    record_answer(db, request_id, operator, answer)
    return AnswerOutcome(True, "sent", "Answer sent. Offload resumes the case.", keep_text=False)


def _try_refresh(db, client, case_id) -> None:
    try:
        refresh_case(db, client, case_id)
    except OffloadError:
        pass  # the reconciler will catch up


def _settle_unknown(
    db, client, request_id, case_id, operator, session, answer, exc
) -> AnswerOutcome:
    """The answer may or may not have reached Offload: read the case back to find out."""
    try:
        state = client.get_case(case_id)
    except OffloadError:
        return AnswerOutcome(
            False,
            "unknown",
            "Offload did not confirm the answer and could not be asked whether it arrived. "
            "The question stays claimed by you; use Retry once Offload is reachable (a second "
            "copy is refused by Offload if the first arrived).",
            detail=str(exc),
        )
    pending = state.input_request
    if (
        pending
        and pending.id == request_id
        and pending.status == "PENDING"
        and state.status == "INPUT_NEEDED"
    ):
        release_claim(db, request_id, session)
        return AnswerOutcome(
            False,
            "unknown",
            "Offload did not receive the answer (the question is still pending there). Your "
            "answer is kept: retry.",
            detail=str(exc),
        )
    record_answer(db, request_id, operator, answer, note="confirmed by reading the case back")
    _try_refresh(db, client, case_id)
    return AnswerOutcome(
        True, "sent", "Answer sent (confirmed by reading the case back).", keep_text=False
    )
