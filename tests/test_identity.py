"""Which profile a payload is about: $id, email, phone, anonymous ids; adding, never stealing, merging."""

from __future__ import annotations

from footfall.domain import identity
from tests.legacy_calls import identify, order, track, verbose


def who(account, **props) -> dict:
    return {"token": account.public_key, "properties": props}


def test_profile_found_by_id_gains_the_email_it_lacked(client, account, stored):
    assert identify(client, who(account, **{"$id": "cust-1", "$first_name": "Ann"})).text == "1"
    assert track(client, order(account, customer_properties={"$id": "cust-1", "$email": "ann@example.com"})).text == "1"
    [profile] = stored.profiles()
    assert (profile["external_id"], profile["email"], profile["first_name"]) == ("cust-1", "ann@example.com", "Ann")
    assert stored.events()[0]["profile_id"] == profile["id"]


def test_emails_are_matched_case_insensitively(client, account, stored):
    assert identify(client, who(account, **{"$email": "Ann@Example.COM"})).text == "1"
    assert track(client, order(account, " ann@example.com ")).text == "1"
    assert track(client, order(account, customer_properties={"email": "ANN@EXAMPLE.COM"}, time=1_700_000_001)).text == "1"
    [profile] = stored.profiles()
    assert profile["email"] == "ann@example.com"
    assert {e["profile_id"] for e in stored.events()} == {profile["id"]}


def test_phone_numbers_are_matched_in_e164_form(client, account, stored):
    assert identify(client, who(account, **{"$phone_number": "+44 20 7946 0958"})).text == "1"
    assert track(client, order(account, customer_properties={"$phone_number": "+442079460958"})).text == "1"
    [profile] = stored.profiles()
    assert profile["phone_number"] == "+442079460958"
    body = verbose(client, "identify", who(account, **{"$phone_number": "020 7946 0958"}))
    assert body["status"] == 0 and "properties.$phone_number" in body["error"] and "E.164" in body["error"]


def test_anonymous_and_exchange_ids_identify_a_visitor(client, account, stored):
    assert track(client, order(account, customer_properties={"$exchange_id": "abc.XYZ"})).text == "1"
    assert track(client, order(account, customer_properties={"$anonymous": "cookie-1"}, event="Viewed Page")).text == "1"
    assert len(stored.profiles()) == 2
    # The exchange id comes back with an email: the same profile, now known.
    again = order(account, customer_properties={"$exchange_id": "abc.XYZ", "$email": "vi@example.com"},
                  time=1_700_000_100)
    assert track(client, again).text == "1"
    profiles = {p["email"]: p for p in stored.profiles()}
    assert set(profiles) == {"vi@example.com", None}
    assert profiles[None]["anonymous_id"] == "cookie-1"


def test_free_identifiers_are_added_to_the_matched_profile(client, account, stored):
    assert identify(client, who(account, **{"$email": "ann@example.com"})).text == "1"
    assert identify(client, who(account, **{"$email": "ann@example.com", "$phone_number": "+13239169023",
                                            "$id": "c-9"})).text == "1"
    [profile] = stored.profiles()
    assert (profile["phone_number"], profile["external_id"]) == ("+13239169023", "c-9")
    # Found by the phone number alone from now on.
    assert track(client, order(account, customer_properties={"$phone_number": "+13239169023"})).text == "1"
    assert stored.events()[0]["profile_id"] == profile["id"]


def test_an_identifier_of_another_profile_is_never_stolen(client, account, stored):
    assert identify(client, who(account, **{"$email": "ann@example.com"})).text == "1"
    assert identify(client, who(account, **{"$phone_number": "+13239169023", "$first_name": "Bob"})).text == "1"
    body = verbose(client, "track", order(account, customer_properties={"$email": "ann@example.com",
                                                                        "$phone_number": "+13239169023"}))
    assert body["status"] == 1
    assert body["warnings"] == [
        f"phone_number '+13239169023' belongs to another profile ({_id_of(stored, phone='+13239169023')}); "
        "it was not moved"]
    ann = _profile(stored, email="ann@example.com")
    assert ann["phone_number"] is None and body["profile_id"] == ann["id"]
    assert _profile(stored, phone_number="+13239169023")["first_name"] == "Bob"


def test_public_key_calls_add_identifiers_but_never_change_them(client, account, stored):
    assert identify(client, who(account, **{"$id": "c-1", "$email": "old@example.com"})).text == "1"
    body = verbose(client, "identify", who(account, **{"$id": "c-1", "$email": "new@example.com"}))
    assert body["status"] == 1 and "profile already has email 'old@example.com'" in body["warnings"][0]
    [profile] = stored.profiles()
    assert profile["email"] == "old@example.com"


def test_anonymous_profile_is_merged_when_a_payload_ties_it_to_a_known_one(client, account, stored):
    # A visitor browses anonymously, and separately a known customer exists.
    anon = {"$anonymous": "cookie-7", "$city": "Lyon", "seen_banner": True}
    assert track(client, order(account, customer_properties=anon, event="Viewed Page", properties={})).text == "1"
    known = {"$email": "cle@example.com", "$first_name": "Cle", "seen_banner": False}
    assert track(client, order(account, customer_properties=known, time=1_700_000_050)).text == "1"
    assert len(stored.profiles()) == 2
    # Then one payload names both: the anonymous profile folds into the known one, events too.
    tie = order(account, customer_properties={"$email": "cle@example.com", "$anonymous": "cookie-7"},
                event="Started Checkout", time=1_700_000_100)
    body = verbose(client, "track", tie)
    [profile] = stored.profiles()
    assert body["profile_id"] == profile["id"]
    assert (profile["email"], profile["anonymous_id"], profile["first_name"]) == ("cle@example.com", "cookie-7", "Cle")
    assert profile["location"]["city"] == "Lyon"
    assert profile["properties"] == {"seen_banner": False}  # the known profile's values win
    events = stored.events()
    assert sorted(e["metric"] for e in events) == ["Ordered Product", "Started Checkout", "Viewed Page"]
    assert {e["profile_id"] for e in events} == {profile["id"]}
    # The anonymous id keeps finding the merged profile.
    assert track(client, order(account, customer_properties={"$anonymous": "cookie-7"}, time=1_700_000_200)).text == "1"
    assert {e["profile_id"] for e in stored.events()} == {profile["id"]}


def test_merging_keeps_the_known_profiles_event_when_both_have_the_same_one(client, account, stored):
    same = {"$event_id": "o-1"}
    assert track(client, order(account, customer_properties={"$anonymous": "c-1"}, properties={**same, "by": "anon"})).text == "1"
    assert track(client, order(account, customer_properties={"$email": "k@example.com"},
                               properties={**same, "by": "known"})).text == "1"
    tie = {"$email": "k@example.com", "$anonymous": "c-1"}
    assert identify(client, who(account, **tie)).text == "1"
    [event] = stored.events()
    assert event["properties"]["by"] == "known"


def test_identity_is_per_account(client, account, stored, database_url):
    from tests.servers import new_account

    other = new_account(database_url, f"other-{account.name}")
    assert identify(client, who(other, **{"$email": "ann@example.com", "$first_name": "Other"})).text == "1"
    assert identify(client, who(account, **{"$email": "ann@example.com"})).text == "1"
    [profile] = stored.profiles()
    assert profile["first_name"] is None


# -- the pure rule, without a database -------------------------------------------------------------

def test_resolution_tries_external_id_then_email_then_phone():
    owners = {("email", "a@x.co"): "P-EMAIL", ("external_id", "c-1"): "P-ID"}
    known = {"P-EMAIL": {"email": "a@x.co"}, "P-ID": {"external_id": "c-1"}}
    res = identity.resolve({"email": "a@x.co", "external_id": "c-1"}, owners, known)
    assert res.profile_id == "P-ID"
    assert res.conflicts == [(("email", "a@x.co"), "P-EMAIL")]


def test_resolution_merges_anonymous_owners_and_creates_when_nothing_matches():
    res = identity.resolve({"email": "a@x.co", "anonymous_id": "c-1"}, {("anonymous_id", "c-1"): "P-ANON",
                                                                        ("email", "a@x.co"): "P-KNOWN"},
                           {"P-ANON": {}, "P-KNOWN": {"email": "a@x.co"}})
    assert (res.profile_id, res.merge_from) == ("P-KNOWN", ["P-ANON"])
    fresh = identity.resolve({"email": "b@x.co"}, {}, {})
    assert fresh.profile_id is None and fresh.add == [("email", "b@x.co")]


def _profile(stored, **match) -> dict:
    [found] = [p for p in stored.profiles() if all(p[k] == v for k, v in match.items())]
    return found


def _id_of(stored, phone: str) -> str:
    return _profile(stored, phone_number=phone)["id"]
