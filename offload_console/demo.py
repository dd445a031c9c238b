"""Demo cases for a first start in sandbox mode, sent through the real API path."""

from __future__ import annotations

from offload_client import OffloadClient
from offload_console.outbox import SubmitResult, submit_case
from offload_console.templates import DEMO_VENDORS, w9_case
from storage.database import Database


def seed_demo_cases(
    db: Database, client: OffloadClient, webhook_url: str | None = None
) -> list[SubmitResult]:
    return [
        submit_case(db, client, w9_case(*vendor), actor="demo", webhook_url=webhook_url)
        for vendor in DEMO_VENDORS
    ]
