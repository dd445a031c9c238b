"""The Inbox's due times, assignment, filters in the URL and confirmation (AppTest; what
reached the database is checked, not only the screen)."""

import os

import storage
from offload_console.accounts import add_operator, delete_operator
from offload_console.assignment import email_of
from offload_console.notify import switch_on, targets_from_urls
from storage import audit
from storage.operators import set_email
from tests.helpers import input_needed, store
from tests.test_dashboard import add, markdown, run_app, texts

MIN = 60_000


def ask(db, case_id, request_id, minutes_ago, question, window=None, reference=None):
    envelope = input_needed(case_id, request_id, storage.now_ms() - minutes_ago * MIN, question)
    if window:
        envelope["data"]["metadata"] = {"consoleAnswerWithin": window}
    if reference:
        envelope["data"]["clientReferenceId"] = reference
    add(db, envelope)


def queued(at) -> list[str]:
    """The questions in the queue (each row's second line), in its order."""
    return [t.split("\n")[1] for t in texts(at) if "\n" in t and " · waited " in t]


def test_cards_say_when_each_question_is_due_and_the_soonest_due_comes_first(env_db):
    ask(env_db, "c-slow", "r-slow", 180, "Asked three hours ago?")  # default 4 h: due in 1 h
    ask(env_db, "c-fast", "r-fast", 60, "Asked an hour ago?", window="30m")  # overdue 30 min
    at = run_app()
    queue = [t for t in texts(at) if "waited" in t]
    assert "Asked an hour ago?" in queue[0] and "Asked three hours ago?" in queue[1]
    due = [b.label for b in at.button if b.key.startswith("open_")]  # each row's due words
    assert due[0] == "overdue by 30 min"
    assert due[1] in ("due in 59 min", "due in 1 h")
    assert "soonest due first" in markdown(at)


def test_assign_to_me_filters_mine_and_the_view_lives_in_the_url(env_db):
    ask(env_db, "c1", "r1", 5, "Accept Monday?", reference="vendor_2048")
    ask(env_db, "c2", "r2", 4, "Which entity?", reference="vendor_3000")
    at = run_app(operator_name="Avery")
    at.button(key="assign_me_r1").click().run()
    assert env_db["input_requests"].get("r1")["assigned_to"] == "Avery"
    assert "Assigned to: Avery" in texts(at)
    entry = next(iter(env_db["audit_log"].rows_where("action = 'question.assigned'")))
    assert (entry["operator"], entry["target"]) == ("Avery", "r1")
    at.segmented_control(key="inbox_view").set_value("mine").run()
    assert at.query_params["view"] == "mine"
    assert queued(at) == ["Accept Monday?"]
    at.segmented_control(key="inbox_view").set_value("unassigned").run()
    assert queued(at) == ["Which entity?"]
    at.segmented_control(key="inbox_view").set_value("all").run()
    at.text_input(key="inbox_q").input("3000").run()
    assert at.query_params["q"] == "3000"
    assert queued(at) == ["Which entity?"]
    at.text_input(key="inbox_q").input("").run()
    at.button(key="unassign_r1").click().run()
    assert env_db["input_requests"].get("r1")["assigned_to"] is None
    assert env_db["audit_log"].count_where("action = 'question.unassigned'") == 1


def test_a_shared_link_opens_the_same_view(env_db):
    ask(env_db, "c1", "r1", 5, "Accept Monday?")
    ask(env_db, "c2", "r2", 4, "Which entity?")
    env_db["input_requests"].update("r2", {"assigned_to": "Blake"})
    at = run_app(query={"view": "unassigned", "q": "monday"})
    assert at.segmented_control(key="inbox_view").value == "unassigned"
    assert at.text_input(key="inbox_q").value == "monday"
    assert "Accept Monday?" in texts(at) and "Which entity?" not in texts(at)


def test_answering_someone_elses_question_asks_first(env_db):
    ask(env_db, "c1", "r1", 5, "Accept Monday?")
    at = run_app(operator_name="Avery")
    env_db["input_requests"].update("r1", {"assigned_to": "Blake"})  # between draw and click
    at.text_area(key="answer_r1").input("Yes, Monday is fine.")
    at.button(key="send_r1").click().run()
    row = env_db["input_requests"].get("r1")
    assert (row["status"], row["claimed_by"]) == ("PENDING", None)  # nothing sent
    assert "assigned to another operator" in markdown(at)
    assert at.text_area(key="answer_r1").value == "Yes, Monday is fine."  # kept
    at.checkbox(key="confirm_r1").check().run()
    at.button(key="send_r1").click().run()
    # Sent this time (Offload is unreachable in this test: the attempt is what counts).
    assert env_db["audit_log"].count_where("action LIKE 'answer%' AND operator = 'Avery'") >= 1
    assert "assigned to another operator. Tick" not in markdown(at)


def test_assigning_to_an_operator_with_an_email_queues_one_mail_to_them(env_db, monkeypatch):
    mail = "mailto://127.0.0.1:9?from=console@example.com&to=ops@example.com&mode=insecure"
    monkeypatch.setenv("OFFLOAD_CONSOLE_NOTIFY_URLS", mail)
    (target,) = targets_from_urls([mail])
    switch_on(env_db, [target], now=storage.now_ms())
    monkeypatch.setenv("OFFLOAD_CONSOLE_ALLOWED_EMAILS", "blake@example.com")  # an OIDC operator
    ask(env_db, "c1", "r1", 5, "Accept Monday?")
    at = run_app(operator_name="Avery")
    at.selectbox(key="assignee_r1").set_value("blake@example.com").run()
    assert env_db["input_requests"].get("r1")["assigned_to"] == "blake@example.com"
    assigned = list(env_db["notifications"].rows_where("kind = 'question.assigned'"))
    assert [(n["recipient"], n["target_id"]) for n in assigned] == [
        ("blake@example.com", target.target_id)
    ]
    assert "an e-mail to them is on its way" in " ".join(texts(at))


def test_an_operators_email_comes_from_their_account_or_their_name(db):
    add_operator(db, "Blake", "a-long-enough-password", "admin")
    assert email_of(db, "Blake") is None
    set_email(db, "Blake", "blake@example.com")
    assert email_of(db, "Blake") == "blake@example.com"
    assert email_of(db, "casey@example.com") == "casey@example.com"
    assert email_of(db, "Casey") is None


def test_cases_filters_round_trip_through_the_url():
    import datetime as dt

    from dashboard.cases_view import filters_from_query, query_from_filters

    day = dt.date(2026, 11, 1)
    params = query_from_filters(["FAILED", "RUNNING"], (day, dt.date(2026, 11, 30)), " w-9 ", True)
    assert params == {
        "status": ["FAILED", "RUNNING"],
        "from": "2026-11-01",
        "to": "2026-11-30",
        "q": "w-9",
        "attention": "1",
    }
    as_url = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    assert filters_from_query(as_url) == {
        "cases_status": ["FAILED", "RUNNING"],
        "cases_dates": (day, dt.date(2026, 11, 30)),
        "cases_search": "w-9",
        "cases_attention": True,
    }
    assert query_from_filters([], (), "", False) == {}
    junk = filters_from_query({"status": ["NOPE"], "from": ["yesterday"], "attention": ["yes"]})
    assert junk == {
        "cases_status": [],
        "cases_dates": (),
        "cases_search": "",
        "cases_attention": False,
    }


def test_a_cases_link_opens_the_same_filtered_view(env_db):
    from tests.helpers import webhook

    add(env_db, webhook("c-failed", "case.failed", storage.now_ms(), clientReferenceId="w9-a"))
    add(env_db, webhook("c-done", "case.completed", storage.now_ms(), clientReferenceId="w9-b"))
    from streamlit.testing.v1 import AppTest

    from tests.test_dashboard import APP

    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["status"] = "FAILED"
    at.switch_page("app_pages/cases.py").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="cases_status").value == ["FAILED"]
    table = at.dataframe[0].value
    assert list(table["reference"]) == ["w9-a"]
    at.text_input(key="cases_search").input("w9").run()
    assert at.query_params["q"] == "w9"


def test_an_unsent_assignment_mail_is_dropped_when_the_question_changes_hands(env_db, monkeypatch):
    from offload_console.assignment import assign

    mail = "mailto://127.0.0.1:9?from=console@example.com&to=ops@example.com&mode=insecure"
    monkeypatch.setenv("OFFLOAD_CONSOLE_NOTIFY_URLS", mail)
    (target,) = targets_from_urls([mail])
    switch_on(env_db, [target], now=storage.now_ms())
    ask(env_db, "c1", "r1", 5, "Accept Monday?")
    assert assign(env_db, "r1", "blake@example.com", "Avery")[0]
    assert assign(env_db, "r1", "casey@example.com", "Avery")[0]
    mails = {
        n["recipient"]: n["status"]
        for n in env_db["notifications"].rows_where("kind = 'question.assigned'")
    }
    assert mails == {"blake@example.com": "DROPPED", "casey@example.com": "PENDING"}
    assert assign(env_db, "r1", None, "Avery") == (True, "Unassigned.")
    statuses = {
        n["status"] for n in env_db["notifications"].rows_where("kind = 'question.assigned'")
    }
    assert statuses == {"DROPPED"}


def test_a_new_question_is_toasted_however_many_wait_before_it(env_db):
    """The newest question is due last: it must still be the one the toast names when more
    than a page of questions wait."""
    for n in range(7):
        ask(env_db, f"c{n}", f"r{n}", 60 - n, f"Old question {n}?", reference=f"old-{n}")
    at = run_app()
    ask(env_db, "c-new", "r-new", 0, "Brand new?", reference="brand-new-ref")
    at.run()
    assert not at.exception, at.exception
    assert any("brand-new-ref" in t.value.replace("\\", "") for t in at.toast)


def test_assign_to_offers_people_once_each_and_mine_ignores_case(env_db):
    """Issue 20, defect: the list held avery, blake, (not signed in), cli, Avery, demo, Blake.
    A person is one identity: accounts, the allow-list and people who answered, compared
    without case; the console's own names never."""
    from offload_console.assignment import assign, assignable

    add_operator(env_db, "avery", "a-long-enough-password", by="admin")
    for n, who in enumerate(["Avery", "blake", "Blake", "cli", "demo", "(not signed in)"]):
        ask(env_db, f"c-{n}", f"r-{n}", 10 + n, "Q?")
        env_db["input_requests"].update(
            f"r-{n}", {"status": "ANSWERED", "answered_by": who, "answered_at": n + 1}
        )
    audit.record(env_db, "cli", "export.made")  # acting is not being a person
    assert [p.casefold() for p in assignable(env_db, {})] == ["avery"]  # accounts only
    env_db.execute("DELETE FROM operators")  # unprotected: those who answered
    assert sorted(p.casefold() for p in assignable(env_db, {})) == ["avery", "blake"]
    add_operator(env_db, "avery", "a-long-enough-password", by="admin")
    people = assignable(env_db, {"console": {"allowed_emails": ["dana@example.com"]}})
    assert people == ["avery", "dana@example.com"]  # blake typed a name, has no account
    ask(env_db, "c-open", "r-open", 1, "Whose is this?")
    assign(env_db, "r-open", "AVERY", by="blake")  # typed differently: the known spelling
    assert env_db["input_requests"].get("r-open")["assigned_to"] == "avery"
    env_db["input_requests"].update("r-open", {"assigned_to": "Avery"})
    delete_operator(env_db, "avery", by="admin")  # no sign-in: the name typed in the page
    at = run_app({"view": "mine"}, operator_name="avery")
    assert queued(at) == ["Whose is this?"]  # "Avery" is Mine for "avery"
    assert "assign_me_r-open" not in [b.key for b in at.button]


def test_the_cli_names_its_operator_even_without_user(monkeypatch):
    import pwd

    from offload_console import settings

    monkeypatch.delenv("OFFLOAD_CONSOLE_OPERATOR", raising=False)
    monkeypatch.delenv("USER", raising=False)
    assert settings.operator_name() == pwd.getpwuid(os.getuid()).pw_name != "cli"
    monkeypatch.setenv("USER", "dana")
    assert settings.operator_name() == "dana"


def test_trouble_with_notifications_shows_on_every_page(env_db):
    from offload_console.notify import switch_on, targets_from_urls
    from storage.notifications import mark_failed

    (target,) = targets_from_urls(["json://127.0.0.1:9/hook?token=secret-xyz"])
    switch_on(env_db, [target], now=storage.now_ms())
    ask(env_db, "c1", "r1", 5, "Accept Monday?")
    at = run_app()
    assert not [e for e in at.error if "Notifications" in e.value]  # healthy: no banner
    mark_failed(
        env_db,
        [f"ntf_new_r1_{target.target_id}"],
        target.target_id,
        now=storage.now_ms(),
        error="HTTP 503 from the receiver",
        next_attempt_at=storage.now_ms() + 15_000,
        give_up=False,
    )
    for page in ("app_pages/inbox.py", "app_pages/cases.py", "app_pages/health.py"):
        at.switch_page(page).run()
        banners = [e.value for e in at.error if "Notifications to" in e.value]
        assert len(banners) == 1 and "failing" in banners[0] and "503" in banners[0]
        assert "secret-xyz" not in banners[0]
    switch_on(env_db, [], now=storage.now_ms())  # a sidecar started without the URLs
    at.run()
    assert any("Notifications are off" in e.value for e in at.error)


def test_the_queue_sorts_three_ways_and_the_order_lives_in_the_url(env_db):
    ask(env_db, "c-b", "r-b", 200, "Oldest, due last?", reference="b-ref", window="2d")
    ask(env_db, "c-a", "r-a", 10, "Newest, due first?", reference="c-ref", window="30m")
    ask(env_db, "c-c", "r-c", 100, "Middle?", reference="a-ref")
    at = run_app()
    assert queued(at) == ["Newest, due first?", "Middle?", "Oldest, due last?"]
    at.selectbox(key="inbox_sort").set_value("waiting").run()
    assert at.query_params["sort"] == "waiting"
    assert queued(at) == ["Oldest, due last?", "Middle?", "Newest, due first?"]
    at.selectbox(key="inbox_sort").set_value("case").run()
    assert queued(at) == ["Middle?", "Oldest, due last?", "Newest, due first?"]
    linked = run_app({"sort": "waiting", "request": "r-c"})  # a link: that order, that question
    assert queued(linked)[0] == "Oldest, due last?"
    assert linked.session_state["inbox_request"] == "r-c"
    assert "Middle?" in texts(linked)  # the selected question, whole, beside the queue


def test_dashboards_on_several_connections_race_for_one_question_and_one_wins(db_url):
    """Eight dashboards (each its own connection: on PostgreSQL, as from several machines)
    click Send on the same question at the same moment: one claim wins, with its answer
    written down as SENDING; the others are told someone else has it."""
    import threading

    from storage.inbox import claim_request

    seed = storage.open_db(db_url)
    store(seed, input_needed("c1", "r1", 1000))
    seed.conn.close()
    start = threading.Barrier(8)
    won: list[str] = []

    def dashboard(n: int) -> None:
        db = storage.open_db(db_url)
        try:
            start.wait()
            claim = claim_request(db, "r1", f"op{n}", f"tab-{n}", sending=f"answer {n}")
            if claim.claimed:
                won.append(f"op{n}")
        finally:
            db.conn.close()

    threads = [threading.Thread(target=dashboard, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    db = storage.open_db(db_url)
    row = db.execute(
        "SELECT claimed_by, send_state, send_text FROM input_requests WHERE input_request_id = 'r1'"
    ).fetchone()
    db.conn.close()
    assert tuple(row) == (won[0], "SENDING", f"answer {won[0][2:]}")


def test_due_words_under_a_minute_read_as_english():
    """Issue 31: "overdue by just now" and "due in just now" were shown."""
    from dashboard.format import due_words

    assert due_words(1_000, 31_000) == ("overdue since just now", True)
    assert due_words(61_000, 31_000) == ("due in under a minute", False)
    assert due_words(1_000, 1_000 + 35 * 60_000) == ("overdue by 35 min", True)


def test_another_view_drops_a_selected_question_someone_else_answered(env_db):
    """Issue 31, item 7: after another operator answered the question a tab had open, the
    tab kept showing it (answered) whatever view it switched to."""
    ask(env_db, "c-a", "r-a", 30, "First?")
    ask(env_db, "c-b", "r-b", 20, "Second?")
    at = run_app({"request": "r-a"}, operator_name="Avery")
    env_db["input_requests"].update(
        "r-a", {"status": "ANSWERED", "answered_by": "Blake", "answered_at": 1, "answer": "y"}
    )
    at.run()
    assert "Answered by Blake" in markdown(at)  # it stays open, answered, until the view moves
    at.segmented_control(key="inbox_view").set_value("unassigned").run()
    assert at.session_state["inbox_request"] == "r-b"
    assert "Answered by Blake" not in markdown(at)


def test_a_question_answered_by_e_mail_says_so(env_db):
    """Issue 32: the pane says how an answer came when it came by e-mail."""
    ask(env_db, "c-m", "r-m", 30, "By mail?")
    env_db["input_requests"].update(
        "r-m",
        {
            "status": "ANSWERED",
            "answered_by": "avery",
            "answered_at": 1,
            "answer": "y",
            "answered_via": "e-mail",
        },
    )
    at = run_app({"request": "r-m"}, operator_name="Blake")
    assert "Answered by avery \\(by e\\-mail\\)" in markdown(at)  # as literal() escapes it


def test_a_draft_committed_but_not_yet_reported_outlives_the_next_redraws(env_db):
    """Found racing an e-mail reply against Send: the box's text reached the server (a blur)
    but the key script had not reported it yet when the question was answered elsewhere; the
    draft showed once and was gone at the next run (Streamlit drops an undrawn box's state)."""
    ask(env_db, "c-d", "r-d", 30, "Draft?")
    at = run_app({"request": "r-d"}, operator_name="Avery")
    at.text_area(key="answer_r-d").input("Avery's words").run()
    env_db["input_requests"].update(
        "r-d", {"status": "ANSWERED", "answered_by": "Blake", "answered_at": 1, "answer": "y"}
    )
    for _ in range(3):
        at.run()
        assert "Avery's words" in [c.value for c in at.code]


def test_a_send_that_lost_the_race_keeps_its_text_as_a_draft(env_db):
    """Found racing an e-mail reply against Send: Avery clicked Send after Blake's answer was
    recorded; "Already answered by Blake" cleared the box and the typed text was gone."""
    ask(env_db, "c-l", "r-l", 30, "Lost?")
    at = run_app({"request": "r-l"}, operator_name="Avery")
    at.text_area(key="answer_r-l").input("Avery's late words").run()
    env_db["input_requests"].update(
        "r-l", {"status": "ANSWERED", "answered_by": "Blake", "answered_at": 1, "answer": "y"}
    )
    at.button(key="send_r-l").click().run()
    assert "Already answered by Blake" in markdown(at)
    for _ in range(2):
        at.run()
        assert "Avery's late words" in [c.value for c in at.code]
