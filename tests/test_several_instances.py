"""Several consoles on one PostgreSQL database (issue: beyond one machine): sidecars killed
with SIGKILL under load lose no acknowledged delivery and store each once; two notifiers send
each message once; two reconcilers poll each case once a pass; a killed instance's job is
taken over. Real processes, a real PostgreSQL (tests/pg_server.py), real receivers."""

import itertools
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

import storage
from storage import now_ms
from tests.helpers import ServerProcess, dumps, free_port, input_needed, wait_until, webhook
from tests.test_notify_servers import Receiver, post

pytestmark = pytest.mark.slow


PASSWORD = "pw-never-shown-41"


@pytest.fixture
def pg_url(postgres):
    """A fresh database's URL with a password in it (the test server trusts every local
    connection, so any password opens it): no log line may show it."""
    url = postgres.new_database(postgres.template)
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def sidecar(url, port, **env):
    server = ServerProcess(
        ["sidecar", "--db", url, "--reconcile-every", env.pop("reconcile_every", "0")],
        env={"OFFLOAD_WEBHOOK_TOKEN": "", **env},
    )
    return server.start(port)


def read(url, sql, params=None):
    db = storage.open_db(url)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.conn.close()


def test_two_sidecars_killed_in_turn_under_load_lose_nothing_and_store_each_once(pg_url):
    """A load balancer's view: each delivery goes to one sidecar, to the other when that one
    does not answer; some go to both (a balancer that retried after a lost answer). Each
    sidecar is killed with SIGKILL mid-load in turn and restarted."""
    ports = [free_port(), free_port()]
    servers = [sidecar(pg_url, port) for port in ports]
    acked: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    counter = itertools.count()

    def client(n: int) -> None:
        rnd = random.Random(n)
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                i = next(counter)
                event = webhook(f"k{n}-{i}", "case.completed", 1_000 + i, resultStatus="ok")
                first = rnd.randrange(2)
                order = [first, 1 - first] + ([1 - first] if i % 7 == 0 else [])
                delivered = 0
                for target in order:  # the second try is the failover (or the duplicate)
                    try:
                        r = http.post(
                            f"http://127.0.0.1:{ports[target]}/webhooks/offload",
                            content=dumps(event),
                            headers={"content-type": "application/json"},
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        delivered += 1
                        if delivered == 1 and i % 7:
                            break
                if delivered:
                    with lock:
                        acked[event["event_id"]] += delivered

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for round_ in range(4):
            with lock:
                target = len(acked) + 150
            wait_until(lambda t=target: len(acked) >= t, timeout=90, message="load acknowledged")
            victim = round_ % 2
            servers[victim].kill()  # SIGKILL, mid-stream
            servers[victim] = sidecar(pg_url, ports[victim])
        with lock:
            target = len(acked) + 100
        wait_until(lambda: len(acked) >= target, timeout=90, message="load after the last kill")
    finally:
        stop.set()
        for t in threads:
            t.join()
        for server in servers:
            server.stop()

    assert not [s for s in servers if PASSWORD in s.output()]
    assert "postgres:***@" in servers[0].output()  # the database, named without its password
    stored = Counter(row[0] for row in read(pg_url, "SELECT event_id FROM events"))
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    assert max(stored.values()) == 1
    assert read(pg_url, "SELECT count(*) FROM cases")[0][0] == len(stored)
    twice = [event_id for event_id, n in acked.items() if n == 2]
    assert len(twice) >= 20  # deliveries both sidecars acknowledged: one event each
    outcomes = dict(
        read(pg_url, "SELECT outcome, count(*) FROM deliveries GROUP BY outcome ORDER BY 1")
    )
    assert outcomes.get("duplicate", 0) >= len(twice)
    assert len(acked) >= 700


def test_two_notifiers_send_each_message_once_and_one_takes_over_from_a_killed_one(pg_url):
    # Slower to answer than the retry booked before each send: two notifiers at once would
    # each find the other's messages due again and send them twice.
    receiver = Receiver(delay_s=0.4)
    env = {
        "OFFLOAD_CONSOLE_NOTIFY_URLS": receiver.url,
        "OFFLOAD_CONSOLE_NOTIFY_RETRY_S": "0.2",
        "OFFLOAD_CONSOLE_DASHBOARD_URL": "http://console.example:8501",
    }
    servers = [sidecar(pg_url, free_port(), **env) for _ in range(2)]
    try:

        def ask(n: int, server) -> None:
            envelope = input_needed(f"c-{n}", f"r-{n}", now_ms(), f"Question {n}?")
            assert post(server, envelope).status_code == 200

        for n in range(20):
            ask(n, servers[n % 2])

        def sent() -> int:
            return read(pg_url, "SELECT count(*) FROM notifications WHERE status = 'SENT'")[0][0]

        wait_until(lambda: sent() == 20, timeout=60, message="20 notifications sent")
        ports = sorted(s.port for s in servers)
        registered = read(pg_url, "SELECT port FROM instances WHERE part = 'sidecar' ORDER BY 1")
        assert [row[0] for row in registered] == ports  # each in the Health page's list
        # The notifier is whichever holds the job's lock: kill it, ask again.
        holder = [s for s in servers if "job notifier: this instance does it now" in s.output()]
        assert len(holder) == 1, [s.output()[-500:] for s in servers]
        holder[0].kill()
        survivor = next(s for s in servers if s is not holder[0])
        for n in range(20, 30):
            ask(n, survivor)
        wait_until(lambda: sent() == 30, timeout=60, message="taken over: 30 sent")
        assert "job notifier: this instance does it now" in survivor.output()
    finally:
        for server in servers:
            server.stop()
        receiver.close()
    stopped = read(pg_url, "SELECT port, stopped_at IS NOT NULL FROM instances ORDER BY 1")
    assert dict(stopped) == {holder[0].port: False, survivor.port: True}  # killed; stopped
    ids = [
        line.split("Notification id: ")[1].split()[0]
        for message in receiver.received
        for line in message["message"].splitlines()
        if "Notification id: " in line
    ]
    assert len(ids) == len(set(ids)) == 30, Counter(ids).most_common(3)


class FakeOffload:
    """``GET /cases/{id}``: a running case, unchanged; every GET counted, with its time."""

    def __init__(self):
        self.gets: list[tuple[str, float]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                case_id = self.path.split("?")[0].rsplit("/", 1)[-1]
                fake.gets.append((case_id, time.monotonic()))
                body = json.dumps(
                    {"data": {"caseId": case_id, "status": "RUNNING", "updatedAt": 1_000}}
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_two_reconcilers_poll_each_case_once_a_pass(pg_url):
    offload = FakeOffload()
    env = {
        "OFFLOAD_BASE_URL": offload.url,
        "OFFLOAD_API_KEY": "test-key",
        "OFFLOAD_CONSOLE_MODE": "real",
        "reconcile_every": "0.5",
    }
    servers = [sidecar(pg_url, free_port(), **dict(env)) for _ in range(2)]
    try:
        for n in range(5):
            event = webhook(f"open-{n}", "case.created", 1_000)
            assert post(servers[0], event).status_code == 200

        def runs() -> list:
            return read(
                pg_url,
                "SELECT started_at, finished_at, polled FROM reconciler_runs"
                " WHERE finished_at IS NOT NULL AND polled > 0 ORDER BY id",
            )

        wait_until(lambda: len(runs()) >= 8, timeout=60, message="8 reconciler passes")
        said = "job reconciler: this instance does it now"
        assert [said in s.output() for s in servers].count(True) == 1  # before either stops
    finally:
        for server in servers:
            server.stop()
        offload.close()
    done = runs()
    for before, after in itertools.pairwise(done):
        assert after[0] >= before[1], "two passes overlapped: two reconcilers at once"
    per_case = Counter(case_id for case_id, _ in offload.gets)
    assert set(per_case) == {f"open-{n}" for n in range(5)}
    started = read(pg_url, "SELECT count(*) FROM reconciler_runs")[0][0]
    assert max(per_case.values()) <= started  # once a pass at most, never once per instance
    for case_id in per_case:  # one reconciler sleeps 0.5 s between passes: GETs that close
        times = sorted(t for c, t in offload.gets if c == case_id)  # were two reconcilers
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.45, case_id
