"""What a webhook body must be: UTF-8 JSON holding an Offload event envelope."""

from __future__ import annotations

import json

from offload_client.text import may_hold_surrogates, storable
from storage.events import Event, InvalidEvent, parse_envelope


class Refused(Exception):
    """A delivery the sidecar answers with a 4xx; ``reason`` says why in plain words.
    ``body_size`` is the declared size of a body refused unread."""

    def __init__(self, status: int, reason: str, body_size: int | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body_size = body_size


def parse_delivery(body: bytes) -> Event:
    """The event in ``body``; :class:`Refused` (400 or 422) if there is none."""
    if not body.strip():
        raise Refused(400, "empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    try:
        obj = json.loads(text)
    except RecursionError:
        raise Refused(400, "JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise Refused(400, f"body is not JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits, for one
        raise Refused(400, f"body is not JSON Python can read: {str(exc)[:200]}") from None
    replaced = False
    if may_hold_surrogates(text):
        try:
            obj, replaced = storable(obj)
        except RecursionError:
            raise Refused(400, "JSON nested too deeply") from None
    if replaced:  # stored as it can be: each lone surrogate as U+FFFD, payload included
        text = json.dumps(obj, ensure_ascii=False)
    try:
        return parse_envelope(obj, text)
    except InvalidEvent as exc:
        raise Refused(422, str(exc)) from None
