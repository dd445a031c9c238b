"""Dashboard pages at 1k and 100k cases, against a hello-world Streamlit page.

    .venv/bin/python bench/pages_bench.py [--small 1000] [--large 100000] [--runs 5] [--no-browser]
        [--postgresql]

``--postgresql``: the same pages on a throwaway PostgreSQL (tests/pg_server.py), the same two
generated databases copied there (``bench.generate.copy_into``).

Two measurements per page: the script run in AppTest (server side), and time-to-content in
Debian's Chromium (navigation until the page's own content is on screen and the app is idle).
Prints medians and the ratios the targets speak of: 100k / 1k (target <= 1.5) and
100k / hello-world (target <= 2).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
APP = str(ROOT / "dashboard" / "app.py")
HELLO = str(ROOT / "bench" / "hello_app.py")
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# page name -> (page file, session/query setup, browser path, selector proving content)
PAGES = {
    "Inbox": ("app_pages/inbox.py", {}, "/", '[data-testid="stTextArea"]'),
    "Cases": ("app_pages/cases.py", {}, "/cases", '[data-testid="stMetric"]'),
    "Cases filtered": ("app_pages/cases.py", {"cases_status": ["COMPLETED"]}, None, None),
    # The search term is chosen per database so both find 111 cases (see search_term).
    "Cases searched": ("app_pages/cases.py", {"cases_search": "<term>"}, None, None),
    "Case timeline": (
        "app_pages/case.py",
        {"?case": "case-0000777"},
        "/case?case=case-0000777",
        '[data-testid="stMetric"]',
    ),
    # This week so far: the generated cases spread over 400 days, so the period holds 100x
    # the rows at 100k; the page reads only the period's (by index).
    "Reports": ("app_pages/reports.py", {}, "/reports", '[data-testid="stMetric"]'),
}


def search_term(db_path: str) -> str:
    """``vendor_7`` in 1,000 cases and ``vendor_777`` in 100,000 both match 111 references
    (7, 70-79, 700-799 and so on): the same result size, so the figure compares database
    size, not how many rows the page draws."""
    import storage

    cases = storage.open_db(db_path)["cases"].count
    return "vendor_" + "7" * max(1, len(str(cases - 1)) - 2)


def apptest_times(db_path: str | None, runs: int) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    if db_path:
        os.environ["OFFLOAD_CONSOLE_DB"] = db_path
    os.environ["OFFLOAD_BASE_URL"] = "http://127.0.0.1:9"  # pages must not wait on Offload
    out: dict[str, float] = {}
    if db_path is None:
        samples = []
        for _ in range(runs + 1):
            at = AppTest.from_file(HELLO, default_timeout=120)
            started = time.perf_counter()
            at.run()
            samples.append(time.perf_counter() - started)
        return {"hello": statistics.median(samples[1:])}
    for name, (page, setup, _, _) in PAGES.items():
        samples = []
        for _ in range(runs + 1):  # the first run warms imports and connections
            at = AppTest.from_file(APP, default_timeout=120)
            at.session_state["operator_name"] = "bench"
            at.run()
            at.switch_page(page)
            for key, value in setup.items():
                if key.startswith("?"):
                    at.query_params[key[1:]] = value
                else:
                    at.session_state[key] = search_term(db_path) if value == "<term>" else value
            started = time.perf_counter()
            at.run()
            samples.append(time.perf_counter() - started)
            assert not at.exception, at.exception
        out[name] = statistics.median(samples[1:])
    return out


def serve(script: str, db_path: str | None) -> tuple[subprocess.Popen, str]:
    from bench.common import free_port, wait_healthy

    port = free_port()
    env = {**os.environ, "OFFLOAD_BASE_URL": "http://127.0.0.1:9"}
    if db_path:
        env["OFFLOAD_CONSOLE_DB"] = db_path
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            script,
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url + "/_stcore/health")
    return proc, url


def browser_times(db_path: str | None, runs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    proc, url = serve(HELLO if db_path is None else APP, db_path)
    out: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/lib/chromium/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            targets = (
                {"hello": ("/", "h1")}
                if db_path is None
                else {n: (path, sel) for n, (_, _, path, sel) in PAGES.items() if path}
            )
            for name, (path, selector) in targets.items():
                samples = []
                for _ in range(runs + 1):
                    page = browser.new_page()
                    started = time.perf_counter()
                    page.goto(url + path)
                    page.wait_for_selector(selector, timeout=120_000)
                    page.wait_for_selector(READY, timeout=120_000)
                    samples.append(time.perf_counter() - started)
                    page.close()
                out[name] = statistics.median(samples[1:])
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return out


def report(kind: str, small: dict, large: dict, hello: float, n_small: int, n_large: int) -> None:
    print(f"\n{kind}: median seconds; hello-world page {hello:.3f} s")
    print(f"{'page':<16}{n_small:>9,}{n_large:>10,}{'large/small':>13}{'large/hello':>13}")
    for name in large:
        s, big = small[name], large[name]
        print(f"{name:<16}{s:>9.3f}{big:>10.3f}{big / s:>13.2f}{big / hello:>13.2f}")
    print("targets: large/small <= 1.5, large/hello <= 2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    from bench.generate import copy_into, ensure

    server = None
    small = ensure(str(ROOT / "bench" / "out" / f"cases-{args.small}.db"), args.small)
    large = ensure(str(ROOT / "bench" / "out" / f"cases-{args.large}.db"), args.large)
    if args.postgresql:
        from tests.pg_server import PostgresServer

        server = PostgresServer().start()
        copies = server.new_database(), server.new_database()
        copy_into(small, copies[0])
        copy_into(large, copies[1])
        small, large = copies
    try:
        measure(args, small, large)
    finally:
        if server is not None:
            server.stop()


def measure(args, small: str, large: str) -> None:
    hello = apptest_times(None, args.runs)["hello"]
    report(
        "AppTest (script run)",
        apptest_times(small, args.runs),
        apptest_times(large, args.runs),
        hello,
        args.small,
        args.large,
    )
    if not args.no_browser:
        hello_b = browser_times(None, args.runs)["hello"]
        report(
            "Browser (time to content)",
            browser_times(small, args.runs),
            browser_times(large, args.runs),
            hello_b,
            args.small,
            args.large,
        )


if __name__ == "__main__":
    main()
