"""JSON:API read parameters as Klaviyo uses them: page[size], page[cursor], sort, include, fields[type].

Also the collection links (absolute self / next / prev) and sparse fieldsets applied to rendered
resources. Each bad parameter is a 400 JSON:API error naming it in source.parameter.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urlencode

from footfall.wire.jsonapi import decode_cursor, encode_cursor, invalid

Params = Mapping[str, str]


def page_size(params: Params, default: int, maximum: int) -> int:
    raw = params.get("page[size]")
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise invalid(f"page[size] must be a whole number from 1 to {maximum}, not {raw!r}", parameter="page[size]")
    return size


def position(params: Params) -> list[Any] | None:
    """The keyset position in page[cursor] (which may be a whole `links.next` URL), or None."""
    raw = params.get("page[cursor]")
    if raw is None or raw == "":
        return None
    return decode_cursor(raw)


def sort(params: Params, allowed: Sequence[str], default: str) -> str:
    value = params.get("sort")
    if value is None or value == "":
        return default
    if value not in allowed:
        raise invalid(f"cannot sort by {value!r} (allowed: {', '.join(allowed)})", parameter="sort")
    return value


def include(params: Params, allowed: Sequence[str]) -> set[str]:
    raw = params.get("include")
    if not raw:
        return set()
    names = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(names - set(allowed))
    if unknown:
        choices = ", ".join(allowed) if allowed else "nothing on this endpoint"
        raise invalid(f"cannot include {', '.join(unknown)} (allowed: {choices})", parameter="include")
    return names


def additional_fields(params: Params, allowed: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """additional-fields[<type>]=a,b for the types and values this endpoint offers; any other type or
    value is a 400 (never silently dropped). Types not asked for are absent from the answer."""
    out: dict[str, frozenset[str]] = {}
    for name in params:
        if not name.startswith("additional-fields"):
            continue
        type_ = name[len("additional-fields["):-1] if name.startswith("additional-fields[") and name.endswith("]") else None
        if type_ not in allowed:
            offered = ", ".join(f"additional-fields[{t}]" for t in allowed) or "none"
            raise invalid(f"{name} is not a parameter of this endpoint (offered: {offered})", parameter=name)
        wanted = frozenset(part.strip() for part in params[name].split(",") if part.strip())
        unknown = sorted(wanted - set(allowed[type_]))
        if unknown or not wanted:
            raise invalid(f"{', '.join(repr(u) for u in unknown) or 'an empty value'} cannot be requested in {name} "
                          f"(allowed: {', '.join(allowed[type_])})", parameter=name)
        out[type_] = wanted
    return out


def fieldset(params: Params, type_: str, allowed: Iterable[str]) -> frozenset[str] | None:
    """fields[<type>]=a,b,location.city as a set of dotted names, or None when absent (all fields)."""
    name = f"fields[{type_}]"
    raw = params.get(name)
    if raw is None:
        return None
    wanted = frozenset(part.strip() for part in raw.split(",") if part.strip())
    known = set(allowed)
    unknown = sorted(wanted - known)
    if unknown:
        raise invalid(f"{', '.join(repr(u) for u in unknown)} {'is not a field' if len(unknown) == 1 else 'are not fields'}"
                      f" of {type_} (fields: {', '.join(sorted(known))})", parameter=name)
    return wanted


def sparse(resource: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    """The resource with only the requested attributes (dotted names pick sub-fields)."""
    if fields is None:
        return resource
    resource["attributes"] = _pick(resource["attributes"], fields)
    return resource


def _pick(attributes: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in fields:
            out[key] = value
            continue
        subfields = frozenset(f[len(key) + 1:] for f in fields if f.startswith(key + "."))
        if subfields and isinstance(value, dict):
            out[key] = _pick(value, subfields)
    return out


def links(base: str, path: str, items: Sequence[tuple[str, str]],
          next_position: list[Any] | None, prev_position: list[Any] | None) -> dict[str, str]:
    """Absolute links.self, and links.next / links.prev carrying the same query with a new cursor."""
    out = {"self": _url(base, path, items)}
    kept = [(k, v) for k, v in items if k != "page[cursor]"]
    if next_position is not None:
        out["next"] = _url(base, path, [*kept, ("page[cursor]", encode_cursor(*next_position))])
    if prev_position is not None:
        out["prev"] = _url(base, path, [*kept, ("page[cursor]", encode_cursor(*prev_position))])
    return out


def _url(base: str, path: str, items: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(items), quote_via=quote, safe=",:")
    return f"{base}{path}" + (f"?{query}" if query else "")
