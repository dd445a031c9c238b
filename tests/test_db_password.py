"""Issue 34, items 1 and 2: the database password is never on a command line, and masked in
every shape libpq accepts, whatever characters it holds (both failed on the main before it:
`up` passed `--db URL` to its sidecar; `?password=` was shown in clear, a password with "@"
half shown, one with "/" whole in "cannot open the database")."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from offload_console import run_files, settings
from storage.pg import db_passwords, masked, redacted
from tests.helpers import launch_up, run_cli, wait_until

SECRET = "S3cretPW9x"
SHAPES = [
    (f"postgresql://console:{SECRET}@127.0.0.1:5433/console", SECRET),
    (f"postgresql://console@host:5433/db?password={SECRET}", SECRET),
    (f"postgresql://console@host:5433/db?sslmode=require&password={SECRET}&x=1", SECRET),
    ("postgresql://console:pa@ss@wo@rd@127.0.0.1/db", "pa@ss@wo@rd"),
    ("postgresql://console:S3c/ret/x@127.0.0.1:5433/db", "S3c/ret/x"),
    ("postgresql://console:qu?est:ion@127.0.0.1/db?sslmode=disable", "qu?est:ion"),
    ("postgres://console:p%40ss%2Fword@h1:1,h2:2/db?application_name=a@b", "p@ss/word"),
    ("postgresql://u:v6pass@[::1]:5432/db", "v6pass"),
    (f"host=127.0.0.1 port=5433 user=console password={SECRET} dbname=console", SECRET),
    ("host=h password='sp ace\\'quote' dbname=x", "sp ace'quote"),
]


@pytest.mark.parametrize("target, password", SHAPES)
def test_every_shape_of_password_is_masked(target, password):
    shown = redacted(target)
    assert password not in shown and "***" in shown
    assert password in db_passwords(target)
    # the rest of the target stays readable
    assert shown.split("***")[0] and shown.replace("***", "") != target
    message = f"connection to {target} failed: bad password {password!r}"
    assert password not in masked(message, target)


def test_a_target_without_a_password_is_shown_whole():
    for target in ("postgresql://console@127.0.0.1/db", "postgresql://h/db?application_name=a@b"):
        assert redacted(target) == target and db_passwords(target) == []


def test_cannot_open_masks_a_driver_message_quoting_the_password():
    target = "postgresql://console:S3c/ret/x@127.0.0.1:5433/db"
    line = settings.cannot_open(target, 'invalid integer value "S3c/ret/x@127" for "port"')
    assert "S3c/ret/x" not in line and "console:***@127.0.0.1:5433/db" in line


@pytest.mark.parametrize(
    "target",
    [
        "postgresql://console@127.0.0.1:1/db?password=S3cretQ9",
        "postgresql://console:pa@ssw0rd9@127.0.0.1:1/db",
        "postgresql://console:S3c/ret99@127.0.0.1:1/db",
    ],
)
def test_a_database_that_cannot_be_reached_is_named_without_its_password(target):
    password = db_passwords(target)[0]
    out = run_cli("operators", "list", "--db", target, timeout=30)
    assert out.returncode == 2
    assert "cannot open the database" in out.stderr
    assert password not in out.stderr + out.stdout


def _command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


def test_up_gives_its_children_the_database_by_environment_never_by_command_line(
    tmp_path, postgres
):
    postgres.admin(f"CREATE ROLE console_pw LOGIN SUPERUSER PASSWORD '{SECRET}'")
    url = postgres.new_database(postgres.template).replace(
        "postgresql://postgres@", f"postgresql://console_pw:{SECRET}@"
    )
    proc, ports, _env, log = launch_up(tmp_path, extra_env={"OFFLOAD_CONSOLE_DB": url})
    try:
        wait_until(lambda: "offload-console is up" in log.read_text(), 90, 0.2, "up started")
        assert not [line for line in _command_lines() if SECRET in line]
        assert SECRET not in log.read_text()
        assert "console_pw:***@" in log.read_text()
        # current.json names the database, password included: for this user's eyes only
        current = run_files.current_path(settings.data_dir())
        assert os.stat(current).st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
