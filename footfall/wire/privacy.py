"""Request documents of the privacy routes (deletion and suppression jobs) as their parts.

Paths in InvalidInput are dotted from the document root, as in the other wire modules.
"""

from __future__ import annotations

from typing import Any

from footfall.domain import normalize
from footfall.refusals import InvalidInput
from footfall.wire.modern_events import _list, _object, resource
from footfall.domain.limits import RESOURCE_ID_CHARS, SUPPRESSION_EMAILS_PER_JOB as MAX_SUPPRESSION_EMAILS

_PROFILE = "data.attributes.profile.data"


def deletion_identifier(document: Any, phone_region: str | None) -> tuple[str, str]:
    """`{"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": {"type": "profile",
    "id"? , "attributes": {"email"?, "phone_number"?}}}}}}` -> (kind, normalised value): exactly one."""
    data = resource(document, "data", "data-privacy-deletion-job")
    attrs = _object(data.get("attributes"), "data.attributes", required=True)
    wrapper = _object(attrs.get("profile"), "data.attributes.profile", required=True)
    profile = _object(wrapper.get("data"), _PROFILE, required=True)
    if profile.get("type") not in (None, "profile"):
        raise InvalidInput(f"type must be 'profile', not {profile.get('type')!r}", f"{_PROFILE}.type")
    given: list[tuple[str, Any, str]] = []
    if profile.get("id") is not None:
        given.append(("id", profile["id"], f"{_PROFILE}.id"))
    pattrs = _object(profile.get("attributes"), f"{_PROFILE}.attributes")
    for key in pattrs:
        if key not in ("email", "phone_number"):
            raise InvalidInput(f"unknown attribute {key!r}: name the profile by id, email or phone_number",
                               f"{_PROFILE}.attributes.{key}")
        if pattrs[key] is not None:
            given.append((key, pattrs[key], f"{_PROFILE}.attributes.{key}"))
    if len(given) != 1:
        names = ", ".join(kind for kind, _, _ in given) or "none"
        raise InvalidInput(f"exactly one identifier (id, email or phone_number) is required, got {names}", _PROFILE)
    kind, value, where = given[0]
    if kind == "email":
        return kind, normalize.email(value, where)
    if kind == "phone_number":
        return kind, normalize.phone(value, where, phone_region)
    if not isinstance(value, str) or not value or len(value) > RESOURCE_ID_CHARS:
        raise InvalidInput(f"a profile id (a string of at most {RESOURCE_ID_CHARS} characters) is required", where)
    return kind, value


def suppression_request(document: Any, job_type: str) -> tuple[list[str], str | None, str | None]:
    """A bulk suppress / unsuppress job: (emails, group kind, group id); either ≤100 emails or one list or segment."""
    data = resource(document, "data", job_type)
    attrs = _object(data.get("attributes"), "data.attributes")
    emails: list[str] = []
    if attrs.get("profiles") is not None:
        listing = _object(attrs["profiles"], "data.attributes.profiles")
        items = _list(listing.get("data"), "data.attributes.profiles.data")
        if len(items) > MAX_SUPPRESSION_EMAILS:
            raise InvalidInput(f"at most {MAX_SUPPRESSION_EMAILS} profiles per job, got {len(items)}",
                               "data.attributes.profiles.data")
        for i, item in enumerate(items):
            where = f"data.attributes.profiles.data[{i}]"
            item = _object(item, where, required=True)
            if item.get("type") not in (None, "profile"):
                raise InvalidInput(f"type must be 'profile', not {item.get('type')!r}", f"{where}.type")
            pattrs = _object(item.get("attributes"), f"{where}.attributes", required=True)
            if "email" not in pattrs:
                raise InvalidInput("an email is required", f"{where}.attributes.email")
            email = normalize.email(pattrs["email"], f"{where}.attributes.email")
            if email not in emails:
                emails.append(email)
    group_kind, group_id = _group(data.get("relationships"))
    if emails and group_id:
        raise InvalidInput("give either profiles or a list / segment, not both", "data.relationships")
    if not emails and not group_id:
        raise InvalidInput("give profiles (emails), or a list or segment relationship", "data.attributes.profiles")
    return emails, group_kind, group_id


def _group(relationships: Any) -> tuple[str | None, str | None]:
    rels = _object(relationships, "data.relationships")
    found = [(kind, rels[kind]) for kind in ("list", "segment") if rels.get(kind) is not None]
    unknown = [k for k in rels if k not in ("list", "segment")]
    if unknown:
        raise InvalidInput(f"unknown relationship {unknown[0]!r}: use list or segment", f"data.relationships.{unknown[0]}")
    if not found:
        return None, None
    if len(found) > 1:
        raise InvalidInput("give a list or a segment, not both", "data.relationships")
    kind, wrapper = found[0]
    where = f"data.relationships.{kind}.data"
    ref = _object(_object(wrapper, f"data.relationships.{kind}", required=True).get("data"), where, required=True)
    if ref.get("type") != kind:
        raise InvalidInput(f"type must be {kind!r}, not {ref.get('type')!r}", f"{where}.type")
    if not isinstance(ref.get("id"), str) or not ref["id"] or len(ref["id"]) > RESOURCE_ID_CHARS:
        raise InvalidInput(f"a {kind} id (string) is required", f"{where}.id")
    return kind, ref["id"]

