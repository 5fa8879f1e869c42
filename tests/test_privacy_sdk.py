"""Klaviyo's official Python SDK (PyPI klaviyo-api) against the privacy and profile job routes: its
strict models parse every answer."""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException


@pytest.fixture
def klaviyo(server, account) -> KlaviyoAPI:
    return KlaviyoAPI(account.private_key, test_host=server.url, max_retries=0)


def _profile(email: str, **attributes) -> dict:
    return {"type": "profile", "attributes": {"email": email, **attributes}}


def test_sdk_bulk_import_then_errors_and_polling(klaviyo, stored):
    lst = klaviyo.Lists.create_list({"data": {"type": "list", "attributes": {"name": "Imported"}}}).data.id
    job = klaviyo.Profiles.bulk_import_profiles({"data": {"type": "profile-bulk-import-job", "attributes": {
        "profiles": {"data": [_profile("a@example.com", first_name="A"), _profile("b@example.com"),
                              _profile("not an email")]}},
        "relationships": {"lists": {"data": [{"type": "list", "id": lst}]}}}})
    assert job.data.type == "profile-bulk-import-job"
    attrs = job.data.attributes
    assert (attrs.status, attrs.total_count, attrs.completed_count, attrs.failed_count) == ("complete", 3, 2, 1)
    polled = klaviyo.Profiles.get_bulk_import_profiles_job(job.data.id)
    assert polled.data.id == job.data.id and polled.data.attributes.completed_at is not None
    errors = klaviyo.Profiles.get_errors_for_bulk_import_profiles_job(job.data.id)
    [err] = errors.data
    assert err.attributes.source.pointer == "/data/attributes/profiles/data/2/attributes/email"
    assert err.attributes.original_payload == _profile("not an email")
    listed = klaviyo.Profiles.get_bulk_import_profiles_jobs()
    assert [j.id for j in listed.data] == [job.data.id]
    assert {p["email"] for p in stored.profiles()} == {"a@example.com", "b@example.com"}
    members = klaviyo.Lists.get_profiles_for_list(lst)
    assert {p.attributes.email for p in members.data} == {"a@example.com", "b@example.com"}
    # The job's related resources, as the SDK names them.
    profiles = klaviyo.Profiles.get_profiles_for_bulk_import_profiles_job(job.data.id).data
    assert {p.attributes.email for p in profiles} == {"a@example.com", "b@example.com"}
    ids = klaviyo.Profiles.get_profile_ids_for_bulk_import_profiles_job(job.data.id).data
    assert {i.id for i in ids} == {p.id for p in profiles}
    assert [x.id for x in klaviyo.Profiles.get_list_for_bulk_import_profiles_job(job.data.id).data] == [lst]
    assert [x.id for x in klaviyo.Profiles.get_list_ids_for_bulk_import_profiles_job(job.data.id).data] == [lst]


def test_sdk_suppress_and_unsuppress(klaviyo):
    created = klaviyo.Profiles.bulk_suppress_profiles({"data": {"type": "profile-suppression-bulk-create-job",
                                                                "attributes": {"profiles": {"data": [
                                                                    _profile("s@example.com"),
                                                                    _profile("t@example.com")]}}}})
    assert created.data.type == "profile-suppression-bulk-create-job"
    assert (created.data.attributes.total_count, created.data.attributes.completed_count) == (2, 2)
    got = klaviyo.Profiles.get_bulk_suppress_profiles_job(created.data.id)
    assert got.data.attributes.status == "complete"
    [profile] = klaviyo.Profiles.get_profiles(filter='equals(email,"t@example.com")',
                                             additional_fields_profile=["subscriptions"]).data
    [entry] = profile.attributes.subscriptions.email.marketing.suppression
    assert entry.reason == "USER_SUPPRESSED" and entry.timestamp is not None
    removed = klaviyo.Profiles.bulk_unsuppress_profiles({"data": {"type": "profile-suppression-bulk-delete-job",
                                                                  "attributes": {"profiles": {"data": [
                                                                      _profile("s@example.com")]}}}})
    assert (removed.data.attributes.total_count, removed.data.attributes.completed_count) == (1, 1)
    assert klaviyo.Profiles.get_bulk_unsuppress_profiles_job(removed.data.id).data.id == removed.data.id
    assert [j.id for j in klaviyo.Profiles.get_bulk_unsuppress_profiles_jobs().data] == [removed.data.id]
    assert [j.id for j in klaviyo.Profiles.get_bulk_suppress_profiles_jobs().data] == [created.data.id]


def test_sdk_request_profile_deletion(klaviyo, stored):
    klaviyo.Profiles.create_profile({"data": _profile("gone@example.com")})
    klaviyo.Profiles.create_profile({"data": _profile("kept@example.com")})
    answer = klaviyo.Data_Privacy.request_profile_deletion({"data": {"type": "data-privacy-deletion-job",
                                                                    "attributes": {"profile": {"data": {
                                                                        "type": "profile", "attributes": {
                                                                            "email": "gone@example.com"}}}}}})
    assert answer is None  # 202 with no body, as Klaviyo answers
    assert [p["email"] for p in stored.profiles()] == ["kept@example.com"]
    with pytest.raises(ApiException) as refused:
        klaviyo.Data_Privacy.request_profile_deletion({"data": {"type": "data-privacy-deletion-job", "attributes": {
            "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com",
                                                                   "phone_number": "+14155550100"}}}}}})
    assert refused.value.status == 400
