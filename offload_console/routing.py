"""Automatic assignment (``OFFLOAD_CONSOLE_AUTO_ASSIGN=1``; off by default): each new question
goes to an on-duty operator, round-robin, skipping those holding ``OFFLOAD_CONSOLE_AUTO_ASSIGN_CAP``
open questions (``storage.routing``); the assignee gets the assignment e-mail as when a person
assigns. Runs in the sidecar, one instance at a time (the ``router`` job lock); the conditional
update makes a second router harmless anyway."""

from __future__ import annotations

import asyncio
import logging

from offload_console.assignment import mail_assignee
from storage import StorageError, now_ms
from storage.routing import route_one

log = logging.getLogger("offload_console.routing")
PASS_LIMIT = 200  # questions routed in one pass at most (the rest go at the next)


def route_new(db, *, cap: int, now: int | None = None) -> list[tuple[str, str]]:
    """Route every question waiting for it; ``(question id, operator)`` for each."""
    start = now_ms() if now is None else now
    routed = []
    for step in range(PASS_LIMIT):
        done = route_one(db, cap=cap, now=start + step)  # one ms apart: round-robin order
        if done is None:
            break
        question, operator = done
        mail_assignee(db, question["input_request_id"], question["case_id"], operator)
        routed.append((question["input_request_id"], operator))
    return routed


async def route_forever(open_db, cap: int, every_s: float = 2.0, *, job=None) -> None:
    """A pass every ``every_s`` in a worker thread, while this instance holds ``job``."""

    def one_pass() -> None:
        if job is not None and not job.held():
            return
        db = open_db()
        try:
            routed = route_new(db, cap=cap)
        finally:
            db.conn.close()
        for request_id, operator in routed:
            log.info("routing: %s to %s", request_id, operator)

    try:
        while True:
            try:
                await asyncio.to_thread(one_pass)
            except StorageError as exc:
                log.warning("routing: the database is unavailable (%s)", exc)
            except Exception:  # noqa: BLE001 - logged; the next pass tries again
                log.exception("routing pass failed")
            await asyncio.sleep(every_s)
    finally:
        if job is not None:
            job.release()
