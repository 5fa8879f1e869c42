"""Klaviyo's `filter` query parameter: parsing to an AST, then checking it against an endpoint's whitelist.

Grammar (Klaviyo's filtering docs and the `x-klaviyo-filters` spec extension):

    filter    := expr ("," expr)*                  a top-level comma means AND
    expr      := "and(" expr ("," expr)* ")"  |  "has(" field ")"  |  operator "(" field "," value ")"
    value     := string | number | true | false | null | datetime | "[" [value ("," value)*] "]"
    string    := '"…"' or "'…'" with backslash escapes
    datetime  := unquoted ISO 8601, e.g. 2023-04-19T00:00:00Z or 2023-04-19T00:00:00+02:00

Datetimes must be unquoted, as in Klaviyo, so a quoted one is a string and is refused where a
datetime is expected. Every error is a FilterError (a 400 JSON:API error with source.parameter
"filter") whose detail names the offending part; positions count characters from 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Union

from footfall.refusals import FilterError
from footfall.domain.limits import (
    FILTER_CHARS as MAX_LENGTH,
    FILTER_CONDITIONS as MAX_CONDITIONS,
    FILTER_LIST_ITEMS as MAX_LIST_ITEMS,
    FILTER_DEPTH as MAX_DEPTH,
    FILTER_NUMBER as MAX_NUMBER,
)

OPERATORS: tuple[str, ...] = (
    "equals", "any", "less-than", "less-or-equal", "greater-than", "greater-or-equal",
    "contains", "contains-any", "contains-all", "starts-with", "ends-with", "has",
)
# Operators whose value is a list of the field's type.
LIST_OPERATORS = frozenset({"any", "contains-any", "contains-all"})


# -- AST ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateTime:
    """An unquoted datetime literal (kept apart from strings so quoting can be told apart)."""

    text: str
    value: datetime


Scalar = Union[str, int, float, bool, None, DateTime]
Value = Union[Scalar, list[Scalar]]


@dataclass(frozen=True)
class Condition:
    operator: str
    field: str
    value: Value          # None for `has`
    position: int         # where the operator starts (from 1)


@dataclass(frozen=True)
class And:
    parts: tuple["Node", ...]


Node = Union[Condition, And]


# -- tokens ------------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.\-]*")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+\- ]\d{2}:?\d{2})?)?"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.conditions = 0

    # helpers
    def error(self, message: str, at: int | None = None) -> FilterError:
        return FilterError(f"{message} at position {(self.i if at is None else at) + 1}")

    def skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.i] if self.i < len(self.text) else ""

    def describe(self) -> str:
        ch = self.peek()
        return "end of filter" if not ch else repr(ch)

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            raise self.error(f"expected {what} but found {self.describe()}")
        self.i += 1

    # grammar
    def parse(self) -> Node:
        if not self.text.strip():
            raise FilterError("the filter is empty; write e.g. equals(field,\"value\")")
        parts = [self.expr(0)]
        while self.peek() == ",":
            self.i += 1
            parts.append(self.expr(0))
        if self.peek():
            raise self.error(f"unexpected {self.describe()}")
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def expr(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(f"and(...) is nested more than {MAX_DEPTH} deep")
        self.skip_space()
        start = self.i
        match = _NAME.match(self.text, self.i)
        if not match:
            raise self.error(f"expected an operator such as equals(...) but found {self.describe()}")
        name = match.group(0)
        self.i = match.end()
        if name in ("or", "not"):
            raise self.error(f"'{name}' is not supported (combine conditions with ',' or and(...))", start)
        if name == "and":
            self.expect("(", "'(' after 'and'")
            parts = [self.expr(depth + 1)]
            while self.peek() == ",":
                self.i += 1
                parts.append(self.expr(depth + 1))
            self.expect(")", "',' or ')'")
            return And(tuple(parts))
        if name not in OPERATORS:
            raise self.error(f"unknown operator '{name}' (operators: {', '.join(OPERATORS)}, and)", start)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(f"more than {MAX_CONDITIONS} conditions", start)
        self.expect("(", f"'(' after '{name}'")
        field = self.field()
        value: Value = None
        if name != "has":
            self.expect(",", f"',' and a value after field '{field}'")
            value = self.value(allow_list=True)
        self.expect(")", f"')' to close {name}(...)")
        return Condition(name, field, value, start + 1)

    def field(self) -> str:
        self.skip_space()
        match = _NAME.match(self.text, self.i)
        if not match:
            raise self.error(f"expected a field name but found {self.describe()}")
        self.i = match.end()
        return match.group(0)

    def value(self, allow_list: bool) -> Value:
        ch = self.peek()
        if ch in ("'", '"'):
            return self.string(ch)
        if ch == "[":
            if not allow_list:
                raise self.error("lists cannot be nested")
            return self.list()
        dt = _DATETIME.match(self.text, self.i)
        if dt and len(dt.group(0)) >= 10 and self._ends_token(dt.end()):
            return self.datetime(dt)
        num = _NUMBER.match(self.text, self.i)
        if num and self._ends_token(num.end()):
            self.i = num.end()
            text = num.group(0)
            if re.fullmatch(r"-?\d+", text):
                return int(text)
            number = float(text)
            if number != number or number in (float("inf"), float("-inf")):
                raise self.error(f"the number {text} is out of range")
            return number
        word = re.compile(r"[A-Za-z]+").match(self.text, self.i)
        if word and word.group(0) in ("true", "false", "null") and self._ends_token(word.end()):
            self.i = word.end()
            return {"true": True, "false": False, "null": None}[word.group(0)]
        if not ch or ch in ",)]":
            raise self.error(f"expected a value but found {self.describe()}")
        bare = re.compile(r"[^,()\[\]\s]+").match(self.text, self.i)
        shown = bare.group(0) if bare else ch
        raise self.error(f"{shown!r} is not a value (quote strings: \"{shown}\"; datetimes like "
                         f"2023-04-19T00:00:00Z go unquoted)")

    def _ends_token(self, end: int) -> bool:
        rest = self.text[end:].lstrip(" \t\r\n")
        return not rest or rest[0] in ",)]"

    def datetime(self, match: re.Match[str]) -> DateTime:
        text = match.group(0)
        start = self.i
        self.i = match.end()
        # An unencoded '+' in a query string arrives as a space: read "…00 02:00" as "…00+02:00".
        fixed = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
        try:
            value = datetime.fromisoformat(fixed.upper())
        except ValueError:
            raise self.error(f"{text!r} is not a valid datetime", start) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return DateTime(fixed, value)

    def string(self, quote: str) -> str:
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch == quote:
                self.i += 1
                return "".join(out)
            if ch == "\\":
                if self.i + 1 >= len(self.text):
                    break
                nxt = self.text[self.i + 1]
                if nxt == "u":
                    out.append(self.unicode_escape())
                    continue
                if nxt not in _ESCAPES:
                    raise self.error(f"unknown escape '\\{nxt}' in a string")
                out.append(_ESCAPES[nxt])
                self.i += 2
                continue
            if ch == "\0":
                raise self.error("strings may not contain NUL")
            if "\ud800" <= ch <= "\udfff":
                raise self.error("unpaired surrogate in a string")
            out.append(ch)
            self.i += 1
        raise self.error(f"unterminated string (missing closing {quote})", start)

    def unicode_escape(self) -> str:
        """\\uXXXX, with a UTF-16 surrogate pair (\\uD83D\\uDE00) read as one character."""
        code = self._hex4(self.i + 2)
        assert code is not None
        self.i += 6
        if 0xD800 <= code <= 0xDBFF and self.text[self.i:self.i + 2] == "\\u":
            low = self._hex4(self.i + 2, quiet=True)
            if low is not None and 0xDC00 <= low <= 0xDFFF:
                self.i += 6
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        if 0xD800 <= code <= 0xDFFF:
            raise self.error("unpaired surrogate in a \\u escape", self.i - 6)
        if code == 0:
            raise self.error("strings may not contain NUL", self.i - 6)
        return chr(code)

    def _hex4(self, at: int, quiet: bool = False) -> int | None:
        digits = self.text[at:at + 4]
        if re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            return int(digits, 16)
        if quiet:
            return None
        raise self.error("\\u must be followed by four hex digits", at - 2)

    def list(self) -> list[Scalar]:
        self.i += 1
        items: list[Scalar] = []
        if self.peek() == "]":
            self.i += 1
            return items
        while True:
            item = self.value(allow_list=False)
            items.append(item)  # type: ignore[arg-type]
            if len(items) > MAX_LIST_ITEMS:
                raise self.error(f"a list may hold at most {MAX_LIST_ITEMS} values")
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect("]", "',' or ']'")
            return items


def parse(text: str) -> Node:
    """The filter's AST; FilterError if it is not well formed."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"the filter is longer than {MAX_LENGTH} characters")
    return _Parser(text).parse()


def conditions(node: Node) -> list[Condition]:
    """All conditions of the AST; they are ANDed (the grammar has no OR)."""
    if isinstance(node, Condition):
        return [node]
    return [c for part in node.parts for c in conditions(part)]


# -- whitelists --------------------------------------------------------------------------------------

KINDS = ("string", "number", "datetime", "boolean", "none")


@dataclass(frozen=True)
class FieldRule:
    """Which operators a field takes and what type its value is ("none" for has-only fields)."""

    operators: tuple[str, ...]
    kind: str = "string"


@dataclass(frozen=True)
class Checked:
    """A whitelisted condition with its value typed (datetimes are timezone-aware `datetime`s)."""

    field: str
    operator: str
    value: Any


def validate(text: str, whitelist: Mapping[str, FieldRule]) -> list[Checked]:
    """Parse `text` and check every condition against `whitelist` (field -> rule)."""
    return [_check(c, whitelist) for c in conditions(parse(text))]


def _check(cond: Condition, whitelist: Mapping[str, FieldRule]) -> Checked:
    rule = whitelist.get(cond.field)
    if rule is None:
        names = ", ".join(whitelist) or "none"
        raise FilterError(f"field '{cond.field}' cannot be filtered on here (filterable fields: {names})")
    if cond.operator not in rule.operators:
        raise FilterError(f"operator '{cond.operator}' is not allowed on field '{cond.field}' "
                          f"(allowed: {', '.join(rule.operators)})")
    where = f"{cond.operator}({cond.field},…)"
    if cond.operator == "has":
        return Checked(cond.field, "has", None)
    if cond.operator in LIST_OPERATORS:
        if not isinstance(cond.value, list):
            raise FilterError(f"{where} needs a list of {rule.kind} values like [\"a\",\"b\"]")
        if not cond.value:
            raise FilterError(f"{where} needs a non-empty list")
        return Checked(cond.field, cond.operator, [_typed(v, rule.kind, where) for v in cond.value])
    if isinstance(cond.value, list):
        raise FilterError(f"{where} takes a single {rule.kind} value, not a list")
    return Checked(cond.field, cond.operator, _typed(cond.value, rule.kind, where))


def _typed(value: Scalar, kind: str, where: str) -> Any:
    if kind == "datetime":
        if isinstance(value, DateTime):
            return value.value
        hint = " (datetimes go unquoted)" if isinstance(value, str) else ""
        raise FilterError(f"{where} needs a datetime like 2023-04-19T00:00:00Z, not {_show(value)}{hint}")
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if abs(value) > MAX_NUMBER:
                raise FilterError(f"{where}: the number {value} is out of range")
            return value
        raise FilterError(f"{where} needs a number, not {_show(value)}")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise FilterError(f"{where} needs true or false, not {_show(value)}")
    if isinstance(value, str):
        return value
    raise FilterError(f"{where} needs a quoted string, not {_show(value)}")


def _show(value: Scalar) -> str:
    if isinstance(value, DateTime):
        return f"the datetime {value.text}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"the number {value}"
