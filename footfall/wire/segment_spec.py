"""The Segment tracking API (`/v1/*`, also RudderStack's): messages as TrackOps.

One message is one TrackOp. identify and group change the profile only; track, page and screen
add an event; alias ties `previousId` (an anonymous id) to `userId`, merged by the identity rules
(an anonymous-only profile is merged; an identified one never is). Paths in InvalidInput start at
the message ('batch[3].traits.email' in a batch, 'traits.email' for a single call).
"""

from __future__ import annotations

from typing import Any

import msgspec

from footfall import ids
from footfall.domain import events
from footfall.refusals import InvalidInput, LimitExceeded
from footfall.domain.limits import Limits, check_properties
from footfall.domain.models import Event, ProfilePatch, TrackOp
from footfall.wire.sources import (
    SharedContexts,
    SharedPatches,
    Source,
    apply_traits,
    corrected_time,
    identifier,
    kept_context,
    kind_of,
    obj,
    parse_time,
    placed,
    value_and_currency,
)
from footfall.domain.limits import SEGMENT_MESSAGE_BYTES as MAX_MESSAGE_BYTES

TYPES = ("identify", "track", "page", "screen", "group", "alias")
PAGE_METRIC = "Viewed Page"
SCREEN_METRIC = "Viewed Screen"
_encode = msgspec.json.Encoder().encode


def write_key_of(body: Any) -> str | None:
    """The `writeKey` of a body (the SDKs that do not use Basic auth send it here)."""
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        return body["writeKey"]
    return None


def decode_batch(body: Any, source: Source, limits: Limits, now: float, *, phone_region: str | None = None,
                 body_bytes: int | None = None) -> tuple[list[TrackOp], list[str]]:
    """`{"batch": [message, …], "context"?, "sentAt"?, "writeKey"?}` -> (ops, paths).

    body_bytes: the size of the JSON text `body` was read from by source_body.json_value (which refuses
    a NUL anywhere in it). When it is within the message limit no message can exceed it, and the
    messages are not measured one by one; within the string limit, no string can exceed that
    (limits.check_properties, strings_checked)."""
    measure = body_bytes is None or body_bytes > MAX_MESSAGE_BYTES
    strings_checked = body_bytes is not None and body_bytes <= limits.max_string_bytes
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object with `batch`, got {kind_of(body)}", "")
    items = body.get("batch")
    if not isinstance(items, list):
        raise InvalidInput(f"must be an array of messages, got {kind_of(items)}", "batch")
    if not items:
        raise InvalidInput("at least one message is required", "batch")
    shared_context = obj(body.get("context"), "context")
    sent_at = parse_time(body.get("sentAt"), "sentAt")
    patches, contexts = SharedPatches(), SharedContexts()
    ops, paths = [], []
    for i, message in enumerate(items):
        path = f"batch[{i}]"
        if not isinstance(message, dict):
            raise InvalidInput(f"must be a message object, got {kind_of(message)}", path)
        kind = message.get("type")
        if kind not in TYPES:
            raise InvalidInput(f"type must be one of {', '.join(TYPES)}, got {kind!r}", f"{path}.type")
        try:
            ops.append(decode_message(kind, message, source, limits, now, sent_at=sent_at,
                                      shared_context=shared_context, phone_region=phone_region, measure=measure,
                                      strings_checked=strings_checked, batch=patches, contexts=contexts))
        except InvalidInput as exc:
            raise placed(exc, path) from None
        paths.append(path)
    return ops, paths


def decode_message(kind: str, message: Any, source: Source, limits: Limits, now: float, *,
                   sent_at: float | None = None, shared_context: dict[str, Any] | None = None,
                   phone_region: str | None = None, measure: bool = True, strings_checked: bool = False,
                   batch: SharedPatches | None = None, contexts: SharedContexts | None = None) -> TrackOp:
    """One message of the given type (from the path for single calls, from `type` in a batch).

    batch: the patches of the batch the message is in, so that a run of messages for one person maps
    its profile part once; contexts: its kept contexts, so that a run with the same one holds one. Refusals name a field of the message ('traits.email'); one of the message
    as a whole names the field a single call lacks ('userId'), in a batch none (the batch names the
    message)."""
    if not isinstance(message, dict):
        raise InvalidInput(f"the message must be a JSON object, got {kind_of(message)}", "")
    size = len(_encode(message)) if measure else 0
    if size > MAX_MESSAGE_BYTES:
        raise LimitExceeded(f"message of {size} bytes, more than the limit of {MAX_MESSAGE_BYTES} (32 KB)", "")
    own_context = obj(message.get("context"), "context")
    context = {**shared_context, **own_context} if shared_context else own_context
    if kind == "alias":
        return TrackOp(account_id=source.account_id, profile=_alias(message, batch is None), size=size)

    def build() -> ProfilePatch:
        return _patch(kind, message, context, limits, phone_region, batch is None)

    patch = build() if batch is None else batch.patch(_profile_inputs(kind, message, context), build)
    event = None
    if kind in ("track", "page", "screen"):
        event = _event(kind, message, context, source, limits, now, sent_at, strings_checked, contexts)
    return TrackOp(account_id=source.account_id, profile=patch, event=event, size=size)


def _alias(message: dict[str, Any], single: bool) -> ProfilePatch:
    user_id = identifier(message.get("userId"), "userId")
    previous = identifier(message.get("previousId"), "previousId")
    if user_id is None or previous is None:
        raise InvalidInput("alias needs both `previousId` and `userId`", "previousId" if single else "")
    return ProfilePatch(identifiers={"external_id": user_id, "anonymous_id": previous})


def _profile_inputs(kind: str, message: dict[str, Any], context: dict[str, Any]) -> tuple[Any, ...]:
    """Everything _patch reads of a message (equal inputs, equal patch)."""
    shared = (message.get("userId"), message.get("anonymousId"), context.get("traits"), context.get("ip"))
    if kind == "identify":
        return (*shared, kind, message.get("traits"))
    if kind == "group":
        return (*shared, kind, message.get("traits"), message.get("groupId"))
    return shared


def _patch(kind: str, message: dict[str, Any], context: dict[str, Any], limits: Limits, phone_region: str | None,
           single: bool) -> ProfilePatch:
    """The profile part of any message but an alias: its ids, traits, group and ip."""
    patch = ProfilePatch()
    user_id = identifier(message.get("userId"), "userId")
    anonymous_id = identifier(message.get("anonymousId"), "anonymousId")
    if user_id is not None:
        patch.identifiers["external_id"] = user_id
    if anonymous_id is not None:
        patch.identifiers["anonymous_id"] = anonymous_id
    # The user's traits a client sends along (analytics.js, and RudderStack's identify, keep them in
    # context.traits), then an identify's own, which win.
    apply_traits(patch, obj(context.get("traits"), "context.traits"), "context.traits", limits,
                 phone_region)
    if kind == "identify":
        apply_traits(patch, obj(message.get("traits"), "traits"), "traits", limits, phone_region)
    if kind == "group":
        group_id = identifier(message.get("groupId"), "groupId")
        if group_id is None:
            raise InvalidInput("group needs a `groupId`", "groupId")
        traits = obj(message.get("traits"), "traits")
        patch.properties["group"] = {"id": group_id, **traits}
        check_properties(patch.properties, limits, "traits")
    if isinstance(context.get("ip"), str) and context["ip"]:
        patch.location.setdefault("ip", context["ip"])
    if not patch.identifies():
        raise InvalidInput("a message needs a `userId` or an `anonymousId`", "userId" if single else "")
    return patch


def _event(kind: str, message: dict[str, Any], context: dict[str, Any], source: Source, limits: Limits,
           now: float, sent_at: float | None, strings_checked: bool, contexts: SharedContexts | None) -> Event:
    props = dict(obj(message.get("properties"), "properties"))
    if kind == "track":
        metric = events.metric_name(message.get("event"), "event")
    else:
        metric = PAGE_METRIC if kind == "page" else SCREEN_METRIC
        for key in ("name", "category"):
            if message.get(key) is not None:
                props.setdefault(key, message[key])
    value, currency = value_and_currency(props, "properties")
    kept, seen = contexts.kept(context) if contexts is not None else (kept_context(context), False)
    if kept:
        props["$context"] = kept
    props["$source"] = source.key_id
    check_properties(props, limits, "properties", strings_checked=strings_checked, checked=kept if seen else None)
    timestamp = parse_time(message.get("timestamp", message.get("originalTimestamp")), "timestamp")
    message_sent = parse_time(message.get("sentAt"), "sentAt")
    return Event(
        metric=metric,
        time=corrected_time(timestamp, message_sent if message_sent is not None else sent_at, now, "timestamp"),
        properties=props,
        value=value,
        value_currency=currency,
        # Segment assigns an id when none is sent, so such events are never taken for duplicates.
        unique_id=events.unique_id(message.get("messageId"), "messageId") or ids.new_ulid(),
    )
