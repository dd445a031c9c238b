"""The database is no single point of loss (issue 29): sidecars on one PostgreSQL under
steady webhook load ride through a fast and an immediate restart, every console connection
terminated, an outage, and a writer stalled with the console's locks held: every delivery is
answered 200, every acknowledged one is stored exactly once (its event and its ``deliveries``
row), every question is notified once, with no restart of anything but the database. A
sidecar killed with SIGKILL in the middle of an outage forwards its spool at its next start.

Real processes, a PostgreSQL server of this module's own (it is restarted), real receivers.
``OFFLOAD_TEST_OUTAGE_S`` sets how long the database stays down (default 6 s),
``OFFLOAD_TEST_SIDECARS`` how many sidecars share it (default 2)."""

import itertools
import os
import threading
import time
from collections import Counter

import httpx
import pytest

import storage
from storage import now_ms
from storage.pg import WRITE_LOCK
from tests.helpers import ServerProcess, dumps, free_port, input_needed, wait_until, webhook
from tests.test_notify_servers import Receiver

pytestmark = pytest.mark.slow

OUTAGE_S = float(os.environ.get("OFFLOAD_TEST_OUTAGE_S", "6"))
SIDECARS = max(2, int(os.environ.get("OFFLOAD_TEST_SIDECARS", "2")))


@pytest.fixture
def server():
    """A PostgreSQL server of the test's own, free to restart; stopped afterwards."""
    from tests.pg_server import PostgresServer, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(f"PostgreSQL half skipped: {reason}")
    pg = PostgresServer().start()
    pg.database = pg.new_database()
    storage.open_db(pg.database).conn.close()  # migrated before the sidecars race for it
    storage.pg.close_pools()
    yield pg
    pg.stop()


def sidecar(url, port, **env):
    return ServerProcess(
        ["sidecar", "--db", url, "--reconcile-every", "0"],
        env={"OFFLOAD_WEBHOOK_TOKEN": "", "OFFLOAD_CONSOLE_NOTIFY_URLS": "", **env},
    ).start(port)


def read(url, sql, params=None):
    db = storage.open_db(url)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.conn.close()


def health(port) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()


class Load:
    """Clients posting webhooks as a load balancer would: each delivery to one sidecar, to
    the next when that one cannot be reached (it was killed); any answer but 200 from a
    running sidecar is a refusal, kept. Every 10th delivery is a new question."""

    def __init__(self, ports: list[int], clients: int = 4):
        self.ports = ports
        self.acked: Counter = Counter()
        self.questions: set[str] = set()
        self.refused: list = []
        self.unreached = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _client(self, n: int) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                i = next(self._ids)
                if i % 10 == 0:
                    event = input_needed(f"q-{i}", f"r-{i}", now_ms(), f"Question {i}?")
                else:
                    event = webhook(f"c-{i}", "case.completed", 1_000 + i, resultStatus="ok")
                for k in range(len(self.ports)):
                    port = self.ports[(i + k) % len(self.ports)]
                    try:
                        answer = http.post(
                            f"http://127.0.0.1:{port}/webhooks/offload",
                            content=dumps(event),
                            headers={"content-type": "application/json"},
                        )
                    except httpx.HTTPError:
                        continue  # not running: the balancer tries the next
                    with self._lock:
                        if answer.status_code == 200:
                            self.acked[event["event_id"]] += 1
                            if i % 10 == 0:
                                self.questions.add(f"r-{i}")
                        else:
                            self.refused.append((port, answer.status_code, answer.text[:200]))
                    break
                else:
                    with self._lock:
                        self.unreached += 1
                time.sleep(0.002)

    def more(self, count: int, timeout: float = 90) -> None:
        """Wait until ``count`` more deliveries are acknowledged."""
        target = len(self.acked) + count
        wait_until(
            lambda: len(self.acked) >= target, timeout=timeout, message=f"{count} more acked"
        )


def settled(url: str, ports: list[int]) -> None:
    """Every spool forwarded and every stored event projected."""
    wait_until(
        lambda: (
            all(health(p)["spool"]["depth"] == 0 for p in ports)
            and read(url, "SELECT count(*) FROM projection_queue")[0][0] == 0
        ),
        timeout=60,
        message="spools forwarded, projection caught up",
    )


def assert_stored_exactly_once(url: str, load: Load, interrupted: int = 0) -> None:
    """Every acknowledged delivery stored and logged once. ``interrupted``: how many requests
    a SIGKILL may have cut after their body was kept and before their answer (each client
    has one request under way): stored, logged, never acknowledged."""
    stored = Counter(row[0] for row in read(url, "SELECT event_id FROM events"))
    missing = set(load.acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged deliveries lost, e.g. {sorted(missing)[:3]}"
    logged = read(url, "SELECT count(*) FROM deliveries WHERE status_code = 200")[0][0]
    acked = sum(load.acked.values())
    assert acked <= logged <= acked + interrupted  # each acknowledgement logged once, no more
    doubled = read(url, "SELECT count(*) FROM deliveries GROUP BY delivery_key HAVING count(*) > 1")
    assert not doubled
    cases = dict(read(url, "SELECT case_id, status FROM cases"))
    for event_id in load.acked:
        case_id = event_id.split("_")[1]
        assert cases.get(case_id) in ("COMPLETED", "INPUT_NEEDED"), (case_id, cases.get(case_id))


def terminate_console_connections(pg) -> int:
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'offload-console'"
            ).fetchall()
        )


def stall_writer(pg, seconds: float) -> None:
    """A writer that took the console's write lock and a row every projection of a question
    updates, then stopped answering (its transaction left open), for ``seconds``."""
    import psycopg

    with psycopg.connect(pg.database, autocommit=True) as stalled:
        stalled.execute("BEGIN")
        stalled.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        stalled.execute("UPDATE inbox_version SET n = n WHERE id = 1")
        time.sleep(seconds)
        stalled.execute("ROLLBACK")


def test_sidecars_ride_through_restarts_terminations_an_outage_and_a_stalled_writer(server):
    receiver = Receiver()
    url = server.database
    ports = [free_port() for _ in range(SIDECARS)]
    # The default retry (10 s) is the window in which a send's outcome is recorded.
    # rto: Apprise waits up to 30 s for the receiver's answer (this process also runs the load:
    # a receiver slower than the default 4 s would be a failed send, tried again: a double that
    # is the receiver's, not the console's)
    notifying = {"OFFLOAD_CONSOLE_NOTIFY_URLS": receiver.url + "&rto=30"}
    # The first has the notification target; the others, started after it, have none.
    sidecars = [sidecar(url, ports[0], **notifying)] + [sidecar(url, p) for p in ports[1:]]
    try:
        with Load(ports) as load:
            load.more(200)
            server.restart("fast")
            load.more(300)
            server.restart("immediate")
            load.more(300)
            assert terminate_console_connections(server) > 0
            load.more(300)
            server.halt("fast")
            down_at = time.monotonic()
            load.more(100)  # taken while the database is down: into the spools
            during = [health(p) for p in ports]
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
            server.start_again()
            load.more(300)
            stall = threading.Thread(target=stall_writer, args=(server, 7))
            stall.start()
            load.more(300)
            stall.join()
            # A deploy of the sidecar without URLs: it must not switch the target off.
            sidecars[1].stop()
            sidecars[1] = sidecar(url, ports[1])
            load.more(200)
        settled(url, ports)
        assert any(h["spool"]["depth"] > 0 for h in during), during
        assert all(h["ok"] and h["database"] != "ok" for h in during), during
        assert not load.refused, load.refused[:5]
        assert load.unreached == 0
        assert_stored_exactly_once(url, load)

        # Every question reached the receiver, once: in a message of its own, or in the
        # digest of those that waited while the target looked unowned (a database away longer
        # than GONE_AFTER_S makes every instance look gone until it beats again).
        def told() -> set[str]:
            return {
                row[0]
                for row in read(
                    url, "SELECT input_request_id FROM notifications WHERE status = 'SENT'"
                )
            }

        wait_until(
            lambda: load.questions <= told(),
            timeout=60,
            message=lambda: (
                f"every question notified: {len(load.questions - told())} of"
                f" {len(load.questions)} not; notifications by status"
                f" {read(url, 'SELECT status, kind, count(*) FROM notifications GROUP BY 1, 2')},"
                f" targets {read(url, 'SELECT target_id, active FROM notify_targets')}"
            ),
        )
        per_question = read(
            url, "SELECT input_request_id FROM notifications GROUP BY 1 HAVING count(*) > 1"
        )
        assert not per_question, per_question[:5]
        sent = dict(read(url, "SELECT notification_id, kind FROM notifications"))
        # (a row is marked sent after the receiver answered its POST: every message is in)
        ids = [
            line.split("Notification id: ")[1].split()[0]
            for message in receiver.received
            for line in message["message"].splitlines()
            if "Notification id: " in line
        ]
        doubled = [i for i, n in Counter(ids).items() if n > 1]
        assert not doubled, read(
            url,
            "SELECT notification_id, attempts, status, created_at, sent_at, last_error"
            " FROM notifications WHERE notification_id = ANY(?)",
            [doubled[:5]],
        )
        assert set(ids) <= set(sent)
        assert {i for i, kind in sent.items() if kind == "question.new"} <= set(ids)
        print(
            f"{SIDECARS} sidecars, {OUTAGE_S:g} s outage: {len(load.acked)} deliveries"
            f" acknowledged, 0 refused, stored once; spooled during the outage:"
            f" {[h['spool']['depth'] for h in during]}; {len(load.questions)} questions in"
            f" {len(ids)} messages, none twice"
        )
        assert read(url, "SELECT active FROM notify_targets") == [(1,)]
    finally:
        for process in sidecars:
            process.stop()
        receiver.close()
    for process in sidecars:
        assert "Traceback" not in process.output(), process.output()[-3000:]


def test_a_sidecar_killed_during_an_outage_forwards_its_spool_at_its_next_start(server):
    url = server.database
    port = free_port()
    process = sidecar(url, port)
    try:
        with Load([port], clients=2) as load:
            load.more(100)
            server.halt("immediate")
            load.more(150)
            spooled = health(port)["spool"]["depth"]
            assert spooled > 0
            process.kill()  # SIGKILL, the database still down
            process = sidecar(url, port)  # starts without a database: from its spool
            assert health(port)["spool"]["depth"] >= spooled
            load.more(100)
            server.start_again()
            load.more(100)
        settled(url, [port])
        assert not load.refused, load.refused[:5]
        assert_stored_exactly_once(url, load, interrupted=2)
    finally:
        process.stop()


def test_an_open_tab_shows_a_banner_keeps_the_draft_and_comes_back_by_itself(server, monkeypatch):
    """The Inbox open with an answer typed; the database goes away: the next run shows a
    banner (no exception, no error page), the typed answer is still there; the database
    comes back: the tab's own retry brings the Inbox back, with the draft."""
    from streamlit.testing.v1 import AppTest

    from tests.helpers import ROOT, store

    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", server.database)
    monkeypatch.setenv("OFFLOAD_BASE_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    db = storage.open_db(server.database)
    store(db, input_needed("c1", "r1", now_ms(), "Accept the new date?"))
    db.conn.close()
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    at.session_state["operator_name"] = "Avery"
    at.run()
    assert not at.exception
    at.text_area(key="answer_r1").input("Yes, Monday works.")
    server.restart("immediate")  # the tab's connection is gone: the next use reconnects
    at.run()
    assert not at.exception, at.exception
    assert at.text_area(key="answer_r1").value == "Yes, Monday works."
    server.halt("fast")
    try:
        at.run()
        assert not at.exception, at.exception
        banner = " ".join(str(w.value) for w in at.warning)
        assert "not answering" in banner and "tries again" in banner
        assert not at.text_area  # nothing of the page while it cannot be read
        assert at.session_state["answer_r1"] == "Yes, Monday works."  # but kept
    finally:
        server.start_again()
    at.run()  # what the banner's own retry does once the database answers
    assert not at.exception, at.exception
    assert not at.warning
    assert at.text_area(key="answer_r1").value == "Yes, Monday works."
