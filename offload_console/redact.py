"""Keeping secrets out of what people see: the API key and the webhook token are replaced
wherever text is rendered or logged."""

from __future__ import annotations

import logging

from offload_console.settings import secret_values

MASK = "•••"


def redact(text: str) -> str:
    for secret in secret_values():
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every log record's message with the secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """On every handler of the root and uvicorn loggers (filters on loggers do not see
    records from child loggers; filters on handlers do)."""
    flt = RedactingFilter()
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)
