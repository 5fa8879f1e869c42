"""The legacy Track and Identify payloads: special `$` keys, aliases, and their domain objects."""

from __future__ import annotations

from typing import Any

from footfall.domain import event_dedup, events, normalize
from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits, check_properties, check_value
from footfall.domain.models import CONSENT_CHANNELS, Event, ProfilePatch, TrackOp

# customer_properties keys with a meaning of their own: (where it goes, field name).
SPECIAL_PROFILE_KEYS: dict[str, tuple[str, str]] = {
    "$email": ("id", "email"),
    "$phone_number": ("id", "phone_number"),
    "$id": ("id", "external_id"),
    "$anonymous": ("id", "anonymous_id"),
    "$exchange_id": ("id", "exchange_id"),
    "_kx": ("id", "exchange_id"),
    "$first_name": ("attr", "first_name"),
    "$last_name": ("attr", "last_name"),
    "$organization": ("attr", "organization"),
    "$title": ("attr", "title"),
    "$image": ("attr", "image"),
    "$locale": ("attr", "locale"),
    "$city": ("loc", "city"),
    "$region": ("loc", "region"),
    "$country": ("loc", "country"),
    "$zip": ("loc", "zip"),
    "$address1": ("loc", "address1"),
    "$address2": ("loc", "address2"),
    "$timezone": ("loc", "timezone"),
    "$latitude": ("loc", "latitude"),
    "$longitude": ("loc", "longitude"),
    "$ip": ("loc", "ip"),
    "$consent": ("consent", "consent"),
}
# The legacy SDKs send these unprefixed; they count as the $ form when that is absent.
ALIASES = {"email": "$email", "id": "$id"}
TRACK_KEYS = {"token", "event", "customer_properties", "properties", "time", "ip"}
IDENTIFY_KEYS = {"token", "properties"}


def token_of(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise InvalidInput(f"the payload must be a JSON object, got {_kind(payload)}", "data")
    token = payload.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidInput("the public key `token` is missing", "token")
    if not token.isprintable():
        raise InvalidInput(f"{token!r} is not a public key", "token")
    return token


def parse_track(
    payload: dict[str, Any], account_id: str, limits: Limits, now: float, *, phone_region: str | None = None
) -> tuple[TrackOp, list[str]]:
    """A track payload as a TrackOp, with warnings about what was ignored."""
    warnings = _unknown_keys(payload, TRACK_KEYS)
    name = events.metric_name(payload.get("event"), "event")
    customer = _object(payload.get("customer_properties"), "customer_properties")
    props = _object(payload.get("properties"), "properties")
    check_properties(props, limits, "properties")
    patch = profile_patch(customer, "customer_properties", limits, phone_region=phone_region)
    if isinstance(payload.get("ip"), str) and "ip" not in patch.location:
        check_value(payload["ip"], limits, "ip", 1)
        patch.location["ip"] = payload["ip"]
    value = events.numeric_value(props.get("$value"), "properties.$value")
    unique = event_dedup.once_unique_id(props, events.unique_id(props.get("$event_id"), "properties.$event_id"))
    currency = props.get("$value_currency")
    seconds, microsecond = events.epoch_seconds(payload.get("time"), "time", now)
    event = events_event(name, seconds, props, value, currency if isinstance(currency, str) else None, unique)
    event.microsecond = microsecond
    return TrackOp(account_id=account_id, profile=patch, event=event), warnings


def parse_identify(
    payload: dict[str, Any], account_id: str, limits: Limits, *, phone_region: str | None = None
) -> tuple[TrackOp, list[str]]:
    warnings = _unknown_keys(payload, IDENTIFY_KEYS)
    props = _object(payload.get("properties"), "properties")
    patch = profile_patch(props, "properties", limits, phone_region=phone_region)
    return TrackOp(account_id=account_id, profile=patch), warnings


def events_event(name: str, time: int, props: dict[str, Any], value: float | None,
                 currency: str | None, unique: str | None) -> Event:
    return Event(metric=name, time=time, properties=props, value=value, value_currency=currency, unique_id=unique)


def profile_patch(
    props: dict[str, Any], path: str, limits: Limits, *, phone_region: str | None = None
) -> ProfilePatch:
    """Legacy profile properties: special keys to attributes, the rest custom. Must identify someone."""
    check_properties(props, limits, path)
    patch = ProfilePatch()
    for key, value in props.items():
        target = SPECIAL_PROFILE_KEYS.get(key)
        if target is None and key in ALIASES and ALIASES[key] not in props:
            target = SPECIAL_PROFILE_KEYS[ALIASES[key]]
        if target is None:
            patch.properties[key] = value
        elif value is not None:  # legacy null means "no change" for special fields
            _apply_special(patch, target, value, f"{path}.{key}", phone_region)
    if not patch.identifies():
        raise InvalidInput(
            "must identify the person with $email, $phone_number, $id (or email / id), $anonymous or $exchange_id",
            path,
        )
    return patch


def _apply_special(patch: ProfilePatch, target: tuple[str, str], value: Any, path: str, region: str | None) -> None:
    where, name = target
    if where == "id":
        if name == "email":
            patch.identifiers[name] = normalize.email(value, path)
        elif name == "phone_number":
            patch.identifiers[name] = normalize.phone(value, path, region)
        else:
            patch.identifiers[name] = normalize.identifier_text(value, path)
    elif where == "attr":
        patch.attributes[name] = _text(value, path)
    elif where == "loc":
        patch.location[name] = _coordinate(value, path) if name in ("latitude", "longitude") else _text(value, path)
    else:
        patch.consent.update(_consent(value, path))


def _consent(value: Any, path: str) -> dict[str, dict[str, Any]]:
    channels = [value] if isinstance(value, str) else value
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise InvalidInput("must be a list of channel names such as ['email', 'sms']", path)
    out = {}
    for channel in channels:
        if channel not in CONSENT_CHANNELS:
            raise InvalidInput(f"unknown consent channel {channel!r} (known: {', '.join(CONSENT_CHANNELS)})", path)
        out[channel] = {"consent": "SUBSCRIBED", "method": "legacy $consent"}
    return out


def _text(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InvalidInput(f"must be a string, got {_kind(value)}", path)


def _coordinate(value: Any, path: str) -> float:
    number = events.numeric_value(value, path)
    if number is None:
        raise InvalidInput("must be a number", path)
    return number


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be a JSON object, got {_kind(value)}", path)
    return value


def _unknown_keys(payload: dict[str, Any], known: set[str]) -> list[str]:
    return [f"unknown top-level key {key!r} ignored" for key in payload if key not in known]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
