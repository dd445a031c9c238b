"""The ``offload-console`` command."""

from __future__ import annotations

import argparse
import sys

from offload_console import __version__, settings


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        help="SQLite file (default: $OFFLOAD_CONSOLE_DB or ./data/offload-console.db)",
    )


def cmd_sidecar(args: argparse.Namespace) -> int:
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
    path = "/webhooks/offload/<token>" if token else "/webhooks/offload"
    print(
        f"sidecar: receiving Offload webhooks at http://{args.host}:{args.port}{path}"
        f" (health: /healthz), database {db_path}",
        flush=True,
    )
    serve(create_app(db_path, token=token), args.host, args.port, log_level=args.log_level)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    print(
        "up: for now this starts the webhook sidecar alone; the sandbox, reconciler and "
        "dashboard join it as they land.",
        flush=True,
    )
    return cmd_sidecar(args)


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

    for name, func, help, example in (
        ("up", cmd_up, "Start everything the console needs.", "offload-console up"),
        (
            "sidecar",
            cmd_sidecar,
            "Receive Offload's webhooks and store them durably (set OFFLOAD_WEBHOOK_TOKEN "
            "before listening beyond loopback).",
            "OFFLOAD_WEBHOOK_TOKEN=$(openssl rand -hex 24) offload-console sidecar --port 8787",
        ),
    ):
        p = add(name, func, help, example)
        p.add_argument("--host", default=settings.DEFAULT_SIDECAR_HOST, help="address to bind")
        p.add_argument("--port", type=int, default=settings.DEFAULT_SIDECAR_PORT, help="port")
        p.add_argument("--log-level", default="info", help="debug, info, warning or error")
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
