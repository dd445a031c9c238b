"""Health: is every part alive, and is anything being missed?"""

import os

import httpx
import pandas as pd
import streamlit as st

from dashboard.data import get_client, get_db, operator_tz
from dashboard.format import duration, when
from offload_client import (
    OffloadAPIError,
    OffloadConnectError,
    OffloadError,
    OffloadUnknownOutcome,
    client_from_env,
    is_sandbox_mode,
)
from offload_console import settings
from storage import now_ms
from storage.deliveries import health_summary
from storage.views import (
    database_file_size,
    database_path,
    drift_found_recently,
    last_reconciler_run,
)

db = get_db()
tz = operator_tz()
st.title("Health")


def check_sidecar() -> tuple[bool, str]:
    url = f"http://127.0.0.1:{settings.sidecar_port()}/healthz"
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as exc:
        return False, f"{url} did not answer ({type(exc).__name__})"
    try:
        writer = response.json().get("writer") or {}
    except ValueError:
        writer = {}
    if response.status_code != 200 or not writer:
        text = f"{url} answered {response.status_code}"
        if writer and writer.get("store_process") is None:
            text += "; its store process is restarting: webhooks get 503 until it is back"
        return False, text
    text = f"store process {writer['store_process']}"
    if writer.get("store_restarts"):
        text += f", restarted {writer['store_restarts']} times (see the sidecar's log)"
    if writer.get("commits"):
        text += (
            f" · {writer['deliveries']} deliveries in {writer['commits']} commits,"
            f" {writer['commit_ms_mean']} ms each"
        )
    return True, text


def check_offload() -> tuple[bool, str]:
    """Ask for a case that cannot exist: 404 CASE_NOT_FOUND proves Offload is reachable and
    the key accepted, without touching a real case."""
    try:
        with client_from_env(get_attempts=1, timeout=httpx.Timeout(3.0, connect=2.0)) as probe:
            probe.get_case("console-health-check")  # one quick try: Health must not hang
        return True, "reachable"
    except OffloadAPIError as exc:
        if exc.code == "CASE_NOT_FOUND":
            return True, "reachable, API key accepted"
        return False, f"answered HTTP {exc.status} {exc.code}: {exc.advice}"
    except OffloadUnknownOutcome:
        return False, (
            "no answer within 3 s: Offload is slow or unreachable. Check OFFLOAD_BASE_URL and "
            "the network; this page asks again every 15 s."
        )
    except OffloadConnectError:
        return False, (
            "not reachable: nothing answered at OFFLOAD_BASE_URL. Check the address and the "
            "network (in sandbox mode: is the sandbox running?)."
        )
    except OffloadError as exc:
        return False, f"unexpected answer ({exc}). Check OFFLOAD_BASE_URL points at Offload."


@st.fragment(run_every="15s")
def health() -> None:
    now = now_ms()
    summary = health_summary(db)
    sidecar_ok, sidecar_text = check_sidecar()
    offload_ok, offload_text = check_offload()
    run = last_reconciler_run(db)
    last = summary["last_webhook_at"]
    rows = [
        ("Webhook sidecar", "ok" if sidecar_ok else "DOWN", sidecar_text),
        (
            "Last webhook received",
            "",
            f"{when(last, tz)} ({duration(now - last)} ago)" if last else "none yet",
        ),
        (
            "Offload",
            "ok" if offload_ok else "PROBLEM",
            f"{'sandbox' if is_sandbox_mode() else 'real host'} at {get_client().base_url}: {offload_text}",
        ),
        (
            "Reconciler last run",
            "" if run else "never",
            f"{when(run['started_at'], tz)}: polled {run['polled']}, repaired {run['changed']}, "
            f"{run['errors']} errors"
            if run
            else f"the sidecar runs it every {settings.reconcile_every_s():g} s",
        ),
        ("Drift repaired (last 20 runs)", "", str(drift_found_recently(db))),
        ("Pending questions", "", str(summary["pending_input_requests"])),
        ("Database", "ok", f"{database_path(db)} · {(database_file_size(db) or 0) / 1e6:.1f} MB"),
        ("Rows", "", ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items())),
        ("Mode", "", "sandbox (no OFFLOAD_BASE_URL)" if is_sandbox_mode() else "real Offload host"),
        ("API key", "", "set" if os.environ.get("OFFLOAD_API_KEY") else "not set"),
    ]
    st.dataframe(
        pd.DataFrame(rows, columns=["part", "state", "detail"]),
        hide_index=True,
        width="stretch",
        column_config={
            "part": st.column_config.TextColumn(width="small"),
            "state": st.column_config.TextColumn(width="small"),
            "detail": st.column_config.TextColumn(width="large"),
        },
    )
    if run and run["error_sample"]:
        st.caption("Last reconciler error:")
        st.code(run["error_sample"], language=None, wrap_lines=True)


health()
