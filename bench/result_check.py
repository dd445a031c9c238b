"""Seconds to check a counterparty's result against its case's resultSchema (the timeline
does it on every view): ``uniqueItems`` over N objects, the console's bounded check against
jsonschema's stock validator. ``.venv/bin/python bench/result_check.py [N] [N_STOCK]``."""

from __future__ import annotations

import json
import sys
import time

import jsonschema

from offload_console.schema_tools import result_problems

SCHEMA = {"type": "object", "properties": {"xs": {"type": "array", "uniqueItems": True}}}


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 19_000
    n_stock = int(sys.argv[2]) if len(sys.argv) > 2 else 3_000
    result = {"xs": [{"i": i} for i in range(n)]}
    size_kb = len(json.dumps(result)) / 1024
    ours = min(timed(lambda: result_problems(result, SCHEMA)) for _ in range(3))
    small = {"xs": result["xs"][:n_stock]}
    stock = timed(lambda: list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(small)))
    ours_small = min(timed(lambda: result_problems(small, SCHEMA)) for _ in range(3))
    print(f"{n:,} objects ({size_kb:,.0f} KiB): console check {ours * 1000:.1f} ms")
    print(
        f"{n_stock:,} objects: console {ours_small * 1000:.1f} ms, jsonschema stock "
        f"{stock * 1000:.0f} ms (x{stock / ours_small:,.0f}); stock grows with N², so "
        f"{n:,} would take about {stock * (n / n_stock) ** 2:,.0f} s"
    )


if __name__ == "__main__":
    main()
