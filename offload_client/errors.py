"""One exception tree for everything that can go wrong talking to Offload.

Messages never contain the API key: only the method, the path, the HTTP status and Offload's
own code and message.
"""

from __future__ import annotations

# What an operator should do next, by Offload's error code.
ADVICE = {
    "INVALID_REQUEST": "Fix the field Offload names and send again.",
    "UNAUTHORIZED": "Check OFFLOAD_API_KEY: it is missing or wrong.",
    "FORBIDDEN": "The API key is inactive, or the case belongs to another client.",
    "CASE_NOT_FOUND": "Check the case id; the case does not exist for this API key.",
    "ATTACHMENT_NOT_FOUND": "Refresh the case; the attachment is no longer listed.",
    "CASE_NOT_WAITING_FOR_INPUT": "The case has moved on; refresh it to see its new state.",
    "INPUT_REQUEST_NOT_PENDING": "This question was already answered; refresh to see the case.",
    "INPUT_REQUEST_MISMATCH": "Offload has asked a newer question; refresh and answer that one.",
    "INTERNAL_ERROR": "Offload failed; try again in a minute.",
    "RATE_LIMITED": "Offload is throttling requests; wait a moment and try again.",
}


class OffloadError(Exception):
    """Base of every client error."""

    status: int | None = None
    code: str | None = None

    @property
    def advice(self) -> str:
        return ADVICE.get(self.code or "", "Try again; if it keeps failing, check Health.")


class OffloadAPIError(OffloadError):
    """Offload answered with a non-2xx status (with or without its error envelope)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        method: str,
        path: str,
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(f"{method} {path}: HTTP {status} {code}: {message}")

    @property
    def ambiguous(self) -> bool:
        """A 5xx from a POST may or may not have been acted on."""
        return self.status >= 500


class OffloadConnectError(OffloadError):
    """Offload could not be reached at all: the request was certainly not received."""

    def __init__(self, method: str, path: str, detail: str):
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: could not reach Offload ({detail})")

    @property
    def advice(self) -> str:
        return "Check OFFLOAD_BASE_URL and the network (see Health), then try again."


class OffloadUnknownOutcome(OffloadError):
    """The request was sent but no answer came back (timeout, dropped connection): Offload
    may or may not have acted on it. Never resent automatically."""

    def __init__(self, method: str, path: str, detail: str):
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: no answer from Offload ({detail}); outcome unknown")

    @property
    def advice(self) -> str:
        return (
            "Do not resend blindly: refresh the case first (the console also repairs it "
            "from Offload's webhooks and polls)."
        )


class OffloadProtocolError(OffloadError):
    """A 2xx whose body is not the documented success envelope."""

    def __init__(self, method: str, path: str, status: int, detail: str):
        self.status = status
        super().__init__(f"{method} {path}: HTTP {status} but unexpected body ({detail})")
