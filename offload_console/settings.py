"""Every environment variable the console reads, in one place (documented in the README)."""

from __future__ import annotations

import os

DEFAULT_SIDECAR_HOST = "127.0.0.1"
DEFAULT_SIDECAR_PORT = 8787


def webhook_token() -> str | None:
    token = os.environ.get("OFFLOAD_WEBHOOK_TOKEN", "").strip()
    return token or None
