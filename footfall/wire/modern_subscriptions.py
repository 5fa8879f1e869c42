"""POST /client/subscriptions: a profile plus the marketing consent it gives, as a ProfilePatch.

Consent is recorded on the profile per channel: `{"consent": "SUBSCRIBED", "consented_at": ISO,
"method": ..., "list_id"?: ..., "custom_source"?: ...}` (SMS transactional consent nested under
`transactional`). Without a `subscriptions` object, the channels of the identifiers given
(email → email, phone_number → sms) are subscribed to marketing, as Klaviyo does.
"""

from __future__ import annotations

from typing import Any

from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits
from footfall.domain.models import ProfilePatch
from footfall.timefmt import iso
from footfall.wire import modern_events, modern_profile

METHOD = "client subscriptions"
# channel in the payload -> (identifier it needs, consent kinds it may carry)
CHANNELS = {"email": ("email", ("marketing",)), "sms": ("phone_number", ("marketing", "transactional"))}


def decode(document: Any, limits: Limits, now: float, *, phone_region: str | None = None) -> ProfilePatch:
    data = modern_events.resource(document, "data", "subscription")
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise InvalidInput("must be an object", "data.attributes")
    for key in attrs:
        if key not in ("profile", "custom_source"):
            raise InvalidInput(f"unknown attribute {key!r} (profile, custom_source)", f"data.attributes.{key}")
    source = attrs.get("custom_source")
    if source is not None and not isinstance(source, str):
        raise InvalidInput("must be a string", "data.attributes.custom_source")
    profile_path = "data.attributes.profile.data"
    raw_profile = modern_events.related(attrs, "profile", "data.attributes")
    patch = modern_profile.decode(raw_profile, profile_path, limits, private=False, phone_region=phone_region)
    if not (patch.identifiers.get("email") or patch.identifiers.get("phone_number")):
        raise InvalidInput("an email or a phone_number is required to subscribe", f"{profile_path}.attributes")
    extra = {"method": METHOD}
    list_id = _list_id(data.get("relationships"))
    if list_id is not None:
        extra["list_id"] = list_id
    if source is not None:
        extra["custom_source"] = source
    subscriptions = raw_profile.get("attributes", {}).get("subscriptions")
    patch.consent = _consent(subscriptions, patch, f"{profile_path}.attributes.subscriptions", now, extra)
    return patch


def _consent(subscriptions: Any, patch: ProfilePatch, path: str, now: float,
             extra: dict[str, str]) -> dict[str, dict[str, Any]]:
    if subscriptions is None:  # default: marketing on the channels the identifiers allow
        subscriptions = {channel: {"marketing": {"consent": "SUBSCRIBED"}}
                         for channel, (ident, _) in CHANNELS.items() if patch.identifiers.get(ident)}
    if not isinstance(subscriptions, dict) or not subscriptions:
        raise InvalidInput("must be an object naming at least one channel (email, sms)", path)
    out: dict[str, dict[str, Any]] = {}
    for channel, kinds in subscriptions.items():
        where = f"{path}.{channel}"
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {channel!r} (email, sms)", where)
        ident, allowed = CHANNELS[channel]
        if not patch.identifiers.get(ident):
            raise InvalidInput(f"subscribing to {channel} needs the profile's {ident}", where)
        if not isinstance(kinds, dict) or not kinds:
            raise InvalidInput(f"must be an object with {' and/or '.join(allowed)}", where)
        record: dict[str, Any] = {}
        for kind, value in kinds.items():
            if kind not in allowed:
                raise InvalidInput(f"unknown consent kind {kind!r} ({', '.join(allowed)})", f"{where}.{kind}")
            entry = {**_one(value, f"{where}.{kind}", now), **extra}
            if kind == "marketing":
                record.update(entry)
            else:
                record[kind] = entry
        out[channel] = record
    return out


def _one(value: Any, where: str, now: float) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput('must be an object such as {"consent": "SUBSCRIBED"}', where)
    for key in value:
        if key not in ("consent", "consented_at"):
            raise InvalidInput(f"unknown field {key!r} (consent, consented_at)", f"{where}.{key}")
    if value.get("consent") != "SUBSCRIBED":
        raise InvalidInput(f"consent must be 'SUBSCRIBED' on this endpoint, not {value.get('consent')!r}",
                           f"{where}.consent")
    at = now
    if value.get("consented_at") is not None:
        at = modern_events.event_time(value["consented_at"], f"{where}.consented_at", now)
        if at > now + 60:
            raise InvalidInput("must not be in the future", f"{where}.consented_at")
    return {"consent": "SUBSCRIBED", "consented_at": iso(int(at))}


def _list_id(relationships: Any) -> str | None:
    if relationships is None:
        return None
    if not isinstance(relationships, dict):
        raise InvalidInput("must be an object", "data.relationships")
    for key in relationships:
        if key != "list":
            raise InvalidInput(f"unknown relationship {key!r} (list)", f"data.relationships.{key}")
    if "list" not in relationships:
        return None
    target = relationships["list"].get("data") if isinstance(relationships["list"], dict) else None
    if not isinstance(target, dict) or target.get("type") != "list" or not isinstance(target.get("id"), str) \
            or not target["id"]:
        raise InvalidInput('must be {"data": {"type": "list", "id": "<list id>"}}', "data.relationships.list")
    return target["id"]
