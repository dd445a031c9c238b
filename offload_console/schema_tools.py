"""JSON-Schema helpers: an example value satisfying a schema (the New case page's preview),
the flattened keys a schema declares (the export's columns), and the field table ⇄ schema
conversion of the schema editor."""

from __future__ import annotations

import copy
import datetime
import functools
import json
from typing import Any

EXAMPLE_BUDGET = 2_000  # values in one example, at most: outside schemas cannot make it big
EXAMPLE_MAX_ITEMS = 20
EXAMPLE_MAX_CHARS = 1_000


def example_for_schema(schema: Any, name: str = "value", depth: int = 0) -> Any:
    """A plausible value for ``schema``: required fields present, types right. Bounded
    whatever the schema says (schemas come from outside: "Duplicate this case"): at most
    EXAMPLE_MAX_ITEMS items an array, EXAMPLE_MAX_CHARS characters a string, EXAMPLE_BUDGET
    values in all; a keyword of the wrong type is ignored."""
    return _example(schema, name, depth, [EXAMPLE_BUDGET])


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value if abs(value) < 1e15 else default


def _example(schema: Any, name: str, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if not isinstance(schema, dict) or depth > 8 or budget[0] < 0:
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
        example = {}
        for key, sub in properties.items():
            if budget[0] <= 0:
                break
            example[key] = _example(sub, str(key), depth + 1, budget)
        return example
    if kind == "array":
        wanted = int(_number(schema.get("minItems"), 1))
        items = []
        for _ in range(max(1, min(wanted, EXAMPLE_MAX_ITEMS))):
            if budget[0] <= 0:
                break
            items.append(_example(schema.get("items", {"type": "string"}), name, depth + 1, budget))
        return items
    if kind == "boolean":
        return True
    if kind == "integer":
        return max(1, int(_number(schema.get("minimum"), 1)))
    if kind == "number":
        return float(_number(schema.get("minimum"), 1.5) or 1.5)
    if kind == "null":
        return None
    return _example_string(schema, name)


# A flattened key has at most this many parts (``a.b.c``): deeper objects stay whole, as
# JSON (a 900-deep result made an 1,800-character CSV header).
MAX_KEY_DEPTH = 6


def schema_keys(schema: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """The flattened keys a JSON Schema's (nested) properties describe, in schema order, at
    most :data:`MAX_KEY_DEPTH` parts deep."""
    if not isinstance(schema, dict):
        return []
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [prefix] if prefix else []
    keys: list[str] = []
    for name, sub in properties.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        nested = sub.get("properties") if isinstance(sub, dict) else None
        deeper = isinstance(nested, dict) and nested and depth + 1 < MAX_KEY_DEPTH
        keys += schema_keys(sub, path, depth + 1) if deeper else [path]
    return keys


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
        text = text + "x" * (min(min_length, EXAMPLE_MAX_CHARS) - len(text))
    return text[:EXAMPLE_MAX_CHARS]


# -- the schema editor's field table ----------------------------------------------------
#
# The JSON the operator typed IS the schema. The table shows one row per top-level property
# and changes only what the operator edits in it: each edit of a row sets only that row's
# shown keys (type, description, enum, its place in ``required``, its name); every other key
# stays exactly as it was. A property the table cannot show exactly (a type list, a typo'd
# type, non-text allowed values, composition keywords, $ref, ...) is a locked row: shown,
# never coerced, edited in the JSON only.

FIELD_TYPES = ("string", "number", "integer", "boolean", "array", "object")
TABLE_COLUMNS = ("name", "type", "description", "required", "allowed values", "edit in JSON")
# Keywords whose meaning a table edit of type/enum could silently change.
_LOCKING_KEYWORDS = (
    "$ref",
    "$dynamicRef",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "const",
)


def _properties(schema: dict) -> dict:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def table_problem(schema: Any) -> str | None:
    """Why the table cannot edit this schema's properties at all (None when it can)."""
    if not isinstance(schema, dict):
        return "the schema is not a JSON object"
    if "type" in schema and schema["type"] != "object":
        return 'the schema\'s top-level type is not "object"'
    if "properties" in schema and not isinstance(schema["properties"], dict):
        return '"properties" is not an object'
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return '"required" is not a list of names'
    return None


def row_lock(sub: Any) -> str | None:
    """Why one property cannot be edited in the table (None when it can)."""
    if not isinstance(sub, dict):
        return "not an object schema"
    kind = sub.get("type")
    if "type" in sub and kind not in FIELD_TYPES:
        return f"type {json.dumps(kind, ensure_ascii=False)}"
    if "description" in sub and not isinstance(sub["description"], str):
        return "description is not text"
    if "enum" in sub:
        enum = sub["enum"]
        if not isinstance(enum, list) or not enum:
            return "enum is not a list of values"
        if not all(isinstance(v, str) for v in enum):
            return "allowed values that are not text"
    for keyword in _LOCKING_KEYWORDS:
        if keyword in sub:
            return keyword
    return None


def table_from_schema(schema: Any) -> list[dict]:
    """One row per top-level property; ``edit in JSON`` says why a row is locked, and
    ``more in JSON`` lists the keys only the JSON shows (kept by every table edit)."""
    if not isinstance(schema, dict):
        return []
    whole = table_problem(schema)
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    rows = []
    for name, sub in _properties(schema).items():
        lock = whole or row_lock(sub)
        sub_dict = sub if isinstance(sub, dict) else {}
        rows.append(
            {
                "name": name,
                "type": None if lock else sub_dict.get("type"),
                "description": "" if lock else sub_dict.get("description", ""),
                "required": name in required,
                "allowed values": [] if lock else list(sub_dict.get("enum") or []),
                "edit in JSON": lock or "",
                "more in JSON": ", ".join(
                    sorted(k for k in sub_dict if k not in ("type", "description", "enum"))
                ),
            }
        )
    return rows


def _clean_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a pasted list cell
        value = [value]
    return [str(v) for v in value if str(v) != ""]


def _set_row_keys(prop: dict, change: dict, notes: list[str], name: str) -> None:
    if "type" in change:
        if change["type"] in FIELD_TYPES:
            prop["type"] = change["type"]
        elif change["type"] in (None, ""):
            prop.pop("type", None)
        else:
            notes.append(f"{name}: {change['type']!r} is not a type the table knows")
    if "description" in change:
        text = str(change["description"] or "")
        if text.strip():
            prop["description"] = text
        else:
            prop.pop("description", None)
    if "allowed values" in change:
        values = _clean_values(change["allowed values"])
        if values:
            prop["enum"] = values
        else:
            prop.pop("enum", None)


def apply_table_edits(schema: dict, rows: list[dict], edits: dict | None) -> tuple[dict, list[str]]:
    """The schema after the table edits ``edits`` (a data editor's state: ``edited_rows``,
    ``added_rows``, ``deleted_rows``, positions in ``rows``) made to ``rows``, the table
    ``table_from_schema(schema)`` drew. Returns (schema, notes): each note is an edit that was
    refused (a locked row, a clashing name) and left the schema as it was."""
    edits = edits or {}
    result = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    notes: list[str] = []
    if not (edits.get("edited_rows") or edits.get("added_rows") or edits.get("deleted_rows")):
        return result, notes
    whole = table_problem(result)
    if whole:
        return result, [f"The table cannot change this schema ({whole}): edit the JSON."]
    properties = dict(_properties(result))
    required = list(result.get("required", []))
    order = list(properties)
    renames: dict[str, str] = {}
    deleted = set()
    for index in sorted(int(i) for i in edits.get("deleted_rows") or []):
        if 0 <= index < len(rows):
            deleted.add(rows[index]["name"])
    for index, change in sorted(
        ((int(i), c) for i, c in (edits.get("edited_rows") or {}).items()), key=lambda t: t[0]
    ):
        if not (0 <= index < len(rows)) or rows[index]["name"] in deleted or not change:
            continue
        name = rows[index]["name"]
        shown = {k: v for k, v in change.items() if k in TABLE_COLUMNS}
        if rows[index]["edit in JSON"]:
            notes.append(f"{name} can only be changed in the JSON ({rows[index]['edit in JSON']}).")
            continue
        prop = dict(properties[name])
        _set_row_keys(prop, shown, notes, name)
        properties[name] = prop
        if "required" in shown:
            if shown["required"] and name not in required:
                required.append(name)
            elif not shown["required"]:
                required = [r for r in required if r != name]
        if "name" in shown:
            new_name = str(shown["name"] or "").strip()
            if not new_name:
                notes.append(f"{name}: a field needs a name (delete the row to remove it).")
            elif new_name != name and (new_name in properties or new_name in renames.values()):
                notes.append(f"{name}: there is already a field called {new_name}.")
            elif new_name != name:
                renames[name] = new_name
    for name in deleted:
        properties.pop(name, None)
        required = [r for r in required if r != name]
    new_properties = {}
    for name in order:
        if name in properties:
            new_properties[renames.get(name, name)] = properties[name]
    required = [renames.get(r, r) for r in required]
    for added in edits.get("added_rows") or []:
        new_name = str(added.get("name") or "").strip()
        if not new_name:
            if any(str(v or "").strip() for k, v in added.items() if k != "required"):
                notes.append("A new field needs a name.")
            continue
        if new_name in new_properties:
            notes.append(f"There is already a field called {new_name}.")
            continue
        prop: dict[str, Any] = {}
        _set_row_keys(prop, {**added, "type": added.get("type") or "string"}, notes, new_name)
        new_properties[new_name] = prop
        if added.get("required") and new_name not in required:
            required.append(new_name)
    if "properties" in result or new_properties:
        result["properties"] = new_properties
    if "required" in result or required:
        result["required"] = required
    return result, notes


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


# -- checking outside data against a schema, with a bound ----------------------------------
# A case's own resultSchema may hold a pattern that backtracks catastrophically (e.g.
# ``^([a-zA-Z]+\s?)+$``) and the counterparty controls the value it runs on. Patterns run on
# RE2 (linear time, no backtracking); a pattern RE2 cannot run (backreferences, lookaround)
# is reported as unchecked instead of being run.


@functools.lru_cache(maxsize=256)
def _compile_bounded(pattern: str):
    """The RE2 form of ``pattern``, or None when RE2 cannot run it."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options=options)
    except (re2.error, TypeError, ValueError):
        return None


def _pattern(validator, pattern, instance, schema):
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    compiled = _compile_bounded(pattern)
    if compiled is None:
        yield ValidationError(
            f"not checked: the pattern {pattern!r} needs a backtracking regex engine, which "
            "is not run on outside data"
        )
    elif not compiled.search(instance):
        yield ValidationError(f"{instance[:200]!r} does not match {pattern!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        compiled = _compile_bounded(pattern)
        if compiled is None:
            yield ValidationError(
                f"not checked: the property pattern {pattern!r} needs backtracking"
            )
            continue
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _canonical(value: Any) -> Any:
    """A hashable form in which two values are equal exactly when JSON Schema calls them
    equal: 1 and 1.0 alike, true and 1 not, objects whatever their key order."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def _unique_items(validator, unique, instance, schema):
    """``uniqueItems`` in linear time (jsonschema compares unsortable items pairwise: 19,000
    objects cost minutes of CPU)."""
    from jsonschema.exceptions import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set = set()
    for index, item in enumerate(instance):
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"has non-unique elements (item {index} repeats an earlier one)")
            return
        seen.add(key)


@functools.cache
def _bounded_validator():
    """Draft 2020-12 with ``pattern`` and ``patternProperties`` run on RE2 and
    ``uniqueItems`` in linear time."""
    import jsonschema

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "uniqueItems": _unique_items,
        },
    )


# The whole check is bounded: outside results and schemas bigger than these are not checked,
# at most MAX_PROBLEMS are listed, and checking stops after MAX_CHECK_S.
MAX_RESULT_BYTES = 512 * 1024
MAX_SCHEMA_BYTES = 64 * 1024
MAX_PROBLEMS = 50
MAX_CHECK_S = 1.0
MAX_PROBLEM_CHARS = 300


def result_problems(result: Any, schema: Any) -> list[dict]:
    """How ``result`` (from outside) fails its case's own ``schema``: ``[{where, problem}]``.
    Patterns run with RE2 and ``uniqueItems`` in linear time, and the whole check is bounded
    (size, number of problems, time), so no value can make this take long."""
    import time

    import jsonschema

    if not isinstance(schema, dict):
        return []
    for what, value, limit in (
        ("result", result, MAX_RESULT_BYTES),
        ("resultSchema", schema, MAX_SCHEMA_BYTES),
    ):
        try:
            size = len(json.dumps(value, ensure_ascii=False))
        except (TypeError, ValueError, RecursionError):
            return [{"where": "(top)", "problem": f"not checked: the {what} is not plain JSON"}]
        if size > limit:
            return [
                {
                    "where": "(top)",
                    "problem": f"not checked: the {what} is {size // 1024} KiB, over the "
                    f"{limit // 1024} KiB the console checks",
                }
            ]
    bounded = _bounded_validator()
    problems: list[dict] = []
    deadline = time.monotonic() + MAX_CHECK_S
    try:
        bounded.check_schema(schema)
        for error in bounded(schema).iter_errors(result):
            where = "/".join(map(str, error.absolute_path)) or "(top)"
            problems.append({"where": where[:200], "problem": error.message[:MAX_PROBLEM_CHARS]})
            if len(problems) >= MAX_PROBLEMS or time.monotonic() > deadline:
                problems.append(
                    {"where": "(top)", "problem": "not checked further: too many problems"}
                )
                break
    except jsonschema.SchemaError as exc:
        return [
            {
                "where": "(schema)",
                "problem": f"the case's resultSchema is invalid: {exc.message[:MAX_PROBLEM_CHARS]}",
            }
        ]
    except RecursionError:
        return [{"where": "(top)", "problem": "not checked: the result is nested too deeply"}]
    return problems
