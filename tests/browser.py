"""Playwright with Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (bash scripts/test installs it)",
)


def wait_ready(page, timeout=30_000):
    page.wait_for_selector(READY, timeout=timeout)


def commit_text(page, selector: str, value: str) -> None:
    """Fill a Streamlit text input/area and commit it (Streamlit commits on blur/Enter)."""
    field = page.locator(selector)
    field.fill(value)
    field.press("Control+Enter" if "textarea" in selector else "Enter")
    page.wait_for_timeout(300)
    wait_ready(page)
