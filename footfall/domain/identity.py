"""Identity resolution: which profile a payload is about, and what happens to its identifiers.

Pure: the store looks up who owns each identifier and hands the answer in; this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from footfall.refusals import DuplicateProfile, NotFound
from footfall.domain.models import IDENTIFIER_ORDER, SINGLE_VALUED

Key = tuple[str, str]  # (kind, value)


@dataclass
class Resolution:
    profile_id: str | None  # None: create a new profile
    add: list[Key] = field(default_factory=list)
    replace: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, old, new)
    merge_from: list[str] = field(default_factory=list)
    conflicts: list[tuple[Key, str]] = field(default_factory=list)  # (identifier, owner profile id)
    warnings: list[str] = field(default_factory=list)


def ordered(identifiers: dict[str, str]) -> list[Key]:
    return [(kind, identifiers[kind]) for kind in IDENTIFIER_ORDER if identifiers.get(kind)]


def resolve(
    identifiers: dict[str, str],
    owners: dict[Key, str],
    known: dict[str, dict[str, str | None]],
    *,
    explicit_id: str | None = None,
    may_replace: bool = False,
    strict: bool = False,
    keys: list[Key] | None = None,
) -> Resolution:
    """Decide the profile for `identifiers`.

    owners: which profile holds each identifier of the payload that is already taken.
    known:  for every profile named in `owners` (and `explicit_id`), its single-valued identifiers.
    strict: raise DuplicateProfile instead of reporting it (the server profile API's 409).
    keys:   ordered(identifiers), if the caller has it already.
    """
    if keys is None:
        keys = ordered(identifiers)
    matched = _match(keys, owners, known, explicit_id)
    res = Resolution(profile_id=matched)
    for kind, value in keys:
        owner = owners.get((kind, value))
        if owner is None:
            _claim(res, matched, known, kind, value, may_replace)
        elif owner == matched:
            continue
        elif _is_anonymous(known.get(owner, {})):
            if owner not in res.merge_from:
                res.merge_from.append(owner)
        else:
            if strict:
                raise DuplicateProfile("A profile already exists with one of these identifiers.", owner)
            res.conflicts.append(((kind, value), owner))
            res.warnings.append(
                f"{kind} {value!r} belongs to another profile ({owner}); it was not moved"
            )
    return res


def _match(
    keys: list[Key], owners: dict[Key, str], known: dict[str, dict[str, str | None]], explicit_id: str | None
) -> str | None:
    if explicit_id is not None:
        if explicit_id not in known:
            raise NotFound("no profile with that id in this account")
        return explicit_id
    for key in keys:
        if key in owners:
            return owners[key]
    return None


def _claim(
    res: Resolution,
    matched: str | None,
    known: dict[str, dict[str, str | None]],
    kind: str,
    value: str,
    may_replace: bool,
) -> None:
    """An identifier nobody owns: add it, replace the profile's old one, or refuse to."""
    current = known.get(matched, {}).get(kind) if matched else None
    if matched is None or kind not in SINGLE_VALUED or current is None:
        res.add.append((kind, value))
    elif may_replace:
        res.replace.append((kind, current, value))
    else:
        res.warnings.append(
            f"profile already has {kind} {current!r}; {value!r} was not applied "
            "(public-key calls may add identifiers, never change them)"
        )


def _is_anonymous(single: dict[str, str | None]) -> bool:
    """Known only by anonymous / exchange ids: no external id, email or phone."""
    return not any(single.get(kind) for kind in SINGLE_VALUED)
