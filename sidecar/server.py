"""Running the sidecar under uvicorn, with timeouts for idle and slow connections."""

from __future__ import annotations

import logging
import os

import uvicorn

from offload_console.redact import install_log_redaction
from offload_console.settings import is_loopback

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools is a dependency
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol

REQUEST_TIMEOUT_S = float(os.environ.get("OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S") or 10.0)


class TimedProtocol(_BaseProtocol):
    """uvicorn leaves a connection that never sends a request open forever, and a client that
    trickles its headers or its body too. Whenever the server is waiting on the client (from
    connecting, or from the last response, until a whole request has arrived) a timer runs;
    after ``REQUEST_TIMEOUT_S`` the connection is closed, with a 408 if a request had begun.
    Timing the body here rather than in the app keeps the per-request cost of every endpoint
    at one timer."""

    request_timeout = REQUEST_TIMEOUT_S

    def connection_made(self, transport):  # type: ignore[override]
        super().connection_made(transport)
        self._requests_in = 0
        self._responses_out = 0
        self._request_begun = False
        self._timer = self.loop.call_later(self.request_timeout, self._timed_out)

    def on_message_begin(self) -> None:
        self._request_begun = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._request_begun = False
        self._requests_in += 1
        self._rearm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._responses_out += 1
        super().on_response_complete()
        self._rearm()

    def connection_lost(self, exc):  # type: ignore[override]
        self._cancel_timer()
        super().connection_lost(exc)

    def _rearm(self) -> None:
        """Run the timer iff every request received has been answered (waiting on the client)."""
        self._cancel_timer()
        if self._requests_in == self._responses_out and not self.transport.is_closing():
            self._timer = self.loop.call_later(self.request_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._request_begun:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


_TIMEOUT_BODY = (
    b'{"ok":false,"error":{"code":"REFUSED","message":"the request did not arrive in time"}}'
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TIMEOUT_BODY)
    + _TIMEOUT_BODY
)


class RefuseToStart(SystemExit):
    pass


MIN_TOKEN_LENGTH = 32


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and len(token or "") < MIN_TOKEN_LENGTH:
        raise RefuseToStart(
            f"refusing to listen on {host} without a secret webhook path of at least "
            f"{MIN_TOKEN_LENGTH} characters: Offload cannot sign "
            "its webhooks, so on a reachable address the URL itself must be unguessable. Set "
            "OFFLOAD_WEBHOOK_TOKEN to a long random string (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`) and give Offload "
            "<public URL>/webhooks/offload/<token>."
        )


def serve(app, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve ``app`` until SIGINT/SIGTERM. The access log is off: it would print the token
    path. The app logs one line per delivery itself."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    install_log_redaction()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=TimedProtocol,
        loop="uvloop" if _has_uvloop() else "asyncio",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=5,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    config.load()  # configures uvicorn's loggers; mask secrets on their handlers too
    install_log_redaction()
    server.run()


def _has_uvloop() -> bool:
    if os.environ.get("OFFLOAD_CONSOLE_NO_UVLOOP"):
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
