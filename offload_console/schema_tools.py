"""JSON-Schema helpers: an example value satisfying a schema (the sandbox's results and the
New case page's preview), and the field table ⇄ schema conversion of the schema editor."""

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


# -- the schema editor's field table ----------------------------------------------------

FIELD_TYPES = ("string", "number", "integer", "boolean", "array", "object")
TABLE_COLUMNS = ("name", "type", "description", "required", "allowed values")
_TABLE_KEYS = {"type", "description", "enum"}


def table_from_schema(schema: dict | None) -> list[dict]:
    """One row per top-level property. Whatever a row cannot show (nested properties,
    formats, patterns, items) stays in the schema and is kept when the table is edited."""
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    rows = []
    for name, sub in properties.items():
        sub = sub if isinstance(sub, dict) else {}
        kind = sub.get("type") if sub.get("type") in FIELD_TYPES else "string"
        enum = sub.get("enum") if isinstance(sub.get("enum"), list) else []
        rows.append(
            {
                "name": name,
                "type": kind,
                "description": sub.get("description", "") or "",
                "required": name in required,
                "allowed values": ", ".join(map(str, enum)),
                "more in JSON": ", ".join(sorted(k for k in sub if k not in _TABLE_KEYS)),
            }
        )
    return rows


def schema_from_table(rows: list[dict], previous: dict | None = None) -> dict:
    """The JSON Schema the table describes, keeping each property's extra keys (and the
    schema's own extra keys) from ``previous``."""
    previous = previous if isinstance(previous, dict) else {}
    old_props = previous.get("properties") if isinstance(previous.get("properties"), dict) else {}
    schema = {k: v for k, v in previous.items() if k not in ("type", "properties", "required")}
    schema["type"] = "object"
    properties: dict[str, Any] = {}
    required = []
    for row in rows:
        name = str(row.get("name") or "").strip()
        if not name:
            continue
        kind = row.get("type") if row.get("type") in FIELD_TYPES else "string"
        old = old_props.get(name) if isinstance(old_props.get(name), dict) else {}
        prop = {k: v for k, v in old.items() if k not in _TABLE_KEYS}
        prop["type"] = kind
        description = str(row.get("description") or "").strip()
        if description:
            prop["description"] = description
        allowed = [v.strip() for v in str(row.get("allowed values") or "").split(",") if v.strip()]
        if allowed:
            prop["enum"] = [_typed(v, kind) for v in allowed]
        properties[name] = prop
        if row.get("required"):
            required.append(name)
    schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


def _typed(value: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.lower() in ("true", "yes", "1")
    return value


def schema_problems(schema: Any) -> list[str]:
    """Why ``schema`` is not a valid JSON Schema (checked against the meta-schema)."""
    import jsonschema

    if not isinstance(schema, dict):
        return ["the result schema must be a JSON object"]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path))
        return [f"{where or '(top)'}: {exc.message}"]
    return []
