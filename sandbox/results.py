"""What the sandbox's counterparty "supplied": a result shaped by the case's resultSchema.

The sandbox stands in for Offload, so it builds results its own way (the console's schema
helpers are the console's): every declared property gets a value of its declared type that
reads like a vendor's answer, and a free-text field about notes or answers carries the last
answer the customer gave.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 8
KNOWN_FACTS = {  # what the scripted vendor tells the agent, by field-name hint
    "taxid": "12-3456789",
    "tin": "12-3456789",
    "email": "ap@vendor.example",
    "url": "https://files.example.com/w9-signed.pdf",
    "date": "2026-04-04",
}
ANSWER_HINTS = ("note", "comment", "context", "answer")


def result_for(schema: Any, answers: list[str]) -> Any:
    """A result for ``schema`` (``{"summary": ...}`` when there is no usable schema)."""
    if not isinstance(schema, dict):
        return {"summary": "Goal achieved."}
    value = _value(schema, "result", answers, 0)
    return {"summary": "Goal achieved."} if value is None else value


def _value(schema: Any, name: str, answers: list[str], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    choices = schema.get("enum")
    if isinstance(choices, list) and choices:
        return choices[0]
    kind = schema.get("type")
    if isinstance(kind, list):  # the first type that is not null
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        kind = "object" if isinstance(schema.get("properties"), dict) else "string"
    make = _MAKERS.get(kind)
    return make(schema, name, answers, depth) if make else None


def _object(schema: dict, name: str, answers: list[str], depth: int) -> dict:
    fields = schema.get("properties")
    if not isinstance(fields, dict):
        return {}
    return {key: _value(sub, key, answers, depth + 1) for key, sub in fields.items()}


def _array(schema: dict, name: str, answers: list[str], depth: int) -> list:
    count = schema.get("minItems")
    count = count if isinstance(count, int) and count > 0 else 1
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
    return [_value(items, name, answers, depth + 1) for _ in range(count)]


def _number(schema: dict, name: str, answers: list[str], depth: int) -> float | int:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    value = 2 if not isinstance(low, int | float) else low + 1
    return int(value) if schema.get("type") == "integer" else float(value)


def _string(schema: dict, name: str, answers: list[str], depth: int) -> str:
    lowered = name.lower()
    fmt = schema.get("format")
    if answers and any(hint in lowered for hint in ANSWER_HINTS):
        text = answers[-1]
    elif fmt == "date-time":
        text = "2026-04-04T12:00:00Z"
    elif fmt in ("date", "email", "uri", "url"):
        text = KNOWN_FACTS["url" if fmt == "uri" else fmt]
    else:
        hint = next((key for key in KNOWN_FACTS if lowered.endswith(key)), None)
        text = KNOWN_FACTS[hint] if hint else f"{name} as the vendor gave it"
    shortest = schema.get("minLength")
    if isinstance(shortest, int) and len(text) < shortest:
        text += "." * (shortest - len(text))
    return text


_MAKERS = {
    "object": _object,
    "array": _array,
    "number": _number,
    "integer": _number,
    "boolean": lambda schema, name, answers, depth: True,
    "null": lambda schema, name, answers, depth: None,
    "string": _string,
}
