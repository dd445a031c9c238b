"""Issue 30: every variable holding what it cannot is one line naming it, what it holds and
what it should hold, and exit status 2, before any command runs (on the main before it,
``OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S=abc`` was a traceback and
``OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS=5s`` was silently ignored)."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from offload_console import settings
from offload_console.cli import cli

BAD = [
    ("OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S", "abc"),
    ("OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S", "0"),
    ("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS", "5s"),
    ("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS", "-1"),
    ("OFFLOAD_CONSOLE_SIDECAR_PORT", "http"),
    ("OFFLOAD_CONSOLE_SIDECAR_PORT", "70000"),
    ("OFFLOAD_CONSOLE_SIDECAR_PORT", "80.5"),
    ("OFFLOAD_RECONCILE_EVERY_S", "often"),
    ("OFFLOAD_RECONCILE_EVERY_S", "nan"),
    ("OFFLOAD_CONSOLE_SESSION_HOURS", "forever"),
    ("OFFLOAD_CONSOLE_SESSION_HOURS", "inf"),
    ("OFFLOAD_CONSOLE_NOTIFY_RETRY_S", "-3"),
    ("OFFLOAD_CONSOLE_NOTIFY_RECOVER_S", "15 s"),
    ("OFFLOAD_CONSOLE_NOTIFY_DIGEST_S", "x"),
    ("OFFLOAD_CONSOLE_ANSWER_WITHIN", "soon"),
    ("OFFLOAD_CONSOLE_REMIND_AT", "150"),
    ("OFFLOAD_CONSOLE_SPOOL_MB", "big"),
    ("OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL", "LOUD"),
    ("OFFLOAD_CONSOLE_DASHBOARD_URL", "console.example:8501"),
    ("OFFLOAD_BASE_URL", "api.offload.example"),
    ("OFFLOAD_PUBLIC_WEBHOOK_URL", "ftp://x.example/hook"),
    ("OFFLOAD_CONSOLE_MODE", "production"),
]


@pytest.mark.parametrize("name, value", BAD, ids=[f"{n}={v}" for n, v in BAD])
def test_a_bad_value_is_one_line_naming_the_variable_and_exit_2(name, value, tmp_path):
    result = CliRunner().invoke(
        cli, ["deliveries", "--db", str(tmp_path / "none.db")], env={name: value}
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"{name}={value!r}" in lines[0] and "should be" in lines[0]
    assert "Traceback" not in result.output


def test_good_values_pass(monkeypatch):
    for name, value in [
        ("OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S", "2.5"),
        ("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS", "200"),
        ("OFFLOAD_CONSOLE_SIDECAR_PORT", "9000"),
        ("OFFLOAD_RECONCILE_EVERY_S", "0"),
        ("OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL", "debug"),
        ("OFFLOAD_BASE_URL", "https://api.offload.example"),
        ("OFFLOAD_CONSOLE_MODE", "sandbox"),
    ]:
        monkeypatch.setenv(name, value)
    settings.check_all()
    assert settings.busy_timeout_ms() == 200 and settings.sidecar_port() == 9000
    assert settings.request_timeout_s() == 2.5 and settings.apprise_log_level() == "DEBUG"


def test_every_variable_is_parsed_once_into_one_object(monkeypatch):
    """One ``Settings`` per environment: the accessors answer from it, and it is parsed again
    only when a variable it reads changes."""
    monkeypatch.setenv("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS", "250")
    first = settings.current()
    assert settings.current() is first and first.busy_timeout_ms == 250
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert settings.current() is first
    monkeypatch.setenv("OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS", "300")
    assert settings.current() is not first and settings.busy_timeout_ms() == 300


@pytest.mark.parametrize("name, value", BAD, ids=[f"{n}={v}" for n, v in BAD])
def test_a_bad_value_is_named_once_and_its_default_used(name, value):
    """What the dashboard's Health page lists (``streamlit run`` skips the CLI's check)."""
    from dashboard.health_checks import setting_rows

    parsed = settings.load({name: value})
    assert len(parsed.problems) == 1 and parsed.problems[0].startswith(f"{name}={value!r}")
    defaults = settings.load({})
    assert not defaults.problems
    assert parsed == dataclasses.replace(defaults, problems=parsed.problems)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(name, value)
        assert setting_rows() == [
            ("Setting", "PROBLEM", f"{parsed.problems[0]}; its default is used")
        ]
