"""Sending a case through the submission outbox: one submission never yields two cases.

1. Commit a PENDING submission (the full request, who, when) and stamp
   ``metadata.consoleSubmissionId`` on the body (Offload echoes metadata in webhooks).
2. POST /cases once. Success: the submission is SENT and the case is in ``cases`` at once.
   A clear refusal (4xx, or Offload never reached): FAILED with Offload's code and message.
   An ambiguous failure (timeout, dropped connection, 5xx): UNKNOWN, never resent
   automatically; a webhook bringing the submission id back settles it.
3. The same submission id again returns the stored submission without sending anything.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from offload_client import (
    OffloadAPIError,
    OffloadClient,
    OffloadConnectError,
    OffloadError,
    OffloadUnknownOutcome,
)
from offload_console import settings
from offload_console.redact import MASK
from storage import audit
from storage.database import Database
from storage.submissions import create_submission, get_submission, mark_outcome, mark_sent


@dataclass(frozen=True)
class SubmitResult:
    submission_id: str
    status: str  # SENT FAILED UNKNOWN PENDING
    case_id: str | None = None
    error: OffloadError | None = None
    duplicate: bool = False

    @property
    def message(self) -> str:
        if self.status == "SENT":
            return f"Case {self.case_id} created."
        if self.error is not None:
            return f"{self.error} — {self.error.advice}"
        return f"Submission {self.submission_id} is {self.status}."


def prepare_body(body: dict, submission_id: str, webhook_url: str | None = None) -> dict:
    """The body as sent: metadata stamped with the submission id, webhook URL defaulted
    (``webhook_url``, else :func:`settings.public_webhook_url`)."""
    prepared = copy.deepcopy(body)
    metadata = dict(prepared.get("metadata") or {})
    metadata["consoleSubmissionId"] = submission_id
    prepared["metadata"] = metadata
    if not prepared.get("clientWebhookUrl"):
        prepared["clientWebhookUrl"] = webhook_url or settings.public_webhook_url()
    return prepared


def stored_form(prepared: dict) -> dict:
    """The body as the database keeps it (``submissions.request``, ``cases.request``, the
    ``case.created`` event): the webhook token in ``clientWebhookUrl`` masked, since users
    open the database with Datasette. :func:`sending_form` puts it back for the POST."""
    token = settings.webhook_token()
    url = prepared.get("clientWebhookUrl")
    if not token or not isinstance(url, str) or token not in url:
        return prepared
    return {**prepared, "clientWebhookUrl": url.replace(token, MASK)}


def sending_form(stored: dict) -> dict:
    token = settings.webhook_token()
    url = stored.get("clientWebhookUrl")
    if not token or not isinstance(url, str) or MASK not in url:
        return stored
    return {**stored, "clientWebhookUrl": url.replace(MASK, token)}


def new_submission_id() -> str:
    return f"sub_{uuid.uuid4().hex}"


def submit_case(
    db: Database,
    client: OffloadClient,
    body: dict,
    *,
    actor: str | None,
    submission_id: str | None = None,
    webhook_url: str | None = None,
) -> SubmitResult:
    submission_id = submission_id or new_submission_id()
    prepared = stored_form(prepare_body(body, submission_id, webhook_url))
    if not create_submission(db, submission_id, prepared, actor):
        existing = get_submission(db, submission_id)
        return SubmitResult(submission_id, existing["status"], existing["case_id"], duplicate=True)
    result = _send(db, client, prepared, submission_id, actor)
    audit.record(
        db,
        actor,
        "case.sent",
        case_id=result.case_id,
        target=submission_id,
        detail={
            "outcome": result.status,
            "clientReferenceId": prepared.get("clientReferenceId"),
            "error": getattr(result.error, "code", None)
            or (str(result.error) if result.error else None),
        },
    )
    return result


def _send(db, client, prepared: dict, submission_id: str, actor: str | None) -> SubmitResult:
    try:
        created = client.create_case(sending_form(prepared))
    except OffloadAPIError as exc:
        status = "UNKNOWN" if exc.ambiguous else "FAILED"
        mark_outcome(
            db,
            submission_id,
            status,
            error_status=exc.status,
            error_code=exc.code,
            error_message=exc.message,
        )
        return SubmitResult(submission_id, status, error=exc)
    except OffloadConnectError as exc:
        mark_outcome(db, submission_id, "FAILED", error_code="UNREACHABLE", error_message=str(exc))
        return SubmitResult(submission_id, "FAILED", error=exc)
    except OffloadUnknownOutcome as exc:
        mark_outcome(db, submission_id, "UNKNOWN", error_code="NO_ANSWER", error_message=str(exc))
        return SubmitResult(submission_id, "UNKNOWN", error=exc)
    except OffloadError as exc:  # a 2xx without caseId: Offload may have created it
        mark_outcome(db, submission_id, "UNKNOWN", error_code="PROTOCOL", error_message=str(exc))
        return SubmitResult(submission_id, "UNKNOWN", error=exc)
    mark_sent(db, submission_id, created.case_id, prepared, actor)
    return SubmitResult(submission_id, "SENT", created.case_id)


@dataclass(frozen=True)
class LaunchOutcome:
    """One CSV row of a batch launch: SKIPPED (it had problems), or its submission's status
    with the case it made; ``note`` says when it had been sent before."""

    row: int
    status: str
    case: str = ""
    note: str = ""


def launch_batch(
    db: Database,
    client: OffloadClient,
    rows: list[tuple[dict, dict]],
    submission_id: Callable[[int], str],
    *,
    actor: str | None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[LaunchOutcome]:
    """Send each row without problems through the outbox (``submission_id(i)`` for row
    ``i``: the same rows sent again make no second case); a row with problems is skipped.
    ``progress(done, total)`` after each row."""
    outcomes = []
    for i, (body, problems) in enumerate(rows):
        if problems:
            outcomes.append(LaunchOutcome(i + 1, "SKIPPED"))
        else:
            result = submit_case(db, client, body, actor=actor, submission_id=submission_id(i))
            note = "already sent" if result.duplicate else ""
            outcomes.append(LaunchOutcome(i + 1, result.status, result.case_id or "", note))
        progress(i + 1, len(rows))
    return outcomes
