"""The ``offload-console`` command: help everywhere, and ``up`` running the whole stack."""

import os
import re
import signal
import subprocess

import httpx
import pytest

from offload_console.cli import build_parser
from tests.helpers import launch_up, run_cli, wait_until

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def test_the_documented_commands_exist():
    assert {"up", "sidecar", "sandbox", "dashboard", "create", "sync", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    out = run_cli(command, "--help", timeout=30)
    assert out.returncode == 0
    assert "Example:" in out.stdout and "offload-console" in out.stdout


def test_create_reports_a_missing_file_clearly(tmp_path):
    out = run_cli("create", str(tmp_path / "nope.json"), "--db", str(tmp_path / "c.db"))
    assert out.returncode == 2 and "cannot read" in out.stderr


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_up_runs_everything_restarts_the_sidecar_and_stops_cleanly(tmp_path):
    proc, ports, _env, log = launch_up(tmp_path, seed_demo="yes")
    try:
        wait_until(
            lambda: "Seeded" in log.read_text() or proc.poll() is not None,
            timeout=90,
            interval=0.2,
            message="up started and seeded",
        )
        text = log.read_text()
        assert proc.poll() is None, text
        for port in ports.values():
            assert f"127.0.0.1:{port}" in text
        assert "Seeded 8 demo cases" in text
        sidecar = f"http://127.0.0.1:{ports['sidecar']}/healthz"
        wait_until(
            lambda: httpx.get(sidecar).json()["counts"]["cases"] == 8,
            timeout=30,
            message="demo cases in the database",
        )
        assert httpx.get(f"http://127.0.0.1:{ports['dashboard']}/_stcore/health").status_code == 200
        # Kill the sidecar: up reports it and starts a new one.
        sidecar_pid = next(
            p for p in _children(proc.pid) if "sidecar" in open(f"/proc/{p}/cmdline").read()
        )
        os.kill(sidecar_pid, signal.SIGKILL)
        wait_until(
            lambda: re.search(r"sidecar exited with code -9", log.read_text()),
            timeout=30,
            message="death reported",
        )

        def healthy_again():
            try:
                return httpx.get(sidecar, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy_again, timeout=30, interval=0.2, message="sidecar restarted")
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "up: stopped." in log.read_text()
        for pid in children:
            assert (
                not os.path.exists(f"/proc/{pid}")
                or "zombie" in open(f"/proc/{pid}/status").read().lower()
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
