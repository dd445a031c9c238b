"""The ``offload-console`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offload_console import __version__, settings


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only when there is one to show and the help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file (default: $OFFLOAD_CONSOLE_DB or ./data/offload-console.db)",
    )


def cmd_sidecar(args: argparse.Namespace) -> int:
    import asyncio

    import storage
    from offload_console.redact import RedactingFilter
    from reconciler.loop import reconcile_forever
    from sidecar.app import create_app
    from sidecar.server import RefuseToStart, check_bind, serve
    from storage import db_path_from_env

    token = settings.webhook_token()
    try:
        check_bind(args.host, token)
    except RefuseToStart as exc:
        print(f"offload-console sidecar: {exc}", file=sys.stderr)
        return 2
    db_path = db_path_from_env(args.db)
    try:  # migrations here, and a plain message instead of the store process's traceback
        storage.open_db(db_path).conn.close()
    except (OSError, storage.StorageError) as exc:
        print(
            f"offload-console sidecar: cannot open the database {db_path}: {exc}", file=sys.stderr
        )
        return 2
    every = settings.reconcile_every_s() if args.reconcile_every is None else args.reconcile_every
    background: list[asyncio.Task] = []

    async def on_startup(app):
        if every > 0:
            background.append(asyncio.create_task(reconcile_forever(db_path, every)))

    async def on_shutdown(app):
        for task in background:
            task.cancel()

    path = "/webhooks/offload/<token>" if token else "/webhooks/offload"
    print(
        f"sidecar: receiving Offload webhooks at http://{args.host}:{args.port}{path}"
        f" (health: /healthz), database {db_path}; reconciler "
        + (f"every {every:g} s" if every > 0 else "off"),
        flush=True,
    )
    app = create_app(
        db_path,
        token=token,
        busy_timeout_ms=settings.busy_timeout_ms(),
        body_timeout_s=settings.request_timeout_s(),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    serve(
        app,
        args.host,
        args.port,
        log_level=args.log_level,
        request_timeout_s=settings.request_timeout_s(),
        use_uvloop=settings.use_uvloop(),
        log_filter=RedactingFilter(),
    )
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.app import create_app
    from sidecar.server import serve

    print(
        f"sandbox: Offload's API at http://{args.host}:{args.port} "
        f"(x-api-key from --api-key or OFFLOAD_API_KEY; one hour = {args.hour_seconds:g} s; "
        f"dropping {args.drop_webhooks:.0%} of webhooks)",
        flush=True,
    )
    app = create_app(
        args.api_key,
        hour_seconds=args.hour_seconds,
        drop_webhooks=args.drop_webhooks,
        state_file=args.state or None,
    )
    serve(app, args.host, args.port, log_level=args.log_level)
    return 0


def _open(args):
    import storage

    return storage.open_db(getattr(args, "db", None))


def _adopt_running_up(args) -> None:
    """Talk to the sandbox and sidecar of an `up` running for this database (sandbox mode)."""
    from storage import db_path_from_env

    settings.adopt_running_up(str(Path(db_path_from_env(getattr(args, "db", None))).resolve()))


def cmd_create(args: argparse.Namespace) -> int:
    import json

    from offload_client import client_from_env
    from offload_console.outbox import submit_case

    _adopt_running_up(args)

    try:
        with open(args.case_file, encoding="utf-8") if args.case_file != "-" else sys.stdin as f:
            body = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"offload-console create: cannot read {args.case_file}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(body, dict):
        print("offload-console create: the case file must hold a JSON object", file=sys.stderr)
        return 2
    if args.scenario:
        body.setdefault("metadata", {})["sandboxScenario"] = args.scenario
    db = _open(args)
    with client_from_env() as client:
        result = submit_case(db, client, body, actor=settings.operator_name())
    if result.status == "SENT":
        print(result.case_id)
        return 0
    print(
        f"offload-console create: submission {result.submission_id} {result.status}: "
        f"{result.message}",
        file=sys.stderr,
    )
    return 1


def cmd_sync(args: argparse.Namespace) -> int:
    from offload_client import client_from_env
    from reconciler import sync

    _adopt_running_up(args)
    db = _open(args)
    with client_from_env() as client:
        report = sync(db, client, concurrency=args.concurrency)
    print(report.summary())
    for error in report.errors[:10]:
        print(f"  {error}", file=sys.stderr)
    return 0 if not report.errors else 1


def cmd_export(args: argparse.Namespace) -> int:
    from offload_console.export import date_range_ms, parse_day, record_export, write_csv
    from storage.export import ExportFilter

    try:
        since, until = date_range_ms(
            parse_day(args.since) if args.since else None,
            parse_day(args.until) if args.until else None,
        )
        done_since, done_until = date_range_ms(
            parse_day(args.completed_since) if args.completed_since else None,
            parse_day(args.completed_until) if args.completed_until else None,
        )
    except ValueError as exc:
        print(f"offload-console export: dates are YYYY-MM-DD ({exc})", file=sys.stderr)
        return 2
    flt = ExportFilter(
        statuses=[s.upper() for s in args.status or []],
        created_since_ms=since,
        created_until_ms=until,
        completed_since_ms=done_since,
        completed_until_ms=done_until,
        result_statuses=args.result_status or [],
        objective=args.objective or "",
        client_reference=args.reference or "",
    )
    db = _open(args)
    if args.out in (None, "-"):
        rows = write_csv(db, flt, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        with open(args.out, "wb") as out:
            rows = write_csv(db, flt, out)
    record_export(db, settings.operator_name(), flt, rows, via="cli")
    print(f"exported {rows} cases", file=sys.stderr)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from offload_console.supervisor import run_up

    return run_up(args)


def cmd_dashboard(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from offload_console.accounts import allowed_emails, read_secrets_file, sign_in_setup
    from offload_console.settings import is_loopback
    from offload_console.supervisor import dashboard_command

    if not is_loopback(args.host):
        secrets = read_secrets_file()
        setup = sign_in_setup(_open(args), secrets)
        if not setup.protected or (setup.oidc and not allowed_emails(secrets)):
            print(
                f"offload-console dashboard: refusing to listen on {args.host} without "
                "sign-in. Either add operators (`offload-console operators add NAME`), or "
                "configure OIDC in .streamlit/secrets.toml ([auth]) together with an allow-list "
                "(OFFLOAD_CONSOLE_ALLOWED_EMAILS or [console] allowed_emails), then start it "
                "again. On 127.0.0.1 it runs without sign-in.",
                file=sys.stderr,
            )
            return 2
    if args.db:
        os.environ["OFFLOAD_CONSOLE_DB"] = str(Path(args.db).resolve())
    os.execvp(sys.executable, dashboard_command(args.port, args.host))
    return 0


def cmd_operators(args: argparse.Namespace) -> int:
    import getpass

    from offload_console.accounts import add_operator, delete_operator
    from storage.operators import list_operators

    db = _open(args)
    by = settings.operator_name()
    if args.action == "list":
        for row in list_operators(db):
            print(row["name"])
        return 0
    if not args.name:
        print("offload-console operators: give the operator's NAME", file=sys.stderr)
        return 2
    if args.action == "remove":
        if delete_operator(db, args.name, by):
            print(f"removed {args.name}")
            return 0
        print(f"offload-console operators: no operator named {args.name!r}", file=sys.stderr)
        return 1
    if sys.stdin.isatty() and not args.password_stdin:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("offload-console operators: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        new = add_operator(db, args.name, password, by)
    except ValueError as exc:
        print(f"offload-console operators: {exc}", file=sys.stderr)
        return 2
    print(f"{'added' if new else 'changed the password of'} {args.name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from offload_client import client_from_env
    from offload_console.demo import seed_demo_cases

    _adopt_running_up(args)
    db = _open(args)
    with client_from_env() as client:
        results = seed_demo_cases(db, client)
    for result in results:
        print(f"{result.status:8} {result.case_id or result.submission_id}")
    return 0 if all(r.status == "SENT" for r in results) else 1


def _sandbox_key() -> str:
    import os

    from offload_client import DEFAULT_SANDBOX_API_KEY

    return os.environ.get("OFFLOAD_API_KEY", "").strip() or DEFAULT_SANDBOX_API_KEY


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offload-console",
        description="Operator console for Offload.",
        formatter_class=_Formatter,
        epilog="Example:\n  offload-console up",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func, help: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=f"Example:\n  {example}",
            formatter_class=_Formatter,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        "up",
        cmd_up,
        "Start everything: the sidecar (with its reconciler), the dashboard and, when "
        "OFFLOAD_BASE_URL is unset, the local sandbox wired to both.",
        "offload-console up",
    )
    _add_db(p)
    p.add_argument(
        "--sidecar-port", type=int, default=settings.sidecar_port(), help="the sidecar's port"
    )
    p.add_argument(
        "--sandbox-port",
        type=int,
        default=settings.DEFAULT_SANDBOX_PORT,
        help="the sandbox's port (sandbox mode only)",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=settings.DEFAULT_DASHBOARD_PORT,
        help="the dashboard's port",
    )
    p.add_argument(
        "--hour-seconds",
        type=float,
        default=1.0,
        help="sandbox clock: real seconds per Offload hour",
    )
    p.add_argument(
        "--seed-demo",
        choices=["ask", "yes", "no"],
        default="ask",
        help="seed demo cases on a first start in sandbox mode",
    )

    p = add(
        "sidecar",
        cmd_sidecar,
        "Receive Offload's webhooks and store them durably; reconcile open cases from "
        "GET /cases/{id} every N seconds (set OFFLOAD_WEBHOOK_TOKEN before listening beyond "
        "loopback).",
        "OFFLOAD_WEBHOOK_TOKEN=$(openssl rand -hex 24) offload-console sidecar --port 8787",
    )
    p.add_argument("--host", default=settings.DEFAULT_SIDECAR_HOST, help="address to bind")
    p.add_argument("--port", type=int, default=settings.sidecar_port(), help="port")
    p.add_argument(
        "--reconcile-every",
        type=float,
        default=None,
        help="seconds between reconciler passes; 0 turns it off "
        "(default: $OFFLOAD_RECONCILE_EVERY_S or 30)",
    )
    p.add_argument("--log-level", default="info", help="debug, info, warning or error")
    _add_db(p)

    p = add(
        "sandbox",
        cmd_sandbox,
        "Run a local server that speaks Offload's API and sends real webhooks, with scripted "
        "counterparties (metadata.sandboxScenario: complete, input_needed, two_questions, "
        "max_retries, bounced, rejected).",
        "offload-console sandbox --port 8788 --hour-seconds 0.01 --drop-webhooks 0.3",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind")
    p.add_argument("--port", type=int, default=settings.DEFAULT_SANDBOX_PORT, help="port")
    p.add_argument("--api-key", default=_sandbox_key(), help="the x-api-key it accepts")
    p.add_argument(
        "--hour-seconds",
        type=float,
        default=1.0,
        help="real seconds per Offload hour (0.01 ends every scenario within 10 s)",
    )
    p.add_argument(
        "--drop-webhooks",
        type=float,
        default=0.0,
        help="fraction of webhooks silently not sent (0.0 to 1.0)",
    )
    p.add_argument(
        "--state",
        default="",
        help="JSON file that keeps the sandbox's cases across restarts (default: memory only; "
        "`up` uses sandbox-state.json beside the database)",
    )
    p.add_argument("--log-level", default="info", help="debug, info, warning or error")

    p = add(
        "create",
        cmd_create,
        "Send a case body (JSON, as POST /cases takes it) through the submission outbox and "
        "print its caseId.",
        "offload-console create examples/w9.json --scenario input_needed",
    )
    p.add_argument("case_file", help="JSON file with the case body, or - for stdin")
    p.add_argument("--scenario", help="sandbox only: sets metadata.sandboxScenario")
    _add_db(p)

    p = add(
        "sync",
        cmd_sync,
        "Poll GET /cases/{id} for every open case now and repair what webhooks missed.",
        "offload-console sync",
    )
    p.add_argument("--concurrency", type=int, default=8, help="GETs in flight at once")
    _add_db(p)

    p = add(
        "export",
        cmd_export,
        "Write cases as CSV (one column per result field; formulas neutralised), the same "
        "bytes as the dashboard's Export page for the same filters.",
        "offload-console export --status COMPLETED --since 2026-11-01 --out results.csv",
    )
    p.add_argument("--status", action="append", help="case status; repeat for several")
    p.add_argument("--since", help="created on or after this day (YYYY-MM-DD, UTC)")
    p.add_argument("--until", help="created on or before this day (YYYY-MM-DD, UTC)")
    p.add_argument("--completed-since", help="finished on or after this day (YYYY-MM-DD)")
    p.add_argument("--completed-until", help="finished on or before this day (YYYY-MM-DD)")
    p.add_argument("--result-status", action="append", help="e.g. goal_achieved; repeatable")
    p.add_argument("--objective", help="objective contains this text")
    p.add_argument("--reference", help="client reference contains this text")
    p.add_argument("--out", default="-", help="file to write, or - for standard output")
    _add_db(p)

    p = add(
        "dashboard",
        cmd_dashboard,
        "Run the Streamlit dashboard alone.",
        "offload-console dashboard --port 8501",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind")
    p.add_argument("--port", type=int, default=settings.DEFAULT_DASHBOARD_PORT, help="port")
    _add_db(p)

    p = add(
        "operators",
        cmd_operators,
        "Manage local operator accounts (the dashboard's sign-in when no OIDC is configured). "
        "Passwords are hashed with argon2id.",
        "offload-console operators add avery   # asks for the password twice",
    )
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (for scripts)",
    )
    _add_db(p)

    p = add(
        "demo",
        cmd_demo,
        "Create a handful of demo cases, one per sandbox scenario, through the real API path.",
        "offload-console demo",
    )
    _add_db(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
