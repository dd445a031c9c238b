"""Issue 21: one running console per database, and every command on the same database wherever
it runs. Real processes: a second ``up``/``sidecar``/``dashboard`` while one runs, ``kill -9``
of the holder, commands from other folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import sqlite_utils

import storage
from offload_console import instance
from storage import now_ms
from tests.helpers import (
    ROOT,
    free_port,
    input_needed,
    launch_up,
    quiet_background,
    wait_until,
)
from tests.test_notify_servers import Mailbox, Receiver, post, start_sidecar

READ_COMMANDS = [
    ["export", "--out", "x.csv"],
    ["sync"],
    ["deliveries"],
    ["reproject"],
    ["operators", "list"],
    ["operators", "remove", "avery"],
    ["demo"],
    ["create", str(ROOT / "examples" / "w9.json")],
]


def cli_in(folder: Path, *args, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as a user runs it from ``folder`` (not the repository)."""
    return subprocess.run(
        [sys.executable, "-m", "offload_console.cli", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_second_sidecar_is_refused_and_the_running_ones_notifications_go_on(db_path, tmp_path):
    """Defect 1: a second sidecar (the help example, in a shell without the URLs) switched the
    running console's targets off. Now it refuses before opening the database."""
    receiver, mailbox = Receiver(), Mailbox()
    first = start_sidecar(db_path, free_port(), [receiver.url, mailbox.url()])
    try:
        assert post(first, input_needed("c-1", "r-1", now_ms())).status_code == 200
        wait_until(lambda: len(receiver.received) == 1 and len(mailbox.messages) == 1, 30)
        db = sqlite_utils.Database(db_path)
        targets = list(db.query("SELECT target_id, label, active FROM notify_targets"))
        second = cli_in(
            tmp_path,
            "sidecar",
            "--port",
            str(free_port()),
            "--db",
            db_path,
            env={**os.environ, **quiet_background(), "OFFLOAD_CONSOLE_NOTIFY_URLS": ""},
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert "already running" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr and "stop it first" in second.stderr
        assert list(db.query("SELECT target_id, label, active FROM notify_targets")) == targets
        assert all(row["active"] == 1 for row in targets) and len(targets) == 2
        assert post(first, input_needed("c-2", "r-2", now_ms())).status_code == 200
        wait_until(
            lambda: len(receiver.received) == 2 and len(mailbox.messages) == 2,
            30,
            message="the next question reached both targets",
        )
    finally:
        first.stop()
        receiver.close()
        mailbox.close()


def test_a_second_up_changes_nothing_and_a_kill_9_frees_the_database(tmp_path):
    """Defect 2 and the lock's life: a second ``up`` (and a lone sidecar or dashboard) on the
    same database refuses at once; the first keeps its run file and its parts; after a
    ``kill -9`` of the first, its parts end with it and a new ``up`` starts."""
    proc, ports, env, log = launch_up(tmp_path)
    again = None
    try:
        sidecar = f"http://127.0.0.1:{ports['sidecar']}/healthz"
        dashboard = f"http://127.0.0.1:{ports['dashboard']}/_stcore/health"
        wait_until(lambda: "offload-console is up" in log.read_text(), 90, 0.2, "up started")
        run_file = (tmp_path / "up.json").read_text()
        second_ports = [str(free_port()) for _ in range(3)]
        second = cli_in(
            tmp_path,
            "up",
            "--sidecar-port",
            second_ports[0],
            "--sandbox-port",
            second_ports[1],
            "--dashboard-port",
            second_ports[2],
            "--seed-demo",
            "no",
            env=env,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {proc.pid}" in second.stderr and "already running" in second.stderr
        assert f"sidecar port {ports['sidecar']}" in second.stderr
        assert "is up" not in second.stdout
        for part in (
            ["sidecar", "--port", second_ports[0]],
            ["dashboard", "--port", second_ports[2]],
        ):
            lone = cli_in(tmp_path, *part, env=env)
            assert lone.returncode == 2 and "already running" in lone.stderr, lone.stderr
        assert (tmp_path / "up.json").read_text() == run_file
        assert answers(sidecar) and answers(dashboard)
        assert "restarting" not in log.read_text()

        children = [
            int(p)
            for p in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(
            lambda: (
                not any(os.path.exists(f"/proc/{pid}/cmdline") and _alive(pid) for pid in children)
            ),
            60,
            0.2,
            "up's parts ended with it",
        )
        assert instance.holder(env["OFFLOAD_CONSOLE_DB"], "sidecar") is None
        again, ports, _, log = launch_up(tmp_path)
        wait_until(lambda: "offload-console is up" in log.read_text(), 90, 0.2, "up again")
        assert answers(f"http://127.0.0.1:{ports['sidecar']}/healthz")
    finally:
        for running in (proc, again):
            if running is not None and running.poll() is None:
                running.send_signal(signal.SIGTERM)
                running.wait(timeout=30)


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_commands_from_another_folder_use_the_running_consoles_database(tmp_path):
    """Defect 3: from another folder, ``export`` made and read an empty ``./data`` database.
    Now a command with no --db finds the database of the console running for this user."""
    db_path = str(tmp_path / "console" / "console.db")
    receiver = Receiver()
    first = start_sidecar(db_path, free_port(), [receiver.url])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "OFFLOAD_CONSOLE_DB"}
    try:
        assert post(first, input_needed("c-x", "r-x", now_ms())).status_code == 200
        out = cli_in(elsewhere, "deliveries", env=env)
        assert out.returncode == 0, out.stderr
        assert "c-x" in out.stdout  # the running console's delivery
        exported = cli_in(elsewhere, "export", "--out", "x.csv", env=env)
        assert exported.returncode == 0 and "exported 1 cases" in exported.stderr
        assert sorted(os.listdir(elsewhere)) == ["x.csv"]  # no stray ./data
        db = sqlite_utils.Database(db_path)
        assert (
            db.execute("SELECT count(*) FROM audit_log WHERE action = 'export.made'").fetchone()[0]
            == 1
        )
    finally:
        first.stop()
        receiver.close()
    # Stopped: the database is no longer "the running one"; the default is looked for instead.
    out = cli_in(elsewhere, "deliveries", env=env)
    assert out.returncode == 2 and "no database at" in out.stderr


def test_a_reading_command_never_creates_a_database(tmp_path):
    """With no console and no database, every command that reads says where it looked and how
    to start one, exits 2, and creates nothing, in its folder or the data folder."""
    data = tmp_path / "xdg"
    folder = tmp_path / "somewhere"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "OFFLOAD_CONSOLE_DB"}
    env.update(quiet_background(), XDG_DATA_HOME=str(data))
    default = data / "offload-console" / "offload-console.db"
    for command in READ_COMMANDS:
        out = cli_in(folder, *command, env=env)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert f"no database at {default}" in out.stderr, out.stderr
        assert "offload-console up" in out.stderr
        assert os.listdir(folder) == [] and not data.exists(), command
    explicit = cli_in(folder, "export", "--db", "mine.db", env=env)
    assert explicit.returncode == 2 and f"no database at {folder / 'mine.db'}" in explicit.stderr
    assert os.listdir(folder) == []
    # An existing database at the default is found from any folder.
    storage.open_db(str(default)).conn.close()
    assert cli_in(folder, "operators", "list", env=env).returncode == 0
    assert cli_in(tmp_path, "deliveries", env=env).returncode == 0


def test_the_lock_record_names_its_holder_and_a_dead_holder_frees_it(tmp_path):
    """The lock itself: a second holder is refused with the first's record; the record is
    read by ``holder``; a process that dies (however) leaves the lock free."""
    db = str(tmp_path / "c.db")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from offload_console import instance; "
            f"instance.hold([({db!r}, 'sidecar')], command='sidecar', ports={{'sidecar': 1234}}); "
            "print('held', flush=True); time.sleep(600)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        record = instance.holder(db, "sidecar")
        assert record["pid"] == child.pid and record["ports"] == {"sidecar": 1234}
        try:
            instance.hold([(db, "dashboard"), (db, "sidecar")], command="up")
        except instance.AlreadyRunning as exc:
            assert f"pid {child.pid}" in str(exc) and "sidecar port 1234" in str(exc)
        else:
            raise AssertionError("a second holder was let in")
        assert instance.holder(db, "dashboard") is None  # all or none: nothing kept
    finally:
        child.kill()
        child.wait()
    assert instance.holder(db, "sidecar") is None
    held = instance.hold([(db, "sidecar")], command="sidecar")
    assert json.loads(Path(instance.lock_path(db, "sidecar")).read_text())["pid"] == os.getpid()
    held.release()
