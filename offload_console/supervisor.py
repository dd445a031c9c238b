"""``offload-console up``: start the parts, print their URLs, restart what dies, stop cleanly."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from offload_client import DEFAULT_SANDBOX_API_KEY
from offload_console import instance, run_files, settings

RESTART_BACKOFF_S = (1, 2, 5, 10, 30)
PR_SET_PDEATHSIG = 1
DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"


PRIMARY_COLOR = "#1f62c9"  # also in .streamlit/config.toml


def dashboard_command(port: int, host: str) -> list[str]:
    """The Streamlit command line for the dashboard (the database comes by environment).
    The dashboard is found by path, not imported: it is the layer above this one."""
    # server.py wraps app.py in st.App with a guard (no /_stcore/metrics for anyone).
    app = DASHBOARD_DIR / "server.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--client.showErrorDetails",
        "none",
        "--server.enableXsrfProtection",
        "true",
        # Blue, not Streamlit's red: red is the Inbox's "overdue", and a selected row or a Send
        # button must not look late.
        "--theme.primaryColor",
        PRIMARY_COLOR,
    ]


def _end_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM when ``up`` dies, even by ``kill -9``, so no
    orphan keeps a port or the database once ``up`` (and its locks) are gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: children outlive a killed `up`, as before


@dataclass
class Child:
    name: str
    argv: list[str]
    health_url: str
    env: dict
    proc: subprocess.Popen | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, preexec_fn=_end_with_parent)

    def wait_healthy(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def reap(self, timeout: float) -> None:
        if not self.proc:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class UpOptions:
    """What ``offload-console up`` was given (see its ``--help``)."""

    db: str | None = None
    sidecar_port: int = settings.DEFAULT_SIDECAR_PORT
    sandbox_port: int = settings.DEFAULT_SANDBOX_PORT
    dashboard_port: int = settings.DEFAULT_DASHBOARD_PORT
    hour_seconds: float = 1.0
    seed_demo: str = "ask"


def run_up(args: UpOptions) -> int:
    db_path = settings.db_path(args.db)
    sandbox = settings.is_sandbox_mode()
    state_file = str(settings.local_dir(db_path) / "sandbox-state.json")
    claims = [(db_path, "sidecar"), (db_path, "dashboard")]
    claims += [(state_file, "sandbox")] if sandbox else []
    ports = {
        "dashboard": args.dashboard_port,
        "sidecar": args.sidecar_port,
        "sandbox": args.sandbox_port if sandbox else None,
    }
    try:  # before anything else is touched: a second `up` changes nothing of the first
        held = instance.hold(claims, command="up", ports=ports)
    except instance.AlreadyRunning as exc:
        print(f"up: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"up: {settings.cannot_open(db_path, f'its lock file: {exc}')}", file=sys.stderr)
        return 2
    try:
        return _run_up(args, db_path, sandbox, state_file)
    finally:
        held.release()


def _first_start(db_path: str) -> bool:
    """Migrate once, before the children race for the database; whether it is a first start
    (a new SQLite file, or an empty PostgreSQL database: then `up` offers demo cases)."""
    postgresql = settings.is_postgresql(db_path)
    first_start = not postgresql and not Path(db_path).exists()
    if first_start and settings.LEGACY_DB_PATH.is_file():
        print(
            f"up: {settings.LEGACY_DB_PATH.resolve()} (where earlier versions kept the database) "
            f"is not used; to keep it, stop and start again with --db {settings.LEGACY_DB_PATH}, "
            f"or move it to {db_path}.",
            file=sys.stderr,
            flush=True,
        )
    db = settings.open_db(db_path)  # migrations once, before the children race for it
    if postgresql:  # a shared database: "first" means nothing in it yet
        first_start = db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    db.conn.close()
    return first_start


def _children(args: UpOptions, db_path: str, sandbox: bool, state_file: str) -> list[Child]:
    """The parts `up` starts, in order, each with its command line, health URL and
    environment (the database and the keys by environment, never on a command line)."""
    env = settings.child_environment(
        OFFLOAD_CONSOLE_DB=db_path,
        OFFLOAD_CONSOLE_SIDECAR_PORT=str(args.sidecar_port),
        OFFLOAD_CONSOLE_UP_PID=str(os.getpid()),
    )
    cli = [sys.executable, "-m", "offload_console.cli"]
    children: list[Child] = []
    if sandbox:
        key = settings.api_key() or DEFAULT_SANDBOX_API_KEY
        env.update(
            {
                "OFFLOAD_BASE_URL": f"http://127.0.0.1:{args.sandbox_port}",
                "OFFLOAD_API_KEY": key,
                "OFFLOAD_CONSOLE_MODE": "sandbox",
            }
        )
        children.append(
            Child(
                "sandbox",
                [
                    *cli,
                    "sandbox",
                    "--port",
                    str(args.sandbox_port),
                    "--hour-seconds",
                    str(args.hour_seconds),
                    "--state",
                    state_file,
                ],  # the key goes by environment (OFFLOAD_API_KEY), never on a command line
                f"http://127.0.0.1:{args.sandbox_port}/healthz",
                env,
            )
        )
    children.append(
        Child(
            "sidecar",
            # the database by environment (OFFLOAD_CONSOLE_DB), never on a command line: a
            # PostgreSQL URL holds a password any local user could read in `ps`
            [*cli, "sidecar", "--port", str(args.sidecar_port)],
            f"http://127.0.0.1:{args.sidecar_port}/healthz",
            env,
        )
    )
    children.append(
        Child(
            "dashboard",
            dashboard_command(args.dashboard_port, "127.0.0.1"),
            f"http://127.0.0.1:{args.dashboard_port}/_stcore/health",
            env,
        )
    )
    return children


class Stopping:
    """Set by a signal handler, waited on by the main thread. Not a ``threading.Event``: a
    handler runs in the main thread, and one arriving while ``Event.wait`` holds the Event's
    lock blocks forever in ``Event.set`` (seen: ``up`` ignoring SIGTERM with every child up).
    A plain flag, and sleeps a signal cuts short."""

    def __init__(self) -> None:
        self.flag = False

    def set(self) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.flag and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        return self.flag


def _run_up(args: UpOptions, db_path: str, sandbox: bool, state_file: str) -> int:
    first_start = _first_start(db_path)
    children = _children(args, db_path, sandbox, state_file)
    stopping = Stopping()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    for child in children:
        child.start()
        if not child.wait_healthy():
            print(
                f"up: {child.name} did not start (exit code {child.proc.poll()}); stopping.",
                file=sys.stderr,
                flush=True,
            )
            _stop_all(children)
            return 1
        if stopping.is_set():
            _stop_all(children)
            return 0

    run_files.write_up(
        settings.local_dir(db_path),
        sandbox_port=args.sandbox_port if sandbox else None,
        sidecar_port=args.sidecar_port,
    )
    run_files.write_current(settings.data_dir(), db_path)
    print("\noffload-console is up:", flush=True)
    print(f"  dashboard  http://127.0.0.1:{args.dashboard_port}")
    hook = "/webhooks/offload/<token>" if settings.webhook_token() else "/webhooks/offload"
    print(f"  webhooks   http://127.0.0.1:{args.sidecar_port}{hook}")
    print(f"  sidecar    http://127.0.0.1:{args.sidecar_port}/healthz")
    if sandbox:
        print(
            f"  sandbox    http://127.0.0.1:{args.sandbox_port}  (no OFFLOAD_BASE_URL: "
            "the local sandbox stands in for Offload)"
        )
    else:
        print(f"  Offload    {settings.offload_base_url()}")
    print(f"  database   {settings.db_label(db_path)}")
    print("Ctrl-C stops everything.\n", flush=True)

    if sandbox and first_start:
        _offer_demo(args.seed_demo, children[0].env)  # the environment they all share

    while not stopping.is_set():
        for child in children:
            code = child.proc.poll()
            if code is None or stopping.is_set():
                continue
            wait = RESTART_BACKOFF_S[min(child.restarts, len(RESTART_BACKOFF_S) - 1)]
            print(
                f"up: {child.name} exited with code {code}; restarting in {wait} s",
                file=sys.stderr,
                flush=True,
            )
            if stopping.wait(wait):
                break
            child.restarts += 1
            child.start()
        stopping.wait(0.5)
    run_files.remove_up(settings.local_dir(db_path))
    run_files.remove_current(settings.data_dir(), db_path)
    _stop_all(children)
    print("up: stopped.", flush=True)
    return 0


def _stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        child.stop()
    for child in reversed(children):
        child.reap(timeout=15)


def _offer_demo(choice: str, env: dict) -> None:
    if choice == "ask":
        if not sys.stdin.isatty():
            print(
                "First start in sandbox mode: `offload-console demo` seeds demo cases.", flush=True
            )
            return
        answer = input("First start in sandbox mode. Seed 8 demo cases? [Y/n] ").strip().lower()
        if answer not in ("", "y", "yes"):
            return
    elif choice == "no":
        return
    result = subprocess.run(
        [sys.executable, "-m", "offload_console.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
    )
    created = sum(1 for line in result.stdout.splitlines() if line.startswith("SENT"))
    print(f"Seeded {created} demo cases; questions reach the inbox within a minute.", flush=True)
