"""What the benchmark scripts (and scripts/screenshots.py) share: free ports, waiting for a
server they started."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, health_url: str, timeout: float = 60.0) -> None:
    """Return once ``health_url`` answers 200; kill ``proc`` and exit if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(health_url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{health_url} did not answer within {timeout:g} s")
