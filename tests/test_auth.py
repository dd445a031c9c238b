"""Sign-in, the audit trail, and secrets that never show."""

import json
import re

import httpx
import pytest
from streamlit.testing.v1 import AppTest

import storage
from offload_console.accounts import add_operator, check_password, delete_operator
from storage import audit
from storage.audit import list_audit
from storage.events import parse_envelope, record_event
from tests.helpers import (
    ROOT,
    ServerProcess,
    dumps,
    free_port,
    input_needed,
    run_cli,
    wait_until,
    webhook,
)

APP = str(ROOT / "dashboard" / "app.py")
CANARY_KEY = "sk_live_CANARY_KEY_31337"
CANARY_TOKEN = "tok_CANARY_TOKEN_424242"
QUESTION = "Should we accept the vendor's Monday deadline?"


def cli(*args, stdin="", env=None):
    return run_cli(*args, stdin=stdin, env=env)


@pytest.fixture
def app_db(db_path, monkeypatch):
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    monkeypatch.setenv("OFFLOAD_API_KEY", CANARY_KEY)
    monkeypatch.setenv("OFFLOAD_WEBHOOK_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("OFFLOAD_BASE_URL", f"http://127.0.0.1:{free_port()}")
    db = storage.open_db(db_path)
    env = input_needed("c1", "r1", 1000, QUESTION)
    with db.atomic():
        record_event(db, parse_envelope(env, json.dumps(env)), 1)
    return db


def everything(at) -> str:
    parts = [
        str(e.value)
        for kind in (
            "markdown",
            "caption",
            "text",
            "code",
            "error",
            "warning",
            "info",
            "success",
            "title",
            "subheader",
        )
        for e in getattr(at, kind)
    ]
    parts += [df.value.to_string() for df in at.dataframe]
    parts += [str(w.value) for w in at.text_input] + [str(w.value) for w in at.text_area]
    return "\n".join(parts)


def test_password_hashing_and_rules(db):
    assert add_operator(db, "avery", "correct horse battery", by="admin")
    assert check_password(db, "avery", "correct horse battery")
    assert not check_password(db, "avery", "wrong password!!")
    assert not check_password(db, "nobody", "correct horse battery")
    stored = db["operators"].get("avery")["password_hash"]
    assert stored.startswith("$argon2id$") and "correct" not in stored
    with pytest.raises(ValueError, match="at least"):
        add_operator(db, "blake", "short", by="admin")
    assert delete_operator(db, "avery", by="admin")
    actions = [r["action"] for r in list_audit(db)]
    assert actions == ["operator.removed", "operator.added"]


def test_operators_cli_add_list_remove(db_path):
    assert (
        cli(
            "operators",
            "add",
            "avery",
            "--password-stdin",
            "--db",
            db_path,
            stdin="long enough password\n",
        ).returncode
        == 0
    )
    assert cli("operators", "list", "--db", db_path).stdout.split() == ["avery", "operator"]
    short = cli("operators", "add", "blake", "--password-stdin", "--db", db_path, stdin="x\n")
    assert short.returncode == 2 and "at least" in short.stderr
    assert cli("operators", "remove", "avery", "--db", db_path).returncode == 0
    assert cli("operators", "remove", "avery", "--db", db_path).returncode == 1


def test_signed_out_session_sees_no_data_and_wrong_password_is_refused(app_db):
    add_operator(app_db, "avery", "correct horse battery", by="admin")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception
    assert QUESTION not in everything(at)
    assert "Inbox" not in everything(at)
    at.text_input(key="auth_name").input("avery")
    at.text_input(key="auth_password").input("not the password")
    at.button[0].click().run()
    assert "Wrong name or password." in everything(at)
    assert QUESTION not in everything(at)
    at.text_input(key="auth_password").input("correct horse battery")
    at.button[0].click().run()
    assert not at.exception
    assert QUESTION in everything(at)
    actions = [r["action"] for r in list_audit(app_db)]
    assert "operator.signed_in" in actions and "operator.sign_in_refused" in actions


def test_oidc_email_not_on_the_allow_list_is_refused(app_db, monkeypatch):
    import dashboard.auth as auth

    monkeypatch.setattr(auth, "_oidc_user", lambda: {"email": "eve@evil.example"})
    monkeypatch.setenv("OFFLOAD_CONSOLE_ALLOWED_EMAILS", "avery@customer.example")
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "id",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid",
    }
    at.run()
    assert not at.exception
    text = everything(at)
    assert "not on the console's list of operators" in text and QUESTION not in text
    monkeypatch.setattr(auth, "_oidc_user", lambda: {"email": "Avery@Customer.example"})
    at.run()
    assert QUESTION in everything(at)


def test_oidc_signed_out_sees_only_the_sign_in_button(app_db, monkeypatch):
    import dashboard.auth as auth

    monkeypatch.setattr(auth, "_oidc_user", lambda: {})
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = {"client_id": "id"}
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert QUESTION not in everything(at)


def test_dashboard_refuses_non_loopback_without_sign_in(db_path):
    out = cli("dashboard", "--host", "0.0.0.0", "--port", str(free_port()), "--db", db_path)
    assert out.returncode == 2
    assert "operators add" in out.stderr and "[auth]" in out.stderr


@pytest.mark.parametrize(
    "page",
    [
        "app_pages/inbox.py",
        "app_pages/cases.py",
        "app_pages/case.py",
        "app_pages/new_case.py",
        "app_pages/export.py",
        "app_pages/audit.py",
        "app_pages/health.py",
    ],
)
def test_canary_secrets_appear_on_no_page(app_db, page):
    from offload_client import OffloadClient
    from offload_console.outbox import submit_case

    with OffloadClient("http://127.0.0.1:9", CANARY_KEY) as client:  # fails: audit + error
        submit_case(app_db, client, {"channel": "EMAIL"}, actor="avery")
    leaky = webhook(
        "c1",
        "case.unheard_of",
        2000,
        note=f"http://console/webhooks/offload/{CANARY_TOKEN} {CANARY_KEY}",
    )
    with app_db.atomic():  # a payload that carries both secrets: the timeline must mask them
        record_event(app_db, parse_envelope(leaky, json.dumps(leaky)), 1)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["operator_name"] = "avery"
    at.query_params["case"] = "c1"
    at.run()
    at.switch_page(page)
    at.query_params["case"] = "c1"
    at.run()
    assert not at.exception, at.exception
    if page == "app_pages/case.py":
        at.toggle(key="timeline_raw").set_value(True).run()  # the raw JSON, redacted
        assert any("/webhooks/offload/•••" in c.value for c in at.code)
    if page == "app_pages/new_case.py":
        at.button(key="nc_template_load").click().run()
        at.button(key="nc_send").click().run()  # fails to connect: an error is shown
        assert "Offload did not create the case" in everything(at)
    text = everything(at)
    assert CANARY_KEY not in text and CANARY_TOKEN not in text


def test_canary_secrets_appear_in_no_log_line(db_path):
    env = {
        "OFFLOAD_API_KEY": CANARY_KEY,
        "OFFLOAD_WEBHOOK_TOKEN": CANARY_TOKEN,
        "OFFLOAD_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "OFFLOAD_RECONCILE_EVERY_S": "0.2",
    }
    server = ServerProcess(["sidecar", "--db", db_path, "--log-level", "debug"], env=env)
    server.start(free_port())
    try:
        ok = httpx.post(
            f"{server.url}/webhooks/offload/{CANARY_TOKEN}",
            content=dumps(input_needed("c9", "r9", 5)),
            headers={"content-type": "application/json"},
        )
        assert ok.status_code == 200
        httpx.post(
            f"{server.url}/webhooks/offload/{CANARY_TOKEN}",
            content=b"{bad",
            headers={"content-type": "application/json"},
        )
        httpx.post(f"{server.url}/webhooks/offload/wrong", content=b"{}")
        wait_until(lambda: "reconciler" in server.output(), timeout=30, message="reconciler ran")
    finally:
        server.stop()
    output = server.output()
    assert "delivery event_id='evt_c9" in output
    assert CANARY_KEY not in output and CANARY_TOKEN not in output
    create = cli("create", "-", "--db", db_path, stdin=json.dumps({"channel": "EMAIL"}), env=env)
    assert create.returncode == 1
    assert CANARY_KEY not in create.stderr + create.stdout


def test_every_action_is_audited(db_path, tmp_path):
    from offload_console.csv_export import record_export
    from storage.case_filter import CaseFilter
    from storage.snippets import delete_snippet, save_snippet
    from storage.templates import delete_template, save_template

    db = storage.open_db(db_path)
    save_template(db, "t", {"channel": "EMAIL"}, "avery")
    delete_template(db, "t", "avery")
    save_snippet(db, "s", "Yes.", "avery")
    delete_snippet(db, "s", "avery")
    record_export(db, "avery", CaseFilter(statuses=["COMPLETED"]), 3, via="dashboard")
    assert (
        cli(
            "export",
            "--db",
            db_path,
            "--out",
            str(tmp_path / "x.csv"),
            env={"OFFLOAD_CONSOLE_OPERATOR": "blake"},
        ).returncode
        == 0
    )
    rows = list_audit(db)
    assert [(r["operator"], r["action"]) for r in reversed(rows)] == [
        ("avery", "template.saved"),
        ("avery", "template.deleted"),
        ("avery", "snippet.saved"),
        ("avery", "snippet.deleted"),
        ("avery", "export.made"),
        ("blake", "export.made"),
    ]
    assert json.loads(rows[1]["detail"])["filters"]["statuses"] == ["COMPLETED"]


def test_operator_name_cookie_round_trips_any_name():
    from urllib.parse import quote

    from dashboard.auth import NAME_COOKIE, name_cookie_script, remembered_name

    for name in ("Avery", "José Ñ", "a'b\"c</script><b>", "x; path=/; domain=evil"):
        script = name_cookie_script(name)
        assert "</script>" not in script.removesuffix("</script>")  # nothing typed leaves it
        value = quote(name, safe="")
        assert f'"{value}"' in script and "max-age=31536000" in script
        assert remembered_name({NAME_COOKIE: value}) == name
    assert "max-age=0" in name_cookie_script(None)
    assert remembered_name({}) is None and remembered_name({NAME_COOKIE: "%20"}) is None


def sign_in(at, name, password):
    at.text_input(key="auth_name").input(name)
    at.text_input(key="auth_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_removing_an_account_or_changing_its_password_ends_its_open_sessions(app_db):
    """Issue 13, defect 6: each page run checks the account still exists with the password
    it signed in with."""
    add_operator(app_db, "avery", "correct horse battery", by="admin")
    add_operator(app_db, "blake", "another long password", by="admin")
    tabs = {
        n: sign_in(AppTest.from_file(APP, default_timeout=30).run(), n, p)
        for n, p in (("avery", "correct horse battery"), ("blake", "another long password"))
    }
    assert all(QUESTION in everything(at) for at in tabs.values())
    delete_operator(app_db, "avery", by="admin")
    add_operator(app_db, "blake", "a brand new password", by="admin")  # a new password
    for at in tabs.values():
        at.run()
        assert QUESTION not in everything(at)
        assert "sign in again" in everything(at)
        assert not [b for b in at.button if (b.key or "").startswith("send_")]
    ended = [r["operator"] for r in list_audit(app_db, action="operator.session_ended")]
    assert sorted(ended) == ["avery", "blake"]


def test_wrong_passwords_back_off_per_name_and_client(app_db):
    """Issue 13, defect 7: after five wrong passwords the sixth try waits, even with the right
    password; the waits are audited and end."""
    from offload_console.accounts import FREE_FAILURES, sign_in_wait_s
    from storage import now_ms

    add_operator(app_db, "avery", "correct horse battery", by="admin")
    at = AppTest.from_file(APP, default_timeout=30).run()
    for _ in range(FREE_FAILURES):
        sign_in(at, "avery", "wrong password!!")
        assert "Wrong name or password." in everything(at)
    sign_in(at, "avery", "correct horse battery")
    # 2 s from the fifth failure; on a loaded machine a second of it may have passed already
    assert re.search(
        r"Too many wrong passwords: try again in (2 seconds|1 second)\.", everything(at)
    )
    assert QUESTION not in everything(at)
    assert list_audit(app_db, action="operator.sign_in_throttled")
    now = now_ms()
    assert sign_in_wait_s(app_db, "avery", "local", now) in (1, 2)  # 2 s from the failure
    assert sign_in_wait_s(app_db, "avery", "local", now + 2_500) == 0  # the wait ends
    assert sign_in_wait_s(app_db, "blake", "203.0.113.9", now) == 0  # another name, client
    for _ in range(20):  # one client trying many names is slowed too
        audit.record(
            app_db,
            "(not signed in)",
            "operator.sign_in_refused",
            target="someone",
            detail={"client": "203.0.113.9"},
        )
    assert sign_in_wait_s(app_db, "nobody-yet", "203.0.113.9", now_ms()) == 2


@pytest.mark.parametrize(
    "address, client, allowed",
    [
        ("127.0.0.1", "local", True),
        (None, "local", False),  # `streamlit run` without the repo's config: every interface
        ("0.0.0.0", "local", False),
        ("127.0.0.1", "192.0.2.7", False),  # a proxy forwarded someone from elsewhere
    ],
)
def test_unprotected_mode_checks_the_real_bind_address_and_the_client(
    app_db, monkeypatch, address, client, allowed
):
    """Issue 13, defect 8."""
    import dashboard.auth as auth

    real_get_option = auth.st.get_option
    monkeypatch.setattr(
        auth.st,
        "get_option",
        lambda key: address if key == "server.address" else real_get_option(key),
    )
    monkeypatch.setattr(auth, "client_address", lambda: client)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert (QUESTION in everything(at)) is allowed
    assert ("reachable beyond this machine" in everything(at)) is not allowed


def test_signing_in_at_a_deep_link_lands_on_that_page(app_db):
    """Issue 13, smaller: the page is resolved before the sign-in, so a link to a case's
    timeline opens that timeline once signed in (it used to land on the Inbox)."""
    add_operator(app_db, "avery", "correct horse battery", by="admin")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("app_pages/case.py")
    at.query_params["case"] = "c-secret"
    at.run()
    assert "Case timeline" not in everything(at)  # nothing but the sign-in yet
    sign_in(at, "avery", "correct horse battery")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Case timeline"]
    assert at.text_input(key="timeline_case_input").value == "c-secret"


def test_streamlits_metrics_are_not_served(db_path):
    """Issue 13, smaller: /_stcore/metrics answered anyone, before any sign-in. Starting,
    the dashboard also deletes the prepared exports a stopped one left behind."""
    import os

    from offload_console.csv_export import spool_file

    left_behind = spool_file()
    left_behind.close()
    os.utime(left_behind.name, (1, 1))
    server = ServerProcess(["dashboard", "--db", db_path], health_path="/_stcore/health")
    server.start(free_port())
    try:
        assert not os.path.exists(left_behind.name)
        assert httpx.get(server.url + "/_stcore/metrics").status_code == 404
        assert httpx.get(server.url + "/_stcore/health").status_code == 200
        assert httpx.get(server.url + "/").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("change", ["removed", "new password"])
def test_an_open_tab_of_a_changed_account_sends_nothing(app_db, change):
    """Issue 23, defect 3 (fails on the main before it: the Send callback ran before the gate
    and posted). The account changes between drawing the page and clicking Send: nothing is
    claimed, nothing is posted, the typed answer stays."""
    add_operator(app_db, "avery", "correct horse battery", by="admin")
    at = sign_in(AppTest.from_file(APP, default_timeout=30).run(), "avery", "correct horse battery")
    at.text_area(key="answer_r1").input("Yes, Monday works")
    if change == "removed":
        delete_operator(app_db, "avery", by="admin")
    else:
        add_operator(app_db, "avery", "a brand new password", by="admin")
    at.button(key="send_r1").click().run()
    assert not at.exception, at.exception
    assert not [r for r in list_audit(app_db) if r["action"].startswith("answer.")]
    row = app_db["input_requests"].get("r1")
    assert (row["claimed_by"], row["send_state"], row["status"]) == (None, None, "PENDING")
    assert "sign in again" in everything(at).lower()


def test_wrong_passwords_sent_at_once_are_checked_no_more_than_the_back_off_allows(
    db_path, monkeypatch
):
    """Issue 23, defect 4: twenty wrong passwords at once were all checked (five allowed).
    The back-off is read and the try counted in one transaction, before the slow check."""
    import threading

    from offload_console import accounts
    from offload_console.accounts import FREE_FAILURES, try_sign_in
    from storage import now_ms

    db = storage.open_db(db_path)
    add_operator(db, "avery", "correct horse battery", by="admin")
    checked = []
    real_check = accounts.check_password
    monkeypatch.setattr(accounts, "check_password", lambda *a: checked.append(1) or real_check(*a))
    barrier = threading.Barrier(20)
    results = []

    def attempt():
        own = storage.open_db(db_path)
        barrier.wait()
        results.append(try_sign_in(own, "avery", "wrong password!!", "203.0.113.9", now_ms()))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(checked) == FREE_FAILURES
    assert sum(1 for ok, wait in results if wait) == 20 - FREE_FAILURES
    assert not any(ok for ok, _ in results)
    assert len(list_audit(db, action="operator.sign_in_refused")) == FREE_FAILURES
    assert len(list_audit(db, action="operator.sign_in_throttled")) == 20 - FREE_FAILURES
    # The right password later: one entry, signed in, and the name's count starts again.
    ok, wait = try_sign_in(db, "avery", "correct horse battery", "local", now_ms() + 600_000)
    assert (ok, wait) == (True, 0)
    [entry] = list_audit(db, action="operator.signed_in")
    assert entry["operator"] == "avery" and '"client": "local"' in entry["detail"]


def test_a_signed_out_tab_reads_no_counts_for_its_title(app_db, monkeypatch):
    """Issue 23, 14: a signed-out tab's title showed how many questions wait."""
    import storage.inbox

    add_operator(app_db, "avery", "correct horse battery", by="admin")

    def counted(*args, **kwargs):
        raise AssertionError("a count was read for a signed-out session")

    monkeypatch.setattr(storage.inbox, "pending_count", counted)
    monkeypatch.setattr(storage.inbox, "overdue_count", counted)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert QUESTION not in everything(at)


@pytest.mark.parametrize(
    "email",
    ["a@example.com\r\nBcc: x@evil.example", "a@example.com,b@example.com", "Avery <a@b.c>"],
)
def test_operators_add_takes_one_plain_address(db_path, email):
    out = cli(
        "operators",
        "add",
        "avery",
        "--password-stdin",
        "--email",
        email,
        "--db",
        db_path,
        stdin="correct horse battery\n",
    )
    assert out.returncode == 2 and "--email takes one address" in out.stderr
    assert storage.open_db(db_path)["operators"].count == 0  # refused before anything
