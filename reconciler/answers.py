"""The reconciler's half of the answer outbox (see ``storage.inbox``)."""

from __future__ import annotations

from offload_client import OffloadClient, OffloadError
from storage.database import Database
from storage.inbox import abandon_send, record_answer, unsettled_sends


def settle_unsettled_sends(
    db: Database, client: OffloadClient, now: int | None = None
) -> list[str]:
    """The reconciler's half of the answer outbox: every answer written down for sending whose
    fate is unknown (its 202 could not be recorded, its reply was lost, its sender was killed)
    is settled by reading the case: still pending there, the question is freed; otherwise the
    answer arrived and is recorded, audited, for whoever sent it. Returns what it did, a line
    per question."""
    done = []
    for row in unsettled_sends(db, now):
        request_id, case_id = row["input_request_id"], row["case_id"]
        try:
            state = client.get_case(case_id)
        except OffloadError as exc:
            done.append(f"{request_id}: not settled, Offload not reachable ({exc})")
            continue
        if state.waits_on(request_id):
            abandon_send(db, request_id, row["send_started_at"])
            done.append(f"{request_id}: never reached Offload; the question is free again")
            continue
        note = "recorded by the reconciler: Offload no longer waits on the question"
        record_answer(
            db,
            request_id,
            row["send_by"] or "(unknown)",
            row["send_text"] or "",
            note,
            outcome="reconciled",
            via=None,
        )
        done.append(f"{request_id}: recorded as answered by {row['send_by']}")
    return done
