"""JSON Schemas (OpenAPI 3.1 dialect) of the documents Footfall reads and writes: components/schemas.

Resource shapes follow Klaviyo's spec as reference/klaviyo-api.md summarises it; request bodies
describe what the decoders accept (they refuse anything else with a 400 naming the pointer).
"""

from __future__ import annotations

from typing import Any

from footfall.api.openapi_definitions import DEFINITION
from footfall.domain.limits import MERGE_SOURCES_PER_REQUEST as MAX_MERGE_SOURCES
from footfall.domain import topics

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def const(value: str) -> Schema:
    return {"type": "string", "const": value}


STRING = {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}
ANY_OBJECT = {"type": "object", "additionalProperties": True}
SELF_LINKS = obj({"self": {"type": "string", "format": "uri"}}, ("self",))


def resource(type_: str, attributes: Schema, relationships: tuple[str, ...] = ()) -> Schema:
    props: dict[str, Schema] = {"type": const(type_), "id": STRING, "attributes": attributes, "links": SELF_LINKS}
    if relationships:
        props["relationships"] = obj({name: ref("Relationship") for name in relationships})
    return obj(props, ("type", "id", "attributes", "links"))


def single(name: str) -> Schema:
    """A document holding one resource."""
    return obj({"data": ref(name), "links": ref("DocumentLinks"), "included": array(ANY_OBJECT)}, ("data",))


def collection(name: str) -> Schema:
    return obj({"data": array(ref(name)), "links": ref("DocumentLinks"), "included": array(ANY_OBJECT)}, ("data",))


_LOCATION = obj({k: nullable("string") for k in ("address1", "address2", "city", "country", "region", "zip",
                                                 "timezone", "ip")}
                | {"latitude": {"type": ["number", "string", "null"]}, "longitude": {"type": ["number", "string", "null"]}})

# An email in its plain form (what the pattern generates is always accepted); other addresses
# email-validator accepts (RFC 5322, internationalised) are accepted as well, and stored lower-case.
EMAIL = {"type": ["string", "null"], "maxLength": 254,
         "pattern": r"^[A-Za-z0-9_+]{1,32}(\.[A-Za-z0-9_+]{1,32}){0,2}@([A-Za-z0-9]{1,20}\.){1,3}[A-Za-z]{2,20}$",
         "description": "An email address (trimmed, stored lower-case); an invalid one is a 400."}
# E.164, or national with FOOTFALL_DEFAULT_PHONE_REGION; it must be a possible number for its country.
PHONE = {"type": ["string", "null"], "pattern": r"^\+1[2-9][0-9]{2}[2-9][0-9]{6}$",
         "description": "A phone number in E.164 form (e.g. +13239169023; any country's possible number is "
                        "accepted, the pattern shows North American ones); stored as E.164."}
# external_id, anonymous_id, _kx: non-empty (after trimming) text of at most 512 characters, or a number.
IDENTIFIER = {"type": ["string", "number", "null"], "maxLength": 512, "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"}
NUMBER_OR_NUMERIC = {"type": ["number", "string", "null"], "pattern": r"^-?[0-9]{1,3}(\.[0-9]{1,6})?$"}

_LOCATION_STRICT = obj({k: nullable("string") for k in ("address1", "address2", "city", "country", "region", "zip",
                                                        "timezone", "ip")}
                       | {"latitude": NUMBER_OR_NUMERIC, "longitude": NUMBER_OR_NUMERIC}, additionalProperties=False)

_PROFILE_FIELDS: dict[str, Schema] = {
    "email": EMAIL, "phone_number": PHONE, "external_id": IDENTIFIER,
    "anonymous_id": IDENTIFIER, "_kx": IDENTIFIER, "first_name": nullable("string"),
    "last_name": nullable("string"), "organization": nullable("string"), "locale": nullable("string"),
    "title": nullable("string"), "image": nullable("string"), "location": {"oneOf": [_LOCATION_STRICT, {"type": "null"}]},
    "properties": {"type": ["object", "null"], "additionalProperties": True},
    "subscriptions": {**ref("JsonValue"),
                      "description": "Read by /client/subscriptions and the subscription jobs; ignored here."},
}
# What answers hold (anything a write stored).
_PROFILE_ANSWER_FIELDS: dict[str, Schema] = {
    **{k: nullable("string") for k in ("email", "phone_number", "external_id", "anonymous_id", "_kx", "first_name",
                                       "last_name", "organization", "locale", "title", "image")},
    "location": {"oneOf": [_LOCATION, {"type": "null"}]},
    "properties": {"type": ["object", "null"], "additionalProperties": True},
}
# A profile that a write can name: its id, or at least one identifier (else a 400).
_IDENTIFIED = {"anyOf": [
    {"required": ["id"], "properties": {"id": {"type": "string", "minLength": 1}}},
    {"required": ["attributes"], "properties": {"attributes": {"anyOf": [
        {"required": [name], "properties": {name: {"type": "string" if name in ("email", "phone_number")
                                                   else ["string", "number"]}}}
        for name in ("email", "phone_number", "external_id", "anonymous_id", "_kx")]}}},
]}

_NULLABLE_OBJECT = {"type": ["object", "null"], "additionalProperties": True}
_PATCH_META = {**obj({
    "patch_properties": {**obj({"append": _NULLABLE_OBJECT, "unappend": _NULLABLE_OBJECT,
                                "unset": {"oneOf": [STRING, array(STRING)]}}, additionalProperties=False),
                         "type": ["object", "null"]},
    "patch_identifiers": {"type": "null", "description": "Not supported (refused with a 400): a profile "
                          "holds one email, phone_number and external_id, set in attributes."},
}, additionalProperties=False), "type": ["object", "null"]}

_PROFILE_INPUT = {**obj({"type": const("profile"), "id": STRING,
                         "attributes": obj(_PROFILE_FIELDS, additionalProperties=False),
                         "meta": _PATCH_META}, ("type",)), **_IDENTIFIED}
# POST /api/profiles: a new profile, so no id; an identifier is required.
_PROFILE_NEW = {**obj({"type": const("profile"), "attributes": obj(_PROFILE_FIELDS, additionalProperties=False),
                       "meta": _PATCH_META}, ("type", "attributes")),
                "not": {"required": ["id"]}, "anyOf": _IDENTIFIED["anyOf"][1:]}

NON_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"  # something besides whitespace, no NUL
_METRIC_INPUT = obj({"data": obj({"type": const("metric"),
                                  "attributes": obj({"name": {"type": "string", "maxLength": 128, "pattern": NON_BLANK,
                                                              "description": "Trimmed; 1 to 128 characters."},
                                                     "service": STRING}, ("name",))},
                                 ("type", "attributes"))}, ("data",))

# An event's time: ISO 8601 (offset optional, UTC assumed), from 2000-01-01 to a year ahead (else a 400).
EVENT_TIME = {"type": "string", "pattern": r"^20(0[0-9]|1[0-9]|2[0-6])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                                           r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]0[0-9]:00)?$",
              "description": "ISO 8601 datetime, between 2000-01-01 and one year from now (else a 400); "
                             "stored to the second."}
_EVENT_ATTRIBUTES = {
    "properties": ANY_OBJECT,
    "time": EVENT_TIME,
    "value": {"type": ["number", "null"], "description": "A number (a numeric string is a 400)."},
    "value_currency": {"type": ["string", "null"], "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217, e.g. USD."},
    "unique_id": {"type": ["string", "number", "null"], "maxLength": 512,
                  "description": "The idempotency key (at most 512 characters)."},
    "backfill": {"type": "boolean"},
}

_EVENT_CREATE = obj({"data": obj({
    "type": const("event"),
    "attributes": obj({**_EVENT_ATTRIBUTES, "metric": _METRIC_INPUT,
                       "profile": obj({"data": _PROFILE_INPUT}, ("data",))},
                      ("properties", "metric", "profile"), additionalProperties=False),
}, ("type", "attributes"))}, ("data",))

_BULK_ENTRY = obj({
    "type": const("event-bulk-create"),
    "attributes": obj({
        "profile": obj({"data": _PROFILE_INPUT}, ("data",)),
        "events": obj({"data": array(obj({"type": const("event"),
                                          "attributes": obj({**_EVENT_ATTRIBUTES, "metric": _METRIC_INPUT},
                                                            ("properties", "metric"), additionalProperties=False)},
                                         ("type", "attributes")), minItems=1, maxItems=1000)}, ("data",)),
        "backfill": {"type": "boolean"},
    }, ("profile", "events"), additionalProperties=False),
}, ("type", "attributes"))

# Consent given on /client/subscriptions: email marketing; SMS marketing and transactional. consented_at, if
# given, is not in the future (the pattern shows past years).
PAST_TIME = {**EVENT_TIME, "pattern": EVENT_TIME["pattern"].replace("2[0-6])", "2[0-5])"),
             "description": "ISO 8601 datetime in the past (from 2000-01-01)."}
EMAIL_GIVEN = {**EMAIL, "type": "string"}
PHONE_GIVEN = {**PHONE, "type": "string"}
ABSENT = {"type": "null"}


def _strict(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return obj(properties, required, additionalProperties=False, **extra)


def _by_identifiers(base: dict[str, Schema], channels: dict[str, Schema], *, subscriptions_required: bool = False,
                    nullable_subscriptions: bool = True) -> list[Schema]:
    """Profile attributes naming an email, a phone number or both, each with only the channels its identifiers
    allow (email -> email, phone_number -> sms): a channel without its identifier is a 400."""
    out = []
    for given in (("email",), ("phone_number",), ("email", "phone_number")):
        allowed = {c: channels[c] for c, ident in (("email", "email"), ("sms", "phone_number")) if ident in given}
        subs = _strict(allowed, tuple(allowed) if len(allowed) == 1 else (), minProperties=1)
        if nullable_subscriptions:
            subs = {"anyOf": [subs, ABSENT]}
        props = {**base, "email": EMAIL_GIVEN if "email" in given else ABSENT,
                 "phone_number": PHONE_GIVEN if "phone_number" in given else ABSENT, "subscriptions": subs}
        out.append(_strict(props, (*given, *(("subscriptions",) if subscriptions_required else ()))))
    return out


def _consent(value: str, *, at: str) -> Schema:
    """{consent, consented_at}; consented_at is "optional" (a past time or null), "required", "null" (null or
    left out) or "absent" (not a member)."""
    props: dict[str, Schema] = {"consent": {"type": "string", "enum": [value]}}
    if at != "absent":
        props["consented_at"] = {"required": PAST_TIME, "null": ABSENT}.get(at, {"anyOf": [PAST_TIME, ABSENT]})
    return _strict(props, ("consent", *(("consented_at",) if at == "required" else ())))


def _channels(value: str, *, at: str) -> dict[str, Schema]:
    kind = _consent(value, at=at)
    return {"email": _strict({"marketing": kind}, ("marketing",)),
            "sms": _strict({"marketing": kind, "transactional": kind}, minProperties=1)}


_CLIENT_SUBSCRIBER = {"anyOf": [obj({
    "type": const("profile"), "id": {"type": "string", "minLength": 1,
                                     "description": "A profile of this account (else a 404)."},
    "attributes": attrs, "meta": _PATCH_META}, ("type", "attributes"), additionalProperties=True)
    for attrs in _by_identifiers({k: v for k, v in _PROFILE_FIELDS.items() if k != "subscriptions"},
                                 _channels("SUBSCRIBED", at="optional"))]}

PATH_ID = {"type": "string", "description": "The id in the path (anything else is a 400)."}
GROUP_NAME = {"type": "string", "maxLength": 255, "pattern": NON_BLANK,
              "description": "Not only whitespace; at most 255 characters."}
PROFILE_ID = {"type": "string", "minLength": 1, "description": "A profile id (one of this account, else a 404)."}

_PROFILE_REFS = obj({"data": array(obj({"type": const("profile"), "id": PROFILE_ID}, ("type", "id")),
                                   minItems=1, maxItems=1000)}, ("data",))
_LIST_REF = obj({"data": obj({"type": const("list"), "id": {"type": "string", "minLength": 1, "maxLength": 64,
                                                           "description": "A list of this account (else a 404)."}},
                             ("type", "id"))}, ("data",))


def _subscription_job(type_: str, consent: str, *, subscribe: bool) -> Schema:
    """A subscribe (or unsubscribe) job body: up to 1000 (100) profiles, each with an email and/or a phone
    number and the consent per channel its identifiers allow; with historical_import: true (subscribe only)
    every subscription carries a past consented_at, without it none does."""
    def profiles(at: str) -> Schema:
        base = {"age_gated_date_of_birth": ref("JsonValue")}
        member = {"type": const("profile"), "attributes": {}}
        if subscribe:
            member["id"] = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 64,
                                       "description": "A profile of this account (else a 404)."}, ABSENT]}
        people = [_strict({**member, "attributes": attrs}, ("type", "attributes"))
                  for attrs in _by_identifiers(base, _channels(consent, at=at), subscriptions_required=at == "required",
                                               nullable_subscriptions=at != "required")]
        return _strict({"data": array({"anyOf": people}, minItems=1, maxItems=1000 if subscribe else 100)}, ("data",))

    if subscribe:
        source = {"custom_source": {"type": ["string", "null"]}}
        attributes: Schema = {"anyOf": [
            _strict({"profiles": profiles("null"), **source,
                     "historical_import": {"type": "boolean", "const": False}}, ("profiles",)),
            _strict({"profiles": profiles("required"), **source,
                     "historical_import": {"type": "boolean", "const": True}}, ("profiles", "historical_import")),
        ]}
    else:
        attributes = _strict({"profiles": profiles("absent")}, ("profiles",))
    return obj({"data": obj({
        "type": const(type_), "attributes": attributes,
        "relationships": {"anyOf": [_strict({"list": _LIST_REF}), ABSENT]},
    }, ("type", "attributes"))}, ("data",))


# The metric-aggregates filter strings as the pattern spells them (wire/aggregate_query.py reads more).
_AGG_TIME = (r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
             r"(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](Z|[+-]0[0-9]:00)?)?")
_LOWER_BOUND = rf"(greater-or-equal|greater-than)\(datetime,{_AGG_TIME}\)"
_UPPER_BOUND = rf"(less-than|less-or-equal)\(datetime,{_AGG_TIME}\)"
_BOUND = f"({_LOWER_BOUND}|{_UPPER_BOUND})"
_AGG_FIELD = r"(\$value_currency|[A-Z][A-Za-z0-9_]{0,20})"  # not `datetime`, which takes only the bounds
_AGG_VALUE = r'("[^"\\\x00]{0,20}"|-?[0-9]{1,6}|true|false)'
DIMENSION_CONDITION = rf"(equals\({_AGG_FIELD},{_AGG_VALUE}\)|any\({_AGG_FIELD},\[{_AGG_VALUE}(,{_AGG_VALUE}){{0,3}}\]\))"
_MEASURES = ("count", "sum_value", "unique")
# Sorting by a measurement needs it among `measurements` (a schema cannot say "a dimension in `by`").
_SORTED = [{"if": {"properties": {"sort": {"enum": [m, f"-{m}"]}}, "required": ["sort"]},
            "then": {"properties": {"measurements": {"contains": {"const": m}}}}} for m in _MEASURES]

SCHEMAS: dict[str, Schema] = {
    # -- errors and links ---------------------------------------------------------------------------
    "Error": obj({
        "id": STRING, "status": {"type": "integer"}, "code": STRING, "title": STRING, "detail": STRING,
        "source": obj({"pointer": STRING, "parameter": STRING}), "links": ANY_OBJECT, "meta": ANY_OBJECT,
    }, ("id", "status", "code", "title", "detail")),
    "ErrorDocument": obj({"errors": array(ref("Error"), minItems=1)}, ("errors",)),
    "DocumentLinks": obj({"self": STRING, "next": nullable("string"), "prev": nullable("string"),
                          "first": nullable("string"), "last": nullable("string")}),
    "Relationship": obj({"data": {"oneOf": [obj({"type": STRING, "id": STRING}, ("type", "id")),
                                            array(obj({"type": STRING, "id": STRING}, ("type", "id"))),
                                            {"type": "null"}]},
                         "links": obj({"self": STRING, "related": STRING})}),
    "ResourceIdentifier": obj({"type": STRING, "id": STRING}, ("type", "id")),
    # -- resources ------------------------------------------------------------------------------------
    "Event": resource("event", obj({"timestamp": {"type": "integer"}, "event_properties": ANY_OBJECT,
                                    "datetime": DATETIME, "uuid": STRING}), ("profile", "metric")),
    "Profile": resource("profile", obj({**_PROFILE_ANSWER_FIELDS, "created": nullable("string"),
                                        "updated": nullable("string"), "last_event_date": nullable("string"),
                                        "subscriptions": ANY_OBJECT, "predictive_analytics": ANY_OBJECT}),
                        ("lists", "segments")),
    "Metric": resource("metric", obj({"name": STRING, "created": STRING, "updated": STRING,
                                      "integration": {"type": ["object", "null"]}})),
    "Segment": resource("segment", obj({"name": STRING, "definition": ANY_OBJECT, "created": STRING,
                                        "updated": STRING, "is_active": {"type": "boolean"},
                                        "is_processing": {"type": "boolean"}, "is_starred": {"type": "boolean"},
                                        "profile_count": {"type": "integer"}}),
                        ("profiles",)),
    "List": resource("list", obj({"name": STRING, "created": STRING, "updated": STRING,
                                  "opt_in_process": STRING, "profile_count": {"type": "integer"}}), ("profiles",)),
    "EventBulkCreateJob": resource("event-bulk-create-job", obj({
        "status": {"type": "string", "enum": ["queued", "processing", "complete", "cancelled"]},
        "total_count": {"type": "integer"}, "completed_count": {"type": "integer"},
        "failed_count": {"type": "integer"}, "created_at": DATETIME, "completed_at": nullable("string"),
    })),
    "MetricAggregate": resource("metric-aggregate", obj({
        "dates": array(DATETIME),
        "data": array(obj({"dimensions": array(STRING),
                           "measurements": obj({m: array({"type": "number"}) for m in ("count", "sum_value", "unique")})},
                          ("dimensions", "measurements"))),
    })),
    # -- request bodies -------------------------------------------------------------------------------
    "EventCreate": _EVENT_CREATE,
    "ClientEventCreate": _EVENT_CREATE,
    "ProfileInput": obj({"data": _PROFILE_INPUT}, ("data",)),
    "ProfileCreate": obj({"data": _PROFILE_NEW}, ("data",)),
    "ProfilePatch": obj({"data": obj({"type": const("profile"), "id": PATH_ID,
                                      "attributes": obj(_PROFILE_FIELDS, additionalProperties=False),
                                      "meta": _PATCH_META}, ("type", "id"))}, ("data",)),
    "ProfileMerge": obj({"data": obj({
        "type": const("profile-merge"), "id": {**PROFILE_ID, "description": "The destination profile."},
        "relationships": obj({"profiles": obj({"data": {"oneOf": [
            array(obj({"type": const("profile"), "id": PROFILE_ID}, ("type", "id")), minItems=1,
                  maxItems=MAX_MERGE_SOURCES),
            obj({"type": const("profile"), "id": PROFILE_ID}, ("type", "id"))],
            "description": "The profiles merged into the destination (not the destination itself: a 400)."}},
            ("data",))}, ("profiles",)),
    }, ("type", "id", "relationships"))}, ("data",)),
    "ClientSubscriptionCreate": obj({"data": obj({
        "type": const("subscription"),
        "attributes": _strict({"custom_source": {"type": ["string", "null"]},
                               "profile": obj({"data": _CLIENT_SUBSCRIBER}, ("data",))}, ("profile",)),
        "relationships": {"anyOf": [_strict({"list": _LIST_REF}), ABSENT]},
    }, ("type", "attributes"))}, ("data",)),
    "ClientEventBulkCreate": obj({"data": _BULK_ENTRY}, ("data",)),
    "EventBulkCreateJobCreate": obj({"data": obj({
        "type": const("event-bulk-create-job"),
        "attributes": obj({"events-bulk-create": obj({"data": array(_BULK_ENTRY, minItems=1, maxItems=1000)},
                                                     ("data",))}, ("events-bulk-create",)),
    }, ("type", "attributes"))}, ("data",)),
    "MetricAggregateQuery": obj({"data": obj({
        "type": const("metric-aggregate"),
        "attributes": obj({
            "metric_id": STRING,
            "measurements": array({"type": "string", "enum": ["count", "sum_value", "unique"]}, minItems=1),
            "interval": {"type": "string", "enum": ["hour", "day", "week", "month"], "default": "day"},
            "filter": array({"type": "string", "pattern": f"^({_BOUND}|{DIMENSION_CONDITION})$"}, minItems=2,
                            allOf=[{"contains": {"pattern": f"^{_LOWER_BOUND}$"}},
                                   {"contains": {"pattern": f"^{_UPPER_BOUND}$"}}],
                            description="Filter strings; a datetime range is required, e.g. "
                            "greater-or-equal(datetime,2025-01-01T00:00:00) and less-than(datetime,2025-02-01T00:00:00), "
                            "from 1990 on, its end after its start, at most one year long (else a 400). Also "
                            "equals(<dimension>,value) and any(<dimension>,[…]) on event properties (any name; the "
                            "pattern shows simple ones) or $value_currency; several conditions may share a string "
                            "(comma-separated or in and(…))."),
            "timezone": {"type": "string", "default": "UTC", "description": "IANA name, case-sensitive."},
            "by": array({"type": "string", "maxLength": 255, "pattern": '^[^"\\x00]+$'}, maxItems=5, uniqueItems=True,
                        description="Event property names (no double quote), or $value_currency; each once."),
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500},
            "page_cursor": {"type": ["string", "null"], "description": "A cursor from a previous answer."},
            "sort": {"anyOf": [ABSENT, {"type": "string", "enum": [f"{d}{m}" for m in _MEASURES for d in ("", "-")]}],
                     "description": "A requested measurement, or a dimension in `by` (e.g. -Item), a leading - for "
                                    "descending; anything else is a 400."},
            "return_fields": {"anyOf": [ABSENT, array({"type": "string", "enum": ["dates", "data"]})]},
        }, ("metric_id", "measurements", "filter"), additionalProperties=False, allOf=_SORTED),
    }, ("type", "attributes"))}, ("data",)),
    "SegmentCreate": obj({"data": obj({"type": const("segment"), "attributes": obj(
        {"name": GROUP_NAME, "definition": DEFINITION, "is_starred": ref("JsonValue")}, ("name", "definition"))},
        ("type", "attributes"))}, ("data",)),
    "ListCreate": obj({"data": obj({"type": const("list"), "attributes": obj({"name": GROUP_NAME}, ("name",))},
                                   ("type", "attributes"))}, ("data",)),
    "SegmentUpdate": obj({"data": obj({"type": const("segment"), "id": PATH_ID, "attributes": obj(
        {"name": {"anyOf": [GROUP_NAME, ABSENT]}, "definition": {"anyOf": [DEFINITION, ABSENT]},
         "is_starred": ref("JsonValue")})}, ("type", "id", "attributes"))}, ("data",)),
    "ListUpdate": obj({"data": obj({"type": const("list"), "id": PATH_ID, "attributes": obj(
        {"name": GROUP_NAME}, ("name",))}, ("type", "id", "attributes"))}, ("data",)),
    "ProfileReferences": _PROFILE_REFS,
    "SubscriptionJobCreate": _subscription_job("profile-subscription-bulk-create-job", "SUBSCRIBED", subscribe=True),
    "SubscriptionJobDelete": _subscription_job("profile-subscription-bulk-delete-job", "UNSUBSCRIBED", subscribe=False),
    # -- legacy ---------------------------------------------------------------------------------------
    "LegacyPayload": obj({"token": STRING, "event": STRING, "customer_properties": ANY_OBJECT,
                          "properties": ANY_OBJECT, "time": {"type": ["integer", "number", "string"]}},
                         ("token",)),
    "LegacyVerbose": obj({"status": {"type": "integer", "enum": [0, 1]}, "error": STRING, "profile_id": STRING,
                          "event_id": nullable("string"), "duplicate": {"type": "boolean"}, "warnings": array(STRING)},
                         ("status",)),
    "ProfileExchangeId": obj({"data": obj({
        "type": const("profile-exchange-id"), "id": STRING,
        "attributes": obj({"exchange_id": {"type": "string", "pattern": r"^[\w\-=]+\.\w+$",
                                           "description": "`<token>.<public key>`: add `?_kx=<it>` to links."}},
                          ("exchange_id",)),
        "relationships": obj({"profile": ref("Relationship")})}, ("type", "id", "attributes"))}, ("data",)),
    "OnsiteProfileAnswer": obj({"meta": obj({"exchange_id": STRING, "should_clear_cookie": {"type": "boolean"}},
                                            ("exchange_id", "should_clear_cookie"))}, ("meta",)),
    "Health": obj({"status": {"type": "string", "enum": ["ok", "degraded", "unhealthy"]}}, ("status",),
                  additionalProperties=True),
}


# -- webhooks (issue 11) ------------------------------------------------------------------------------

def _topic_id() -> Schema:
    """The fixed topics, and event:<metric slug> as topics.is_wellformed reads it."""
    fixed = "|".join(topics.FIXED)
    return {"type": "string", "pattern": rf"^({fixed}|event:[a-z0-9_]{{1,200}})$",
            "description": "A topic: " + ", ".join(topics.FIXED) + ", or event:<metric slug>."}


_TOPIC_REFS = obj({"data": array(obj({"type": const("webhook-topic"), "id": _topic_id()}, ("type", "id")),
                                 minItems=1, maxItems=100)}, ("data",))
# An https URL with a public host name, as the pattern spells it; any https URL with a host is accepted
# (plain http only for hosts FOOTFALL_WEBHOOK_ALLOW names), and where it resolves is checked when sending.
_ENDPOINT_URL = {"type": "string", "maxLength": 2048,
                 "pattern": r"^https://[a-z][a-z0-9]{0,20}(\.[a-z][a-z0-9]{0,20}){1,3}(/[A-Za-z0-9._~-]{0,30}){0,4}$",
                 "description": "https (plain http only for hosts FOOTFALL_WEBHOOK_ALLOW names); no user or password."}
_WEBHOOK_ATTRIBUTES: dict[str, Schema] = {
    "name": {"type": "string", "maxLength": 255, "pattern": NON_BLANK}, "description": nullable("string", maxLength=1000),
    "endpoint_url": _ENDPOINT_URL,
    "secret_key": {"type": "string", "minLength": 16, "maxLength": 256, "description": "Never echoed back."},
    "enabled": {"type": "boolean"}, "format": {"type": "string", "enum": ["klaviyo", "standard"]},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000},
    "group_ids": array({"type": "string", "minLength": 1, "maxLength": 64}, maxItems=100),
}
SCHEMAS.update({
    "Webhook": resource("webhook", obj({
        "name": STRING, "description": nullable("string"), "endpoint_url": STRING, "enabled": {"type": "boolean"},
        "created_at": DATETIME, "updated_at": DATETIME, "format": STRING, "batch_size": {"type": "integer"},
        "group_ids": array(STRING), "failing_since": nullable("string"), "disabled_reason": nullable("string")}),
        ("webhook-topics",)),
    "WebhookTopic": resource("webhook-topic", obj({"name": STRING})),
    "WebhookDelivery": resource("webhook-delivery", obj({
        "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]}, "attempts": {"type": "integer"},
        "next_attempt_at": nullable("string"), "message_ids": array(STRING), "message_count": {"type": "integer"},
        "last_status_code": {"type": ["integer", "null"]}, "last_error": nullable("string"),
        "created_at": DATETIME, "updated_at": DATETIME}), ("webhook",)),
    "WebhookDeliveryAttempt": resource("webhook-delivery-attempt", obj({
        "attempt": {"type": "integer"}, "started_at": DATETIME, "status_code": {"type": ["integer", "null"]},
        "latency_ms": {"type": "number"}, "response": nullable("string"), "error": nullable("string")})),
    "WebhookReplay": obj({"type": const("webhook-replay"), "id": STRING,
                          "attributes": obj({"deliveries": {"type": "integer"}, "delivery_ids": array(STRING)})},
                         ("type", "id", "attributes")),
    "WebhookCreate": obj({"data": obj({
        "type": const("webhook"),
        "attributes": obj(_WEBHOOK_ATTRIBUTES, ("name", "endpoint_url", "secret_key")),
        "relationships": obj({"webhook-topics": _TOPIC_REFS}, ("webhook-topics",)),
    }, ("type", "attributes", "relationships"))}, ("data",)),
    "WebhookUpdate": obj({"data": obj({
        "type": const("webhook"), "id": STRING, "attributes": obj(_WEBHOOK_ATTRIBUTES),
        "relationships": obj({"webhook-topics": _TOPIC_REFS}),
    }, ("type", "id"))}, ("data",)),
    "WebhookReplayCreate": obj({"data": obj({
        "type": const("webhook-replay"),
        "attributes": obj({"start": DATETIME, "end": DATETIME}, ("start", "end")),
    }, ("type", "attributes"))}, ("data",)),
})
