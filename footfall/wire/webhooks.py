"""Webhook request bodies -> validated fields, and the webhook resources (JSON:API, Klaviyo's shapes).

Create: {"data": {"type": "webhook", "attributes": {"name"*, "description", "endpoint_url"*,
"secret_key"*, "enabled", "format", "batch_size", "group_ids"}, "relationships": {"webhook-topics"*:
{"data": [{"type": "webhook-topic", "id": "event:placed_order"}, ...]}}}}. The secret is never echoed.
Every refusal names the JSON pointer of what is wrong.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from footfall.domain import topics
from footfall.timefmt import iso
from footfall.webhooks import ssrf
from footfall.wire.jsonapi import invalid
from footfall.domain.limits import (
    WEBHOOK_TOPICS as MAX_TOPICS,
    WEBHOOK_GROUPS as MAX_GROUPS,
    WEBHOOK_BATCH as MAX_BATCH,
    WEBHOOK_URL_CHARS as MAX_URL,
    WEBHOOK_TEXT_CHARS as MAX_TEXT,
)
from footfall.domain.json_numbers import whole_number

FORMATS = ("klaviyo", "standard")
MIN_SECRET, MAX_SECRET = 16, 256
A = "/data/attributes"


def webhook_fields(doc: Any, allow: ssrf.Allow, *, creating: bool, webhook_id: str | None = None,
                   default_batch: int = 100) -> dict[str, Any]:
    data = _data(doc, "webhook", webhook_id)
    attributes = data.get("attributes", {} if not creating else None)
    if not isinstance(attributes, dict):
        raise invalid("attributes must be an object", pointer=A)
    fields: dict[str, Any] = {}
    for name in ("name", "endpoint_url", "secret_key"):
        if creating and attributes.get(name) is None:
            raise invalid(f"{name} is required", pointer=f"{A}/{name}")
    if "name" in attributes:
        fields["name"] = _text(attributes["name"], "name", 255, required=True)
    if "description" in attributes:
        fields["description"] = None if attributes["description"] is None else _text(attributes["description"],
                                                                                        "description", MAX_TEXT)
    if "endpoint_url" in attributes:
        url = _text(attributes["endpoint_url"], "endpoint_url", MAX_URL, required=True)
        try:
            ssrf.check_url(url, allow)
        except ssrf.Refused as exc:
            raise invalid(str(exc), pointer=f"{A}/endpoint_url") from None
        fields["endpoint_url"] = url
    if "secret_key" in attributes:
        secret = _text(attributes["secret_key"], "secret_key", MAX_SECRET, required=True)
        if len(secret) < MIN_SECRET:
            raise invalid(f"secret_key must be at least {MIN_SECRET} characters", pointer=f"{A}/secret_key")
        fields["secret_key"] = secret
    if "enabled" in attributes:
        if not isinstance(attributes["enabled"], bool):
            raise invalid("enabled must be true or false", pointer=f"{A}/enabled")
        fields["enabled"] = attributes["enabled"]
    if "format" in attributes:
        if attributes["format"] not in FORMATS:
            raise invalid(f"format must be one of {', '.join(FORMATS)}", pointer=f"{A}/format")
        fields["format"] = attributes["format"]
    if "batch_size" in attributes:
        size = whole_number(attributes["batch_size"])
        if size is None or not 1 <= size <= MAX_BATCH:
            raise invalid(f"batch_size must be a whole number from 1 to {MAX_BATCH}", pointer=f"{A}/batch_size")
        fields["batch_size"] = size
    elif creating:
        fields["batch_size"] = default_batch
    if "group_ids" in attributes:
        fields["group_ids"] = _ids(attributes["group_ids"], f"{A}/group_ids")
    relationships = data.get("relationships")
    if relationships is not None and not isinstance(relationships, dict):
        raise invalid("relationships must be an object", pointer="/data/relationships")
    linked = (relationships or {}).get("webhook-topics")
    if linked is None and creating:
        raise invalid("relationships.webhook-topics is required: the topics to deliver",
                      pointer="/data/relationships/webhook-topics")
    if linked is not None:
        fields["topics"] = topic_ids(linked)
    return fields


def topic_ids(linked: Any) -> list[str]:
    base = "/data/relationships/webhook-topics"
    items = linked.get("data") if isinstance(linked, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("webhook-topics.data must be a non-empty list of webhook-topic identifiers", pointer=f"{base}/data")
    if len(items) > MAX_TOPICS:
        raise invalid(f"at most {MAX_TOPICS} topics", pointer=f"{base}/data")
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != "webhook-topic" or not isinstance(item.get("id"), str):
            raise invalid('each topic must be {"type": "webhook-topic", "id": "..."}', pointer=f"{base}/data/{i}")
        if not topics.is_wellformed(item["id"]):
            raise invalid(f"{item['id'][:100]!r} is not a topic (event:<metric slug>, or one of "
                          f"{', '.join(topics.FIXED)})", pointer=f"{base}/data/{i}/id")
        out.append(item["id"])
    return list(dict.fromkeys(out))


def _data(doc: Any, type_: str, resource_id: str | None) -> dict[str, Any]:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON:API document with a `data` object", pointer="/data")
    if data.get("type") != type_:
        raise invalid(f"data.type must be {type_!r}", pointer="/data/type")
    if resource_id is not None and data.get("id") != resource_id:
        raise invalid("data.id must be the id in the URL", pointer="/data/id")
    return data


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{name} must be a {'non-empty ' if required else ''}string", pointer=f"{A}/{name}")
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters", pointer=f"{A}/{name}")
    if "\x00" in value:
        raise invalid(f"{name} must not contain NUL characters", pointer=f"{A}/{name}")
    return value


def _ids(value: Any, pointer: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_GROUPS or not all(
            isinstance(v, str) and 0 < len(v) <= 64 and "\x00" not in v for v in value):
        raise invalid(f"must be a list of at most {MAX_GROUPS} segment or list ids", pointer=pointer)
    return list(dict.fromkeys(value))


def replay_range(doc: Any, parse_time: Any) -> tuple[float, float]:
    data = _data(doc, "webhook-replay", None)
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("attributes must be an object with start and end", pointer=A)
    bounds = []
    for name in ("start", "end"):
        raw = attributes.get(name)
        moment = parse_time(raw) if isinstance(raw, str) and len(raw) <= 64 else None
        if moment is None:
            raise invalid(f"{name} must be an ISO 8601 datetime like 2026-01-01T00:00:00Z", pointer=f"{A}/{name}")
        bounds.append(moment)
    if bounds[1] <= bounds[0]:
        raise invalid("end must be after start", pointer=f"{A}/end")
    return bounds[0], bounds[1]


# -- resources ------------------------------------------------------------------------------------

def shown_url(url: str) -> str:
    """endpoint_url as Klaviyo shows it, truncated for security: scheme, host and the start of the path."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{parts.scheme}://{parts.netloc}{path[:12]}{'…' if len(path) > 12 or parts.query else ''}"


def webhook(base: str, row: dict[str, Any]) -> dict[str, Any]:
    wid = row["id"]
    return {
        "type": "webhook",
        "id": wid,
        "attributes": {
            "name": row["name"],
            "description": row["description"],
            "endpoint_url": shown_url(row["endpoint_url"]),
            "enabled": row["enabled"],
            "created_at": iso(row["created"]),
            "updated_at": iso(row["updated"]),
            "format": row["format"],
            "batch_size": row["batch_size"],
            "group_ids": row["group_ids"],
            "failing_since": iso(row["failing_since"]),
            "disabled_reason": row["disabled_reason"],
        },
        "relationships": {"webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in row["topics"]]}},
        "links": {"self": f"{base}/api/webhooks/{wid}"},
    }


def topic(base: str, topic_id: str, name: str) -> dict[str, Any]:
    return {"type": "webhook-topic", "id": topic_id, "attributes": {"name": name},
            "links": {"self": f"{base}/api/webhook-topics/{topic_id}"}}


def delivery(base: str, row: dict[str, Any]) -> dict[str, Any]:
    did = row["id"]
    return {
        "type": "webhook-delivery",
        "id": did,
        "attributes": {
            "status": row["status"],
            "attempts": row["attempts"],
            "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
            "message_ids": row["message_ids"],
            "message_count": len(row["message_ids"]),
            "last_status_code": row["last_status"],
            "last_error": row["last_error"],
            "created_at": iso(row["created"]),
            "updated_at": iso(row["updated"]),
        },
        "relationships": {"webhook": {"data": {"type": "webhook", "id": row["webhook_id"]}}},
        "links": {"self": f"{base}/api/webhook-deliveries/{did}"},
    }


def attempt(base: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "webhook-delivery-attempt",
        "id": f"{row['delivery_id']}-{row['attempt']}",
        "attributes": {"attempt": row["attempt"], "started_at": iso(row["started"]), "status_code": row["status_code"],
                       "latency_ms": row["latency_ms"], "response": row["response"], "error": row["error"]},
        "links": {"self": f"{base}/api/webhook-deliveries/{row['delivery_id']}/attempts"},
    }
