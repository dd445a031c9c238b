"""Sidecar ingest on PostgreSQL: the naive receiver, one sidecar, and two sidecars sharing it.

    .venv/bin/python bench/pg_ingest.py [--seconds 5] [--rounds 3] [--connections 32] [--db URL]

Without ``--db``, starts a throwaway PostgreSQL (Debian's binaries, ``fsync=on``: commits are
as durable as the SQLite sidecar's) with ``tests/pg_server.py``. Serves the sidecar app
(``bench/_serve_sidecar.py``) twice on the same database. Legs, alternated round after round:
the naive receiver on PostgreSQL (per-request INSERT + COMMIT in the thread pool, same storage
code), one sidecar (group commit), and both sidecars at once (the load split in half between
them, as a load balancer would; events/s summed). Prints events/s, p50/p99 and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sidecar_ingest import load, start_server  # noqa: E402


def _median(results: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in results) for key in ("rps", "p50", "p99")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--db", help="a postgresql:// URL (default: a throwaway server)")
    args = parser.parse_args()
    server = None
    url = args.db
    if url is None:
        from tests.pg_server import PostgresServer, missing_reason

        reason = missing_reason()
        if reason:
            raise SystemExit(f"no PostgreSQL here: {reason}")
        server = PostgresServer(fsync=True).start()
        url = server.new_database()
    procs = [start_server(url, "thread"), start_server(url, "thread")]
    (a, url_a), (b, url_b) = procs
    half = max(1, args.connections // 2)

    def both(prefix: str) -> dict:
        with ThreadPoolExecutor(2) as pool:
            one = pool.submit(load, url_a + "/webhooks/offload", args.seconds, half, prefix + "a")
            two = pool.submit(load, url_b + "/webhooks/offload", args.seconds, half, prefix + "b")
            r1, r2 = one.result(), two.result()
        return {
            "rps": r1["rps"] + r2["rps"],
            "p50": max(r1["p50"], r2["p50"]),
            "p99": max(r1["p99"], r2["p99"]),
        }

    legs = {
        "naive": (
            "naive INSERT+COMMIT",
            lambda p: load(url_a + "/bench/naive", args.seconds, args.connections, p),
        ),
        "one": (
            "sidecar x1",
            lambda p: load(url_a + "/webhooks/offload", args.seconds, args.connections, p),
        ),
        "two": ("sidecars x2", both),
    }
    rounds: dict[str, list[dict]] = {name: [] for name in legs}
    try:
        for name, (_, run) in legs.items():
            run(f"warm{name}{os.getpid()}")
        for n in range(args.rounds):
            for name, (_, run) in legs.items():
                rounds[name].append(run(f"{name}{n}_{os.getpid()}"))
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=15)
        if server is not None:
            server.stop()
    medians = {name: _median(results) for name, results in rounds.items()}
    print(
        f"PostgreSQL ingest: {args.connections} connections, {args.rounds} rounds of "
        f"{args.seconds} s per leg (medians), fsync on"
    )
    print(f"{'endpoint':<22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, (label, _) in legs.items():
        r = medians[name]
        print(f"{label:<22}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}")
    for top, bottom in (("one", "naive"), ("two", "naive"), ("two", "one")):
        per_round = [t["rps"] / b["rps"] for t, b in zip(rounds[top], rounds[bottom], strict=True)]
        print(
            f"ratio {legs[top][0]} / {legs[bottom][0]}: "
            f"{medians[top]['rps'] / medians[bottom]['rps']:.2f}  per round: "
            + ", ".join(f"{r:.2f}" for r in per_round)
        )


if __name__ == "__main__":
    main()
