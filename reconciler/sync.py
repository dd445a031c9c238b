"""One reconciliation pass: GET every case that may have moved, record what changed."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from offload_client import OffloadClient, OffloadError
from reconciler.answers import settle_unsettled_sends
from storage import StorageError
from storage.cases import cases_to_poll, finish_reconciler_run, record_poll, start_reconciler_run
from storage.database import Database
from storage.db import now_ms
from storage.page_queries import refresh_search_index

log = logging.getLogger("offload_console.reconciler")

DEFAULT_CONCURRENCY = 8


@dataclass
class SyncReport:
    polled: int = 0
    changed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    answers: list[str] = field(default_factory=list)  # unsettled answers settled, a line each

    def summary(self) -> str:
        return (
            f"polled {self.polled} cases, repaired {self.changed}, "
            f"{len(self.errors)} errors, in {self.seconds:.2f} s"
        )


def sync(
    db: Database,
    client: OffloadClient,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> SyncReport:
    """GET each case worth polling (at most ``concurrency`` at once); a poll that shows a new
    state is recorded as a ``case.polled`` event and applied; one that shows nothing new
    records no event. Database writes happen on the calling thread, one case at a time."""
    started = time.perf_counter()
    report = SyncReport()
    run_id = start_reconciler_run(db)
    try:
        report.answers = settle_unsettled_sends(db, client)
    except StorageError as exc:  # busy: the next pass tries again
        report.errors.append(f"unsettled answers not settled: {exc}")
    for line in report.answers:
        log.info("reconciler: answer %s", line)
    targets = cases_to_poll(db)
    fetched_at = now_ms()  # every GET of this pass is sent after this
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(client.get_case, row["case_id"]): row for row in targets}
        for future in as_completed(futures):
            row = futures[future]
            report.polled += 1
            try:
                state = future.result()
            except OffloadError as exc:
                report.errors.append(f"{row['case_id']}: {exc}")
                continue
            try:
                changed = record_poll(db, row, state, fetched_at)
            except Exception as exc:  # noqa: BLE001 - one bad case never stops the pass
                log.exception("reconciler: case %r could not be recorded", row["case_id"])
                report.errors.append(f"{row['case_id']}: could not record the poll: {exc!r}")
                continue
            if changed:
                report.changed += 1
                log.info("reconciler repaired case %r: now %r", row["case_id"], state.status)
    refresh_search_index(db)  # keeps the Cases page's search index close behind the webhooks
    report.seconds = time.perf_counter() - started
    finish_reconciler_run(db, run_id, report.polled, report.changed, report.errors)
    if report.errors:
        log.warning("reconciler: %s; first error: %r", report.summary(), report.errors[0])
    return report
