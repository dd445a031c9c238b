"""The reconciler over N open cases against the sandbox answering the same N GETs directly.

    .venv/bin/python bench/reconciler_bench.py [--cases 1000]

Creates N cases in a sandbox whose clock is stopped (one Offload hour = 10,000 s), through the
console's outbox, so the console has them open. Then, three times each: the same N GETs with
the same client and concurrency and nothing else (the floor), and `sync()` (GETs plus comparing
and recording). Prints the best times and the ratio. Target: <= 3x.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY = "bench-key"

from bench.common import free_port, wait_healthy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    import storage
    from offload_client import OffloadClient
    from offload_console.outbox import submit_case
    from offload_console.templates import W9_TEMPLATE
    from reconciler import sync
    from storage.cases import cases_to_poll

    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "offload_console.cli",
            "sandbox",
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--hour-seconds",
            "10000",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(sandbox, url + "/healthz", timeout=30)
        db_path = os.path.join(tempfile.mkdtemp(prefix="bench-reconcile-"), "console.db")
        db = storage.open_db(db_path)
        os.environ["OFFLOAD_PUBLIC_WEBHOOK_URL"] = "http://127.0.0.1:9/none"
        with OffloadClient(url, KEY) as client:
            started = time.perf_counter()
            for _ in range(args.cases):
                submit_case(db, client, W9_TEMPLATE, actor="bench")
            print(f"created {args.cases} open cases in {time.perf_counter() - started:.1f} s")
            ids = [row["case_id"] for row in cases_to_poll(db)]  # every case is open

            def direct() -> float:
                t = time.perf_counter()
                with ThreadPoolExecutor(args.concurrency) as pool:
                    list(pool.map(client.get_case, ids))
                return time.perf_counter() - t

            def reconcile() -> float:
                t = time.perf_counter()
                report = sync(db, client, concurrency=args.concurrency)
                assert report.polled == args.cases and not report.errors, report.summary()
                return time.perf_counter() - t

            reconcile()  # the first pass fills in what the console did not know yet
            floor = min(direct() for _ in range(3))
            passes = min(reconcile() for _ in range(3))
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
    print(f"{args.cases} GETs straight to the sandbox ({args.concurrency} at once): {floor:.2f} s")
    print(f"reconciler pass over the same {args.cases} open cases:        {passes:.2f} s")
    print(f"ratio reconciler/direct: {passes / floor:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
