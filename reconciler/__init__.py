"""The reconciler: polls ``GET /cases/{id}`` for open cases and repairs what webhooks missed."""

from reconciler.sync import SyncReport, sync

__all__ = ["SyncReport", "sync"]
