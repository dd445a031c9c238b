"""Several consoles on one PostgreSQL database (issue: beyond one machine): sidecars killed
with SIGKILL under load lose no acknowledged delivery and store each once; two notifiers send
each message once; two reconcilers poll each case once a pass; a killed instance's job is
taken over. Real processes, a real PostgreSQL (tests/pg_server.py), real receivers.

More instances and more kills than the defaults (2 instances, 4 kills):
``OFFLOAD_TEST_INSTANCES=4 OFFLOAD_TEST_KILLS=12 pytest tests/test_several_instances.py``."""

import itertools
import json
import os
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

INSTANCES = max(2, int(os.environ.get("OFFLOAD_TEST_INSTANCES", "2")))
KILLS = max(1, int(os.environ.get("OFFLOAD_TEST_KILLS", "4")))


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


def test_sidecars_killed_in_turn_under_load_lose_nothing_and_store_each_once(pg_url):
    """A load balancer's view: each delivery goes to one sidecar, to the next when that one
    does not answer; every 7th goes to two (a balancer that retried after a lost answer).
    The sidecars are killed with SIGKILL mid-load in turn and restarted."""
    ports = [free_port() for _ in range(INSTANCES)]
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
                first = rnd.randrange(len(ports))
                wanted = 2 if i % 7 == 0 else 1
                delivered = 0
                for k in range(len(ports)):  # the next tries are the failover (or the double)
                    try:
                        r = http.post(
                            f"http://127.0.0.1:{ports[(first + k) % len(ports)]}/webhooks/offload",
                            content=dumps(event),
                            headers={"content-type": "application/json"},
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        delivered += 1
                        if delivered == wanted:
                            break
                if delivered:
                    with lock:
                        acked[event["event_id"]] += delivered

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for round_ in range(KILLS):
            with lock:
                target = len(acked) + 150
            wait_until(lambda t=target: len(acked) >= t, timeout=90, message="load acknowledged")
            victim = round_ % INSTANCES
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
    assert len(twice) >= 20  # deliveries two sidecars acknowledged: one event each
    outcomes = dict(
        read(pg_url, "SELECT outcome, count(*) FROM deliveries GROUP BY outcome ORDER BY 1")
    )
    assert outcomes.get("duplicate", 0) >= len(twice)
    assert len(acked) >= 150 * KILLS + 100


def test_notifiers_send_each_message_once_and_take_over_from_killed_ones(pg_url):
    # Slower to answer than the retry booked before each send: two notifiers at once would
    # each find the other's messages due again and send them twice.
    receiver = Receiver(delay_s=0.4)
    env = {
        "OFFLOAD_CONSOLE_NOTIFY_URLS": receiver.url,
        "OFFLOAD_CONSOLE_NOTIFY_RETRY_S": "0.2",
        "OFFLOAD_CONSOLE_DASHBOARD_URL": "http://console.example:8501",
    }

    def sends(server) -> bool:  # took a target's notifier job (one job per target)
        return any(
            "job notifier:" in line and "this instance does it now" in line
            for line in server.output().splitlines()
        )

    servers = [sidecar(pg_url, free_port(), **env) for _ in range(INSTANCES)]
    killed = []
    asked: list[int] = []
    try:

        def ask(server) -> None:
            n = len(asked)
            asked.append(n)
            envelope = input_needed(f"c-{n}", f"r-{n}", now_ms(), f"Question {n}?")
            assert post(server, envelope).status_code == 200

        for n in range(20):
            ask(servers[n % INSTANCES])

        def sent() -> int:
            return read(pg_url, "SELECT count(*) FROM notifications WHERE status = 'SENT'")[0][0]

        wait_until(lambda: sent() == 20, timeout=60, message="20 notifications sent")
        ports = sorted(s.port for s in servers)
        registered = read(pg_url, "SELECT port FROM instances WHERE part = 'sidecar' ORDER BY 1")
        assert [row[0] for row in registered] == ports  # each in the Health page's list
        # The notifier is whichever holds the job's lock: kill it, ask again; until one is left.
        while len(killed) < INSTANCES - 1:
            alive = [s for s in servers if s not in killed]
            holder = [s for s in alive if sends(s)]
            assert len(holder) == 1, [s.output()[-500:] for s in alive]
            holder[0].kill()
            killed.append(holder[0])
            alive.remove(holder[0])
            for n in range(10):
                ask(alive[n % len(alive)])
            wait_until(lambda: sent() == len(asked), timeout=60, message="taken over")
            assert [sends(s) for s in alive].count(True) == 1
    finally:
        for server in servers:
            server.stop()
        receiver.close()
    stopped = dict(read(pg_url, "SELECT port, stopped_at IS NOT NULL FROM instances"))
    assert stopped == {s.port: s not in killed for s in servers}  # killed; stopped cleanly
    ids = [
        line.split("Notification id: ")[1].split()[0]
        for message in receiver.received
        for line in message["message"].splitlines()
        if "Notification id: " in line
    ]
    expected = 20 + 10 * (INSTANCES - 1)
    assert len(ids) == len(set(ids)) == expected, Counter(ids).most_common(3)


class FakeOffload:
    """``GET /cases/{id}``: a running case, unchanged; every GET counted, with its time and
    the API key it came with (each instance is given its own, to tell them apart)."""

    def __init__(self):
        self.gets: list[tuple[str, float, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                case_id = self.path.split("?")[0].rsplit("/", 1)[-1]
                key = self.headers.get("x-api-key", "")
                fake.gets.append((case_id, time.monotonic(), key))
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


def test_reconcilers_poll_each_case_once_a_pass_and_one_takes_over_from_a_killed_one(pg_url):
    offload = FakeOffload()
    env = {
        "OFFLOAD_BASE_URL": offload.url,
        "OFFLOAD_CONSOLE_MODE": "",  # not the sandbox, whatever the suite inherited
        "reconcile_every": "0.5",
    }
    said = "job reconciler: this instance does it now"
    servers = [
        sidecar(pg_url, free_port(), OFFLOAD_API_KEY=f"key-{i}", **dict(env))
        for i in range(INSTANCES)
    ]
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
        holder = [s for s in servers if said in s.output()]
        assert len(holder) == 1, [s.output()[-500:] for s in servers]  # before any stops
        holder[0].kill()
        before = len(runs())
        wait_until(lambda: len(runs()) >= before + 6, timeout=60, message="passes after a kill")
        alive = [s for s in servers if s is not holder[0]]
        assert [said in s.output() for s in alive].count(True) == 1
    finally:  # the job's holder last, or the next would take the job over as it stops
        for server in sorted(servers, key=lambda s: said in s.output()):
            server.stop()
        offload.close()
    done = runs()
    for earlier, later in itertools.pairwise(done):
        assert later[0] >= earlier[1], "two passes overlapped: two reconcilers at once"
    per_case = Counter(case_id for case_id, _, _ in offload.gets)
    assert set(per_case) == {f"open-{n}" for n in range(5)}
    started = read(pg_url, "SELECT count(*) FROM reconciler_runs")[0][0]
    assert max(per_case.values()) <= started  # once a pass at most, never once per instance
    # One poller, then the one that took over, never back and forth: two at once would mix.
    pollers = [
        key
        for key, _ in itertools.groupby(
            key for _, _, key in sorted(offload.gets, key=lambda get: get[1])
        )
    ]
    assert len(pollers) == 2, pollers
    assert pollers[0] == f"key-{servers.index(holder[0])}"
    # One reconciler sleeps 0.5 s between passes: no case polled twice closer than that.
    for case_id, key in itertools.product(per_case, pollers):
        times = sorted(t for c, t, k in offload.gets if c == case_id and k == key)
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.45, (case_id, key)
