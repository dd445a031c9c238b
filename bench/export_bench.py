"""CSV export of N cases against SQLite reading the same rows: time and peak memory.

    .venv/bin/python bench/export_bench.py [--cases 100000]

Each measurement runs in its own process (peak RSS = ru_maxrss of that process), three times;
the best time is reported. Targets: export <= 5x the plain read, <= 300 MB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(mode: str, db_path: str) -> None:
    import storage
    from offload_console.csv_export import write_csv
    from storage.case_filter import CaseFilter

    db = storage.open_db(db_path)
    started = time.perf_counter()
    if mode == "read":
        rows = 0
        for _ in db.conn.execute(
            "SELECT case_id, client_reference_id, status, result_status, objective,"
            " counterparty_name, counterparty_address, counterparty_company, attempt_count,"
            " created_at, updated_at, failure_reason, result, result_schema FROM cases"
            " ORDER BY created_at, case_id"
        ):
            rows += 1
    else:
        with open(os.devnull, "wb") as out:
            rows = write_csv(db, CaseFilter(), out)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def measure(mode: str, db_path: str, runs: int = 3) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--db", db_path],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout))
    best = min(results, key=lambda r: r["seconds"])
    best["peak_mb"] = max(r["peak_mb"] for r in results)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db)
        return
    from bench.generate import ensure

    db_path = ensure(args.db or str(ROOT / "bench" / "out" / f"cases-{args.cases}.db"), args.cases)
    read = measure("read", db_path)
    export = measure("export", db_path)
    print(f"{'':<26}{'rows':>9}{'seconds':>10}{'peak MB':>10}")
    for name, r in (("SQLite reading the rows", read), ("CSV export", export)):
        print(f"{name:<26}{r['rows']:>9}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}")
    print(f"time ratio export/read: {export['seconds'] / read['seconds']:.2f}  (target <= 5)")
    print(f"export peak memory: {export['peak_mb']:.0f} MB  (target <= 300 MB)")


if __name__ == "__main__":
    main()
