"""The `filter` parameter of each endpoint in the OpenAPI document, built from the endpoint's own
whitelist (wire/filters.FieldRule), so the document cannot drift from what the route accepts.

The description lists every field, its operators and value type; the pattern is the grammar's
plain form (the route also reads whitespace, single quotes, `and(…)` and longer values): a
comma-separated list of conditions, such as equals(email,"a@b.co"),greater-than(created,2025-01-01T00:00:00Z).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from footfall.wire.filters import LIST_OPERATORS, FieldRule

# One value of each kind as the pattern spells it (datetimes unquoted, strings double-quoted).
_VALUES = {
    "string": r'"[^"\\\x00]{0,40}"',
    "number": r"-?[0-9]{1,9}",
    "datetime": r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z",
    "boolean": r"(true|false)",
}
_EXAMPLES = {"string": '"…"', "number": "42", "datetime": "2025-01-01T00:00:00Z", "boolean": "true"}


def _condition(name: str, rule: FieldRule, allowed: tuple[str, ...] | None) -> str:
    field = re.escape(name)
    if rule.kind == "none":
        return rf"has\({field}\)"
    value = f'"({"|".join(map(re.escape, allowed))})"' if allowed else _VALUES[rule.kind]
    alternatives = []
    single = [op for op in rule.operators if op not in LIST_OPERATORS and op != "has"]
    listed = [op for op in rule.operators if op in LIST_OPERATORS]
    if single:
        alternatives.append(rf"({'|'.join(map(re.escape, single))})\({field},{value}\)")
    if listed:
        alternatives.append(rf"({'|'.join(map(re.escape, listed))})\({field},\[{value}(,{value}){{0,3}}\]\)")
    if "has" in rule.operators:
        alternatives.append(rf"has\({field}\)")
    return "|".join(alternatives)


def _describe(name: str, rule: FieldRule, allowed: tuple[str, ...] | None) -> str:
    if rule.kind == "none":
        return f"`has({name})`"
    ops = ", ".join(f"`{op}`" for op in rule.operators)
    kind = " | ".join(f'"{v}"' for v in allowed) if allowed else f"{rule.kind}, e.g. {_EXAMPLES[rule.kind]}"
    return f"`{name}` ({kind}): {ops}"


def filter_parameter(whitelist: Mapping[str, FieldRule],
                     values: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """values: the only strings some fields take (any other is a 400)."""
    values = values or {}
    conditions = "|".join(f"({_condition(name, rule, values.get(name))})" for name, rule in whitelist.items())
    return {
        "name": "filter", "in": "query",
        "schema": {"type": "string", "pattern": rf"^(({conditions})(,({conditions})){{0,3}})?$"},
        "description": "Conditions, ANDed: `operator(field,value)`, separated by commas or inside `and(…)`; "
                       "strings in quotes, datetimes unquoted, lists in [ ]; empty means no filter. Fields here: "
                       + "; ".join(_describe(name, rule, values.get(name)) for name, rule in whitelist.items()) + ". "
                       "Anything else is a 400 naming the position.",
    }
