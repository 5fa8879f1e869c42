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
    Source,
    Times,
    apply_traits,
    corrected_time,
    identifier,
    kind_of,
    obj,
    placed,
    value_and_currency,
)
from footfall.domain.limits import SEGMENT_MESSAGE_BYTES as MAX_MESSAGE_BYTES

TYPES = ("identify", "track", "page", "screen", "group", "alias")
EVENT_TYPES = frozenset({"track", "page", "screen"})
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
    times = Times()
    sent_at = times.parse(body.get("sentAt"), "sentAt")
    decode = _Messages(source, limits, now, phone_region, sent_at, shared_context, measure, strings_checked,
                       False, times).decode
    ops, paths = [], []
    for i, message in enumerate(items):
        path = f"batch[{i}]"
        if not isinstance(message, dict):
            raise InvalidInput(f"must be a message object, got {kind_of(message)}", path)
        kind = message.get("type")
        if kind not in TYPES:
            raise InvalidInput(f"type must be one of {', '.join(TYPES)}, got {kind!r}", f"{path}.type")
        try:
            ops.append(decode(kind, message))
        except InvalidInput as exc:
            raise placed(exc, path) from None
        paths.append(path)
    return ops, paths


def decode_message(kind: str, message: Any, source: Source, limits: Limits, now: float, *,
                   phone_region: str | None = None) -> TrackOp:
    """One message of a single call (its type from the path). Refusals name a field of the message
    ('traits.email'); one of the message as a whole names the field it lacks ('userId')."""
    if not isinstance(message, dict):
        raise InvalidInput(f"the message must be a JSON object, got {kind_of(message)}", "")
    return _Messages(source, limits, now, phone_region, None, {}, True, False, True, Times()).decode(kind, message)


class _Messages:
    """The messages of one request, decoded in order (a batch's, or a single call's one).

    A batch is mostly one person's messages in a row, sent by one library with one context: what the
    message before had alike is not worked out again. Its context (compared as JSON, so that 1, 1.0
    and true differ) is merged and read once for the run, the profile part mapped and checked once
    (the run holds one patch object: SharedPatches' rule), the `$context` it keeps made and checked
    once (SharedContexts'), and a time read once for the request (Times). Refusals are the ones
    each message would meet on its own, in the same order."""

    def __init__(self, source: Source, limits: Limits, now: float, phone_region: str | None,
                 sent_at: float | None, shared_context: dict[str, Any], measure: bool, strings_checked: bool,
                 single: bool, times: Times) -> None:
        self.source, self.limits, self.now, self.phone_region = source, limits, now, phone_region
        self.sent_at, self.shared_context, self.measure = sent_at, shared_context, measure
        self.strings_checked, self.single, self.times = strings_checked, single, times
        self.contexts = SharedContexts()
        # The context of the message before: its own as JSON, merged with the batch's, the JSON of
        # what the profile part reads of it, and what its events keep of it (None until one did).
        self._own: bytes | None = None
        self._context: dict[str, Any] = {}
        self._profile_context = b""
        self._kept: dict[str, Any] | None = None
        # The patch of the message before, and the JSON of what made it.
        self._patch: ProfilePatch | None = None
        self._patch_inputs = b""

    def decode(self, kind: str, message: dict[str, Any]) -> TrackOp:
        size = len(_encode(message)) if self.measure else 0
        if size > MAX_MESSAGE_BYTES:
            raise LimitExceeded(f"message of {size} bytes, more than the limit of {MAX_MESSAGE_BYTES} (32 KB)", "")
        own = message.get("context")
        if own is None:
            own = {}
        elif not isinstance(own, dict):
            raise InvalidInput(f"must be an object, got {kind_of(own)}", "context")
        own_json = _encode(own)
        if own_json != self._own:
            self._context = {**self.shared_context, **own} if self.shared_context else own
            self._profile_context = b""
            self._kept = None
            self._own = own_json
        context = self._context
        if kind == "alias":
            return TrackOp(self.source.account_id, _alias(message, self.single), None, size)
        patch = self._patch_of(kind, message, context)
        event = self._event(kind, message, context) if kind in EVENT_TYPES else None
        return TrackOp(self.source.account_id, patch, event, size)

    def _patch_of(self, kind: str, message: dict[str, Any], context: dict[str, Any]) -> ProfilePatch:
        """The patch of the message before when all that _patch reads is the same (its inputs as
        JSON: the message's own, then the context's), else a new one."""
        if not self._profile_context:
            self._profile_context = _encode((context.get("traits"), context.get("ip")))
        if kind == "identify":
            own: tuple[Any, ...] = (message.get("userId"), message.get("anonymousId"), kind, message.get("traits"))
        elif kind == "group":
            own = (message.get("userId"), message.get("anonymousId"), kind, message.get("traits"),
                   message.get("groupId"))
        else:
            own = (message.get("userId"), message.get("anonymousId"))
        inputs = _encode(own) + self._profile_context  # a JSON value's end is its own: no two read as one
        if self._patch is None or inputs != self._patch_inputs:
            self._patch = _patch(kind, message, context, self.limits, self.phone_region, self.single)
            self._patch_inputs = inputs  # after: a refusal keeps the run before as it was
        return self._patch

    def _event(self, kind: str, message: dict[str, Any], context: dict[str, Any]) -> Event:
        props = message.get("properties")
        if props is None:
            props = {}
        elif not isinstance(props, dict):
            raise InvalidInput(f"must be an object, got {kind_of(props)}", "properties")
        else:
            props = dict(props)
        if kind == "track":
            metric = events.metric_name(message.get("event"), "event")
        else:
            metric = PAGE_METRIC if kind == "page" else SCREEN_METRIC
            for key in ("name", "category"):
                if message.get(key) is not None:
                    props.setdefault(key, message[key])
        value, currency = value_and_currency(props, "properties")
        kept = self._kept
        if kept is None:  # the first event of this context: kept as the one before kept it, if the same
            kept, seen = self.contexts.kept(context)
            self._kept = kept
        else:  # an event before kept (and checked) this very dict
            seen = bool(kept)
        if kept:
            props["$context"] = kept
        props["$source"] = self.source.key_id
        check_properties(props, self.limits, "properties", strings_checked=self.strings_checked,
                         checked=kept if seen else None)
        times = self.times
        timestamp = times.parse(message.get("timestamp", message.get("originalTimestamp")), "timestamp")
        message_sent = times.parse(message.get("sentAt"), "sentAt")
        return Event(
            metric,
            corrected_time(timestamp, message_sent if message_sent is not None else self.sent_at, self.now,
                           "timestamp"),
            props,
            value,
            currency,
            # Segment assigns an id when none is sent, so such events are never taken for duplicates.
            events.unique_id(message.get("messageId"), "messageId") or ids.new_ulid(),
        )


def _alias(message: dict[str, Any], single: bool) -> ProfilePatch:
    user_id = identifier(message.get("userId"), "userId")
    previous = identifier(message.get("previousId"), "previousId")
    if user_id is None or previous is None:
        raise InvalidInput("alias needs both `previousId` and `userId`", "previousId" if single else "")
    return ProfilePatch(identifiers={"external_id": user_id, "anonymous_id": previous})


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
