"""The sandbox's cases and their scripted counterparties.

Each case moves through steps scheduled on a clock where one Offload "hour" lasts
``hour_seconds`` real seconds. All state lives in memory, apart from the console's database.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import heapq
import json
import logging
import os
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sandbox.results import result_for

log = logging.getLogger("offload_console.sandbox")

NOTHING_SCHEDULED = 253402300799999
SCENARIOS = ("complete", "input_needed", "two_questions", "max_retries", "bounced", "rejected")
# (what the counterparty wrote, the question the agent then asks the customer)
QUESTIONS = (
    (
        "Could we send the W-9 next Monday instead?",
        "The vendor asked whether they can send the W-9 next Monday. Should I accept that "
        "timeline?",
    ),
    (
        "Which legal entity name should appear on the form?",
        "They ask which legal entity name should appear on the form. Which one should I give them?",
    ),
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class SandboxCase:
    case_id: str
    body: dict
    created_at: int
    updated_at: int
    scenario: str
    status: str = "CREATED"
    attempt_count: int = 0
    next_action_at: int = NOTHING_SCHEDULED
    thread: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    input_request: dict | None = None
    result: Any = None
    result_status: str | None = None
    failure_reason: str | None = None
    questions_asked: int = 0
    follow_ups: int = 0
    answers: list[str] = field(default_factory=list)
    step: str | None = None
    step_token: int = 0
    step_due: int | None = None

    @property
    def max_attempts(self) -> int:
        return self.body.get("maxAttempts", 3)

    @property
    def follow_up_hours(self) -> int:
        return self.body.get("followUpDelayHours", 72)

    def to_data(self, include_transcript: bool = False) -> dict:
        data = {
            "caseId": self.case_id,
            "clientReferenceId": self.body.get("clientReferenceId"),
            "status": self.status,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "nextActionAt": self.next_action_at,
            "attemptCount": self.attempt_count,
            "maxAttempts": self.max_attempts,
            "channel": self.body["channel"],
            "counterparty": self.body["counterparty"],
            "attachments": copy.deepcopy(self.attachments),
            "resultStatus": self.result_status,
            "result": copy.deepcopy(self.result),
            "goal": copy.deepcopy(self.body["goal"]),
            "resultSchema": self.body.get("resultSchema"),
            "senderPersona": self.body["senderPersona"],
            "constraints": self.body.get("constraints", []),
            "inputRequest": copy.deepcopy(self.input_request),
        }
        if include_transcript:
            data["conversationThread"] = "\n\n".join(self.thread) if self.thread else None
        return data


class Engine:
    def __init__(
        self,
        hour_seconds: float = 1.0,
        drop_webhooks: float = 0.0,
        seed: int | None = None,
        state_file: str | None = None,
    ):
        self.hour_ms = hour_seconds * 1000
        self.state_file = state_file
        self._dirty = False
        self.drop_webhooks = drop_webhooks
        self.cases: dict[str, SandboxCase] = {}
        self.download_tokens: dict[str, tuple[str, str, int]] = {}
        self._heap: list[tuple[int, int, str, int]] = []
        self._seq = 0
        self._wake: asyncio.Event | None = None
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self._random = random.Random(seed)
        self.webhooks_sent = 0
        self.input_posts = 0  # POST /cases/{id}/input received, accepted or not (tests)
        self.answers_received: list[dict] = []  # each of them, with the status it got
        self.webhooks_dropped = 0
        self.webhooks_failed = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        self._wake = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        self.load()
        try:
            while True:
                if self._dirty:
                    self.save()
                now = now_ms()
                while self._heap and self._heap[0][0] <= now:
                    _, _, case_id, token = heapq.heappop(self._heap)
                    case = self.cases.get(case_id)
                    if case and case.step_token == token and case.step:
                        step, case.step = case.step, None
                        try:
                            self._run_step(case, step)
                        except Exception:  # noqa: BLE001 - one broken case must not stop all
                            log.exception("sandbox step %s failed for %s", step, case_id)
                delay = (self._heap[0][0] - now_ms()) / 1000 if self._heap else 1.0
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, min(delay, 1.0)))
                except TimeoutError:
                    pass
        finally:
            self.save()
            for task in list(self._tasks):
                task.cancel()
            await self._http.aclose()

    # -- state on disk, so a restart keeps the sandbox's cases ----------------------------

    def save(self) -> None:
        self._dirty = False
        if not self.state_file:
            return
        path = Path(self.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([dataclasses.asdict(c) for c in self.cases.values()]))
        os.replace(tmp, path)

    def load(self) -> None:
        if not self.state_file or not Path(self.state_file).exists():
            return
        try:
            rows = json.loads(Path(self.state_file).read_text())
        except (OSError, ValueError) as exc:
            log.warning("sandbox state %s unreadable (%s); starting empty", self.state_file, exc)
            return
        for row in rows:
            case = SandboxCase(**row)
            self.cases[case.case_id] = case
            if case.step and case.step_due is not None:
                step, due = case.step, case.step_due
                self._schedule(case, step, max(0, due - now_ms()) / self.hour_ms)

    def _schedule(self, case: SandboxCase, step: str, hours: float) -> None:
        due = now_ms() + int(hours * self.hour_ms)
        case.step = step
        case.step_due = due
        self._dirty = True
        case.step_token += 1
        case.next_action_at = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, case.case_id, case.step_token))
        if self._wake is not None:
            self._wake.set()

    def _touch(self, case: SandboxCase) -> None:
        case.updated_at = max(now_ms(), case.updated_at + 1)
        self._dirty = True

    # -- API operations ------------------------------------------------------------------

    def create(self, body: dict) -> SandboxCase:
        now = now_ms()
        scenario = (body.get("metadata") or {}).get("sandboxScenario", "complete")
        if scenario not in SCENARIOS:
            scenario = "complete"
        case = SandboxCase(
            case_id=str(uuid.uuid4()),
            body=copy.deepcopy(body),
            created_at=now,
            updated_at=now,
            scenario=scenario,
        )
        self.cases[case.case_id] = case
        self._schedule(case, "outreach", 0.05)
        return case

    def provide_input(self, case: SandboxCase, answer: str) -> None:
        case.input_request["status"] = "RESOLVED"
        case.answers.append(answer)
        knowledge = case.body["goal"].get("knowledge")
        if not isinstance(knowledge, dict):
            knowledge = {"context": knowledge} if knowledge else {}
        knowledge["additionalHumanContext"] = answer
        case.body["goal"]["knowledge"] = knowledge
        self._touch(case)
        self._schedule(case, "resume", 0.05)

    def run_next_step(self, case_id: str) -> str | None:
        """Run a case's next scheduled step now (tests and demos drive the clock by hand)."""
        case = self.cases[case_id]
        step, case.step = case.step, None
        if step:
            self._run_step(case, step)
        return step

    def new_download_link(self, case: SandboxCase, attachment_id: str) -> tuple[str, str]:
        token = secrets.token_urlsafe(16)
        expires = now_ms() + 15 * 60 * 1000
        self.download_tokens[token] = (case.case_id, attachment_id, expires)
        iso = datetime.datetime.fromtimestamp(expires / 1000, datetime.UTC).isoformat()
        return token, iso.replace("+00:00", "Z")

    # -- the scripted counterparty -------------------------------------------------------

    def _run_step(self, case: SandboxCase, step: str) -> None:
        getattr(self, f"_step_{step}")(case)

    def _say(self, case: SandboxCase, outbound: bool, text: str) -> None:
        persona = case.body["senderPersona"]
        counterparty = case.body["counterparty"]
        me = f"{persona['name']} ({persona.get('company', 'Offload')})"
        them = f"{counterparty['name']} <{counterparty['address']}>"
        sender, to = (me, them) if outbound else (them, me)
        case.thread.append(f"[{_iso(now_ms())}] {sender} -> {to}\n{text}")

    def _step_outreach(self, case: SandboxCase) -> None:
        case.status = "RUNNING"
        case.attempt_count = 1
        self._say(
            case,
            True,
            f"Hello {case.body['counterparty']['name']}, "
            f"{case.body['goal']['objective']}. Could you help?",
        )
        self._touch(case)
        if case.scenario == "bounced":
            self._schedule(case, "bounce", 0.2)
        elif case.scenario == "max_retries":
            self._schedule(case, "follow_up", case.follow_up_hours)
        else:
            self._schedule(case, "reply", 1)

    def _step_reply(self, case: SandboxCase) -> None:
        wanted = {"input_needed": 1, "two_questions": 2}.get(case.scenario, 0)
        if case.scenario == "rejected":
            self._say(case, False, "We will not be providing this. Please do not contact us again.")
            self._fail(case, "failed_rejected", "The counterparty declined the request.")
        elif case.questions_asked < wanted:
            self._ask(case)
        else:
            self._complete(case)

    def _step_resume(self, case: SandboxCase) -> None:
        case.status = "RUNNING"
        case.input_request = None
        case.attempt_count += 1
        self._say(case, True, f"Thanks for waiting. {case.answers[-1]}")
        self._touch(case)
        self._schedule(case, "reply", 1)

    def _step_follow_up(self, case: SandboxCase) -> None:
        if case.follow_ups >= case.max_attempts:
            self._fail(case, "max_retries", f"No reply after {case.follow_ups} follow-ups.")
            return
        case.follow_ups += 1
        case.attempt_count += 1
        self._say(case, True, f"Following up on my earlier message (reminder {case.follow_ups}).")
        self._touch(case)
        self._schedule(case, "follow_up", case.follow_up_hours)

    def _step_bounce(self, case: SandboxCase) -> None:
        self._fail(case, "BOUNCED", f"Delivery to {case.body['counterparty']['address']} failed.")

    def _ask(self, case: SandboxCase) -> None:
        said, question = QUESTIONS[case.questions_asked % len(QUESTIONS)]
        self._say(case, False, said)
        case.questions_asked += 1
        case.status = "INPUT_NEEDED"
        self._touch(case)
        case.input_request = {
            "id": f"ir_{uuid.uuid4().hex[:16]}",
            "question": question,
            "status": "PENDING",
            "requestedAt": case.updated_at,
        }
        case.step = None
        case.next_action_at = NOTHING_SCHEDULED
        self._webhook(
            case,
            "case.input_needed",
            {
                "inputRequest": question,
                "inputRequestId": case.input_request["id"],
                "inputRequestStatus": "PENDING",
                "inputRequestedAt": case.input_request["requestedAt"],
            },
        )

    def _complete(self, case: SandboxCase) -> None:
        result = result_for(case.body.get("resultSchema"), case.answers)
        self._say(case, False, "Here you go, the signed form is attached.")
        now = now_ms()
        case.attachments.append(
            {
                "attachmentId": f"att_{uuid.uuid4().hex[:12]}",
                "name": "W-9 signed.pdf",
                "size": len(PDF),
                "type": "application/pdf",
                "messageId": f"msg_{uuid.uuid4().hex[:12]}",
                "inboxId": "inbox_sandbox",
                "receivedAt": now,
            }
        )
        case.status = "COMPLETED"
        case.result = result
        case.result_status = "goal_achieved"
        self._finish(case)
        self._webhook(
            case, "case.completed", {"resultStatus": case.result_status, "result": result}
        )

    def _fail(self, case: SandboxCase, result_status: str, reason: str | None) -> None:
        case.status = "FAILED"
        case.result_status = result_status
        case.failure_reason = reason
        self._finish(case)
        self._webhook(case, "case.failed", {"resultStatus": result_status, "failureReason": reason})

    def _finish(self, case: SandboxCase) -> None:
        case.step = None
        case.input_request = None
        case.next_action_at = NOTHING_SCHEDULED
        self._touch(case)

    # -- webhooks: one POST, unsigned, never retried --------------------------------------

    def _webhook(self, case: SandboxCase, event_type: str, extra: dict) -> None:
        url = case.body.get("clientWebhookUrl")
        if not url:
            return
        data = {
            "caseId": case.case_id,
            "status": case.status,
            "channel": case.body["channel"],
            "attemptCount": case.attempt_count,
            "attachments": copy.deepcopy(case.attachments),
            **extra,
        }
        if case.body.get("clientReferenceId") is not None:
            data["clientReferenceId"] = case.body["clientReferenceId"]
        if case.body.get("metadata") is not None:
            data["metadata"] = case.body["metadata"]
        envelope = {
            "event_id": f"evt_{case.case_id}_{event_type.replace('.', '_')}_{case.updated_at}",
            "event_type": event_type,
            "timestamp": now_ms(),
            "data": data,
        }
        if self._random.random() < self.drop_webhooks:
            self.webhooks_dropped += 1
            log.info("webhook %s dropped on purpose (--drop-webhooks)", envelope["event_id"])
            return
        task = asyncio.get_running_loop().create_task(self._deliver(url, envelope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, envelope: dict) -> None:
        try:
            response = await self._http.post(url, json=envelope)
            ok = response.is_success
        except httpx.HTTPError as exc:
            ok = False
            log.info("webhook %s not delivered: %s", envelope["event_id"], type(exc).__name__)
        if ok:
            self.webhooks_sent += 1
        else:
            self.webhooks_failed += 1  # gone for good, as with Offload


PDF = b"%PDF-1.4\n% sandbox attachment\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
