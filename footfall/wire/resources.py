"""JSON:API resource objects for profiles, events and metrics, typed exactly as Klaviyo's SDKs expect.

The official Python SDK validates responses strictly: integer timestamps, string ids, `links.self`
on every resource. Every route renders through these functions so the shapes cannot drift.
"""

from __future__ import annotations

from typing import Any

from footfall.domain import consent
from footfall.domain.models import LOCATION_FIELDS, PROFILE_ATTRIBUTES
from footfall.timefmt import iso


PROFILE_ADDITIONAL = ("subscriptions", "predictive_analytics")


def profile(base: str, row: dict[str, Any], additional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """row: the profile columns (location/properties/consent already decoded); `additional`: which of
    PROFILE_ADDITIONAL to add (additional-fields[profile])."""
    pid = row["id"]
    location = row.get("location") or {}
    attributes = {
        "email": row.get("email"),
        "phone_number": row.get("phone_number"),
        "external_id": row.get("external_id"),
        "anonymous_id": row.get("anonymous_id"),
        **{name: row.get(name) for name in PROFILE_ATTRIBUTES},
        "created": iso(row["created"]),
        "updated": iso(row["updated"]),
        "last_event_date": iso(row.get("last_event_time")),
        "location": {name: location.get(name) for name in LOCATION_FIELDS},
        "properties": row.get("properties") or {},
    }
    if "subscriptions" in additional:
        attributes["subscriptions"] = consent.subscriptions(row.get("consent") or {})
    if "predictive_analytics" in additional:
        attributes["predictive_analytics"] = dict(consent.PREDICTIVE_ANALYTICS)
    return {
        "type": "profile",
        "id": pid,
        "attributes": attributes,
        "relationships": {
            rel: {"links": {"self": f"{base}/api/profiles/{pid}/relationships/{rel}/",
                            "related": f"{base}/api/profiles/{pid}/{rel}/"}}
            for rel in ("lists", "segments")
        },
        "links": {"self": f"{base}/api/profiles/{pid}/"},
    }


def event(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """row: id, metric_id, profile_id, time, value, unique_id, properties."""
    eid = row["id"]
    props = dict(row.get("properties") or {})
    if row.get("value") is not None:
        props.setdefault("$value", row["value"])
    if row.get("unique_id") is not None:
        props.setdefault("$event_id", row["unique_id"])
    return {
        "type": "event",
        "id": eid,
        "attributes": {
            "timestamp": int(row["time"]),
            "event_properties": props,
            "datetime": iso(row["time"]),
            "uuid": eid,
        },
        "relationships": {
            "profile": _to_one(base, "events", eid, "profile", row["profile_id"]),
            "metric": _to_one(base, "events", eid, "metric", row["metric_id"]),
        },
        "links": {"self": f"{base}/api/events/{eid}/"},
    }


def metric(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """row: id, name, integration, created, updated."""
    mid = row["id"]
    integration = row.get("integration") or "API"
    return {
        "type": "metric",
        "id": mid,
        "attributes": {
            "name": row["name"],
            "created": iso(row["created"]),
            "updated": iso(row["updated"]),
            "integration": {"object": "integration", "id": integration.lower(), "key": integration.lower(),
                            "name": integration, "category": integration},
        },
        "links": {"self": f"{base}/api/metrics/{mid}/"},
    }


def _to_one(base: str, parent: str, parent_id: str, name: str, target_id: str) -> dict[str, Any]:
    return {
        "data": {"type": name, "id": target_id},
        "links": {"self": f"{base}/api/{parent}/{parent_id}/relationships/{name}/",
                  "related": f"{base}/api/{parent}/{parent_id}/{name}/"},
    }


def bulk_job(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """An event bulk create job, shaped like Klaviyo's other jobs (status, *_count, created_at, completed_at).

    row: id, status, total, completed, failed, errors, created, completed_at.
    """
    jid = row["id"]
    return {
        "type": "event-bulk-create-job",
        "id": jid,
        "attributes": {
            "status": row["status"],
            "total_count": int(row["total"]),
            "completed_count": int(row["completed"]),
            "failed_count": int(row["failed"]),
            "created_at": iso(row["created"]),
            "completed_at": iso(row.get("completed_at")),
            "errors": row.get("errors") or [],
        },
        "links": {"self": f"{base}/api/event-bulk-create-jobs/{jid}/"},
    }


def segment(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """row: id, name, definition, created, updated, is_processing (and profile_count when asked for)."""
    sid = row["id"]
    attributes = {
        "name": row["name"],
        "definition": row["definition"],
        "created": iso(row["created"]),
        "updated": iso(row["updated"]),
        "is_active": True,
        "is_processing": bool(row["is_processing"]),
        "is_starred": False,
    }
    if "profile_count" in row:
        attributes["profile_count"] = int(row["profile_count"])
    return {
        "type": "segment",
        "id": sid,
        "attributes": attributes,
        "relationships": _members(base, "segments", sid),
        "links": {"self": f"{base}/api/segments/{sid}/"},
    }


def group_list(base: str, row: dict[str, Any]) -> dict[str, Any]:
    """A list (static group). row: id, name, created, updated (and profile_count when asked for)."""
    lid = row["id"]
    attributes: dict[str, Any] = {
        "name": row["name"],
        "created": iso(row["created"]),
        "updated": iso(row["updated"]),
        "opt_in_process": "single_opt_in",
    }
    if "profile_count" in row:
        attributes["profile_count"] = int(row["profile_count"])
    return {
        "type": "list",
        "id": lid,
        "attributes": attributes,
        "relationships": _members(base, "lists", lid),
        "links": {"self": f"{base}/api/lists/{lid}/"},
    }


def _members(base: str, family: str, gid: str) -> dict[str, Any]:
    return {"profiles": {"links": {"self": f"{base}/api/{family}/{gid}/relationships/profiles/",
                                   "related": f"{base}/api/{family}/{gid}/profiles/"}}}


# -- privacy and profile jobs (issue 13) ---------------------------------------------------------------
_JOB_EXPIRY_SECONDS = 7 * 86400  # an import job's record is kept at least this long (expires_at)


def profile_job(base: str, path: str, row: dict[str, Any]) -> dict[str, Any]:
    """A deletion, suppression or profile bulk import job (row: store/jobs.COLUMNS, details decoded),
    typed as the SDK models of Klaviyo's job resources expect; `path` is the collection's route."""
    jid, kind, details = row["id"], row["kind"], row["details"]
    self_link = f"{base}{path}/{jid}/"
    attributes: dict[str, Any] = {"status": row["status"], "created_at": iso(row["created"])}
    resource: dict[str, Any] = {"type": kind, "id": jid, "attributes": attributes, "links": {"self": self_link}}
    if kind == "data-privacy-deletion-job":
        attributes.update(completed_at=iso(row["completed_at"]), identifier=details.get("identifier"),
                          counts=details.get("counts", {}))
        return resource
    attributes.update(total_count=int(row["total"]), completed_count=int(row["completed"]),
                      completed_at=iso(row["completed_at"]))
    if kind == "profile-bulk-import-job":
        attributes.update(failed_count=int(row["failed"]), started_at=iso(row["created"]),
                          expires_at=iso(row["created"] + _JOB_EXPIRY_SECONDS))
        resource["relationships"] = {
            name: {"data": data, "links": {"self": f"{self_link}relationships/{name}/", "related": f"{self_link}{name}/"}}
            for name, data in (("lists", [{"type": "list", "id": i} for i in details.get("lists", [])]),
                               ("profiles", None), ("import-errors", None))
        }
        for name in ("profiles", "import-errors"):
            del resource["relationships"][name]["data"]
        return resource
    attributes["skipped_count"] = int(row["skipped"])
    resource["relationships"] = {
        "lists": {"data": [{"type": "list", "id": i} for i in details.get("lists", [])]},
        "segments": {"data": [{"type": "segment", "id": i} for i in details.get("segments", [])]},
    }
    return resource
