"""Shared test helpers: free ports, servers started as real processes, event builders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTED: list = []  # every ServerProcess made; conftest deletes the logs of passing tests


def quiet_background() -> dict[str, str]:
    """What a server a test starts runs with unless the test says otherwise: no reconciler,
    no notifier, and an Offload where nobody listens, so that no background job of it talks to
    the default ports (a console the user may be running) or to anything else, however long
    the test takes on a loaded machine."""
    return {
        "OFFLOAD_RECONCILE_EVERY_S": "0",
        "OFFLOAD_CONSOLE_NOTIFY_URLS": "",
        "OFFLOAD_BASE_URL": os.environ.get("OFFLOAD_BASE_URL") or f"http://127.0.0.1:{free_port()}",
    }


class ServerProcess:
    """A console command run as a child process; its output goes to a file shown on failure."""

    def __init__(
        self,
        args: list[str],
        env: dict | None = None,
        health_path: str = "/healthz",
        *,
        max_files: int | None = None,
    ):
        """``max_files``: the child's open-file limit (soft and hard)."""
        self.max_files = max_files
        self.args = args
        self.env = {**os.environ, **quiet_background(), **(env or {})}
        self.health_path = health_path
        self.log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)
        STARTED.append(self)
        self.proc: subprocess.Popen | None = None

    def start(self, port: int, timeout: float = 30.0, *, any_answer: bool = False) -> ServerProcess:
        """``any_answer``: up once the health path answers at all (a 503 included)."""
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "offload_console.cli", *self.args, "--port", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=self._limit_files if self.max_files else None,
        )
        self.wait_healthy(timeout, any_answer=any_answer)
        return self

    def _limit_files(self) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_files, self.max_files))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float, *, any_answer: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status = httpx.get(self.url + self.health_path, timeout=1).status_code
                if status == 200 or any_answer:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not healthy after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    @property
    def stopped(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def webhook(
    case_id: str,
    event_type: str,
    updated_at: int,
    *,
    timestamp: int | None = None,
    **data,
) -> dict:
    """An Offload webhook envelope, event_id in Offload's format."""
    status = {
        "case.completed": "COMPLETED",
        "case.failed": "FAILED",
        "case.input_needed": "INPUT_NEEDED",
    }.get(event_type, "RUNNING")
    body = {"caseId": case_id, "status": status, "channel": "EMAIL", "attachments": []}
    body.update(data)
    return {
        "event_id": f"evt_{case_id}_{event_type.replace('.', '_')}_{updated_at}",
        "event_type": event_type,
        "timestamp": timestamp if timestamp is not None else updated_at,
        "data": body,
    }


def input_needed(case_id: str, request_id: str, at: int, question: str = "Accept?") -> dict:
    return webhook(
        case_id,
        "case.input_needed",
        at,
        attemptCount=1,
        inputRequest=question,
        inputRequestId=request_id,
        inputRequestStatus="PENDING",
        inputRequestedAt=at,
    )


def dumps(obj) -> bytes:
    return json.dumps(obj).encode()


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02, message=""):
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` otherwise
    (a callable: what it returns then, to say what was seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"condition not met within {timeout}s: {said}")
        time.sleep(interval)


SANDBOX_KEY = "test-sandbox-key"


def sandbox_env(url: str) -> dict:
    return {"OFFLOAD_BASE_URL": url, "OFFLOAD_API_KEY": SANDBOX_KEY}


def launch_up(
    tmp_path: Path,
    *,
    seed_demo: str = "no",
    extra_env: dict | None = None,
    hour_seconds: float = 0.01,
):
    """Start ``offload-console up`` in sandbox mode on free ports; return (process, ports, env,
    log path). The caller stops it (SIGTERM) in a finally."""
    ports = {name: free_port() for name in ("sidecar", "sandbox", "dashboard")}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OFFLOAD_BASE_URL", "OFFLOAD_API_KEY", "OFFLOAD_WEBHOOK_TOKEN")
    }
    env.update({"OFFLOAD_CONSOLE_DB": str(tmp_path / "console.db"), **(extra_env or {})})
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "offload_console.cli",
                "up",
                "--sidecar-port",
                str(ports["sidecar"]),
                "--sandbox-port",
                str(ports["sandbox"]),
                "--dashboard-port",
                str(ports["dashboard"]),
                "--hour-seconds",
                str(hour_seconds),
                "--seed-demo",
                seed_demo,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
    return proc, ports, env, log


def run_cli(*args, stdin=None, env=None, base_env=None, binary=False, timeout=60):
    """``python -m offload_console.cli ARGS`` from the repo, output captured. ``env`` adds to
    ``base_env`` (default: this process's environment)."""
    environment = dict(os.environ if base_env is None else base_env)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "offload_console.cli", *args],
        input=stdin,
        capture_output=True,
        text=not binary,
        cwd=ROOT,
        timeout=timeout,
        env=environment,
    )


def store(db, envelope: dict, *, source: str = "webhook", received_at: int = 1) -> bool:
    """Store one event envelope the way the sidecar does; True if it was new."""
    import dataclasses

    from storage.events import parse_envelope, record_event

    event = parse_envelope(envelope, json.dumps(envelope))
    if source != "webhook":
        event = dataclasses.replace(event, source=source)
    with db.atomic():
        return record_event(db, event, received_at)


class PortGuard:
    """Listens on a port the tests must never use and remembers every connection to it.
    A port already taken (a console the user is running) cannot be guarded and is skipped."""

    def __init__(self, port: int):
        import threading

        self.port = port
        self.connections: list[str] = []
        self.sock = socket.socket()
        try:
            self.sock.bind(("127.0.0.1", port))
        except OSError:
            self.sock.close()
            self.sock = None
            return
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def active(self) -> bool:
        return self.sock is not None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                try:
                    first = conn.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    first = ""
            self.connections.append(first or "(connected, sent nothing)")

    def close(self) -> None:
        if self.sock is not None:
            self._stop.set()
            self.thread.join(timeout=2)
            self.sock.close()
