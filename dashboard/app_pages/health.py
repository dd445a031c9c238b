"""Health: is every part alive, and is anything being missed?"""

import streamlit as st

from dashboard import outside
from dashboard.format import when
from dashboard.health_checks import (
    ago,
    answer_mail_rows,
    answer_window_row,
    answers_here,
    check_offload,
    check_sidecar,
    instance_rows,
    notification_rows,
    setting_rows,
)
from dashboard.outage import paused
from dashboard.session import get_client, get_db, operator_tz
from offload_console import settings
from storage import StorageError, now_ms
from storage.deliveries import health_summary
from storage.instances import list_instances
from storage.mail_replies import summary as mail_summary
from storage.notifications import target_health
from storage.page_queries import (
    database_file_size,
    database_path,
    drift_found_recently,
    last_reconciler_run,
)

db = get_db()
tz = operator_tz()
st.title("Health")
STATE_COLOURS = {
    "ok": "green",
    "DOWN": "red",
    "PROBLEM": "red",
    "GONE": "red",
    "off": "orange",
    "never": "gray",
    "stopped": "gray",
}


@st.fragment(run_every="15s")
def health() -> None:
    try:
        rows = health_rows()
    except StorageError as exc:
        paused(exc)
        return
    # A row each, wrapped, all of them on the page (no table scrolling inside itself).
    for number, (part, state, detail) in enumerate(rows):
        with st.container(key=f"health_row_{number}", border=False):
            c1, c2, c3 = st.columns([3, 1.2, 9], vertical_alignment="top")
            with c1:
                outside.text(part)
            if state:
                c2.badge(state, color=STATE_COLOURS.get(state, "gray"))
            with c3:
                outside.text(detail)  # errors quote outside words: text, never markdown
    run = last_reconciler_run(db)
    if run and run["error_sample"]:
        st.caption("Last reconciler error:")
        st.code(run["error_sample"], language=None, wrap_lines=True)


def health_rows() -> list[tuple[str, str, str]]:
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
            f"{when(last, tz)} ({ago(now - last)})" if last else "none yet",
        ),
        (
            "Offload",
            "ok" if offload_ok else "PROBLEM",
            f"{'sandbox' if settings.is_sandbox_mode() else 'real host'} at {get_client().base_url}: {offload_text}",
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
        (
            "Database",
            "ok",
            f"{database_path(db)} · {(database_file_size(db) or 0) / 1e6:.1f} MB"
            " · answering this dashboard",
        ),
        ("Rows", "", ", ".join(f"{k} {v:,}" for k, v in summary["counts"].items())),
        ("Mode", "", settings.mode_label()),
        ("API key", "", "set" if settings.api_key() else "not set"),
        answer_window_row(),
        *setting_rows(),
        *notification_rows(target_health(db), tz, now),
        *answer_mail_rows(
            mailbox.label if (mailbox := settings.answer_mailbox()) else None,
            mail_summary(db, now - 86_400_000),
            tz,
            now,
        ),
        *instance_rows(list_instances(db, now=now), tz, now, answering=answers_here),
    ]
    return rows


health()
