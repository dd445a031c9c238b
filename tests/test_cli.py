"""The ``offload-console`` command: help everywhere, and ``up`` running the whole stack."""

import json
import os
import re
import signal
import subprocess

import httpx
import pytest

from offload_console.cli import build_parser
from offload_console.templates import W9_TEMPLATE
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
        # `create` with no OFFLOAD_BASE_URL finds the sandbox `up` really started (its run
        # file beside the database), not the default port 8788.
        case_file = tmp_path / "case.json"
        case_file.write_text(json.dumps(W9_TEMPLATE))
        created = run_cli("create", str(case_file), base_env=_env)
        assert created.returncode == 0, created.stderr
        wait_until(
            lambda: httpx.get(sidecar).json()["counts"]["cases"] == 9,
            timeout=30,
            message="the created case's webhook reached up's sidecar",
        )
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
        assert not (tmp_path / "up.json").exists()  # the run file goes with up
        for pid in children:
            assert (
                not os.path.exists(f"/proc/{pid}")
                or "zombie" in open(f"/proc/{pid}/status").read().lower()
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def help_examples(command: str) -> list[str]:
    out = run_cli(command, "--help", timeout=30).stdout
    lines = out.split("Example:", 1)[1].splitlines()
    return [line.split("  #")[0].strip() for line in lines if "offload-console" in line]


# Servers run until stopped: the example is started on free ports and must become healthy.
SERVER_HEALTH = {
    "sidecar": "/healthz",
    "sandbox": "/healthz",
    "dashboard": "/_stcore/health",
    "up": "/_stcore/health",
}


@pytest.fixture(scope="module")
def example_sandbox():
    from tests.helpers import SANDBOX_KEY, ServerProcess, free_port

    server = ServerProcess(["sandbox", "--api-key", SANDBOX_KEY, "--hour-seconds", "0.01"])
    server.start(free_port())
    yield server
    server.stop()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_runs(command, tmp_path, example_sandbox):
    """Each ``--help`` example, as printed, run from the repository (servers on free ports,
    against a sandbox the test started, into a temporary database)."""
    import shlex
    import sys

    from tests.helpers import ROOT, SANDBOX_KEY, free_port

    examples = help_examples(command)
    assert examples, f"{command} --help shows no example"
    bin_dir = os.path.dirname(sys.executable)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OFFLOAD_CONSOLE_DB": str(tmp_path / "console.db"),
        "OFFLOAD_BASE_URL": example_sandbox.url,
        "OFFLOAD_API_KEY": SANDBOX_KEY,
        "OFFLOAD_CONSOLE_MODE": "sandbox",
        "OFFLOAD_PUBLIC_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/webhooks/offload",
    }
    for example in examples:
        words = shlex.split(example.split("offload-console", 1)[1])
        prefix = example.split("offload-console", 1)[0]
        if command in SERVER_HEALTH:
            port = free_port()
            words = [str(port) if w in ("8787", "8788", "8501") else w for w in words]
            if command == "up":
                env.pop("OFFLOAD_BASE_URL")
                words += [
                    "--sidecar-port",
                    str(free_port()),
                    "--sandbox-port",
                    str(free_port()),
                    "--dashboard-port",
                    str(port),
                    "--seed-demo",
                    "no",
                ]
            elif "--port" not in words:
                words += ["--port", str(port)]
            line = prefix + "offload-console " + shlex.join(words)
            proc = subprocess.Popen(
                ["bash", "-c", f"exec env {line}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                url = f"http://127.0.0.1:{port}{SERVER_HEALTH[command]}"

                def healthy(url=url, proc=proc):
                    assert proc.poll() is None, proc.stdout.read().decode()
                    try:
                        return httpx.get(url, timeout=1).status_code == 200
                    except httpx.HTTPError:
                        return False

                wait_until(healthy, timeout=60, interval=0.2, message=f"{line} healthy")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        else:
            out = subprocess.run(
                ["bash", "-c", example],
                cwd=ROOT,
                env=env,
                input="a-long-enough-password\na-long-enough-password\n",
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert out.returncode == 0, f"{example}\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_never_says_default_none(command):
    out = run_cli(command, "--help", timeout=30).stdout
    assert "(default: None)" not in out and "(default: False)" not in out
