"""The modern profile object (`{"type": "profile", "id"?, "attributes": {...}, "meta"?: {...}}`) as a ProfilePatch.

Used by /api/profiles, /api/profile-import, the profile inside events and bulk jobs, and /client.
An explicit null clears a field; an omitted field is left as it is.
"""

from __future__ import annotations

from typing import Any

from footfall.domain import normalize
from footfall.refusals import InvalidInput
from footfall.domain.limits import Limits, check_properties
from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES, ProfilePatch

IDENTIFIER_FIELDS = {"email": "email", "phone_number": "phone_number", "external_id": "external_id",
                     "anonymous_id": "anonymous_id", "_kx": "exchange_id"}
KNOWN_ATTRIBUTES = {*IDENTIFIER_FIELDS, *PROFILE_ATTRIBUTES, "location", "properties", "subscriptions"}


def decode(
    resource: Any,
    path: str,
    limits: Limits,
    *,
    private: bool,
    phone_region: str | None = None,
    require_identifier: bool = True,
) -> ProfilePatch:
    """path: where the resource sits in the document, as dotted text ('data', 'data.attributes.profile.data')."""
    resource = _object(resource, path)
    if resource.get("type") not in (None, "profile"):
        raise InvalidInput(f"type must be 'profile', not {resource.get('type')!r}", f"{path}.type")
    attributes = _object(resource.get("attributes"), f"{path}.attributes")
    patch = ProfilePatch(may_replace_identifiers=private)
    if resource.get("id") is not None:
        patch.profile_id = _string(resource["id"], f"{path}.id")
    for key, value in attributes.items():
        where = f"{path}.attributes.{key}"
        if key not in KNOWN_ATTRIBUTES:
            raise InvalidInput(f"unknown profile attribute {key!r}", where)
        if key in IDENTIFIER_FIELDS:
            if value is not None:
                patch.identifiers[IDENTIFIER_FIELDS[key]] = _identifier(key, value, where, phone_region)
        elif key in PROFILE_ATTRIBUTES:
            patch.attributes[key] = None if value is None else _string(value, where)
        elif key == "location":
            patch.location.update(_location(value, where))
        elif key == "properties":
            props = _object(value, where)
            check_properties(props, limits, where)
            patch.properties.update(props)
    _exchange_id_property(patch, f"{path}.attributes.properties.$exchange_id")
    _patch_properties(patch, resource.get("meta"), f"{path}.meta", limits)
    if require_identifier and not patch.identifies():
        raise InvalidInput("the profile needs an id or at least one identifier "
                           "(email, phone_number, external_id, anonymous_id or _kx)", f"{path}.attributes")
    return patch


def _exchange_id_property(patch: ProfilePatch, where: str) -> None:
    """Klaviyo's onsite script keeps the exchange id as `properties.$exchange_id`; it identifies the
    profile as `_kx` does (when `_kx` is absent) and is not kept as a custom property."""
    value = patch.properties.pop("$exchange_id", None)
    if value is not None and "exchange_id" not in patch.identifiers:
        patch.identifiers["exchange_id"] = normalize.identifier_text(value, where)


def cleared_identifiers(resource: Any) -> list[str]:
    """Single-valued identifiers sent as an explicit null (private-key PATCH / import clear them)."""
    attributes = resource.get("attributes") if isinstance(resource, dict) else None
    if not isinstance(attributes, dict):
        return []
    return [IDENTIFIER_FIELDS[key] for key in ("email", "phone_number", "external_id")
            if key in attributes and attributes[key] is None]


def _identifier(key: str, value: Any, where: str, region: str | None) -> str:
    if key == "email":
        return normalize.email(value, where)
    if key == "phone_number":
        return normalize.phone(value, where, region)
    return normalize.identifier_text(value, where)


def _location(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {name: None for name in LOCATION_FIELDS}
    location = _object(value, where)
    out: dict[str, Any] = {}
    for key, item in location.items():
        if key not in LOCATION_FIELDS:
            raise InvalidInput(f"unknown location field {key!r}", f"{where}.{key}")
        if item is None:
            out[key] = None
        elif key in ("latitude", "longitude"):
            out[key] = _number(item, f"{where}.{key}")
        else:
            out[key] = _string(item, f"{where}.{key}")
    return out


def _patch_properties(patch: ProfilePatch, meta: Any, where: str, limits: Limits) -> None:
    if meta is None:
        return
    meta = _object(meta, where)
    for key, value in meta.items():
        if key == "patch_identifiers" and value is not None:
            # Refused rather than ignored: Footfall profiles hold one email, phone number and external id.
            raise InvalidInput("is not supported: a profile holds one email, phone_number and external_id; "
                               "set them in attributes", f"{where}.patch_identifiers")
        if key not in ("patch_properties", "patch_identifiers"):
            raise InvalidInput(f"unknown meta member {key!r} (patch_properties)", f"{where}.{key}")
    ops = _object(meta.get("patch_properties"), f"{where}.patch_properties")
    for name in ops:
        if name not in ("append", "unappend", "unset"):
            raise InvalidInput(f"unknown patch operation {name!r} (append, unappend, unset)",
                               f"{where}.patch_properties.{name}")
    if "append" in ops:
        patch.append_properties = _object(ops["append"], f"{where}.patch_properties.append")
        check_properties(patch.append_properties, limits, f"{where}.patch_properties.append")
    if "unappend" in ops:
        patch.unappend_properties = _object(ops["unappend"], f"{where}.patch_properties.unappend")
    if "unset" in ops:
        unset = ops["unset"]
        names = [unset] if isinstance(unset, str) else unset
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidInput("must be a property name or a list of names", f"{where}.patch_properties.unset")
        patch.unset_properties = names


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be an object, got {type(value).__name__}", where)
    return value


def _string(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    raise InvalidInput(f"must be a string, got {type(value).__name__}", where)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise InvalidInput(f"must be a number, got {value!r}", where)
    return float(value)
