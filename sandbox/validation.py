"""``POST /cases`` body validation, as Offload documents it (400 INVALID_REQUEST)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_create(body: Any) -> list[str]:
    """Every problem with a create-case body, as ``field: message`` strings."""
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    problems: list[str] = []
    if body.get("channel") not in ("EMAIL", "SMS"):
        problems.append("channel: must be EMAIL or SMS")
    goal = body.get("goal")
    if not isinstance(goal, dict):
        problems.append("goal: required object")
    else:
        if not _nonempty_str(goal.get("objective")):
            problems.append("goal.objective: required non-empty string")
        if "knowledge" in goal and not isinstance(goal["knowledge"], str | dict):
            problems.append("goal.knowledge: must be a string or an object")
    counterparty = body.get("counterparty")
    if not isinstance(counterparty, dict):
        problems.append("counterparty: required object")
    else:
        for key in ("address", "name"):
            if not _nonempty_str(counterparty.get(key)):
                problems.append(f"counterparty.{key}: required non-empty string")
        for key in ("company", "timezone"):
            if key in counterparty and not isinstance(counterparty[key], str):
                problems.append(f"counterparty.{key}: must be a string")
        custom = counterparty.get("customData")
        if custom is not None and not (
            isinstance(custom, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in custom.items())
        ):
            problems.append("counterparty.customData: must map strings to strings")
    persona = body.get("senderPersona")
    if not isinstance(persona, dict):
        problems.append("senderPersona: required object")
    else:
        if not _nonempty_str(persona.get("name")):
            problems.append("senderPersona.name: required non-empty string")
        for key in ("role", "company", "tone"):
            if key in persona and not isinstance(persona[key], str):
                problems.append(f"senderPersona.{key}: must be a string")
    if "clientReferenceId" in body and not isinstance(body["clientReferenceId"], str):
        problems.append("clientReferenceId: must be a string")
    constraints = body.get("constraints")
    if constraints is not None and not (
        isinstance(constraints, list) and all(isinstance(c, str) for c in constraints)
    ):
        problems.append("constraints: must be an array of strings")
    if "maxAttempts" in body and not (_is_int(body["maxAttempts"]) and body["maxAttempts"] >= 0):
        problems.append("maxAttempts: must be a non-negative integer")
    if "followUpDelayHours" in body and not (
        _is_int(body["followUpDelayHours"]) and body["followUpDelayHours"] > 0
    ):
        problems.append("followUpDelayHours: must be a positive integer")
    if "resultSchema" in body and not isinstance(body["resultSchema"], dict):
        problems.append("resultSchema: must be an object")
    if "metadata" in body and not isinstance(body["metadata"], dict):
        problems.append("metadata: must be an object")
    if "clientWebhookUrl" in body:
        url = body["clientWebhookUrl"]
        parsed = urlparse(url) if isinstance(url, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append("clientWebhookUrl: must be a valid URL")
    return problems
