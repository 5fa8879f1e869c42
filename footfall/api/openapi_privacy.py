"""The OpenAPI paths and schemas of the privacy and profile job routes (api/privacy.py, api/profile_import.py),
kept apart from api/openapi.py's table so each feature's surface is described next to its own kind."""

from __future__ import annotations

from typing import Any

from footfall.api.openapi_schemas import (ABSENT, ANY_OBJECT, DATETIME, EMAIL_GIVEN, PHONE_GIVEN, STRING, _PROFILE_INPUT,
                                          array, const, nullable, obj, resource)
from footfall.domain.limits import SUPPRESSION_EMAILS_PER_JOB as MAX_SUPPRESSION_EMAILS

_STATUS = {"type": "string", "enum": ["queued", "processing", "complete", "cancelled"]}
_COUNT = {"type": "integer"}
_REF_LIST = obj({"data": array(obj({"type": STRING, "id": STRING}, ("type", "id")))}, ("data",))

_IDENTIFIERS = {"id": {"type": "string", "minLength": 1, "maxLength": 64}, "email": EMAIL_GIVEN,
                "phone_number": PHONE_GIVEN}
_PROFILE_TYPE = {"enum": ["profile", None]}


def _deletion_target(name: str) -> dict[str, Any]:
    """The profile of a deletion job named by exactly this identifier (the others absent or null)."""
    attributes = obj({k: _IDENTIFIERS[k] if k == name else ABSENT for k in ("email", "phone_number")},
                     () if name == "id" else (name,), additionalProperties=False)
    if name == "id":
        return obj({"type": _PROFILE_TYPE, "id": _IDENTIFIERS["id"], "attributes": {"anyOf": [attributes, ABSENT]}},
                   ("id",))
    return obj({"type": _PROFILE_TYPE, "id": ABSENT, "attributes": attributes}, ("attributes",))


# Any JSON value (without U+0000, which no body may hold): a record is reported, never refused.
_RECORD = {"$ref": "#/components/schemas/JsonValue", "description": "A profile as ProfileInput's `data` (components/schemas); a record that cannot be "
                          "imported is reported in the job's import-errors, never refused."}


def _group_ref(kind: str) -> dict[str, Any]:
    return obj({"data": obj({"type": const(kind), "id": {"type": "string", "minLength": 1, "maxLength": 64,
                                                        "description": f"A {kind} of this account (else a 404)."}},
                            ("type", "id"))}, ("data",))


def _suppression_job(kind: str) -> dict[str, Any]:
    """Up to 100 emails, or one list or segment (whose members' emails are taken), never both."""
    emails = obj({"data": array(obj({"type": _PROFILE_TYPE, "attributes": obj({"email": EMAIL_GIVEN}, ("email",))},
                                    ("attributes",)), minItems=1, maxItems=MAX_SUPPRESSION_EMAILS)}, ("data",))
    no_emails = {"anyOf": [ABSENT, obj({"data": array({}, maxItems=0)}, ("data",))]}
    no_group = {"anyOf": [ABSENT, obj({"list": ABSENT, "segment": ABSENT}, additionalProperties=False)]}
    groups = [obj({g: _group_ref(g), "segment" if g == "list" else "list": ABSENT}, (g,), additionalProperties=False)
              for g in ("list", "segment")]
    typed = {"type": const(f"profile-suppression-bulk-{kind}-job")}
    return obj({"data": {"anyOf": [
        obj({**typed, "attributes": obj({"profiles": emails}, ("profiles",)), "relationships": no_group},
            ("type", "attributes")),
        obj({**typed, "attributes": {"anyOf": [ABSENT, obj({"profiles": no_emails})]},
             "relationships": {"anyOf": groups}}, ("type", "relationships")),
    ]}}, ("data",))


SCHEMAS: dict[str, Any] = {
    "DataPrivacyDeletionJobCreate": obj({"data": obj({
        "type": const("data-privacy-deletion-job"),
        "attributes": obj({"profile": obj({"data": {"anyOf": [_deletion_target(name) for name in _IDENTIFIERS],
                                                   "description": "Exactly one of id, email, phone_number."}},
                                          ("data",))}, ("profile",)),
    }, ("type", "attributes"))}, ("data",)),
    "DataPrivacyDeletionJob": resource("data-privacy-deletion-job", obj({
        "status": _STATUS, "created_at": DATETIME, "completed_at": nullable("string"),
        "identifier": {"type": "string", "enum": ["id", "email", "phone_number"]},
        "counts": obj({"profiles": _COUNT, "events": _COUNT, "memberships": _COUNT}),
    })),
    **{f"ProfileSuppressionBulk{name}JobCreate": _suppression_job(kind) for name, kind in (("Create", "create"),
                                                                                             ("Delete", "delete"))},
    **{f"ProfileSuppressionBulk{name}Job": obj({
        "type": const(f"profile-suppression-bulk-{kind}-job"), "id": STRING,
        "attributes": obj({"status": _STATUS, "created_at": DATETIME, "completed_at": nullable("string"),
                           "total_count": _COUNT, "completed_count": _COUNT, "skipped_count": _COUNT}),
        "relationships": obj({"lists": _REF_LIST, "segments": _REF_LIST}),
        "links": obj({"self": STRING}, ("self",)),
    }, ("type", "id", "attributes", "links")) for name, kind in (("Create", "create"), ("Delete", "delete"))},
    # Klaviyo's behaviour: the job is refused (400) only for its envelope; each record that cannot be imported
    # (not a profile, an invalid or missing identifier, over 100 KB, an identifier held by another profile) is
    # accepted and reported in the job's import-errors. So a record is any JSON value here, and ProfileInput's
    # `data` is what imports.
    "ProfileBulkImportJobCreate": obj({"data": obj({
        "type": const("profile-bulk-import-job"),
        "attributes": obj({"profiles": obj({"data": array(_RECORD, minItems=1, maxItems=10_000)}, ("data",))},
                          ("profiles",)),
        "relationships": {"anyOf": [ABSENT, obj({"lists": {"anyOf": [ABSENT, obj({"data": array(obj(
            {"type": const("list"), "id": {"type": "string", "minLength": 1,
                                           "description": "A list of this account (else a 404)."}},
            ("type", "id")))}, ("data",))]}}, additionalProperties=False)]},
    }, ("type", "attributes"))}, ("data",)),
    "ProfileBulkImportJob": obj({
        "type": const("profile-bulk-import-job"), "id": STRING,
        "attributes": obj({"status": _STATUS, "created_at": DATETIME, "completed_at": nullable("string"),
                           "started_at": nullable("string"), "expires_at": nullable("string"),
                           "total_count": _COUNT, "completed_count": _COUNT, "failed_count": _COUNT}),
        "relationships": ANY_OBJECT,
        "links": obj({"self": STRING}, ("self",)),
    }, ("type", "id", "attributes", "links")),
    "ImportError": obj({"type": const("import-error"), "id": STRING, "attributes": obj({
        "code": STRING, "title": STRING, "detail": STRING, "source": obj({"pointer": STRING}),
        "original_payload": {}})}, ("type", "id", "attributes")),
}


def paths(s: Any, ok: Any, errors: Any, param: Any, page_size: Any) -> dict[str, dict[str, Any]]:
    """api/openapi.py's helpers are passed in (it imports this module, not the other way round)."""
    jobs = "/api/data-privacy-deletion-jobs"
    out: dict[str, dict[str, Any]] = {
        jobs: {
            "post": s("request_profile_deletion", "Delete every profile with one identifier (id, email or phone); "
                      "202 with no body once done, the job in `Location`.", "Data Privacy", "data-privacy:write",
                      {**ok("202", "Deleted and committed; empty body; `Location` names the job."),
                       **errors("503")}, body="DataPrivacyDeletionJobCreate", method="POST", path=jobs),
            "get": s("get_data_privacy_deletion_jobs", "Deletion jobs (a Footfall extension).", "Data Privacy",
                     "data-privacy:read", ok("200", "A page of jobs.", "DataPrivacyDeletionJob", many=True),
                     params=[param("page_cursor"), page_size(20, 100)], method="GET", path=jobs),
        },
        f"{jobs}/{{id}}": {"get": s(
            "get_data_privacy_deletion_job", "One deletion job (a Footfall extension).", "Data Privacy",
            "data-privacy:read", {**ok("200", "The job.", "DataPrivacyDeletionJob"), **errors("404")},
            params=[param("id")], method="GET", path=f"{jobs}/{{id}}")},
    }
    for name, kind, op_post, op_get, op_list, what in (
            ("Create", "create", "bulk_suppress_profiles", "get_bulk_suppress_profiles_job",
             "get_bulk_suppress_profiles_jobs", "Suppress email marketing for up to 100 emails, or a list or segment."),
            ("Delete", "delete", "bulk_unsuppress_profiles", "get_bulk_unsuppress_profiles_job",
             "get_bulk_unsuppress_profiles_jobs", "Lift user suppressions for up to 100 emails, or a list or segment.")):
        base = f"/api/profile-suppression-bulk-{kind}-jobs"
        schema = f"ProfileSuppressionBulk{name}Job"
        out[base] = {
            "post": s(op_post, what, "Profiles", "subscriptions:write",
                      {**ok("202", "The job, done.", schema), **errors("404", "503")},
                      body=f"{schema}Create", method="POST", path=base),
            "get": s(op_list, "Jobs, oldest first.", "Profiles", "subscriptions:read",
                     ok("200", "A page of jobs.", schema, many=True),
                     params=[param("page_cursor"), page_size(20, 100)], method="GET", path=base),
        }
        out[f"{base}/{{id}}"] = {"get": s(op_get, "One job.", "Profiles", "subscriptions:read",
                                          {**ok("200", "The job.", schema), **errors("404")}, params=[param("id")],
                                          method="GET", path=f"{base}/{{id}}")}
    imports = "/api/profile-bulk-import-jobs"
    out[imports] = {
        "post": s("bulk_import_profiles", "Create or update up to 10,000 profiles (≤ 5 MB), optionally adding them "
                  "to lists.", "Profiles", "profiles:write",
                  {**ok("202", "The job, done.", "ProfileBulkImportJob"), **errors("404", "503")},
                  body="ProfileBulkImportJobCreate", method="POST", path=imports),
        "get": s("get_bulk_import_profiles_jobs", "Import jobs, oldest first.", "Profiles", "profiles:read",
                 ok("200", "A page of jobs.", "ProfileBulkImportJob", many=True),
                 params=[param("page_cursor"), page_size(20, 100)], method="GET", path=imports),
    }
    one = f"{imports}/{{id}}"
    out[one] = {"get": s("get_bulk_import_profiles_job", "One import job.", "Profiles", "profiles:read",
                         {**ok("200", "The job.", "ProfileBulkImportJob"), **errors("404")}, params=[param("id")],
                         method="GET", path=one)}
    for sub, op_id, scope, schema, what in (
            ("import-errors", "get_errors_for_bulk_import_profiles_job", "profiles:read", "ImportError",
             "The job's per-record errors."),
            ("lists", "get_list_for_bulk_import_profiles_job", "lists:read", "List", "The job's lists."),
            ("relationships/lists", "get_list_ids_for_bulk_import_profiles_job", "lists:read", "ResourceIdentifier",
             "The ids of the job's lists."),
            ("profiles", "get_profiles_for_bulk_import_profiles_job", "profiles:read", "Profile",
             "The profiles the job imported."),
            ("relationships/profiles", "get_profile_ids_for_bulk_import_profiles_job", "profiles:read",
             "ResourceIdentifier", "The ids of the profiles the job imported.")):
        path = f"{one}/{sub}"
        params = [param("id")] if sub.endswith("lists") else [param("id"), param("page_cursor"), page_size(20, 100)]
        out[path] = {"get": s(op_id, what, "Profiles", scope, {**ok("200", what, schema, many=True), **errors("404")},
                              params=params, method="GET", path=path)}
    return out
