"""Sidecar ingest throughput and ack latency, side by side with what it is measured against.

    .venv/bin/python bench/sidecar_ingest.py [--seconds 5] [--rounds 3] [--connections 32]

Starts two sidecars (synchronous=FULL, WAL, group commit; one writing in its writer thread, as
shipped, one writing on the event loop) with two extra routes on the same stack
(``bench/_serve_sidecar.py``): a no-op that reads the body and answers, and the naive receiver
(one INSERT + COMMIT per request in Starlette's thread pool, same storage code). Drives each
with ``wrk`` (Debian package; a raw-asyncio client when wrk is missing) at the same
concurrency, each event with a unique event_id, legs alternated round after round. Prints
events/s, p50/p99 latency and the ratios. Floor (issue 14): sidecar >= 1.5x naive (aim 2x),
sidecar p99 <= 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, wait_healthy  # noqa: E402

LUA = r"""
local counter = 0
local threads = 0
-- tid is a global: setup() sets it in each thread's own Lua state (a local would stay 0)
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1]
end
request = function()
  counter = counter + 1
  local id = prefix .. "_" .. tid .. "_" .. counter
  local body = '{"event_id":"evt_' .. id .. '_case_completed_' .. (1774131900000 + counter) ..
    '","event_type":"case.completed","timestamp":' .. (1774131900000 + counter) ..
    ',"data":{"caseId":"' .. id .. '","clientReferenceId":"vendor_2048","status":"COMPLETED",' ..
    '"channel":"EMAIL","attemptCount":2,"resultStatus":"goal_achieved","attachments":[],' ..
    '"result":{"signedW9Received":true,"taxId":"12-3456789",' ..
    '"documentUrl":"https://files.example.com/w9.pdf"}}}'
  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)
end
"""


def start_server(db_path: str, writer: str = "thread") -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_serve_sidecar.py"), db_path, str(port), writer],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url + "/healthz", timeout=30)
    return proc, url


def _to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, seconds: int, connections: int, prefix: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            f.name,
            url,
            "--",
            prefix,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


async def _asyncio_load(url: str, seconds: int, connections: int, prefix: str) -> dict:
    """A raw-asyncio keep-alive HTTP/1.1 client: the fallback when wrk is missing."""
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, _, path = port_path.partition("/")
    path = "/" + path
    latencies: list[float] = []
    bad = 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, int(port))
        i = 0
        while time.monotonic() < deadline:
            i += 1
            eid = f"evt_{prefix}_{n}_{i}_case_completed_{1774131900000 + i}"
            body = json.dumps(
                {
                    "event_id": eid,
                    "event_type": "case.completed",
                    "timestamp": 1774131900000 + i,
                    "data": {
                        "caseId": f"{prefix}_{n}_{i}",
                        "status": "COMPLETED",
                        "result": {"signedW9Received": True},
                    },
                }
            ).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if b" 200 " not in status:
                bad += 1
        writer.close()

    await asyncio.gather(*(worker(n) for n in range(connections)))
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "non2xx": bad,
        "socket_errors": None,
    }


def load(url: str, seconds: int, connections: int, prefix: str) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, seconds, connections, prefix)
    return asyncio.run(_asyncio_load(url, seconds, connections, prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each leg")
    parser.add_argument("--rounds", type=int, default=3, help="no-op/sidecar legs alternated")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--db", help="database to ingest into (default: a new temp file)")
    parser.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="instead: ingest into an empty database and into a copy of one with N cases "
        "(bench/generate.py), and print the ratio (target: the large one within 1.2x)",
    )
    parser.add_argument(
        "--store-only",
        type=int,
        metavar="BATCH",
        help="instead: time the writer's work alone (no HTTP) on batches of BATCH",
    )
    args = parser.parse_args()
    if args.store_only:
        store_only(args.store_only)
        return
    if args.scale:
        scale(args)
        return
    tmp = tempfile.mkdtemp(prefix="bench-sidecar-")
    db_path = args.db or os.path.join(tmp, "bench.db")
    servers = {
        "thread": start_server(db_path, "thread"),
        "loop": start_server(os.path.join(tmp, "loop.db"), "loop"),
    }
    legs = {  # name: (label, server, path)
        "noop": ("no-op (same stack)", "thread", "/bench/noop"),
        "naive": ("naive INSERT+COMMIT", "thread", "/bench/naive"),
        "side": ("sidecar (thread)", "thread", "/webhooks/offload"),
        "loop": ("sidecar (on loop)", "loop", "/webhooks/offload"),
    }
    tool = "wrk" if shutil.which("wrk") else "asyncio client"
    rounds: dict[str, list[dict]] = {name: [] for name in legs}
    try:
        for name, (_, server, path) in legs.items():  # warm every path
            load(servers[server][1] + path, 2, args.connections, f"warm{name}")
        # Alternate the legs, round after round: this machine is shared, and a neighbour's
        # burst then lands on every side of a ratio instead of on one.
        for n in range(args.rounds):
            for name, (_, server, path) in legs.items():
                prefix = f"{name}{n}_{os.getpid()}"
                rounds[name].append(
                    load(servers[server][1] + path, args.seconds, args.connections, prefix)
                )
        health = httpx.get(servers["thread"][1] + "/healthz").json()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=15)
    medians = {name: _median(results) for name, results in rounds.items()}
    print(
        f"load generator: {tool}, {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s each per leg (medians; per-round ratios below)"
    )
    print(f"{'endpoint':<22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, (label, _, _) in legs.items():
        r = medians[name]
        print(f"{label:<22}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['non2xx']:>9}")
    for top, bottom, floor in (
        ("side", "naive", "floor >= 1.5, aim 2"),
        ("loop", "naive", ""),
        ("side", "noop", ""),
    ):
        ratio = medians[top]["rps"] / medians[bottom]["rps"]
        per_round = [t["rps"] / b["rps"] for t, b in zip(rounds[top], rounds[bottom], strict=True)]
        print(
            f"ratio {legs[top][0]} / {legs[bottom][0]}: {ratio:.2f}"
            + (f"  ({floor})" if floor else "")
            + "  per round: "
            + ", ".join(f"{r:.2f}" for r in per_round)
        )
    print(f"sidecar (thread) p99: {medians['side']['p99']:.1f} ms  (floor <= 30 ms)")
    writer = health["writer"]
    print(
        f"group commit (thread sidecar, warm-up included): {writer['deliveries']} deliveries "
        f"in {writer['commits']} commits ({writer['deliveries_per_commit']} per fsync, COMMIT "
        f"{writer['commit_ms_mean']} ms mean); writer busy {writer['busy_s']:.1f} s"
    )


def store_only(batch: int, deliveries: int = 12_000) -> None:
    """``store_batch`` on batches of new-case deliveries, in this process, real fsyncs (the
    writer thread's work alone, no HTTP)."""
    import storage
    from sidecar.writer import Delivery, Stats, store_batch
    from storage.db import checkpoint, manual_checkpoints

    db_path = os.path.join(tempfile.mkdtemp(prefix="bench-store-"), "store.db")
    db = storage.open_db(db_path)
    manual_checkpoints(db)
    for rnd in range(3):
        stats = Stats()
        for start in range(0, deliveries, batch):
            items = [
                Delivery(_body(f"s{rnd}_{start + i}", start + i), 1, "127.0.0.1")
                for i in range(batch)
            ]
            store_batch(db, items, stats)
            if stats.commits % 200 == 0:
                checkpoint(db_path)
        work = (stats.busy_s - stats.commit_s) / stats.deliveries * 1e6
        print(
            f"round {rnd + 1}: batches of {batch}: {work:.1f} µs/delivery to parse, store and "
            f"project; COMMIT {stats.commit_s / stats.commits * 1000:.3f} ms; "
            f"{stats.busy_s / stats.deliveries * 1e6:.1f} µs/delivery in all "
            f"({stats.deliveries / stats.busy_s:,.0f} deliveries/s)"
        )


def _body(case_id: str, n: int) -> bytes:
    at = 1774131900000 + n
    return json.dumps(
        {
            "event_id": f"evt_{case_id}_case_completed_{at}",
            "event_type": "case.completed",
            "timestamp": at,
            "data": {
                "caseId": case_id,
                "clientReferenceId": "vendor_2048",
                "status": "COMPLETED",
                "channel": "EMAIL",
                "attemptCount": 2,
                "resultStatus": "goal_achieved",
                "attachments": [],
                "result": {
                    "signedW9Received": True,
                    "taxId": "12-3456789",
                    "documentUrl": "https://files.example.com/w9.pdf",
                },
            },
        }
    ).encode()


def _median(results: list[dict]) -> dict:
    """The median of each figure over the rounds."""
    return {
        key: statistics.median(r[key] for r in results) for key in ("rps", "p50", "p99", "non2xx")
    }


def scale(args) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.generate import ensure

    source = ensure(str(ROOT / "bench" / "out" / f"cases-{args.scale}.db"), args.scale)
    tmp = tempfile.mkdtemp(prefix="bench-sidecar-scale-")
    large = os.path.join(tmp, "large.db")
    shutil.copyfile(source, large)
    results = {}
    for name, db_path in (("empty", os.path.join(tmp, "empty.db")), ("large", large)):
        proc, url = start_server(db_path)
        try:
            load(url + "/webhooks/offload", 2, args.connections, f"warm{name}")
            results[name] = load(
                url + "/webhooks/offload", args.seconds, args.connections, f"{name}{os.getpid()}"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print(f"{'database':<26}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, label in (("empty", "empty"), ("large", f"{args.scale:,} cases")):
        r = results[name]
        print(f"{label:<26}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}")
    slower = results["empty"]["rps"] / results["large"]["rps"]
    print(f"time per event, large/empty: {slower:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
