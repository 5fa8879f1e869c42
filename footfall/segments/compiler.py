"""Segment definitions compiled to one SQL query (SQLAlchemy Core) that the store runs.

`Compiler(dialect, account_id, now).profiles(definition, scope)` gives `SELECT p.id FROM profiles p
WHERE ...` for the profiles that qualify (only those in `scope` when given). JSON values are read with
json_type/json_extract on SQLite and jsonb operators on PostgreSQL; a value of the wrong JSON type
never matches a positive operator, and "not-X" is exactly NOT X (so it matches a missing value).

While compiling, every comparison with "now" is recorded as a TimeBound: the evaluator uses them to
find the profiles whose membership can change as time passes, and when that next happens.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from footfall.domain.segment_definitions import (
    ConsentCondition, Definition, Filter, MembershipCondition, MetricCondition, PropertyCondition, SuppressionCondition,
)
from footfall.store import schema

Expr = ColumnElement[Any]
_NUMERIC = {
    "equals": lambda a, b: a == b,
    "greater-than": lambda a, b: a > b,
    "greater-than-or-equal": lambda a, b: a >= b,
    "less-than": lambda a, b: a < b,
    "less-than-or-equal": lambda a, b: a <= b,
}
_SQLITE_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


@dataclass(frozen=True)
class TimeBound:
    """`expr` (a column of the rows `where` selects, whose profile is `profile`) is compared with now + offset."""

    profile: Expr
    expr: Expr
    offset: float
    where: tuple[Expr, ...] = ()
    integer: bool = False  # expr is whole seconds (events.time)


def truth(expr: Expr) -> Expr:
    """expr with NULL read as false, so that NOT works as a complement."""
    return sa.func.coalesce(expr, sa.false())


def negate(expr: Expr) -> Expr:
    return sa.not_(truth(expr))


# -- reading values -----------------------------------------------------------------------------------

class ColumnValue:
    """A standard profile column: text, or epoch seconds for created / updated."""

    def __init__(self, column: Expr, kind: str) -> None:
        self.column, self.kind = column, kind

    def text(self) -> Expr:
        return self.column

    def number(self) -> Expr:
        return self.column

    def epoch(self) -> Expr:
        return self.column

    def present(self) -> Expr:
        return self.column.is_not(None)


class JsonValue:
    """A value inside a JSON column, at a path of keys; the dialect decides how it is read."""

    def __init__(self, dialect: str, column: Expr, keys: Sequence[str]) -> None:
        self.dialect, self.column, self.keys = dialect, column, list(keys)

    # JSON type tests ------------------------------------------------------------------------------
    def _type(self) -> Expr:
        if self.dialect == "sqlite":
            return sa.func.json_type(self.column, self._path())
        return sa.func.jsonb_typeof(self._jsonb())

    def _is(self, *kinds: str) -> Expr:
        names = {"string": ("text",), "number": ("integer", "real"), "boolean": ("true", "false"),
                 "array": ("array",), "null": ("null",)}
        if self.dialect == "sqlite":
            wanted = [n for k in kinds for n in names[k]]
        else:
            wanted = list(kinds)
        return self._type().in_(wanted) if len(wanted) > 1 else self._type() == wanted[0]

    def _path(self) -> str:
        return "$" + "".join(f'."{k}"' for k in self.keys)

    def _jsonb(self) -> Expr:
        expr = self.column
        for key in self.keys:
            expr = expr.op("->", return_type=schema.Json)(sa.cast(sa.literal(key), sa.Text))
        return expr

    def _raw_text(self) -> Expr:
        if self.dialect == "sqlite":
            return sa.func.json_extract(self.column, self._path())
        return self._jsonb().op("#>>", return_type=sa.Text)(sa.cast(sa.literal("{}"), sa.dialects.postgresql.ARRAY(sa.Text)))

    # values -----------------------------------------------------------------------------------------
    def text(self) -> Expr:
        return sa.case((self._is("string"), self._raw_text()), else_=sa.null())

    def number(self) -> Expr:
        raw = self._raw_text() if self.dialect == "sqlite" else sa.cast(self._raw_text(), sa.Float)
        return sa.case((self._is("number"), raw), else_=sa.null())

    def epoch(self) -> Expr:
        raw = self._raw_text()
        if self.dialect == "sqlite":
            parsed = sa.case((raw.op("GLOB")(_SQLITE_DATE_GLOB), sa.func.unixepoch(raw)), else_=sa.null())
            return sa.case((self._is("number"), raw), (self._is("string"), parsed), else_=sa.null())
        return sa.case((self._is("number"), sa.cast(raw, sa.Float)),
                       (self._is("string"), sa.func.footfall_epoch(raw)), else_=sa.null())

    def boolean_is(self, value: bool) -> Expr:
        if self.dialect == "sqlite":
            return self._type() == ("true" if value else "false")
        return sa.and_(self._is("boolean"), self._raw_text() == ("true" if value else "false"))

    def present(self) -> Expr:
        return sa.and_(self._type().is_not(None), sa.not_(self._is("null")))

    def array_length(self) -> Expr:
        if self.dialect == "sqlite":
            return sa.case((self._is("array"), sa.func.json_array_length(self.column, self._path())), else_=sa.null())
        return sa.case((self._is("array"), sa.func.jsonb_array_length(self._jsonb())), else_=sa.null())

    def array_contains(self, item: Any) -> Expr:
        """The JSON array holds an element equal to item (a string, or a number of equal value)."""
        if self.dialect == "sqlite":
            each = sa.func.json_each(self.column, self._path()).table_valued("value", "type").alias("je")
            kinds = ["text"] if isinstance(item, str) else ["integer", "real"]
            hit = sa.select(sa.literal(1)).select_from(each).where(each.c.value == item, each.c.type.in_(kinds))
            return sa.and_(self._is("array"), hit.exists())
        probe = sa.cast(sa.literal(json.dumps([item])), sa.dialects.postgresql.JSONB)
        return sa.and_(self._is("array"), self._jsonb().op("@>", return_type=sa.Boolean)(probe))


Value = Any  # ColumnValue | JsonValue


# -- the compiler ---------------------------------------------------------------------------------------

class Compiler:
    def __init__(self, dialect: str, account_id: str, now: float) -> None:
        self.dialect = dialect
        self.account_id = account_id
        self.now = now
        self.bounds: list[TimeBound] = []
        self._n = 0

    def profiles(self, definition: Definition, scope: Sequence[str] | None = None) -> sa.Select:
        """SELECT p.id of the profiles of this account (within scope) that satisfy the definition."""
        p = schema.profiles.alias("p")
        where: list[Expr] = [p.c.account_id == self.account_id]
        if scope is not None:
            where.append(p.c.id.in_(list(scope)))
        for group in definition.groups:
            parts = [self.condition(cond, p, scope) for cond in group]
            where.append(parts[0] if len(parts) == 1 else sa.or_(*parts))
        return sa.select(p.c.id).where(*where)

    def condition(self, cond: Any, p: Any, scope: Sequence[str] | None) -> Expr:
        if isinstance(cond, PropertyCondition):
            return self.filter(self._profile_value(cond, p), cond.filter, (p.c.id, (p.c.account_id == self.account_id,)))
        if isinstance(cond, MetricCondition):
            return self._metric(cond, p, scope)
        if isinstance(cond, MembershipCondition):
            return self._membership(cond, p)
        if isinstance(cond, ConsentCondition):
            status = JsonValue(self.dialect, p.c.consent, [cond.channel, "consent"]).text()
            subscribed = status == "SUBSCRIBED"
            if cond.channel == "email":  # a suppressed profile cannot receive email marketing, whatever its consent
                subscribed = sa.and_(subscribed, negate(self._suppressed(p, ())))
            return subscribed if cond.can_receive else negate(subscribed)
        if isinstance(cond, SuppressionCondition):
            suppressed = self._suppressed(p, cond.reasons)
            return suppressed if cond.is_suppressed else negate(suppressed)
        raise TypeError(f"unknown condition {cond!r}")

    def _suppressed(self, p: Any, reasons: Sequence[str]) -> Expr:
        """consent.email.suppression holds an entry (with one of `reasons`, if any are given)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONPATH

            test = " || ".join(f'@.reason == "{r}"' for r in reasons)  # reasons are from a fixed list
            path = "$.email.suppression[*]" + (f" ? ({test})" if test else "")
            return sa.func.jsonb_path_exists(p.c.consent, sa.cast(path, JSONPATH))
        entries = sa.func.json_each(p.c.consent, "$.email.suppression").table_valued("value").alias("suppression")
        query = sa.select(sa.literal(1)).select_from(entries)
        if reasons:
            query = query.where(sa.func.json_extract(entries.c.value, "$.reason").in_(list(reasons)))
        return sa.exists(query)

    def _profile_value(self, cond: PropertyCondition, p: Any) -> Value:
        if cond.source == "column":
            return ColumnValue(p.c[cond.name], "epoch" if cond.name in ("created", "updated") else "text")
        return JsonValue(self.dialect, p.c[cond.source], [cond.name])

    # -- filters ----------------------------------------------------------------------------------------
    def filter(self, value: Value, flt: Filter, bound_on: tuple[Expr, tuple[Expr, ...]]) -> Expr:
        expr = self._positive(value, flt, bound_on)
        return negate(expr) if flt.negate else expr

    def _positive(self, value: Value, flt: Filter, bound_on: tuple[Expr, tuple[Expr, ...]]) -> Expr:
        op, v = flt.operator, flt.value
        if flt.type == "existence":
            return value.present()
        if flt.type == "string":
            return _string(value.text(), op, v, self.dialect)
        if flt.type == "numeric":
            return _NUMERIC[op](value.number(), v)
        if flt.type == "boolean":
            return value.boolean_is(v)
        if flt.type == "list":
            if op.startswith("length-"):
                return _NUMERIC[op[len("length-"):]](value.array_length(), v)
            if op == "contains":
                return value.array_contains(v)
            parts = [value.array_contains(item) for item in v]
            return sa.or_(*parts) if op == "contains-any" else sa.and_(*parts)
        return self._date(value.epoch(), flt, bound_on)

    def _date(self, x: Expr, flt: Filter, bound_on: tuple[Expr, tuple[Expr, ...]]) -> Expr:
        op = flt.operator
        if op == "before":
            return x < flt.date
        if op == "after":
            return x > flt.date
        if op == "between-static":
            return sa.and_(x >= flt.start, x <= flt.end)
        s = flt.seconds or 0.0
        offsets = {"in-the-last": (-s, 0.0), "in-the-next": (0.0, s), "at-least": (-s,)}[op]
        profile, where = bound_on
        for offset in offsets:
            self.bounds.append(TimeBound(profile, x, offset, where))
        if op == "in-the-last":
            return sa.and_(x >= self.now - s, x <= self.now)
        if op == "in-the-next":
            return sa.and_(x >= self.now, x <= self.now + s)
        return x <= self.now - s

    # -- behaviour ----------------------------------------------------------------------------------------
    def _metric(self, cond: MetricCondition, p: Any, scope: Sequence[str] | None) -> Expr:
        e = schema.events.alias(self._name("e"))
        base = (e.c.account_id == self.account_id, e.c.metric_id == cond.metric_id)
        where: list[Expr] = list(base)
        tf = cond.timeframe
        # Event times are whole seconds: whole-number bounds keep the time index usable (no cast to float).
        if tf.operator == "in-the-last":
            s = tf.seconds or 0.0
            self.bounds += [TimeBound(e.c.profile_id, e.c.time, -s, base, True),
                            TimeBound(e.c.profile_id, e.c.time, 0.0, base, True)]
            where += [e.c.time >= math.ceil(self.now - s), e.c.time <= math.floor(self.now)]
        elif tf.operator == "between-static":
            where += [e.c.time >= math.ceil(tf.start), e.c.time <= math.floor(tf.end)]
        elif tf.operator == "after":
            where.append(e.c.time >= math.ceil(tf.date))
        elif tf.operator == "before":
            where.append(e.c.time < math.ceil(tf.date))
        for prop, flt in cond.metric_filters:
            where.append(self.filter(JsonValue(self.dialect, e.c.properties, [prop]), flt, (e.c.profile_id, base)))
        if scope is not None:
            where.append(e.c.profile_id.in_(list(scope)))
        measure = sa.func.count() if cond.measurement == "count" else sa.func.coalesce(sa.func.sum(e.c.value), 0.0)
        compare = _NUMERIC[cond.operator]

        def holds(x: Any) -> Any:
            result = compare(x, cond.value)
            return (not result if isinstance(result, bool) else sa.not_(result)) if cond.negate else result

        zero_qualifies = holds(0)
        having = sa.not_(holds(measure)) if zero_qualifies else holds(measure)
        grouped = sa.select(e.c.profile_id).where(*where).group_by(e.c.profile_id).having(having).subquery(self._name("g"))
        found = sa.select(sa.literal(1)).select_from(grouped).where(grouped.c.profile_id == p.c.id).exists()
        # Zero qualifies: everyone except those whose events fail the comparison (people with none qualify).
        return sa.not_(found) if zero_qualifies else found

    def _membership(self, cond: MembershipCondition, p: Any) -> Expr:
        m = schema.group_members.alias(self._name("m"))
        found = sa.select(sa.literal(1)).select_from(m).where(
            m.c.account_id == self.account_id, m.c.group_id.in_(list(cond.group_ids)),
            m.c.profile_id == p.c.id, m.c.left_at.is_(None),
        ).exists()
        return found if cond.is_member else sa.not_(found)

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"


def _string(text: Expr, op: str, v: Any, dialect: str) -> Expr:
    if op == "equals":
        return text == v
    if op == "in":
        return text.in_(list(v))
    if op == "contains":
        position = sa.func.instr(text, v) if dialect == "sqlite" else sa.func.strpos(text, v)
        return position > 0
    n = len(v)
    if op == "starts-with":
        return sa.func.substr(text, 1, n) == v
    # ends-with; the length test keeps substr's start at 1 or more, where both dialects agree
    return sa.and_(sa.func.length(text) >= n, sa.func.substr(text, sa.func.length(text) - n + 1) == v)

