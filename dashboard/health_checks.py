"""The Health page's checks, as plain functions (no Streamlit): what each part's row says."""

from __future__ import annotations

import httpx

from offload_client import (
    OffloadAPIError,
    OffloadConnectError,
    OffloadError,
    OffloadUnknownOutcome,
)
from offload_console import settings


def sidecar_summary(status_code: int, body: object) -> tuple[bool, str]:
    """The sidecar's row from its ``/healthz`` answer: up or not, and its commit figures."""
    writer = body.get("writer") if isinstance(body, dict) else None
    if status_code != 200 or not isinstance(writer, dict):
        database = body.get("database") if isinstance(body, dict) else None
        text = f"answered {status_code}"
        if database and database != "ok":
            text += f"; its database: {database}"
        return False, text
    if not writer.get("commits"):
        return True, "up; no delivery yet since it started"
    return True, (
        f"up · {writer['deliveries']} deliveries in {writer['commits']} commits since it "
        f"started, {writer['commit_ms_mean']} ms each"
    )


def ago(ms: int) -> str:
    """``12 s ago``, ``7 min ago``: how long since, never "just now ago"."""
    from dashboard.format import duration

    ms = max(0, ms)
    return f"{duration(ms, zero=f'{ms // 1000} s')} ago"


def instance_rows(
    instances: list[dict], tz: str, now: int, *, answering=None
) -> list[tuple[str, str, str]]:
    """A Health row per console process on this database (``storage.instances``), with what
    it last said of itself (a sidecar: the database as it sees it, its spool).
    ``answering(instance)``: whether it answers now (None: unknown, e.g. on another host); a
    sidecar of this host that does not is shown DOWN at once, not only once unseen."""
    from dashboard.format import when

    rows = []
    for i in instances:
        state = {"running": "ok", "gone": "GONE", "stopped": "stopped"}[i["state"]]
        reachable = answering(i) if answering and i["state"] == "running" else None
        if reachable is False:
            state = "DOWN"
        where = f"{i['host']}:{i['port']}" if i["port"] else i["host"]
        parts = [f"pid {i['pid']}, version {i['version']}, since {when(i['started_at'], tz)}"]
        if i["stopped_at"]:
            parts.append(f"stopped {ago(now - i['stopped_at'])}")
        else:
            parts.append(f"last heartbeat {ago(now - i['last_seen_at'])}")
        if reachable is False:
            parts.append("not answering on its port now")
        status = i.get("status") or {}
        if i["state"] == "running" and status:
            database = status.get("database")
            if database:
                parts.append(f"database as it sees it: {database}")
            spool = status.get("spool")
            if spool:
                waiting = spool.get("depth") or 0
                parts.append(
                    f"spool: {waiting} waiting"
                    + (f", the oldest for {spool['oldest_age_s']:g} s" if waiting else "")
                    + (f", {spool['failed']} set aside" if spool.get("failed") else "")
                )
                if waiting and state == "ok":
                    state = "PROBLEM"
            mail = status.get("answer_mail")
            if mail:
                if mail.get("error"):
                    since = mail.get("failing_since") or now
                    parts.append(f"answer mailbox failing for {ago(now - since)}: {mail['error']}")
                    state = "PROBLEM" if state == "ok" else state
                elif mail.get("reading") and mail.get("last_pass_at"):
                    parts.append(
                        f"reads the answer mailbox (last pass {ago(now - mail['last_pass_at'])})"
                    )
                else:
                    parts.append("answer mailbox: another instance reads it")
        rows.append((f"{i['part'].capitalize()} on {where}", state, "; ".join(parts)))
    return rows


def answers_here(instance: dict) -> bool | None:
    """Whether a sidecar of this host answers its ``/healthz`` (None: not a sidecar of this
    host, nothing to ask)."""
    import socket

    if instance["part"] != "sidecar" or not instance["port"]:
        return None
    if instance["host"] != socket.gethostname():
        return None
    try:
        httpx.get(f"http://127.0.0.1:{instance['port']}/healthz", timeout=1.5)
    except httpx.HTTPError:
        return False
    return True


def answer_mail_rows(label: str | None, summary: dict, tz: str, now: int) -> list[tuple]:
    """The Health row of answering by e-mail: which mailbox, what the last day's replies came
    to, and the confirmations that wait or were given up."""
    from dashboard.format import when

    if label is None:
        return [("Answers by e-mail", "off", "no OFFLOAD_CONSOLE_ANSWER_MAILBOX")]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(summary["outcomes"].items()))
    parts = [
        f"reading {label}",
        f"last message {when(summary['newest'], tz)} ({ago(now - summary['newest'])})"
        if summary["newest"]
        else "no message read yet",
        f"last 24 h: {counts or 'none'}",
        f"{summary['waiting']} confirmations waiting",
    ]
    problem = summary["failed"] or (summary["waiting"] and summary["last_error"])
    if summary["failed"]:
        parts.append(f"{summary['failed']} confirmations given up")
    if summary["last_error"] and problem:
        parts.append(f"last error: {summary['last_error']}")
    return [("Answers by e-mail", "PROBLEM" if problem else "ok", " · ".join(parts))]


def notification_rows(targets: list[dict], tz: str, now: int) -> list[tuple[str, str, str]]:
    """A Health row per notification target: last success, last error, how many wait."""
    from dashboard.format import duration, when

    if not targets:
        return [("Notifications", "off", "no OFFLOAD_CONSOLE_NOTIFY_URLS: nobody is told")]
    rows = []
    for target in targets:
        failing = (target["last_error_at"] or 0) > (target["last_success_at"] or 0)
        parts = [
            f"last sent {when(target['last_success_at'], tz)}"
            if target["last_success_at"]
            else "nothing sent yet",
            f"{target['queued']} waiting",
        ]
        if target["last_error_at"]:
            parts.append(f"last error {ago(now - target['last_error_at'])}: {target['last_error']}")
        if failing and target.get("retry_at"):
            parts.append(
                f"{target['failures']} failures in a row; tried again "
                + (
                    f"in {duration(target['retry_at'] - now)}"
                    if target["retry_at"] > now
                    else "now"
                )
            )
        if target.get("role") == "escalate":
            parts.append("escalation: overdue questions only")
        rows.append(
            (f"Notify {target['label']}", "PROBLEM" if failing else "ok", " · ".join(parts))
        )
    return rows


def trouble(targets: list[dict], known_targets: int, now: int) -> list[str]:
    """What every page says at its top while notifications are in trouble (empty: none):
    an active target that is failing, or no active target although some were configured
    before (the running sidecar was started without the URLs). ``targets``: the active
    ones (``storage.notifications.target_health``); ``known_targets``: every target ever
    recorded."""

    lines = []
    for target in targets:
        if not target.get("failures"):
            continue
        since = target["last_error_at"] or now
        lines.append(
            f"Notifications to {target['label']} are failing ({target['failures']} tries in a "
            f"row, the last {ago(now - since)}: {target['last_error']}); "
            f"{target['queued']} waiting. Check the receiver or the URL in "
            "OFFLOAD_CONSOLE_NOTIFY_URLS; it is tried again at least every 15 s and everything "
            "waiting goes once it accepts a message."
        )
    if not targets and known_targets:
        lines.append(
            "Notifications are off: the running sidecar has no OFFLOAD_CONSOLE_NOTIFY_URLS, "
            f"though {known_targets} target{'s were' if known_targets != 1 else ' was'} "
            "configured before, so nobody is told of new or overdue questions. Restart the "
            "sidecar (or `offload-console up`) with the URLs set; questions waiting meanwhile "
            "are then named in one message."
        )
    return lines


def waiting_to_be_stored(instances: list[dict], now: int) -> list[str]:
    """What every page says while a running sidecar holds webhooks in its local spool (the
    database could not take them): how many, since when; they are stored once it can."""
    from dashboard.format import duration

    lines = []
    for i in instances:
        spool = (i.get("status") or {}).get("spool") or {}
        if i["state"] != "running" or not spool.get("depth"):
            continue
        age = spool.get("oldest_age_s")
        lines.append(
            f"{spool['depth']} webhooks wait in the spool of the sidecar on {i['host']}:"
            f"{i['port']} to be stored"
            + (
                f" (the oldest for {duration(int(age * 1000), zero=f'{int(age)} s')})"
                if age
                else ""
            )
            + ": the database could not take them. They are stored as soon as it does; "
            "questions and results among them show up then."
        )
    return lines


def answer_window_row() -> tuple[str, str, str]:
    window = settings.answer_within_ms()
    return ("Answer window", "", f"questions are due {window // 60_000} min after they are asked")


def setting_rows() -> list[tuple[str, str, str]]:
    """A row for each variable holding what it cannot (its default is used instead): the CLI
    refuses to start with one, but ``streamlit run`` does not ask it."""
    return [
        ("Setting", "PROBLEM", f"{p}; its default is used") for p in settings.current().problems
    ]


def check_sidecar() -> tuple[bool, str]:
    url = f"http://127.0.0.1:{settings.sidecar_port()}/healthz"
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as exc:
        return False, f"{url} did not answer ({type(exc).__name__})"
    try:
        body = response.json()
    except ValueError:
        body = None
    ok, text = sidecar_summary(response.status_code, body)
    return ok, text if ok else f"{url} {text}"


def check_offload() -> tuple[bool, str]:
    """Ask for a case that cannot exist: 404 CASE_NOT_FOUND proves Offload is reachable and
    the key accepted, without touching a real case."""
    try:
        with settings.offload_client(
            get_attempts=1, timeout=httpx.Timeout(3.0, connect=2.0)
        ) as probe:
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
