"""Issue 33: questions and their answers as CSV (case, reference, question, asked, due,
answered, by whom, how, time to answer), formula-safe, the same bytes from the page and CLI."""

import csv
import io

from streamlit.testing.v1 import AppTest

import storage
from offload_console.csv_export import iso_utc, write_questions_csv
from storage.inbox import Via, record_answer
from tests.helpers import ROOT, input_needed, run_cli, store

HOUR = 3_600_000
DAY0 = 1_796_256_000_000  # 2026-12-03T00:00:00Z
QUESTIONS = [  # (case, question id, asked, question, answer: (by, how, after ms) or None)
    ("c1", "r1", DAY0 + 1 * HOUR, "Accept Monday?", ("avery", "dashboard", 30 * 60_000)),
    ("c2", "r2", DAY0 + 2 * HOUR, '=HYPERLINK("http://evil","x")', ("blake", "bulk", 5 * HOUR)),
    ("c3", "r3", DAY0 + 3 * HOUR, "-2+3 or @SUM(A1)?", ("avery", "e-mail", 90_000)),
    ("c4", "r4", DAY0 + 26 * HOUR, "Which entity name?", None),
]


def seed(db):
    for case_id, request_id, asked, question, _ in QUESTIONS:
        store(db, input_needed(case_id, request_id, asked, question))


def answer_all(db, monkeypatch):
    import storage.inbox

    for _, request_id, asked, _, answer in QUESTIONS:
        if answer is None:
            continue
        by, how, after = answer
        monkeypatch.setattr(storage.inbox, "now_ms", lambda t=asked + after: t)
        record_answer(db, request_id, by, "yes", via=Via(how, "<m@x>" if how == "e-mail" else None))


def rows_of(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_every_question_with_who_how_and_how_long(db, monkeypatch):
    seed(db)
    answer_all(db, monkeypatch)
    out = io.BytesIO()
    written = write_questions_csv(db, out, answer_within_ms=4 * HOUR)
    rows = rows_of(out.getvalue())
    assert written == len(rows) == 4
    by_id = {r["input_request_id"]: r for r in rows}
    assert [r["input_request_id"] for r in rows] == ["r1", "r2", "r3", "r4"]  # oldest first
    assert by_id["r1"]["asked_at"] == iso_utc(DAY0 + HOUR) == "2026-12-03T01:00:00.000Z"
    assert by_id["r1"]["due_at"] == iso_utc(DAY0 + 5 * HOUR)
    assert (by_id["r1"]["answered_by"], by_id["r1"]["answered_via"]) == ("avery", "dashboard")
    assert float(by_id["r1"]["seconds_to_answer"]) == 1800
    assert (by_id["r2"]["answered_via"], float(by_id["r2"]["seconds_to_answer"])) == ("bulk", 18000)
    assert (by_id["r3"]["answered_via"], float(by_id["r3"]["seconds_to_answer"])) == ("e-mail", 90)
    assert by_id["r4"]["answered_at"] == by_id["r4"]["seconds_to_answer"] == ""
    assert by_id["r4"]["status"] == "PENDING"
    # Formula-safe, like the case export.
    assert by_id["r2"]["question"] == "'" + '=HYPERLINK("http://evil","x")'
    assert by_id["r3"]["question"] == "'-2+3 or @SUM(A1)?"
    # A period: asked on 2026-12-03 only.
    day = io.BytesIO()
    write_questions_csv(
        db, day, answer_within_ms=4 * HOUR, since_ms=DAY0, until_ms=DAY0 + 24 * HOUR
    )
    assert [r["input_request_id"] for r in rows_of(day.getvalue())] == ["r1", "r2", "r3"]


def test_the_cli_and_the_page_write_the_same_questions(db_path, monkeypatch, tmp_path):
    db = storage.open_db(db_path)
    seed(db)
    answer_all(db, monkeypatch)
    monkeypatch.undo()
    out = tmp_path / "questions.csv"
    cli = run_cli(
        "export", "--db", db_path, "--questions", "--since", "2026-12-03", "--out", str(out)
    )
    assert cli.returncode == 0, cli.stderr
    assert "exported 4 questions" in cli.stderr
    refused = run_cli("export", "--db", db_path, "--questions", "--status", "COMPLETED")
    assert refused.returncode == 2 and "--status" in refused.stderr
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    at.session_state["operator_name"] = "Avery"
    at.run()
    at.switch_page("app_pages/export.py").run()
    at.segmented_control(key="ex_what").set_value("Questions and answers").run()
    assert at.metric[0].value == "4"
    at.button(key="ex_prepare").click().run()
    assert not at.exception, at.exception
    path, rows, kind = at.session_state["ex_file"]
    assert (rows, kind) == (4, "questions")
    assert open(path, "rb").read() == out.read_bytes()
    exports = db.execute(
        "SELECT detail FROM audit_log WHERE action = 'export.made' ORDER BY id"
    ).fetchall()
    assert len(exports) == 2 and all('"what": "questions"' in e[0] for e in exports)
