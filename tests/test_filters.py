"""The filter grammar: parsing, whitelists, and errors that name the offending part."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall.wire import filters
from footfall.wire.filters import And, Checked, Condition, DateTime, FieldRule
from footfall.refusals import FilterError

UTC = timezone.utc
WHITELIST = {
    "email": FieldRule(("equals", "any", "contains", "starts-with", "ends-with")),
    "tags": FieldRule(("contains", "contains-any", "contains-all")),
    "count": FieldRule(("equals", "greater-than", "less-or-equal"), "number"),
    "when": FieldRule(("greater-or-equal", "less-than"), "datetime"),
    "vip": FieldRule(("equals",), "boolean"),
    "profile": FieldRule(("has",), "none"),
}


def test_values_of_every_kind():
    node = filters.parse('equals(a,"x"),equals(b,\'y\'),equals(c,12),equals(d,-1.5e2),equals(e,true),'
                         'equals(f,false),equals(g,null),equals(h,2023-04-19T00:00:00Z),any(i,["p",\'q\',3])')
    values = [c.value for c in filters.conditions(node)]
    assert values == ["x", "y", 12, -150.0, True, False, None,
                      DateTime("2023-04-19T00:00:00Z", datetime(2023, 4, 19, tzinfo=UTC)), ["p", "q", 3]]


def test_string_escapes():
    node = filters.parse(r'equals(a,"say \"hi\"\n\\ \u00e9"),equals(b,' + r"'it\'s')")
    assert [c.value for c in filters.conditions(node)] == ['say "hi"\n\\ é', "it's"]


@pytest.mark.parametrize("text,expected", [
    ("2023-04-19T00:00:00Z", datetime(2023, 4, 19, tzinfo=UTC)),
    ("2023-04-19T00:00:00+02:00", datetime(2023, 4, 18, 22, tzinfo=UTC)),
    ("2023-04-19T00:00:00-0530", datetime(2023, 4, 19, 5, 30, tzinfo=UTC)),
    ("2023-04-19T00:00:00 02:00", datetime(2023, 4, 18, 22, tzinfo=UTC)),  # '+' decoded as a space
    ("2023-04-19T10:20:30.123456Z", datetime(2023, 4, 19, 10, 20, 30, 123456, tzinfo=UTC)),
    ("2023-04-19T10:20", datetime(2023, 4, 19, 10, 20, tzinfo=UTC)),       # no offset: UTC
    ("2023-04-19", datetime(2023, 4, 19, tzinfo=UTC)),
])
def test_datetimes(text, expected):
    [checked] = filters.validate(f"greater-or-equal(when,{text})", WHITELIST)
    assert checked.value == expected


def test_and_nests_and_top_level_commas_are_and():
    node = filters.parse('and(equals(email,"a"),and(has(profile),less-than(when,2023-01-01T00:00:00Z))),'
                         'equals(vip,true)')
    assert isinstance(node, And)
    assert [(c.operator, c.field) for c in filters.conditions(node)] == [
        ("equals", "email"), ("has", "profile"), ("less-than", "when"), ("equals", "vip")]


def test_whitespace_is_allowed_between_tokens():
    assert filters.validate(' equals( email , "a" ) , has( profile ) ', WHITELIST) == [
        Checked("email", "equals", "a"), Checked("profile", "has", None)]


def test_every_operator_on_a_whitelist():
    checked = filters.validate(
        'equals(email,"a"),any(email,["a","b"]),contains(email,"@x"),starts-with(email,"a"),ends-with(email,".co"),'
        'contains(tags,"t"),contains-any(tags,["t","u"]),contains-all(tags,["t"]),equals(count,3),'
        'greater-than(count,2.5),less-or-equal(count,9),greater-or-equal(when,2023-01-01T00:00:00Z),'
        'less-than(when,2024-01-01T00:00:00Z),equals(vip,false),has(profile)', WHITELIST)
    assert [c.operator for c in checked] == [
        "equals", "any", "contains", "starts-with", "ends-with", "contains", "contains-any", "contains-all",
        "equals", "greater-than", "less-or-equal", "greater-or-equal", "less-than", "equals", "has"]
    assert checked[1].value == ["a", "b"] and checked[12].value == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text,detail", [
    ('contains(count,"1")', "operator 'contains' is not allowed on field 'count' (allowed: equals, greater-than, "
                            "less-or-equal)"),
    ('equals(name,"x")', "field 'name' cannot be filtered on here (filterable fields: email, tags, count, when, "
                         "vip, profile)"),
    ('greater-or-equal(when,"2023-01-01T00:00:00Z")', "greater-or-equal(when,…) needs a datetime like "
                                                      "2023-04-19T00:00:00Z, not the string '2023-01-01T00:00:00Z' "
                                                      "(datetimes go unquoted)"),
    ('equals(count,"3")', "needs a number, not the string '3'"),
    ("equals(email,3)", "needs a quoted string, not the number 3"),
    ("equals(vip,1)", "needs true or false"),
    ('any(email,"a")', "any(email,…) needs a list of string values"),
    ("any(email,[])", "needs a non-empty list"),
    ('equals(email,["a"])', "takes a single string value, not a list"),
    ('equals(email,"a"))', "unexpected ')' at position 18"),
    ('equals(email "a")', "expected ',' and a value after field 'email' but found '\"' at position 14"),
    ("equals(email,'a", "unterminated string (missing closing ') at position 14"),
    ('equals(email,"a\\q")', "unknown escape '\\q' in a string at position 16"),
    ('equal(email,"a")', "unknown operator 'equal' (operators: equals, any,"),
    ('equals(email,"a\u0000")', "strings may not contain NUL"),
    ('equals(email,"\ud800")', "unpaired surrogate"),
    ('not(equals(email,"a"))', "'not' is not supported"),
    ("equals(email,a@b.co)", "'a@b.co' is not a value"),
    ("equals(,\"a\")", "expected a field name but found ',' at position 8"),
    ("greater-or-equal(when,2023-02-30T00:00:00Z)", "'2023-02-30T00:00:00Z' is not a valid datetime at position 23"),
    ("any(email,[[\"a\"]])", "lists cannot be nested"),
    ("", "the filter is empty"),
    ("equals(count,1e999)", "out of range"),
    ("equals(count,99999999999999999999)", "out of range"),
    ('equals(email,"a"),', "expected an operator such as equals(...) but found end of filter at position 19"),
])
def test_errors_name_the_part(text, detail):
    with pytest.raises(FilterError) as caught:
        filters.validate(text, WHITELIST)
    error = caught.value
    assert error.status == 400 and error.parameter == "filter" and error.code == "invalid"
    assert detail in error.detail


def test_limits():
    many = ",".join('equals(email,"a")' for _ in range(filters.MAX_CONDITIONS + 1))
    with pytest.raises(FilterError, match="more than"):
        filters.parse(many)
    long_list = "any(email,[" + ",".join('"a"' for _ in range(filters.MAX_LIST_ITEMS + 1)) + "])"
    with pytest.raises(FilterError, match="at most"):
        filters.parse(long_list)
    deep = "and(" * 20 + "has(profile)" + ")" * 20
    with pytest.raises(FilterError, match="nested"):
        filters.parse(deep)


# -- properties ----------------------------------------------------------------------------------

ALPHABET = st.sampled_from(list('(),[]"\'\\ ,:+-.TZ0123456789aeqlsnyhtrufcdxEAN_$') + ["equals", "any", "and",
                                                                                       "has", "true", "null"])


@settings(max_examples=800, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(ALPHABET, max_size=40).map("".join)))
def test_garbage_only_ever_raises_filter_errors(text):
    try:
        filters.validate(text, WHITELIST)
    except FilterError as error:
        assert error.status == 400 and error.parameter == "filter" and error.detail


strings = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
datetimes = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                         timezones=st.just(UTC))
scalars = st.one_of(strings, st.integers(-10**12, 10**12), st.booleans(), st.none(), datetimes)


def render(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(value)  # strings quoted and escaped, true/false/null, numbers


conditions = st.tuples(st.sampled_from(["equals", "any", "less-than"]), st.sampled_from(["a", "b.c", "_kx"]),
                       st.one_of(scalars, st.lists(scalars, min_size=1, max_size=4)))


@settings(max_examples=300, deadline=None)
@given(st.lists(conditions, min_size=1, max_size=5), st.booleans())
def test_well_formed_filters_parse_back_to_what_was_written(conds, wrap):
    text = ",".join(f"{op}({field},{render(value)})" for op, field, value in conds)
    if wrap:
        text = f"and({text})"
    parsed = filters.conditions(filters.parse(text))

    def plain(v):
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v.value if isinstance(v, DateTime) else v

    assert [(c.operator, c.field, plain(c.value)) for c in parsed] == [
        (op, field, value) for op, field, value in conds]
    assert all(isinstance(c, Condition) for c in parsed)


def test_datetime_rendered_by_footfall_parses_to_the_same_instant():
    moment = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    [checked] = filters.validate(f"less-than(when,{moment.isoformat()})", WHITELIST)
    assert checked.value == moment and checked.value - moment == timedelta(0)
