"""The sandbox's HTTP API: Offload's routes, envelopes and error codes."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.engine import PDF, Engine, now_ms
from sandbox.validation import validate_create


def ok(data: dict, status: int = 200) -> JSONResponse:
    return JSONResponse({"ok": True, "data": data}, status_code=status)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": {"code": code, "message": message}}, status_code=status
    )


def create_app(
    api_key: str,
    hour_seconds: float = 1.0,
    drop_webhooks: float = 0.0,
    seed: int | None = None,
    state_file: str | None = None,
    answer_delay_s: float = 0.0,
) -> Starlette:
    """``answer_delay_s``: how long ``POST /cases/{id}/input`` takes before it is handled (a
    slow Offload, for tests of what operators do meanwhile)."""
    engine = Engine(
        hour_seconds=hour_seconds, drop_webhooks=drop_webhooks, seed=seed, state_file=state_file
    )

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.get_running_loop().create_task(engine.run())
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def authorized(request: Request) -> bool:
        given = request.headers.get("x-api-key", "")
        return bool(given) and hmac.compare_digest(given.encode(), api_key.encode())

    def unauthorized() -> JSONResponse:
        return error(401, "UNAUTHORIZED", "Missing or invalid x-api-key header.")

    async def json_body(request: Request):
        try:
            return json.loads(await request.body())
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    def find(case_id: str):
        return engine.cases.get(case_id)

    def not_found(case_id: str) -> JSONResponse:
        return error(404, "CASE_NOT_FOUND", f"Case {case_id} was not found.")

    async def create_case(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        body = await json_body(request)
        if body is None:
            return error(400, "INVALID_REQUEST", "Malformed JSON body.")
        problems = validate_create(body)
        if problems:
            return error(400, "INVALID_REQUEST", "; ".join(problems))
        case = engine.create(body)
        return ok({"caseId": case.case_id})

    async def get_case(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        case = find(request.path_params["case_id"])
        if case is None:
            return not_found(request.path_params["case_id"])
        include = request.query_params.get("includeTranscript") == "true"
        return ok(case.to_data(include_transcript=include))

    async def get_attachment(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        case = find(request.path_params["case_id"])
        if case is None:
            return not_found(request.path_params["case_id"])
        wanted = request.path_params["attachment_id"]
        attachment = next((a for a in case.attachments if a["attachmentId"] == wanted), None)
        if attachment is None:
            return error(404, "ATTACHMENT_NOT_FOUND", f"Attachment {wanted} was not found.")
        token, expires_at = engine.new_download_link(case, wanted)
        base = str(request.base_url).rstrip("/")
        return ok({**attachment, "downloadUrl": f"{base}/files/{token}", "expiresAt": expires_at})

    async def download(request: Request) -> Response:
        entry = engine.download_tokens.get(request.path_params["token"])
        if entry is None or entry[2] < now_ms():
            return Response("link expired or unknown", status_code=404, media_type="text/plain")
        return Response(
            PDF,
            media_type="application/pdf",
            headers={"content-disposition": 'attachment; filename="W-9 signed.pdf"'},
        )

    async def provide_input(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        engine.input_posts += 1
        body = await json_body(request)
        if answer_delay_s:
            await asyncio.sleep(answer_delay_s)
        response = _provide_input(request.path_params["case_id"], body)
        received = body if isinstance(body, dict) else {}
        engine.answers_received.append(
            {
                "caseId": request.path_params["case_id"],
                "inputRequestId": received.get("inputRequestId"),
                "providedContext": received.get("providedContext"),
                "status": response.status_code,
            }
        )
        return response

    def _provide_input(case_id: str, body) -> Response:
        case = find(case_id)
        if case is None:
            return not_found(case_id)
        if not isinstance(body, dict):
            return error(400, "INVALID_REQUEST", "Malformed JSON body.")
        request_id = body.get("inputRequestId")
        context = body.get("providedContext")
        if not isinstance(request_id, str) or not request_id.strip():
            return error(400, "INVALID_REQUEST", "inputRequestId: required non-empty string")
        if not isinstance(context, str) or not context.strip():
            return error(400, "INVALID_REQUEST", "providedContext: required non-empty string")
        request_id, context = request_id.strip(), context.strip()
        if case.status != "INPUT_NEEDED":
            return error(
                409, "CASE_NOT_WAITING_FOR_INPUT", f"Case is {case.status}, not waiting for input."
            )
        active = case.input_request
        if active is None or active["id"] != request_id:
            return error(
                409,
                "INPUT_REQUEST_MISMATCH",
                "inputRequestId does not match the case's active input request.",
            )
        if active["status"] != "PENDING":
            return error(
                409, "INPUT_REQUEST_NOT_PENDING", "The input request is no longer pending."
            )
        engine.provide_input(case, context)
        return ok({"caseId": case.case_id, "inputRequestId": request_id, "accepted": True}, 202)

    async def answers(request: Request) -> Response:
        """Not Offload's API: every answer the sandbox was sent, for tests and curious users."""
        if not authorized(request):
            return unauthorized()
        return JSONResponse({"ok": True, "data": engine.answers_received})

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "cases": len(engine.cases),
                "input_posts": engine.input_posts,
                "webhooks": {
                    "sent": engine.webhooks_sent,
                    "dropped": engine.webhooks_dropped,
                    "failed": engine.webhooks_failed,
                },
            }
        )

    routes = [
        Route("/cases", create_case, methods=["POST"]),
        Route("/cases/{case_id}", get_case, methods=["GET"]),
        Route("/cases/{case_id}/attachments/{attachment_id}", get_attachment, methods=["GET"]),
        Route("/cases/{case_id}/input", provide_input, methods=["POST"]),
        Route("/files/{token}", download, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/_sandbox/answers", answers, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    return app


def run(app, host: str, port: int, *, log_level: str = "info", use_uvloop: bool = True) -> None:
    """Serve the sandbox with uvicorn until SIGINT/SIGTERM."""
    import uvicorn

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="auto" if use_uvloop else "asyncio",
        access_log=False,
        log_level=log_level,
        server_header=False,
    )
