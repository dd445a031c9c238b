"""Every environment variable the console reads, in one place (documented in the README)."""

from __future__ import annotations

import ipaddress
import os

DEFAULT_SIDECAR_HOST = "127.0.0.1"
DEFAULT_SIDECAR_PORT = 8787
DEFAULT_SANDBOX_PORT = 8788
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_RECONCILE_EVERY_S = 30.0
DEFAULT_BUSY_TIMEOUT_MS = 5000
DEFAULT_REQUEST_TIMEOUT_S = 10.0


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


# -- what a running `offload-console up` uses --------------------------------------------
# `up` writes ``up.json`` beside the database (its pid and its sandbox's and sidecar's ports)
# and removes it when it stops; `create`, `sync` and `demo` with no OFFLOAD_BASE_URL then
# talk to that sandbox and name that sidecar, whatever ports `up` was given.


def run_file(db_path: str) -> str:
    from pathlib import Path

    return str(Path(db_path).with_name("up.json"))


def write_run_file(db_path: str, *, sandbox_port: int | None, sidecar_port: int) -> None:
    import json

    data = {"pid": os.getpid(), "sandbox_port": sandbox_port, "sidecar_port": sidecar_port}
    with open(run_file(db_path), "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def remove_run_file(db_path: str) -> None:
    try:
        os.unlink(run_file(db_path))
    except FileNotFoundError:
        pass


def running_up(db_path: str) -> dict | None:
    """The run file of an `up` that is still running for this database, if any."""
    import json

    try:
        with open(run_file(db_path), encoding="utf-8") as handle:
            data = json.load(handle)
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data


def adopt_running_up(db_path: str) -> bool:
    """In sandbox mode (no OFFLOAD_BASE_URL), point this process at the sandbox and sidecar
    of the `up` running for ``db_path``; True if there was one."""
    if _env("OFFLOAD_BASE_URL"):
        return False
    up = running_up(db_path)
    if not up:
        return False
    if up.get("sandbox_port"):
        from offload_client import DEFAULT_SANDBOX_API_KEY

        os.environ["OFFLOAD_BASE_URL"] = f"http://127.0.0.1:{int(up['sandbox_port'])}"
        os.environ["OFFLOAD_CONSOLE_MODE"] = "sandbox"
        if not _env("OFFLOAD_API_KEY"):  # the key `up` gave its sandbox
            os.environ["OFFLOAD_API_KEY"] = DEFAULT_SANDBOX_API_KEY
    if not _env("OFFLOAD_CONSOLE_SIDECAR_PORT"):
        os.environ["OFFLOAD_CONSOLE_SIDECAR_PORT"] = str(int(up["sidecar_port"]))
    return True


def busy_timeout_ms() -> int:
    raw = _env("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS") or ""
    return int(raw) if raw.isdigit() else DEFAULT_BUSY_TIMEOUT_MS


def request_timeout_s() -> float:
    """How long the sidecar waits for a request's head, and for its body."""
    return float(_env("OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S") or DEFAULT_REQUEST_TIMEOUT_S)


def use_uvloop() -> bool:
    """``OFFLOAD_CONSOLE_NO_UVLOOP=1`` runs the servers on asyncio's own loop (uvloop is the
    default when installed)."""
    return not _env("OFFLOAD_CONSOLE_NO_UVLOOP")


def reconcile_every_s() -> float:
    raw = _env("OFFLOAD_RECONCILE_EVERY_S")
    return float(raw) if raw is not None else DEFAULT_RECONCILE_EVERY_S


def operator_name() -> str:
    """Who is acting, for CLI actions (the dashboard asks the operator)."""
    return _env("OFFLOAD_CONSOLE_OPERATOR") or os.environ.get("USER") or "cli"
