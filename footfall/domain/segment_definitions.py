"""Segment definitions in Klaviyo's format: validated into plain objects, with clear errors.

{"condition_groups": [{"conditions": [...]}, ...]}: groups are ANDed, the conditions of a group
ORed. Every error names the offending part as a path such as
"condition_groups/1/conditions/0/filter/operator". Pure: no I/O (the store checks that metrics and
groups exist and that membership conditions make no cycle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from footfall.refusals import InvalidInput
from footfall.domain.models import CONSENT_CHANNELS, LOCATION_FIELDS
from footfall.domain.consent import SUPPRESSION_REASONS
from footfall.domain.limits import (PROPERTY_NAME_CHARS, SEGMENT_CONDITIONS as MAX_CONDITIONS,
                                    SEGMENT_CONDITION_VALUES as MAX_VALUES)
from footfall.domain.json_numbers import whole_number
from footfall.timefmt import parse_iso

# Standard profile attributes a profile-property condition may name, by the kind of value they hold.
TEXT_COLUMNS = ("email", "phone_number", "external_id", "anonymous_id", "first_name", "last_name",
                "organization", "title", "locale", "image")
TIME_COLUMNS = ("created", "updated")
COLUMN_FILTERS = {**{c: ("string", "existence") for c in TEXT_COLUMNS},
                  **{c: ("date", "numeric", "existence") for c in TIME_COLUMNS}}

STRING_OPS = ("equals", "contains", "starts-with", "ends-with", "in")
NUMERIC_OPS = ("equals", "greater-than", "greater-than-or-equal", "less-than", "less-than-or-equal")
BOOLEAN_OPS = ("equals",)
EXISTENCE_OPS = ("is-set",)
LIST_OPS = ("contains", "contains-any", "contains-all", "length-equals", "length-greater-than",
            "length-greater-than-or-equal", "length-less-than", "length-less-than-or-equal")
DATE_OPS = ("before", "after", "between-static", "in-the-last", "in-the-next", "at-least")
TIMEFRAME_OPS = ("alltime", "in-the-last", "between-static", "after", "before")
# Operators written "not-X" mean exactly NOT X; "not-set" is NOT "is-set".
NEGATABLE = {"string": STRING_OPS, "numeric": ("equals",), "boolean": BOOLEAN_OPS,
             "existence": EXISTENCE_OPS, "list": LIST_OPS}
POSITIVE_OPS = {"string": STRING_OPS, "numeric": NUMERIC_OPS, "boolean": BOOLEAN_OPS,
                "existence": EXISTENCE_OPS, "list": LIST_OPS, "date": DATE_OPS}
UNIT_SECONDS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
RELATIVE_DATE_OPS = ("in-the-last", "in-the-next", "at-least")

_PROPERTY = re.compile(r"""^properties\[(?:'([^']*)'|"([^"]*)")\]$""")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")


@dataclass(frozen=True)
class Filter:
    """A value test. For dates, `date`/`start`/`end` are epoch seconds and `seconds` a relative span."""

    type: str
    operator: str  # the positive operator; `negate` flips it
    negate: bool = False
    value: Any = None
    date: float | None = None
    start: float | None = None
    end: float | None = None
    seconds: float | None = None

    @property
    def relative(self) -> bool:
        return self.type == "date" and self.operator in RELATIVE_DATE_OPS


@dataclass(frozen=True)
class PropertyCondition:
    """source: 'column' (a standard attribute), 'location' or 'properties' (custom, JSON)."""

    source: str
    name: str
    filter: Filter


@dataclass(frozen=True)
class MetricCondition:
    metric_id: str
    measurement: str  # count | sum
    operator: str  # a numeric operator (not-equals as negate)
    value: float
    negate: bool
    timeframe: Filter
    metric_filters: tuple[tuple[str, Filter], ...] = ()


@dataclass(frozen=True)
class MembershipCondition:
    is_member: bool
    group_ids: tuple[str, ...]


@dataclass(frozen=True)
class ConsentCondition:
    channel: str
    can_receive: bool


@dataclass(frozen=True)
class SuppressionCondition:
    """Suppressed for email marketing (any reason, or one of `reasons`), or not (a Footfall extension)."""

    is_suppressed: bool
    reasons: tuple[str, ...] = ()


Condition = Union[PropertyCondition, MetricCondition, MembershipCondition, ConsentCondition, SuppressionCondition]


@dataclass(frozen=True)
class Definition:
    groups: tuple[tuple[Condition, ...], ...]


@dataclass
class Dependencies:
    """What a definition reads: used to decide which commits can change a segment."""

    metric_ids: set[str] = field(default_factory=set)
    group_ids: set[str] = field(default_factory=set)
    profile: bool = False  # reads profile attributes, properties, location or consent
    time_relative: bool = False  # can change by time passing alone


def parse(raw: Any) -> Definition:
    """The definition, or InvalidInput with the path of the first problem."""
    obj = _object(raw, "")
    groups_raw = obj.get("condition_groups")
    if not isinstance(groups_raw, list) or not groups_raw:
        raise InvalidInput("must be a non-empty array of condition groups", "condition_groups")
    groups = []
    total = 0
    for gi, group_raw in enumerate(groups_raw):
        gpath = f"condition_groups/{gi}"
        group = _object(group_raw, gpath)
        conds_raw = group.get("conditions")
        if not isinstance(conds_raw, list) or not conds_raw:
            raise InvalidInput("must be a non-empty array of conditions", f"{gpath}/conditions")
        total += len(conds_raw)
        if total > MAX_CONDITIONS:
            raise InvalidInput(f"a definition may have at most {MAX_CONDITIONS} conditions", f"{gpath}/conditions")
        groups.append(tuple(_condition(c, f"{gpath}/conditions/{ci}") for ci, c in enumerate(conds_raw)))
    return Definition(tuple(groups))


def dependencies(definition: Definition) -> Dependencies:
    deps = Dependencies()
    for group in definition.groups:
        for cond in group:
            if isinstance(cond, MetricCondition):
                deps.metric_ids.add(cond.metric_id)
                deps.time_relative |= cond.timeframe.operator == "in-the-last" or any(
                    f.relative for _, f in cond.metric_filters)
            elif isinstance(cond, MembershipCondition):
                deps.group_ids.update(cond.group_ids)
            else:
                deps.profile = True
                if isinstance(cond, PropertyCondition):
                    deps.time_relative |= cond.filter.relative
    return deps


def parse_date(value: Any) -> float | None:
    """ISO 8601 date or date-time (no offset means UTC) as epoch seconds; None if it is not one."""
    if not isinstance(value, str) or not _ISO.match(value):
        return None
    try:
        return parse_iso(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- conditions -------------------------------------------------------------------------------------

def _condition(raw: Any, path: str) -> Condition:
    obj = _object(raw, path)
    kind = obj.get("type")
    parser = _CONDITIONS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise InvalidInput(f"unknown condition type {kind!r}; use one of {', '.join(_CONDITIONS)}", f"{path}/type")
    return parser(obj, path)


def _profile_property(obj: dict[str, Any], path: str) -> PropertyCondition:
    prop = obj.get("property")
    if not isinstance(prop, str) or not prop:
        raise InvalidInput("must name a profile property: a standard one such as 'email', 'location.city', "
                           "or properties['Custom Name']", f"{path}/property")
    source, name = _property_target(prop, f"{path}/property")
    allowed = COLUMN_FILTERS.get(name) if source == "column" else None
    return PropertyCondition(source, name, _filter(obj.get("filter"), f"{path}/filter", allowed))


def _property_target(prop: str, path: str) -> tuple[str, str]:
    if prop in COLUMN_FILTERS:
        return "column", prop
    if prop.startswith("location."):
        name = prop[len("location."):]
        if name not in LOCATION_FIELDS:
            raise InvalidInput(f"unknown location field {name!r}; use one of {', '.join(LOCATION_FIELDS)}", path)
        return "location", name
    match = _PROPERTY.match(prop)
    if match:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if not name or "\\" in name or '"' in name or len(name) > PROPERTY_NAME_CHARS:
            raise InvalidInput(f"a custom property name must be 1-{PROPERTY_NAME_CHARS} characters without \" or \\", path)
        return "properties", name
    raise InvalidInput(f"unknown profile property {prop!r}: use a standard one ({', '.join(COLUMN_FILTERS)}), "
                       "location.<field>, or properties['Custom Name']", path)


def _profile_location(obj: dict[str, Any], path: str) -> PropertyCondition:
    fld = obj.get("field")
    if fld not in ("country", "region", "city", "zip"):
        raise InvalidInput("must be one of country, region, city, zip", f"{path}/field")
    flt = _filter(obj.get("filter"), f"{path}/filter", ("string",))
    if flt.operator not in ("equals", "in"):
        raise InvalidInput("a location filter may use equals, not-equals, in or not-in", f"{path}/filter/operator")
    return PropertyCondition("location", fld, flt)


def _profile_metric(obj: dict[str, Any], path: str) -> MetricCondition:
    metric_id = obj.get("metric_id")
    if not isinstance(metric_id, str) or not metric_id:
        raise InvalidInput("must be the id of a metric", f"{path}/metric_id")
    measurement = obj.get("measurement", "count")
    if measurement not in ("count", "sum"):
        raise InvalidInput("must be 'count' or 'sum'", f"{path}/measurement")
    mpath = f"{path}/measurement_filter"
    measure = _filter(obj.get("measurement_filter"), mpath, ("numeric",))
    timeframe = _timeframe(obj.get("timeframe_filter"), f"{path}/timeframe_filter")
    filters_raw = obj.get("metric_filters") or []
    if not isinstance(filters_raw, list):
        raise InvalidInput("must be an array of {property, filter}", f"{path}/metric_filters")
    metric_filters = []
    for fi, item in enumerate(filters_raw):
        fpath = f"{path}/metric_filters/{fi}"
        entry = _object(item, fpath)
        prop = entry.get("property")
        if not isinstance(prop, str) or not prop or "\\" in prop or '"' in prop or len(prop) > PROPERTY_NAME_CHARS:
            raise InvalidInput(f"must name an event property (1-{PROPERTY_NAME_CHARS} characters without \" or \\)",
                               f"{fpath}/property")
        metric_filters.append((prop, _filter(entry.get("filter"), f"{fpath}/filter", None)))
    return MetricCondition(metric_id, measurement, measure.operator, float(measure.value), measure.negate,
                           timeframe, tuple(metric_filters))


def _timeframe(raw: Any, path: str) -> Filter:
    if raw is None:
        return Filter("date", "alltime")
    obj = _object(raw, path)
    op = obj.get("operator")
    if op == "between":
        op = "between-static"
    if op not in TIMEFRAME_OPS:
        raise InvalidInput(f"unknown timeframe operator {op!r}; use one of {', '.join(TIMEFRAME_OPS)}",
                           f"{path}/operator")
    if op == "alltime":
        return Filter("date", "alltime")
    return _date_filter(obj, op, False, path)


def _membership(obj: dict[str, Any], path: str) -> MembershipCondition:
    is_member = obj.get("is_member", True)
    if not isinstance(is_member, bool):
        raise InvalidInput("must be true or false", f"{path}/is_member")
    ids = obj.get("group_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidInput("must be a non-empty array of list or segment ids", f"{path}/group_ids")
    if len(ids) > MAX_VALUES:
        raise InvalidInput(f"at most {MAX_VALUES} group ids", f"{path}/group_ids")
    return MembershipCondition(is_member, tuple(dict.fromkeys(ids)))


def _consent(obj: dict[str, Any], path: str) -> ConsentCondition:
    consent = _object(obj.get("consent"), f"{path}/consent")
    channel = consent.get("channel")
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput(f"must be a channel: {', '.join(CONSENT_CHANNELS)}", f"{path}/consent/channel")
    can = consent.get("can_receive_marketing", True)
    if not isinstance(can, bool):
        raise InvalidInput("must be true or false", f"{path}/consent/can_receive_marketing")
    return ConsentCondition(channel, can)


def _suppression(obj: dict[str, Any], path: str) -> SuppressionCondition:
    if obj.get("channel", "email") != "email":
        raise InvalidInput("only the email channel has suppressions", f"{path}/channel")
    suppressed = obj.get("is_suppressed", True)
    if not isinstance(suppressed, bool):
        raise InvalidInput("must be true or false", f"{path}/is_suppressed")
    reasons = obj.get("reasons", [])
    if not isinstance(reasons, list) or any(r not in SUPPRESSION_REASONS for r in reasons):
        raise InvalidInput(f"must be a list of reasons among {', '.join(SUPPRESSION_REASONS)}", f"{path}/reasons")
    return SuppressionCondition(suppressed, tuple(dict.fromkeys(reasons)))


_CONDITIONS = {
    "profile-suppression": _suppression,
    "profile-property": _profile_property,
    "profile-metric": _profile_metric,
    "profile-group-membership": _membership,
    "profile-marketing-consent": _consent,
    "profile-location": _profile_location,
}


# -- filters ----------------------------------------------------------------------------------------

def _filter(raw: Any, path: str, allowed_types: tuple[str, ...] | None) -> Filter:
    obj = _object(raw, path)
    ftype = obj.get("type")
    if ftype not in POSITIVE_OPS:
        raise InvalidInput(f"unknown filter type {ftype!r}; use one of {', '.join(POSITIVE_OPS)}", f"{path}/type")
    if allowed_types is not None and ftype not in allowed_types:
        raise InvalidInput(f"a {ftype} filter does not apply here; use {' or '.join(allowed_types)}", f"{path}/type")
    op = obj.get("operator")
    if not isinstance(op, str):
        raise InvalidInput("is required", f"{path}/operator")
    operator, negate = _positive(ftype, op)
    if operator is None:
        raise InvalidInput(f"unknown {ftype} operator {op!r}; use one of {', '.join(_operator_names(ftype))}",
                           f"{path}/operator")
    if ftype == "date":
        return _date_filter(obj, operator, negate, path)
    return Filter(ftype, operator, negate, _value(ftype, operator, obj, path))


def _positive(ftype: str, op: str) -> tuple[str | None, bool]:
    if ftype == "date" and op == "between":
        op = "between-static"
    if op in POSITIVE_OPS[ftype]:
        return op, False
    if op == "not-set" and ftype == "existence":
        return "is-set", True
    if op.startswith("not-") and op[4:] in NEGATABLE.get(ftype, ()):
        return op[4:], True
    if op.startswith("length-not-") and ftype == "list" and "length-" + op[11:] == "length-equals":
        return "length-equals", True
    return None, False


def _operator_names(ftype: str) -> list[str]:
    names = list(POSITIVE_OPS[ftype])
    if ftype == "existence":
        return names + ["not-set"]
    return names + [f"not-{op}" for op in NEGATABLE.get(ftype, ())]


def _value(ftype: str, operator: str, obj: dict[str, Any], path: str) -> Any:
    vpath = f"{path}/value"
    value = obj.get("value")
    if ftype == "existence":
        return None
    if ftype == "string":
        if operator == "in":
            return _list_of(value, vpath, (str,), "strings")
        if not isinstance(value, str):
            raise InvalidInput("must be a string", vpath)
        return value
    if ftype == "numeric":
        return _number(value, vpath)
    if ftype == "boolean":
        if not isinstance(value, bool):
            raise InvalidInput("must be true or false", vpath)
        return value
    # list
    if operator.startswith("length-"):
        count = whole_number(value)
        if count is None or count < 0:
            raise InvalidInput("must be a whole number of items, 0 or more", vpath)
        return count
    if operator == "contains":
        if not _scalar(value):
            raise InvalidInput("must be a string or a number", vpath)
        return value
    return _list_of(value, vpath, (str, int, float), "strings or numbers")


def _date_filter(obj: dict[str, Any], operator: str, negate: bool, path: str) -> Filter:
    if operator in ("before", "after"):
        return Filter("date", operator, negate, date=_date(obj.get("date"), f"{path}/date"))
    if operator == "between-static":
        start = _date(obj.get("start"), f"{path}/start")
        end = _date(obj.get("end"), f"{path}/end")
        if end < start:
            raise InvalidInput("must not be before start", f"{path}/end")
        return Filter("date", operator, negate, start=start, end=end)
    unit = obj.get("unit")
    if unit not in UNIT_SECONDS:
        raise InvalidInput(f"must be one of {', '.join(UNIT_SECONDS)}", f"{path}/unit")
    quantity = obj.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not 0 < quantity <= 100_000:
        raise InvalidInput("must be a number greater than 0", f"{path}/quantity")
    return Filter("date", operator, negate, seconds=float(quantity) * UNIT_SECONDS[unit])


def _date(value: Any, path: str) -> float:
    parsed = parse_date(value)
    if parsed is None:
        raise InvalidInput("must be an ISO 8601 date or date-time, e.g. 2024-05-01 or 2024-05-01T12:00:00Z", path)
    return parsed


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("must be a number", path)
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _list_of(value: Any, path: str, types: tuple[type, ...], what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"must be a non-empty array of {what}", path)
    if len(value) > MAX_VALUES:
        raise InvalidInput(f"at most {MAX_VALUES} values", path)
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, types):
            raise InvalidInput(f"must be one of {what}", f"{path}/{i}")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", path)
    return value
