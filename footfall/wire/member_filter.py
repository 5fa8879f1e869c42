"""A small parser for the `filter` parameter of member listings (until the shared grammar lands).

`equals(email,"a@b.co")`, `any(email,["a@b.co","c@d.co"])`, `greater-than(joined_group_at,2024-01-01T00:00:00Z)`;
a top-level comma or and(...) means AND. Returns (operator, field, value) triples; the caller checks
which fields and operators it allows.
"""

from __future__ import annotations

import re
from typing import Any

from footfall.wire.jsonapi import invalid
from footfall.refusals import ApiError

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<punct>[(),\[\]])|(?P<word>[^\s(),\[\]"']+))""")


def parse(text: str) -> list[tuple[str, str, Any]]:
    tokens = _tokens(text)
    out: list[tuple[str, str, Any]] = []
    pos = _expressions(tokens, 0, out)
    if pos != len(tokens):
        raise _bad(text, "unexpected text after the expression")
    return out


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise _bad(text, f"cannot read it at character {pos}")
        pos = match.end()
        if match.group("str") is not None:
            raw = match.group("str")
            tokens.append(("value", re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif match.group("punct") is not None:
            tokens.append(("punct", match.group("punct")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


def _expressions(tokens: list[tuple[str, Any]], pos: int, out: list[tuple[str, str, Any]]) -> int:
    while True:
        pos = _expression(tokens, pos, out)
        if pos < len(tokens) and tokens[pos] == ("punct", ","):
            pos += 1
            continue
        return pos


def _expression(tokens: list[tuple[str, Any]], pos: int, out: list[tuple[str, str, Any]]) -> int:
    if pos >= len(tokens) or tokens[pos][0] != "word":
        raise _bad("", "expected an operator such as equals(field,value)")
    op = tokens[pos][1]
    pos = _expect(tokens, pos + 1, "(")
    if op == "and":
        pos = _expressions(tokens, pos, out)
        return _expect(tokens, pos, ")")
    if pos >= len(tokens) or tokens[pos][0] != "word":
        raise _bad("", f"{op}(…) needs a field name first")
    field = tokens[pos][1]
    pos = _expect(tokens, pos + 1, ",")
    value, pos = _value(tokens, pos)
    out.append((op, field, value))
    return _expect(tokens, pos, ")")


def _value(tokens: list[tuple[str, Any]], pos: int) -> tuple[Any, int]:
    if pos >= len(tokens):
        raise _bad("", "a value is missing")
    kind, tok = tokens[pos]
    if kind == "value":
        return tok, pos + 1
    if tok == "[":
        items: list[Any] = []
        pos += 1
        while pos < len(tokens) and tokens[pos] != ("punct", "]"):
            item, pos = _value(tokens, pos)
            items.append(item)
            if pos < len(tokens) and tokens[pos] == ("punct", ","):
                pos += 1
        return items, _expect(tokens, pos, "]")
    if kind == "word":
        if tok in ("true", "false"):
            return tok == "true", pos + 1
        if tok == "null":
            return None, pos + 1
        try:
            return (float(tok) if any(c in tok for c in ".eE") else int(tok)), pos + 1
        except ValueError:
            return _Bare(tok), pos + 1
    raise _bad("", f"unexpected {tok!r}")


class _Bare(str):
    """An unquoted value: a datetime such as 2024-01-01T00:00:00Z."""


def _expect(tokens: list[tuple[str, Any]], pos: int, punct: str) -> int:
    if pos >= len(tokens) or tokens[pos] != ("punct", punct):
        raise _bad("", f"expected {punct!r}")
    return pos + 1


def _bad(text: str, why: str) -> ApiError:
    return invalid(f"invalid filter: {why}", parameter="filter")
