"""The bodies of a delivery: Klaviyo's envelope (the default) or Standard Webhooks' (per endpoint).

Klaviyo: {"data": [{"external_id", "topic", "payload"}...], "meta": {"klaviyo_account_id",
"klaviyo_webhook_id", "timestamp", "version"}}, up to batch_size messages per request.
Standard Webhooks: {"type", "timestamp", "data"}, one message per request (its type is the topic).
"""

from __future__ import annotations

from typing import Any, Sequence

import msgspec

from footfall.timefmt import iso

VERSION = "2026-07-15"
_encode = msgspec.json.Encoder().encode


def body(fmt: str, account_id: str, webhook_id: str, items: Sequence[dict[str, Any]], now: float) -> bytes:
    if fmt == "standard":
        (item,) = items  # standard deliveries hold one message each
        return _encode({"type": item["topic"], "timestamp": item["created"],
                        "data": {"id": item["id"], **_as_object(item["payload"])}})
    return _encode({
        "data": [{"external_id": i["id"], "topic": i["topic"], "payload": i["payload"]} for i in items],
        "meta": {"klaviyo_account_id": account_id, "klaviyo_webhook_id": webhook_id, "timestamp": iso(now),
                 "version": VERSION},
    })


def _as_object(payload: Any) -> dict[str, Any]:
    return payload if isinstance(payload, dict) else {"value": payload}
