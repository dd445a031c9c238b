"""The ``offload-console`` command: help everywhere, every example runs, clear errors, and
``up`` running the whole stack. Commands run in-process with click's ``CliRunner``; servers
and ``up`` run as real processes."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys

import click
import httpx
import pytest
from click.testing import CliRunner

import storage
from offload_console.cli import cli
from offload_console.templates import W9_TEMPLATE
from tests.helpers import ROOT, launch_up, run_cli, wait_until


def command_paths(group: click.Group = cli, prefix: tuple = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command, as the words that name it."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


COMMANDS = [" ".join(path) for path in command_paths()]


def invoke(*args, env=None, input=None):
    return CliRunner().invoke(
        cli, list(args), env=env, input=input, catch_exceptions=False, prog_name="offload-console"
    )


def help_text(command: str) -> str:
    out = invoke(*command.split(), "--help")
    assert out.exit_code == 0, out.output
    return out.output


def test_the_documented_commands_exist():
    assert {"up", "sidecar", "sandbox", "dashboard", "create", "sync", "demo", "export"} <= set(
        COMMANDS
    )
    assert {"operators add", "operators remove", "operators list"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    text = help_text(command)
    assert "Example:" in text and f"offload-console {command}" in text.split("Example:")[1]


def test_options_an_environment_variable_sets_say_so_in_help():
    assert "OFFLOAD_CONSOLE_DB" in help_text("export")
    assert "OFFLOAD_CONSOLE_SIDECAR_PORT" in help_text("sidecar")
    assert "OFFLOAD_RECONCILE_EVERY_S" in help_text("sidecar")


def test_create_reports_a_missing_file_clearly(tmp_path):
    out = invoke("create", str(tmp_path / "nope.json"), "--db", str(tmp_path / "c.db"))
    assert out.exit_code == 2 and "cannot read" in out.output


def test_a_database_that_cannot_be_opened_is_one_plain_line(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not a database, " * 100)
    out = invoke("operators", "list", "--db", str(tmp_path / "junk.db"))
    assert out.exit_code == 2
    assert out.output.startswith("offload-console operators list: cannot open the database")
    assert "Traceback" not in out.output


def test_export_refuses_a_date_that_is_not_a_day(tmp_path):
    out = invoke("export", "--since", "yesterday", "--db", str(tmp_path / "c.db"))
    assert out.exit_code == 2 and "--since" in out.output and "YYYY-MM-DD" in out.output


def test_sidecar_refuses_a_reachable_address_without_a_long_token(tmp_path):
    out = invoke(
        "sidecar",
        "--host",
        "0.0.0.0",
        "--db",
        str(tmp_path / "c.db"),
        env={"OFFLOAD_WEBHOOK_TOKEN": "short"},
    )
    assert out.exit_code == 2 and "refusing to listen on 0.0.0.0" in out.output


def test_operators_add_list_remove(tmp_path):
    db = str(tmp_path / "c.db")
    out = invoke("operators", "add", "avery", "--db", db, input="a-long-enough-password\n")
    assert out.exit_code == 0 and "added avery" in out.output
    assert invoke("operators", "list", "--db", db).output.split() == ["avery", "operator"]
    out = invoke(
        "operators", "add", "lee", "--role", "viewer", "--db", db, input="a-long-enough-password\n"
    )
    assert out.exit_code == 0
    assert invoke("operators", "role", "avery", "admin", "--db", db).exit_code == 0
    assert invoke("operators", "list", "--db", db).output.splitlines() == [
        "avery\tadmin\t",
        "lee\tviewer\t",
    ]
    assert invoke("operators", "role", "nobody", "admin", "--db", db).exit_code == 1
    assert invoke("operators", "remove", "avery", "--db", db).exit_code == 0
    missing = invoke("operators", "remove", "avery", "--db", db)
    assert missing.exit_code == 1 and "no operator named 'avery'" in missing.output


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
    lines = help_text(command).split("Example:", 1)[1].splitlines()
    return [line.split("  #")[0].strip() for line in lines if "offload-console" in line]


# Servers run until stopped: the example is started on free ports and must become healthy.
SERVER_HEALTH = {
    "sidecar": "/healthz",
    "sandbox": "/healthz",
    "dashboard": "/_stcore/health",
    "up": "/_stcore/health",
}


@pytest.fixture
def example_sandbox(fast_sandbox):
    return fast_sandbox


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_runs(command, tmp_path, example_sandbox):
    """Each ``--help`` example, as printed, run from the repository (servers on free ports,
    against a sandbox the test started, into a temporary database)."""
    import sys

    from tests.helpers import ROOT, SANDBOX_KEY, free_port

    examples = help_examples(command)
    assert examples, f"{command} --help shows no example"
    # Examples name files relative to the repository (examples/w9.json) and may write some
    # (export's results.csv): they run in a temporary folder that sees the repository's files.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    (workdir / "examples").symlink_to(ROOT / "examples")
    before = set(os.listdir(ROOT))
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
                cwd=workdir,
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
            storage.open_db(env["OFFLOAD_CONSOLE_DB"]).conn.close()  # as a started console left it
            if command == "operators remove":  # someone to remove
                invoke("operators", "add", "avery", env=env, input="a-long-enough-password\n")
            if command == "operators role":  # someone whose role changes
                invoke("operators", "add", "blake", env=env, input="a-long-enough-password\n")
            mail_server = None
            if command == "answer-mailbox":  # a mailbox to check
                from tests import imap_server

                if imap_server.missing_reason():
                    pytest.skip(imap_server.missing_reason())
                mail_server = imap_server.ImapServer()
                env["OFFLOAD_CONSOLE_ANSWER_MAILBOX"] = mail_server.url()
                env["OFFLOAD_CONSOLE_ANSWER_ADDRESS"] = "answers@example.com"
            cwd = os.getcwd()
            os.chdir(workdir)
            try:
                out = invoke(*words, env=env, input="a-long-enough-password\n")
            finally:
                os.chdir(cwd)
                if mail_server is not None:
                    mail_server.stop()
            assert out.exit_code == 0, f"{example}\n{out.output}"
    assert set(os.listdir(ROOT)) <= before, "a help example wrote into the repository"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_never_says_default_none(command):
    text = help_text(command)
    assert "default: None" not in text and "default: False" not in text


def test_a_command_starts_without_pandas_and_the_dashboard_still_has_it():
    """sqlite-utils would load pandas and numpy (250–400 ms of every command's start) only to
    convert values the console never hands it; ``storage`` imports it with both hidden."""
    code = (
        "import sys, offload_console.cli, storage\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules, 'loaded'\n"
        "import pandas, sqlite_utils.db\n"
        "assert pandas.DataFrame({'a': [1]}).shape == (1, 1)\n"
        "assert sqlite_utils.db.pd is None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
