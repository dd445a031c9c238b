"""kill -9 under load: every event that got a 2xx survives, and the database stays sound."""

import itertools
import threading
import time

import httpx
import pytest
import sqlite_utils

from tests.helpers import ServerProcess, dumps, free_port, webhook

pytestmark = pytest.mark.slow


def test_sigkill_under_load_loses_no_acknowledged_event(db_path):
    port = free_port()
    env = {"OFFLOAD_WEBHOOK_TOKEN": ""}
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    counter = itertools.count()

    def client(n: int) -> None:
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                i = next(counter)
                event = webhook(f"k{n}-{i}", "case.completed", 1_000 + i, resultStatus="ok")
                try:
                    r = http.post(
                        f"http://127.0.0.1:{port}/webhooks/offload",
                        content=dumps(event),
                        headers={"content-type": "application/json"},
                    )
                except httpx.HTTPError:
                    time.sleep(0.01)
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.add(event["event_id"])

    server = ServerProcess(["sidecar", "--db", db_path], env=env).start(port)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for _round in range(4):
            with lock:
                target = len(acked) + 150
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= target:
                        break
                time.sleep(0.01)
            assert len(acked) >= target, server.output()
            server.kill()  # SIGKILL, mid-stream
            server = ServerProcess(["sidecar", "--db", db_path], env=env).start(port)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()

    db = sqlite_utils.Database(db_path)
    stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acked) >= 600
    assert db["cases"].count == len(stored)
