"""Typed results of the client's calls. ``raw`` keeps Offload's ``data`` object as sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOTHING_SCHEDULED = 253402300799999  # nextActionAt sentinel: no check or follow-up scheduled
TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED"})


@dataclass(frozen=True)
class CreatedCase:
    case_id: str


@dataclass(frozen=True)
class InputRequest:
    id: str
    question: str | None
    status: str | None
    requested_at: int | None


@dataclass(frozen=True)
class CaseState:
    case_id: str
    status: str
    updated_at: int | None
    created_at: int | None = None
    client_reference_id: str | None = None
    next_action_at: int | None = None
    attempt_count: int | None = None
    max_attempts: int | None = None
    channel: str | None = None
    result_status: str | None = None
    result: Any = None
    input_request: InputRequest | None = None
    attachments: list[dict] = field(default_factory=list)
    conversation_thread: str | None = None
    raw: dict = field(default_factory=dict)

    @property
    def nothing_scheduled(self) -> bool:
        return self.next_action_at in (None, NOTHING_SCHEDULED)

    def waits_on(self, request_id: str) -> bool:
        """The case still waits on exactly this question: no answer of it has arrived."""
        pending = self.input_request
        return bool(
            pending
            and pending.id == request_id
            and pending.status == "PENDING"
            and self.status == "INPUT_NEEDED"
        )

    @classmethod
    def from_data(cls, data: dict) -> CaseState:
        def num(key):
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        request = data.get("inputRequest")
        input_request = None
        if isinstance(request, dict) and isinstance(request.get("id"), str):
            input_request = InputRequest(
                id=request["id"],
                question=request.get("question")
                if isinstance(request.get("question"), str)
                else None,
                status=request.get("status") if isinstance(request.get("status"), str) else None,
                requested_at=request.get("requestedAt")
                if isinstance(request.get("requestedAt"), int)
                else None,
            )
        attachments = data.get("attachments")
        return cls(
            case_id=str(data.get("caseId")),
            status=str(data.get("status")),
            updated_at=num("updatedAt"),
            created_at=num("createdAt"),
            client_reference_id=data.get("clientReferenceId"),
            next_action_at=num("nextActionAt"),
            attempt_count=num("attemptCount"),
            max_attempts=num("maxAttempts"),
            channel=data.get("channel"),
            result_status=data.get("resultStatus"),
            result=data.get("result"),
            input_request=input_request,
            attachments=attachments if isinstance(attachments, list) else [],
            conversation_thread=data.get("conversationThread"),
            raw=data,
        )


@dataclass(frozen=True)
class AttachmentLink:
    attachment_id: str
    name: str | None
    size: int | None
    type: str | None
    download_url: str
    expires_at: str | None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class InputAccepted:
    case_id: str
    input_request_id: str
