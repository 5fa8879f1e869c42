"""POST /api/profile-subscription-bulk-create-jobs and -delete-jobs (SDK subscribe_profiles /
unsubscribe_profiles) as one SubscriptionJobOp.

Klaviyo's rules, from its API reference: up to 1000 profiles to subscribe (100 to unsubscribe); each
names an email and/or a phone number (and may name a profile id to subscribe); `subscriptions` says
which channels (email marketing; SMS marketing and transactional) with consent SUBSCRIBED or
UNSUBSCRIBED; `consented_at` only with `historical_import: true`, which then requires it for every
subscription, in the past. An optional `relationships.list` adds the profiles to (or, unsubscribing,
suppresses them on) that list. What each change does to the stored consent is domain/consent.py's.
"""

from __future__ import annotations

from typing import Any

from footfall.domain import normalize
from footfall.domain.consent import ConsentChange
from footfall.refusals import InvalidInput
from footfall.domain.models import ProfilePatch
from footfall.domain.operations import SubscriptionEntry
from footfall.timefmt import iso
from footfall.wire import modern_events
from footfall.wire.modern_events import _list, _object, resource
from footfall.domain.limits import RESOURCE_ID_CHARS

MAX_SUBSCRIBE, MAX_UNSUBSCRIBE = 1000, 100
METHOD = "API"
# channel -> (the identifier it needs, the consent kinds it takes)
CHANNELS = {"email": ("email", ("marketing",)), "sms": ("phone_number", ("marketing", "transactional"))}
_PROFILE_KEYS = {"email", "phone_number", "subscriptions", "age_gated_date_of_birth"}


def decode(document: Any, now: float, *, subscribe: bool, phone_region: str | None = None
           ) -> tuple[list[SubscriptionEntry], str | None]:
    """The entries of a subscribe (or unsubscribe) job and the list it names, if any."""
    kind = "profile-subscription-bulk-create-job" if subscribe else "profile-subscription-bulk-delete-job"
    data = resource(document, "data", kind)
    attrs = _object(data.get("attributes"), "data.attributes", required=True)
    allowed = {"profiles", "custom_source", "historical_import"} if subscribe else {"profiles"}
    for key in attrs:
        if key not in allowed:
            raise InvalidInput(f"unknown attribute {key!r} ({', '.join(sorted(allowed))})", f"data.attributes.{key}")
    source = attrs.get("custom_source")
    if source is not None and not isinstance(source, str):
        raise InvalidInput("must be a string", "data.attributes.custom_source")
    historical = attrs.get("historical_import", False)
    if not isinstance(historical, bool):
        raise InvalidInput("must be true or false", "data.attributes.historical_import")
    listing = _object(attrs.get("profiles"), "data.attributes.profiles", required=True)
    items = _list(listing.get("data"), "data.attributes.profiles.data")
    limit = MAX_SUBSCRIBE if subscribe else MAX_UNSUBSCRIBE
    if not items or len(items) > limit:
        raise InvalidInput(f"must hold from 1 to {limit} profiles, not {len(items)}", "data.attributes.profiles.data")
    list_id = _list_id(data.get("relationships"))
    at = iso(now)
    entries = [
        _entry(item, f"data.attributes.profiles.data[{i}]", subscribe, historical, source, list_id, at, now,
               phone_region)
        for i, item in enumerate(items)
    ]
    return entries, list_id


def _entry(item: Any, path: str, subscribe: bool, historical: bool, source: str | None, list_id: str | None,
           at: str, now: float, region: str | None) -> SubscriptionEntry:
    obj = _object(item, path, required=True)
    if obj.get("type") != "profile":
        raise InvalidInput(f"type must be 'profile', not {obj.get('type')!r}", f"{path}.type")
    for key in obj:
        if key not in ("type", "id", "attributes") or (key == "id" and not subscribe):
            raise InvalidInput(f"unknown member {key!r}", f"{path}.{key}")
    attrs = _object(obj.get("attributes"), f"{path}.attributes", required=True)
    for key in attrs:
        if key not in _PROFILE_KEYS:
            raise InvalidInput(f"unknown attribute {key!r} ({', '.join(sorted(_PROFILE_KEYS))})",
                               f"{path}.attributes.{key}")
    patch = ProfilePatch(may_replace_identifiers=False)
    if attrs.get("email") is not None:
        patch.identifiers["email"] = normalize.email(attrs["email"], f"{path}.attributes.email")
    if attrs.get("phone_number") is not None:
        patch.identifiers["phone_number"] = normalize.phone(attrs["phone_number"], f"{path}.attributes.phone_number",
                                                            region)
    profile_id = obj.get("id")
    if profile_id is not None:
        if not isinstance(profile_id, str) or not profile_id or len(profile_id) > RESOURCE_ID_CHARS:
            raise InvalidInput("must be a profile id", f"{path}.id")
        patch.profile_id = profile_id
    if not patch.identifiers:
        raise InvalidInput("an email or a phone_number is required", f"{path}.attributes")
    raw = attrs.get("subscriptions")
    where = f"{path}.attributes.subscriptions"
    if raw is None:  # older revisions: the channels of the identifiers given
        raw = {channel: {"marketing": {"consent": "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"}}
               for channel, (ident, _) in CHANNELS.items() if ident in patch.identifiers}
    subscriptions = _object(raw, where, required=True)
    if not subscriptions:
        raise InvalidInput("must name at least one channel (email, sms)", where)
    for channel, kinds in subscriptions.items():
        if channel not in CHANNELS:
            raise InvalidInput(f"unsupported channel {channel!r} (email, sms)", f"{where}.{channel}")
        ident, allowed = CHANNELS[channel]
        if ident not in patch.identifiers:
            raise InvalidInput(f"changing {channel} consent needs the profile's {ident}", f"{where}.{channel}")
        kinds = _object(kinds, f"{where}.{channel}", required=True)
        if not kinds:
            raise InvalidInput(f"must name {' and/or '.join(allowed)}", f"{where}.{channel}")
        for kind, value in kinds.items():
            spot = f"{where}.{channel}.{kind}"
            if kind not in allowed:
                raise InvalidInput(f"unsupported consent kind {kind!r} ({', '.join(allowed)})", spot)
            consented_at = _consent(value, spot, subscribe, historical, now)
            patch.consent_changes.append(ConsentChange(
                channel=channel, kind=kind, action="subscribe" if subscribe else "unsubscribe", at=at,
                method=METHOD, custom_source=source, consented_at=consented_at, list_id=list_id))
    return SubscriptionEntry(profile=patch, path=path)


def _consent(value: Any, where: str, subscribe: bool, historical: bool, now: float) -> str | None:
    obj = _object(value, where, required=True)
    wanted = "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"
    for key in obj:
        if key not in (("consent", "consented_at") if subscribe else ("consent",)):
            raise InvalidInput(f"unknown field {key!r}", f"{where}.{key}")
    if obj.get("consent") != wanted:
        raise InvalidInput(f"consent must be {wanted!r} here, not {obj.get('consent')!r}", f"{where}.consent")
    raw = obj.get("consented_at")
    if raw is None:
        if historical:
            raise InvalidInput("historical_import needs consented_at for every subscription", f"{where}.consented_at")
        return None
    if not historical:
        raise InvalidInput("consented_at is only accepted with historical_import: true", f"{where}.consented_at")
    moment = modern_events.event_time(raw, f"{where}.consented_at", now)
    if moment > now:
        raise InvalidInput("must be in the past", f"{where}.consented_at")
    return iso(moment)


def _list_id(relationships: Any) -> str | None:
    rel = _object(relationships, "data.relationships")
    for key in rel:
        if key != "list":
            raise InvalidInput(f"unknown relationship {key!r} (list)", f"data.relationships.{key}")
    if "list" not in rel:
        return None
    target = _object(rel["list"], "data.relationships.list", required=True).get("data")
    if not isinstance(target, dict) or target.get("type") != "list" or not isinstance(target.get("id"), str) \
            or not target["id"] or len(target["id"]) > RESOURCE_ID_CHARS:
        raise InvalidInput('must be {"data": {"type": "list", "id": "<list id>"}}', "data.relationships.list")
    return target["id"]
