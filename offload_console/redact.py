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
