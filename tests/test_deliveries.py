"""Deliveries: every webhook the sidecar answered is logged with its outcome; events whose
projection failed can be applied again (page, CLI, storage)."""

import json

import httpx
import pytest
from click.testing import CliRunner

import storage
import storage.events as events_module
from offload_console import settings
from offload_console.cli import cli
from storage.deliveries import DeliveryFilter, failed_projections, list_deliveries, reproject
from tests.helpers import dumps, input_needed, store, webhook
from tests.test_dashboard import run_app


def post(server, body: bytes, content_type="application/json"):
    return httpx.post(
        server.url + "/webhooks/offload", content=body, headers={"content-type": content_type}
    )


def test_every_delivery_is_logged_with_what_happened(sidecar):
    good = webhook("c1", "case.completed", 5)
    assert post(sidecar, dumps(good)).status_code == 200
    assert post(sidecar, dumps(good)).status_code == 200  # the same event again
    assert post(sidecar, b"{not json").status_code == 400
    assert post(sidecar, b"hello", content_type="text/plain").status_code == 415
    assert post(sidecar, b'{"event_id": "x"}').status_code == 422
    evil = dumps(input_needed("c2", "r2", 6, "Line one\n\x1b[31mred\x1b[0m"))
    assert post(sidecar, evil).status_code == 200
    db = storage.open_db(sidecar.db_path)
    rows = list_deliveries(db)
    assert [(r["outcome"], r["status_code"]) for r in rows] == [
        ("stored", 200),
        ("rejected", 422),
        ("rejected", 415),
        ("rejected", 400),
        ("duplicate", 200),
        ("stored", 200),
    ]
    assert rows[-1]["case_id"] == "c1" and rows[-1]["event_type"] == "case.completed"
    assert "Content-Type" in rows[2]["reason"]
    only = list_deliveries(db, DeliveryFilter(outcomes=["duplicate"]))
    assert [r["event_id"] for r in only] == [good["event_id"]]
    assert [r["outcome"] for r in list_deliveries(db, DeliveryFilter(case_id="c2"))] == ["stored"]
    out = CliRunner().invoke(cli, ["deliveries", "--db", sidecar.db_path, "--outcome", "rejected"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("received_at\toutcome") and len(lines) == 4
    assert all("\trejected\t" in line for line in lines[1:])


def test_a_failed_projection_is_kept_shown_and_applied_again(db, monkeypatch, db_path):
    real = events_module._project

    def broken(db, event, received_at):
        if event.case_id == "c-bug":
            raise RuntimeError("a bug in the projection")
        return real(db, event, received_at)

    monkeypatch.setattr(events_module, "_project", broken)
    file_db = storage.open_db(db_path)
    store(file_db, input_needed("c-bug", "r-bug", 10, "Still there?"))
    store(file_db, webhook("c-ok", "case.completed", 11))
    (failed,) = failed_projections(file_db)
    assert failed["event_id"].startswith("evt_c-bug") and "a bug" in failed["projection_error"]
    assert file_db["cases"].count == 1  # c-ok only
    # Still broken: the event keeps its error.
    (result,) = reproject(file_db, "ops")
    assert result["outcome"] == "still failing" and "a bug" in result["error"]
    monkeypatch.setattr(events_module, "_project", real)  # "the upgrade"
    out = CliRunner().invoke(cli, ["reproject", "--db", db_path])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("applied\tevt_c-bug")
    assert failed_projections(file_db) == []
    assert file_db["input_requests"].get("r-bug")["status"] == "PENDING"
    again = CliRunner().invoke(cli, ["reproject", "--db", db_path])
    assert "no event waits" in again.output
    from storage.audit import list_audit

    audited = [r["operator"] for r in list_audit(file_db, action="events.reprojected")]
    assert audited == [settings.operator_name(), "ops"]  # the CLI's run is audited too


def test_the_deliveries_page_lists_outcomes_and_applies_failed_events_again(env_db, monkeypatch):
    real = events_module._project
    monkeypatch.setattr(
        events_module,
        "_project",
        lambda db, event, received_at: (_ for _ in ()).throw(RuntimeError("bug")),
    )
    store(env_db, webhook("c-bug", "case.completed", 10))
    monkeypatch.setattr(events_module, "_project", real)
    from storage.deliveries import record_deliveries, record_rejection

    with env_db.atomic():
        record_deliveries(
            env_db, [(1, "stored", "evt_c-bug_case_completed_10", "case.completed", "c-bug", None)]
        )
        record_rejection(
            env_db,
            received_at=2,
            remote_addr="127.0.0.1",
            status_code=400,
            reason="body is not JSON",
            body=b"**not** <b>json</b>",
        )
    at = run_app(operator_name="Avery")
    at.switch_page("app_pages/deliveries.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["outcome"]) == ["rejected", "projection failed"]
    assert list(table["status"]) == [400, 200]
    at.button(key="dl_reproject").click().run()
    assert not at.exception, at.exception
    assert env_db["cases"].get("c-bug")["status"] == "COMPLETED"
    assert any("Applied 1 event of 1" in s.value for s in at.success)
    entry = next(iter(env_db["audit_log"].rows_where("action = 'events.reprojected'")))
    assert entry["operator"] == "Avery" and json.loads(entry["detail"]) == {"applied": 1, "of": 1}


@pytest.mark.parametrize("text", ["tab\there", "new\nline", "esc\x1b[31m", "plain é"])
def test_cli_lines_escape_what_could_break_a_terminal(text):
    from offload_console.cli import printable

    shown = printable(text)
    assert "\n" not in shown and "\t" not in shown and "\x1b" not in shown
    assert "é" in printable("plain é")


def test_reproject_and_sync_print_outside_ids_escaped(db_path, monkeypatch):
    """Issue 23, defect 13 (fails on the main before it: 15 and 4 raw ESC bytes): terminal
    escapes in outside ids reach the terminal escaped, as ``deliveries`` prints them."""
    from tests.helpers import free_port

    evil = "c-\x1b[2J\x1b]0;pwned\x07"
    real = events_module._project

    def broken(db, event, received_at):
        raise RuntimeError("still \x1b[31mbroken")

    monkeypatch.setattr(events_module, "_project", broken)
    file_db = storage.open_db(db_path)
    store(file_db, input_needed(evil, "r-\x1b[2J", 10, "Still there?"))
    out = CliRunner().invoke(cli, ["reproject", "--db", db_path])
    printed = out.stdout + out.stderr
    assert out.exit_code == 1 and "still failing" in printed
    assert "\x1b" not in printed and "\x07" not in printed and "\\x1b[2J" in printed
    monkeypatch.setattr(events_module, "_project", real)
    assert "\x1b" not in CliRunner().invoke(cli, ["reproject", "--db", db_path]).stdout
    monkeypatch.setenv("OFFLOAD_BASE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("OFFLOAD_API_KEY", "k")
    out = CliRunner().invoke(cli, ["sync", "--db", db_path])
    printed = out.stdout + out.stderr
    assert out.exit_code == 1 and "\\x1b[2J" in printed and "\x1b" not in printed
