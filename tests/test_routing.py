"""Issue 33: routing. New questions go to operators on duty, in turn, skipping anyone at the
cap; never one question to two (two routers at once, or a person assigning meanwhile); a
question a person unassigns stays unassigned. Both engines."""

import random
import threading

import storage
from offload_console.routing import route_new
from storage.inbox import assign_request
from storage.routing import go_off_duty, go_on_duty, on_duty, route_one
from tests.helpers import input_needed, store

T0 = 1_796_256_000_000


def ask(db, n: int, at: int | None = None) -> str:
    store(db, input_needed(f"c{n}", f"r{n:03d}", at or T0 + n * 1000, f"Question {n}?"))
    return f"r{n:03d}"


def assigned(db) -> dict[str, str | None]:
    return dict(db.execute("SELECT input_request_id, assigned_to FROM input_requests").fetchall())


def test_in_turn_skipping_the_full_and_nobody_on_duty_waits(db):
    for n in range(7):
        ask(db, n)
    assert route_one(db, cap=2, now=T0) is None  # nobody on duty: the question waits
    for who, since in (("avery", 1), ("blake", 2), ("casey", 3)):
        go_on_duty(db, who, T0 + since)
    routed = route_new(db, cap=2, now=T0 + 10)
    assert [who for _, who in routed] == ["avery", "blake", "casey"] * 2  # then all at the cap
    assert sum(1 for who in assigned(db).values() if who is None) == 1
    db.execute("UPDATE input_requests SET status = 'ANSWERED' WHERE input_request_id = 'r001'")
    (last,) = route_new(db, cap=2, now=T0 + 20)  # blake answered one: below the cap again
    assert last == ("r006", "blake")
    go_off_duty(db, "avery")
    ask(db, 7)
    assert route_new(db, cap=5, now=T0 + 30) == [("r007", "casey")]  # avery is off duty


def test_a_question_a_person_unassigns_stays_unassigned(db):
    go_on_duty(db, "avery", T0)
    ask(db, 1)
    assert route_new(db, cap=5, now=T0) == [("r001", "avery")]
    assign_request(db, "r001", None, "avery")  # "not mine"
    assert route_new(db, cap=5, now=T0 + 1) == []
    assert assigned(db)["r001"] is None
    assign_request(db, "r001", "blake", "lead")  # a person assigns before the router passes
    ask(db, 2)
    assign_request(db, "r002", "blake", "lead")
    assert route_new(db, cap=5, now=T0 + 2) == [] and assigned(db)["r002"] == "blake"


def test_two_routers_at_once_give_each_question_once(db_url):
    db = storage.open_db(db_url)
    for who in ("avery", "blake", "casey"):
        go_on_duty(db, who, T0)
    for n in range(60):
        ask(db, n)
    results: list[list] = []

    def router():
        mine = storage.open_db(db_url, any_thread=True)
        results.append(route_new(mine, cap=100))

    threads = [threading.Thread(target=router) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    routed = [q for result in results for q, _ in result]
    assert sorted(routed) == sorted(assigned(db))  # every question, each once
    audits = db.execute(
        "SELECT target, count(*) FROM audit_log WHERE action = 'question.assigned'"
        " GROUP BY target HAVING count(*) > 1"
    ).fetchall()
    assert audits == []
    counts = [row["open_questions"] for row in on_duty(db)]
    assert max(counts) - min(counts) <= 1  # in turn, across both routers


def test_a_simulated_day_with_operators_coming_and_going(db):
    """Questions arrive all day, operators go on and off duty and answer; after every pass:
    only operators on duty were given questions, nobody above the cap, and a question waits
    only while everyone on duty is full (or nobody is on duty)."""
    rnd = random.Random(33)
    team = ["avery", "blake", "casey", "drew"]
    cap, now, n = 3, T0, 0
    given: dict[str, str] = {}
    for _minute in range(0, 24 * 60, 5):
        now += 5 * 60_000
        for who in team:  # each may come on or go off duty
            if rnd.random() < 0.08:
                if rnd.random() < 0.5:
                    go_off_duty(db, who)
                else:
                    go_on_duty(db, who, now)
        for _ in range(rnd.randint(0, 2)):
            n += 1
            ask(db, n, now)
        for request_id, who in assigned(db).items():  # some answered
            if who and rnd.random() < 0.25:
                db.execute(
                    "UPDATE input_requests SET status = 'ANSWERED' WHERE input_request_id = ?",
                    [request_id],
                )
        duty = {row["operator"] for row in on_duty(db)}
        for request_id, who in route_new(db, cap=cap, now=now):
            assert who in duty
            given[request_id] = who
        holding = {row["operator"]: row["open_questions"] for row in on_duty(db)}
        assert all(count <= cap for count in holding.values())
        waiting = db.execute(
            "SELECT count(*) FROM input_requests WHERE status = 'PENDING' AND assigned_to IS NULL"
        ).fetchone()[0]
        if waiting:
            assert all(count >= cap for count in holding.values())
    assert len(given) > 100 and set(given.values()) == set(team)


def test_two_sidecars_on_one_postgresql_route_each_question_once_and_mail_it(postgres, monkeypatch):
    """Routing on in two sidecars sharing PostgreSQL (the ``router`` job in one of them at a
    time), two operators going on duty from two dashboards: questions posted to either sidecar
    are each assigned once, and each assignee gets one assignment e-mail per question."""
    import email
    import email.policy

    from streamlit.testing.v1 import AppTest

    from offload_console.accounts import add_operator
    from storage.operators import set_email
    from tests.helpers import free_port, wait_until
    from tests.test_auth import APP, sign_in
    from tests.test_notify_servers import Mailbox, post, start_sidecar

    url = postgres.take()
    smtp = Mailbox()
    servers = []
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", url)
    monkeypatch.setenv("OFFLOAD_BASE_URL", "http://127.0.0.1:9")
    try:
        db = storage.open_db(url)
        for who in ("avery", "blake"):
            add_operator(db, who, "a long enough password", by="setup")
            set_email(db, who, f"{who}@example.com")
        for who in ("avery", "blake"):  # each on duty from their own dashboard session
            at = sign_in(
                AppTest.from_file(APP, default_timeout=60).run(), who, "a long enough password"
            )
            at.switch_page("app_pages/team.py").run()
            at.toggle(key="team_on_duty").set_value(True).run()
            assert not at.exception, at.exception
        assert {row["operator"] for row in on_duty(db)} == {"avery", "blake"}
        env = {"OFFLOAD_CONSOLE_AUTO_ASSIGN": "1", "OFFLOAD_CONSOLE_AUTO_ASSIGN_CAP": "50"}
        for _ in range(2):
            servers.append(start_sidecar(url, free_port(), [smtp.url("team@example.com")], **env))
        for n in range(10):
            envelope = input_needed(f"c{n}", f"r{n:03d}", T0 + n, f"Question {n}?")
            assert post(servers[n % 2], envelope).status_code == 200
        wait_until(
            lambda: len(assigned(db)) == 10 and all(assigned(db).values()),
            90,
            0.2,
            "every question assigned",
        )
        owners = list(assigned(db).values())
        assert sorted(owners) == ["avery"] * 5 + ["blake"] * 5

        def assignment_mails():
            found = []
            for _, recipients, content in list(smtp.messages):
                parsed = email.message_from_string(content, policy=email.policy.default)
                if str(parsed["Subject"]).startswith("Question assigned to you"):
                    found.append(recipients[0])
            return found

        wait_until(lambda: len(assignment_mails()) == 10, 90, 0.2, "ten assignment e-mails")
        assert sorted(assignment_mails()) == ["avery@example.com"] * 5 + ["blake@example.com"] * 5
        duplicates = db.execute(
            "SELECT target FROM audit_log WHERE action = 'question.assigned'"
            " GROUP BY target HAVING count(*) > 1"
        ).fetchall()
        assert duplicates == []
    finally:
        for server in servers:
            server.stop()
        smtp.close()
        storage.pg.close_pools()
        postgres.give_back(url)
