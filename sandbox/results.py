"""An example value that satisfies a JSON Schema: the sandbox's results, and the dashboard's
"what will come back" preview."""

from __future__ import annotations

import datetime
from typing import Any


def example_for_schema(schema: Any, name: str = "value", depth: int = 0) -> Any:
    """A plausible value for ``schema``: required fields present, types right."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {key: example_for_schema(sub, key, depth + 1) for key, sub in properties.items()}
    if kind == "array":
        item = example_for_schema(schema.get("items", {"type": "string"}), name, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1) or 1))
    if kind == "boolean":
        return True
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1) or 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5) or 1.5)
    if kind == "null":
        return None
    return _example_string(schema, name)


def _example_string(schema: dict, name: str) -> str:
    fmt = schema.get("format")
    lowered = name.lower()
    if fmt == "date" or lowered.endswith("date"):
        return datetime.date(2026, 4, 4).isoformat()
    if fmt == "date-time":
        return "2026-04-04T12:00:00Z"
    if fmt in ("uri", "url") or lowered.endswith("url"):
        return f"https://files.example.com/{name}.pdf"
    if fmt == "email" or "email" in lowered:
        return "someone@example.com"
    if "taxid" in lowered or lowered == "tin":
        return "12-3456789"
    text = f"example {name}"
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(text) < min_length:
        text = text + "x" * (min_length - len(text))
    return text
