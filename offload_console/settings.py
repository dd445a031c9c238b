"""Every environment variable the console reads, in one place (documented in the README)."""

from __future__ import annotations

import ipaddress
import os

DEFAULT_SIDECAR_HOST = "127.0.0.1"
DEFAULT_SIDECAR_PORT = 8787
DEFAULT_SANDBOX_PORT = 8788
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_RECONCILE_EVERY_S = 30.0


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address to bind, or a client's address) is this machine only.
    An empty address binds every interface, so it is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def webhook_token() -> str | None:
    return _env("OFFLOAD_WEBHOOK_TOKEN")


def sidecar_port() -> int:
    return int(_env("OFFLOAD_CONSOLE_SIDECAR_PORT") or DEFAULT_SIDECAR_PORT)


def public_webhook_url() -> str:
    """Where Offload should send this console's webhooks: ``OFFLOAD_PUBLIC_WEBHOOK_URL``, else
    the local sidecar (with the token path when a token is set)."""
    explicit = _env("OFFLOAD_PUBLIC_WEBHOOK_URL")
    if explicit:
        return explicit
    token = webhook_token()
    path = f"/webhooks/offload/{token}" if token else "/webhooks/offload"
    return f"http://127.0.0.1:{sidecar_port()}{path}"


def reconcile_every_s() -> float:
    raw = _env("OFFLOAD_RECONCILE_EVERY_S")
    return float(raw) if raw is not None else DEFAULT_RECONCILE_EVERY_S


def operator_name() -> str:
    """Who is acting, for CLI actions (the dashboard asks the operator)."""
    return _env("OFFLOAD_CONSOLE_OPERATOR") or os.environ.get("USER") or "cli"
