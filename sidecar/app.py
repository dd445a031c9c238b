"""The sidecar's ASGI app (Starlette): ``POST /webhooks/offload[/<token>]`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import storage
from sidecar.writer import DatabaseBusy, GroupCommitWriter
from storage.deliveries import health_summary
from storage.events import InvalidEvent, parse_envelope

log = logging.getLogger("offload_console.sidecar")

MAX_BODY = 1024 * 1024
BODY_TIMEOUT_S = 10.0
RETRY_AFTER_S = "2"
WEBHOOK_PATH = "/webhooks/offload"


class _Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _read_body(request: Request) -> bytes:
    """Read at most MAX_BODY bytes, refusing early on Content-Length and timing out slow bodies."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _Refused(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY:
            raise _Refused(413, f"body of {declared} bytes is over the 1 MiB limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    raise _Refused(413, "body is over the 1 MiB limit")
                chunks.append(chunk)
    except TimeoutError:
        raise _Refused(408, "the body did not arrive in time") from None
    return b"".join(chunks)


def _decode(body: bytes):
    if not body.strip():
        raise _Refused(400, "empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "body is not UTF-8") from None
    try:
        return json.loads(text), text
    except RecursionError:
        raise _Refused(400, "JSON nested too deeply") from None
    except ValueError as exc:
        raise _Refused(400, f"body is not JSON: {exc.msg} at position {exc.pos}") from None


def create_app(
    db_path: str,
    *,
    token: str | None = None,
    busy_timeout_ms: int | None = None,
    bench_noop: bool = False,
    on_startup=None,
    on_shutdown=None,
) -> Starlette:
    """Build the sidecar. With ``token`` the webhook lives at ``/webhooks/offload/<token>`` and
    every other webhook path is a 404. ``bench_noop`` adds ``POST /bench/noop`` (benchmarks)."""
    writer = GroupCommitWriter(db_path, busy_timeout_ms=busy_timeout_ms)
    read_db_holder: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        writer.start()
        read_db_holder["db"] = storage.open_db(db_path, check_same_thread=False)
        if on_startup:
            await on_startup(app)
        try:
            yield
        finally:
            if on_shutdown:
                await on_shutdown(app)
            writer.stop()
            read_db_holder["db"].conn.close()

    def refuse(request: Request, started: float, status: int, reason: str, body: bytes, size=None):
        writer.note_rejection(
            received_at=storage.now_ms(),
            remote_addr=request.client.host if request.client else None,
            status_code=status,
            reason=reason,
            body=body,
            body_size=size,
        )
        log.info(
            "delivery refused status=%d reason=%r ms=%.1f",
            status,
            reason[:120],
            (time.perf_counter() - started) * 1000,
        )
        headers = {"Connection": "close"} if status in (408, 413) else None
        return JSONResponse(
            {"ok": False, "error": {"code": "REFUSED", "message": reason}},
            status_code=status,
            headers=headers,
        )

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        if token is not None and not hmac.compare_digest(
            request.path_params.get("token", "").encode(), token.encode()
        ):
            return JSONResponse({"ok": False, "error": {"code": "NOT_FOUND"}}, status_code=404)
        body = b""
        writer.arriving()
        try:
            body = await _read_body(request)
            obj, text = _decode(body)
            try:
                event = parse_envelope(obj, text)
            except InvalidEvent as exc:
                raise _Refused(422, str(exc)) from None
        except _Refused as refused:
            size = (
                int(request.headers["content-length"])
                if refused.status == 413 and request.headers.get("content-length", "").isdigit()
                else None
            )
            return refuse(request, started, refused.status, refused.reason, body, size)
        except ClientDisconnect:
            return Response(status_code=400)
        finally:
            writer.arrived()
        try:
            new = await writer.store_event(event, storage.now_ms())
        except DatabaseBusy as exc:
            log.warning(
                "delivery not stored event_id=%s type=%s outcome=busy ms=%.1f error=%s",
                event.event_id,
                event.event_type,
                (time.perf_counter() - started) * 1000,
                exc,
            )
            return JSONResponse(
                {"ok": False, "error": {"code": "BUSY", "message": "database busy, retry"}},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER_S},
            )
        outcome = "stored" if new else "duplicate"
        log.info(
            "delivery event_id=%s type=%s case=%s outcome=%s ms=%.1f",
            event.event_id,
            event.event_type,
            event.case_id,
            outcome,
            (time.perf_counter() - started) * 1000,
        )
        return JSONResponse({"ok": True, "data": {"event_id": event.event_id, "outcome": outcome}})

    async def healthz(request: Request) -> Response:
        try:
            summary = health_summary(read_db_holder["db"])
            status = {"ok": True, "database": "ok", **summary}
            code = 200
        except Exception as exc:  # noqa: BLE001 - health must answer, not crash
            status = {"ok": False, "database": f"error: {type(exc).__name__}"}
            code = 503
        status["writer"] = {"batches": writer.batches, "deliveries": writer.jobs}
        return JSONResponse(status, status_code=code)

    async def noop(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    webhook_path = f"{WEBHOOK_PATH}/{{token}}" if token else WEBHOOK_PATH
    routes = [
        Route(webhook_path, webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if bench_noop:
        routes.append(Route("/bench/noop", noop, methods=["POST"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.writer = writer
    return app
