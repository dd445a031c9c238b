"""CSV export: correct CSV, every row, formula-safe, and the same bytes from UI and CLI."""

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import storage
from offload_console.csv_export import FORMULA_START, PLAIN_NUMBER, csv_bytes, iso_utc
from storage.case_filter import CaseFilter
from tests.helpers import ROOT, run_cli, store, webhook

AWKWARD = [
    {"taxId": '=HYPERLINK("http://evil","x")', "note": "+1 555", "total": -12.5},
    {"taxId": "@SUM(A1)", "note": 'comma, "quoted"\nnew line', "total": 3},
    {"taxId": "-2+3", "note": "\tTabbed", "address": {"city": "Zürich 東京", "zip": "8001"}},
    {"note": "\rcarriage", "tags": ["a", "b"], "signed": True},
    {},
]
SCHEMA = {
    "type": "object",
    "properties": {
        "taxId": {"type": "string"},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
        "missingEverywhere": {"type": "string"},
    },
}


def add(db, envelope):
    store(db, envelope)


@pytest.fixture
def seeded(db_path):
    db = storage.open_db(db_path)
    for i, result in enumerate(AWKWARD):
        add(
            db,
            webhook(
                f"c{i}",
                "case.completed",
                1_000_000 + i,
                resultStatus="goal_achieved",
                result=result,
                clientReferenceId=f"=ref{i}",
            ),
        )
    db.execute("UPDATE cases SET result_schema = ? WHERE case_id = 'c0'", [json.dumps(SCHEMA)])
    add(
        db,
        webhook("f1", "case.failed", 2_000_000, resultStatus="BOUNCED", failureReason="-bounced"),
    )
    return db


def parse(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def unneutralise(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def test_round_trip_matches_the_database(seeded):
    data = csv_bytes(seeded, CaseFilter())
    assert data.count(b"\r\n") >= 7 and not data.startswith(b"\xef\xbb\xbf")
    rows = parse(data)
    assert [r["case_id"] for r in rows] == ["c0", "c1", "c2", "c3", "c4", "f1"]
    header = list(rows[0])
    assert header[:3] == ["case_id", "client_reference_id", "status"]
    result_cols = [h for h in header if h.startswith("result.")]
    assert result_cols[:4] == [
        "result.taxId",
        "result.address.city",
        "result.address.zip",
        "result.missingEverywhere",
    ]
    assert {"result.note", "result.total", "result.tags", "result.signed"} <= set(result_cols)
    by_id = {r["case_id"]: r for r in rows}
    for i, result in enumerate(AWKWARD):
        row = by_id[f"c{i}"]
        assert unneutralise(row["client_reference_id"]) == f"=ref{i}"
        for key in ("taxId", "note"):
            assert unneutralise(row[f"result.{key}"]) == str(result.get(key, ""))
    assert by_id["c2"]["result.address.city"] == "Zürich 東京"
    assert json.loads(by_id["c3"]["result.tags"]) == ["a", "b"]
    assert by_id["c3"]["result.signed"] == "true"
    assert by_id["c0"]["result.total"] == "-12.5"  # a JSON number stays a number
    assert by_id["c4"]["result.taxId"] == ""
    assert by_id["f1"]["failure_reason"] == "'-bounced"
    assert by_id["c0"]["created_at"] == iso_utc(seeded["cases"].get("c0")["created_at"])
    assert by_id["c0"]["created_at"].endswith("Z")
    assert by_id["f1"]["completed_at"] == iso_utc(2_000_000) == "1970-01-01T00:33:20.000Z"


def test_filters(seeded):
    rows = parse(csv_bytes(seeded, CaseFilter(statuses=["FAILED"])))
    assert [r["case_id"] for r in rows] == ["f1"]
    assert "result.taxId" not in rows[0]  # result columns come from the exported cases only
    rows = parse(
        csv_bytes(seeded, CaseFilter(result_statuses=["goal_achieved"], client_reference="ref3"))
    )
    assert [r["case_id"] for r in rows] == ["c3"]
    assert parse(csv_bytes(seeded, CaseFilter(created_since_ms=10**15))) == []


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.text(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.lists(st.text(), max_size=2),
        ),
        min_size=1,
        max_size=4,
    ),
    st.text(max_size=10),
)
def test_no_exported_cell_can_start_a_formula(blank_db, values, key):
    db = blank_db()
    result = {f"{key}{i}": v for i, v in enumerate(values)}
    add(db, webhook("h", "case.completed", 5, result=result, clientReferenceId=str(values[0])))
    data = csv_bytes(db, CaseFilter())
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    for row in reader:
        for value in row:
            if value.startswith(FORMULA_START):
                assert PLAIN_NUMBER.match(value), value


def test_cli_and_page_write_the_same_bytes(seeded, db_path, monkeypatch, tmp_path):
    out = tmp_path / "cli.csv"
    cli = run_cli("export", "--db", db_path, "--status", "COMPLETED", "--out", str(out))
    assert cli.returncode == 0, cli.stderr
    stdout = run_cli("export", "--db", db_path, "--status", "COMPLETED", binary=True).stdout
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    at.session_state["operator_name"] = "Avery"
    at.run()
    at.switch_page("app_pages/export.py").run()
    at.multiselect(key="ex_status").select("COMPLETED").run()
    assert at.metric[0].value == "5"
    at.button(key="ex_prepare").click().run()
    assert not at.exception, at.exception
    path, rows, _ = at.session_state["ex_file"]
    page_bytes = open(path, "rb").read()
    assert rows == 5
    assert page_bytes == out.read_bytes() == stdout


def test_cli_rejects_bad_dates(db_path):
    out = run_cli("export", "--db", db_path, "--since", "yesterday")
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "c.d", "e f"]),
            st.one_of(
                st.integers(),
                st.text(max_size=3),
                st.dictionaries(st.sampled_from(["x", "y"]), st.integers(), max_size=2),
                st.lists(st.integers(), max_size=2),
            ),
            max_size=3,
        ),
        min_size=1,
        max_size=6,
    )
)
@example(results=[{}, {"a": "\x00"}])  # PostgreSQL cannot read it as jsonb: its own shape
def test_grouped_key_pass_equals_reading_every_case(blank_db, results):
    from offload_console.csv_export import export_result_keys, result_keys
    from storage.export_rows import iter_cases

    db = blank_db()
    for i, result in enumerate(results):
        add(db, webhook(f"k{i}", "case.completed", 10 + i, result=result))
    flt = CaseFilter()
    assert export_result_keys(db, flt) == result_keys(iter_cases(db, flt))


def test_prepared_files_go_on_sign_out_and_stale_ones_at_start(db_path, monkeypatch, tmp_path):
    """Issue 13, smaller: the Export page's temporary CSV is deleted when its session signs
    out (and once downloaded); files a stopped dashboard left behind go at the next start."""
    import os

    from offload_console.accounts import add_operator
    from offload_console.csv_export import SPOOL_PREFIX, spool_file, sweep_spool_files

    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    db = storage.open_db(db_path)
    store(db, webhook("c1", "case.completed", 1000, result={"a": 1}))
    add_operator(db, "avery", "correct horse battery", by="admin")
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30).run()
    at.text_input(key="auth_name").input("avery")
    at.text_input(key="auth_password").input("correct horse battery")
    at.button[0].click().run()
    at.switch_page("app_pages/export.py").run()
    at.button(key="ex_prepare").click().run()
    path = at.session_state["ex_file"][0]
    assert os.path.exists(path) and os.path.basename(path).startswith(SPOOL_PREFIX)
    at.button(key="auth_logout").click().run()
    assert not os.path.exists(path)
    old, fresh = spool_file(), spool_file()
    old.close(), fresh.close()
    os.utime(old.name, (1, 1))  # left behind long ago
    assert sweep_spool_files() >= 1
    assert not os.path.exists(old.name) and os.path.exists(fresh.name)
    os.unlink(fresh.name)


def test_a_result_with_thousands_of_keys_does_not_widen_every_export(db):
    """Issue 13, smaller: one webhook with 20,000 result keys gave every export 20,037
    columns. Undeclared fields get at most 100 columns; the rest travel as JSON in one."""
    from offload_console.csv_export import MAX_UNDECLARED_COLUMNS, OTHER_RESULT_KEY

    store(db, webhook("wide", "case.completed", 1000, result={f"k{i}": i for i in range(20_000)}))
    store(db, webhook("normal", "case.completed", 2000, result={"taxId": "12-3"}))
    csv.field_size_limit(10_000_000)  # the JSON cell is large: that is the point
    rows = list(csv.reader(io.StringIO(csv_bytes(db, CaseFilter()).decode())))
    header = rows[0]
    result_columns = [h for h in header if h.startswith("result.")]
    assert len(result_columns) == MAX_UNDECLARED_COLUMNS + 1
    assert result_columns[-1] == f"result.{OTHER_RESULT_KEY}"
    wide = next(r for r in rows[1:] if "wide" in r)
    rest = json.loads(wide[header.index(f"result.{OTHER_RESULT_KEY}")])
    assert len(rest) == 20_000 - MAX_UNDECLARED_COLUMNS and rest["k19999"] == 19999


HOSTILE_ID = "hc-1\x1b[2J\x1b[31mPWNED\x1b]0;title\x07\u202eevil\x9b31m"


def _on_a_terminal(*args) -> bytes:
    """``offload-console ARGS`` with its standard output on a pseudo-terminal; what it wrote."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "offload_console.cli", *args],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    return out


def test_export_to_a_terminal_escapes_control_characters_and_a_file_keeps_them(db_path, tmp_path):
    """Issue 34, item 4 (failed on the main before it: 8 ESC and 2 BEL bytes reached the
    terminal from an outside caseId, clearing the screen and setting its title)."""
    db = storage.open_db(db_path)
    store(db, webhook(HOSTILE_ID, "case.completed", 1000, result={"note": "a\x07b"}))
    shown = _on_a_terminal("export", "--db", db_path, "--out", "-")
    assert b"\x1b" not in shown and b"\x07" not in shown and "\u202e".encode() not in shown
    assert "\x9b".encode() not in shown
    assert b"hc-1\\x1b[2J\\x1b[31mPWNED" in shown and b"\\u202eevil" in shown
    kept = tmp_path / "out.csv"
    assert run_cli("export", "--db", db_path, "--out", str(kept)).returncode == 0
    assert HOSTILE_ID.encode() in kept.read_bytes()  # a file: the exact bytes


def test_a_deep_result_gives_a_short_header_and_keeps_the_rest_as_json(db):
    """Issue 34, item 6 (failed on the main before it: a 900-deep result made an
    1,800-character CSV header)."""
    from offload_console.schema_tools import MAX_KEY_DEPTH

    deep: dict = {"leaf": "bottom"}
    for _ in range(900):
        deep = {"d": deep}
    add(db, webhook("deep", "case.completed", 1000, result={"taxId": "12-3", "nest": deep}))
    data = csv_bytes(db, CaseFilter())
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    nested = [h for h in header if "nest" in h]
    assert nested == ["result." + ".".join(["nest"] + ["d"] * (MAX_KEY_DEPTH - 1))]
    assert max(len(h) for h in header) < 100
    [row] = parse(data)
    kept = json.loads(unneutralise(row[nested[0]]))  # the rest, whole, as JSON
    depth = 0
    while "d" in kept:
        kept, depth = kept["d"], depth + 1
    assert kept == {"leaf": "bottom"} and depth == 900 - (MAX_KEY_DEPTH - 1)
    assert row["result.taxId"] == "12-3"
