"""The JSON Schema of a segment definition (domain/segment_definitions.py), built from that module's own
tables so the document says exactly which conditions, filters and operators the parser takes.

Members of a condition or filter the parser does not read are ignored (the objects stay open). Two
rules no schema can state: a `between` range's end must not be before its start (the patterns show
ranges whose end years follow the start years), and the metrics and groups a definition names must
exist in the account (else a 400 naming the condition).
"""

from __future__ import annotations

from typing import Any

from footfall.domain.consent import SUPPRESSION_REASONS
from footfall.domain.models import CONSENT_CHANNELS, LOCATION_FIELDS
from footfall.domain import segment_definitions as d

Schema = dict[str, Any]


def _obj(properties: dict[str, Schema], *required: str) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def _ops(*names: str) -> Schema:
    return {"type": "string", "enum": list(dict.fromkeys(names))}


def _negated(kind: str, ops: tuple[str, ...]) -> list[str]:
    """ops and their not- forms as _positive reads them."""
    out = list(ops)
    for op in ops:
        if kind == "existence":
            out.append("not-set")
        elif op in d.NEGATABLE.get(kind, ()):
            out.append(f"not-{op}")
            if kind == "list" and op == "length-equals":
                out.append("length-not-equals")
    return out


def _date(years: str) -> Schema:
    """An ISO date or date-time that definitions.parse_date reads, in the years the pattern names."""
    return {"type": "string", "pattern": rf"^{years}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                                         r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-]0[0-9]:00)?)?$"}


_ANY_DATE = _date("20[0-9]{2}")
_RANGE = {"start": _date("20(0[0-9]|1[0-2])"), "end": _date("20(1[3-9]|2[0-9])")}
_TEXT = {"type": "string"}
_SCALAR = {"type": ["string", "number"]}
_NUMBER = {"type": "number"}


def _values(items: Schema) -> Schema:
    return {"type": "array", "items": items, "minItems": 1, "maxItems": d.MAX_VALUES}


def _date_forms(kind: Schema, ops: tuple[str, ...]) -> list[Schema]:
    """The date operators among ops, each with the members it needs."""
    forms = []
    fixed = [op for op in ops if op in ("before", "after")]
    if fixed:
        forms.append(_obj({**kind, "operator": _ops(*fixed), "date": _ANY_DATE}, "operator", "date"))
    if "between-static" in ops:
        forms.append(_obj({**kind, "operator": _ops("between-static", "between"), **_RANGE}, "operator", "start", "end"))
    relative = [op for op in ops if op in d.RELATIVE_DATE_OPS]
    if relative:
        forms.append(_obj({**kind, "operator": _ops(*relative), "unit": {"type": "string", "enum": list(d.UNIT_SECONDS)},
                           "quantity": {"type": "number", "exclusiveMinimum": 0, "maximum": 100_000}},
                          "operator", "unit", "quantity"))
    return forms


def _filters(kind: str) -> list[Schema]:
    """The filter objects of one type."""
    typed = {"type": {"type": "string", "const": kind}}
    req = ("type", "operator")
    if kind == "string":
        return [_obj({**typed, "operator": _ops(*_negated(kind, tuple(o for o in d.STRING_OPS if o != "in"))),
                      "value": _TEXT}, *req, "value"),
                _obj({**typed, "operator": _ops("in", "not-in"), "value": _values(_TEXT)}, *req, "value")]
    if kind == "numeric":
        return [_obj({**typed, "operator": _ops(*_negated(kind, d.NUMERIC_OPS)), "value": _NUMBER}, *req, "value")]
    if kind == "boolean":
        return [_obj({**typed, "operator": _ops(*_negated(kind, d.BOOLEAN_OPS)), "value": {"type": "boolean"}},
                     *req, "value")]
    if kind == "existence":
        return [_obj({**typed, "operator": _ops(*_negated(kind, d.EXISTENCE_OPS))}, *req)]
    if kind == "list":
        lengths = tuple(o for o in d.LIST_OPS if o.startswith("length-"))
        return [_obj({**typed, "operator": _ops(*_negated(kind, lengths)), "value": {"type": "integer", "minimum": 0}},
                     *req, "value"),
                _obj({**typed, "operator": _ops("contains", "not-contains"), "value": _SCALAR}, *req, "value"),
                _obj({**typed, "operator": _ops(*_negated(kind, ("contains-any", "contains-all"))),
                      "value": _values(_SCALAR)}, *req, "value")]
    return [{**form, "required": ["type", *form["required"]]} for form in _date_forms(typed, d.DATE_OPS)]


def _filter(*kinds: str) -> Schema:
    return {"anyOf": [form for kind in kinds for form in _filters(kind)]}


ANY_FILTER = _filter(*d.POSITIVE_OPS)
_NAME = "[^'\"\\\\\\x00]{1,255}"  # a custom property name: no quote, backslash or NUL
_CUSTOM = rf"^properties\[('{_NAME}'|\"{_NAME}\")\]$"
_LOCATION = rf"^location\.({'|'.join(LOCATION_FIELDS)})$"


def _condition(kind: str, properties: dict[str, Schema], *required: str) -> Schema:
    return _obj({"type": {"type": "string", "const": kind}, **properties}, "type", *required)


def _property_conditions() -> list[Schema]:
    by_filters: dict[tuple[str, ...], list[str]] = {}
    for column, kinds in d.COLUMN_FILTERS.items():
        by_filters.setdefault(kinds, []).append(column)
    out = [_condition("profile-property", {"property": {"type": "string", "enum": columns},
                                           "filter": _filter(*kinds)}, "property", "filter")
           for kinds, columns in by_filters.items()]
    out.append(_condition("profile-property", {"property": {"type": "string", "pattern": f"({_LOCATION})|({_CUSTOM})"},
                                               "filter": ANY_FILTER}, "property", "filter"))
    return out


_TIMEFRAME = {"anyOf": [{"type": "null"}, _obj({"operator": _ops("alltime")}, "operator"),
                        *_date_forms({}, d.TIMEFRAME_OPS)]}
_LOCATION_FILTER = {"anyOf": [_obj({"type": {"type": "string", "const": "string"},
                                    "operator": _ops("equals", "not-equals"), "value": _TEXT}, "type", "operator", "value"),
                              _obj({"type": {"type": "string", "const": "string"},
                                    "operator": _ops("in", "not-in"), "value": _values(_TEXT)},
                                   "type", "operator", "value")]}
_EVENT_PROPERTY = {"type": "string", "pattern": "^[^\"\\\\\\x00]{1,255}$"}

CONDITION: Schema = {"anyOf": [
    _condition("profile-suppression", {"channel": _ops("email"), "is_suppressed": {"type": "boolean"},
                                       "reasons": {"type": "array", "items": _ops(*SUPPRESSION_REASONS)}}),
    *_property_conditions(),
    _condition("profile-metric", {
        "metric_id": {"type": "string", "minLength": 1, "description": "A metric of this account (else a 400)."},
        "measurement": _ops("count", "sum"),
        "measurement_filter": _filter("numeric"),
        "timeframe_filter": _TIMEFRAME,
        "metric_filters": {"type": ["array", "null"], "items": _obj({"property": _EVENT_PROPERTY, "filter": ANY_FILTER},
                                                                    "property", "filter")},
    }, "metric_id", "measurement_filter"),
    _condition("profile-group-membership", {
        "is_member": {"type": "boolean"},
        "group_ids": {**_values({"type": "string", "minLength": 1}),
                      "description": "Lists or segments of this account (else a 400); no cycle of segments."},
    }, "group_ids"),
    _condition("profile-marketing-consent", {"consent": _obj({"channel": _ops(*CONSENT_CHANNELS),
                                                              "can_receive_marketing": {"type": "boolean"}},
                                                             "channel")}, "consent"),
    _condition("profile-location", {"field": _ops("country", "region", "city", "zip"), "filter": _LOCATION_FILTER},
               "field", "filter"),
]}

DEFINITION: Schema = {
    **_obj({"condition_groups": {"type": "array", "minItems": 1, "items": _obj({"conditions": {
        "type": "array", "minItems": 1, "maxItems": d.MAX_CONDITIONS, "items": CONDITION}}, "conditions")}},
        "condition_groups"),
    "description": f"Groups ANDed, the conditions of a group ORed; at most {d.MAX_CONDITIONS} conditions in all.",
}
