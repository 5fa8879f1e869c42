"""Consent and suppression: the one place that says what a profile's `consent` record holds and how
subscribe, unsubscribe, suppress and unsuppress change it, and how it reads as Klaviyo's
`subscriptions` object.

The record lives in `profiles.consent` (JSON), one entry per channel:

    {"email": {"consent": "SUBSCRIBED" | "UNSUBSCRIBED", "consented_at": ISO, "method": str,
               "custom_source"?: str, "list_id"?: str, "last_updated"?: ISO,
               "suppression": [{"reason": "USER_SUPPRESSED" | "UNSUBSCRIBE" | "SPAM_REPORT" |
                                "HARD_BOUNCE" | "INVALID_EMAIL", "timestamp": ISO}],
               "list_suppressions": [{"list_id": str, "reason": str, "timestamp": ISO}]},
     "sms":   {"consent": …, "consented_at": …, "method": …, "transactional"?: {"consent": …, …}}}

Writers change it only through a ConsentChange applied by `apply` (a ProfilePatch carries them in
`consent_changes`; domain/profiles.apply_patch applies them after any plain `consent` entries, which
are merged per channel so that they never drop a suppression). Klaviyo's rules, from its API
reference for Bulk Subscribe / Unsubscribe / Suppress / Unsuppress Profiles:

- subscribing (email marketing) removes the suppressions UNSUBSCRIBE, SPAM_REPORT and USER_SUPPRESSED;
  HARD_BOUNCE and INVALID_EMAIL stay; subscribing with a list also lifts that list's suppression;
- unsubscribing email marketing sets UNSUBSCRIBED and suppresses with reason UNSUBSCRIBE; with a list,
  only that list is suppressed (list_suppressions) and the global consent is left alone;
- suppress adds USER_SUPPRESSED; unsuppress removes only USER_SUPPRESSED;
- a suppressed profile cannot receive email marketing, whatever its consent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

SUBSCRIBED, UNSUBSCRIBED, NEVER_SUBSCRIBED = "SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED"
USER_SUPPRESSED = "USER_SUPPRESSED"
SUBSCRIBE_LIFTS = frozenset({"UNSUBSCRIBE", "SPAM_REPORT", USER_SUPPRESSED})
UNSUPPRESS_LIFTS = frozenset({USER_SUPPRESSED})
# Klaviyo's email suppression reasons (segments' profile-suppression condition takes these).
SUPPRESSION_REASONS = (USER_SUPPRESSED, "UNSUBSCRIBE", "SPAM_REPORT", "HARD_BOUNCE", "INVALID_EMAIL")
_KEPT = ("suppression", "list_suppressions")  # what a plain per-channel entry never overwrites


@dataclass(frozen=True)
class ConsentChange:
    """One change to a channel's consent. action: subscribe | unsubscribe | suppress | unsuppress.

    kind: "marketing" or (sms) "transactional"; at: ISO time of the change; consented_at: the time
    consent was given (historical imports), else `at`; list_id: the list the change is about, if any.
    """

    channel: str
    action: str
    at: str
    kind: str = "marketing"
    method: str | None = None
    custom_source: str | None = None
    consented_at: str | None = None
    list_id: str | None = None
    reason: str | None = None


def merge_entries(current: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Plain per-channel entries (legacy $consent, /client/subscriptions) laid over the record: they
    replace the channel's consent fields but keep its suppressions."""
    out = dict(current)
    for channel, entry in entries.items():
        old = out.get(channel) or {}
        new = copy.deepcopy(entry)
        for key in _KEPT:
            if key in old and key not in new:
                new[key] = old[key]
        out[channel] = new
    return out


def apply(record: dict[str, Any], change: ConsentChange) -> dict[str, Any]:
    """The consent record with `change` applied (a new dict; `record` is not modified)."""
    out = copy.deepcopy(record)
    channel = out.setdefault(change.channel, {})
    if change.action == "subscribe":
        _set(channel, change, SUBSCRIBED)
        if change.channel == "email" and change.kind == "marketing":
            channel["suppression"] = [s for s in channel.get("suppression", []) if s["reason"] not in SUBSCRIBE_LIFTS]
            if change.list_id is not None:
                channel["list_suppressions"] = [s for s in channel.get("list_suppressions", [])
                                                if s["list_id"] != change.list_id]
    elif change.action == "unsubscribe":
        if change.list_id is not None and change.channel == "email":
            kept = [s for s in channel.get("list_suppressions", []) if s["list_id"] != change.list_id]
            channel["list_suppressions"] = kept + [{"list_id": change.list_id, "reason": "UNSUBSCRIBE",
                                                    "timestamp": change.at}]
        else:
            _set(channel, change, UNSUBSCRIBED)
            if change.channel == "email" and change.kind == "marketing":
                _suppress(channel, "UNSUBSCRIBE", change.at)
    elif change.action == "suppress":
        _suppress(channel, change.reason or "USER_SUPPRESSED", change.at)
    elif change.action == "unsuppress":
        lifts = {change.reason} if change.reason else UNSUPPRESS_LIFTS
        channel["suppression"] = [s for s in channel.get("suppression", []) if s["reason"] not in lifts]
    else:
        raise ValueError(f"unknown consent action {change.action!r}")
    return out


def _set(channel: dict[str, Any], change: ConsentChange, consent: str) -> None:
    target = channel if change.kind == "marketing" else channel.setdefault(change.kind, {})
    target["consent"] = consent
    target["consented_at"] = change.consented_at or change.at
    target["last_updated"] = change.at
    if change.method is not None:
        target["method"] = change.method
    if change.custom_source is not None:
        target["custom_source"] = change.custom_source
    elif consent == UNSUBSCRIBED:
        target.pop("custom_source", None)
    if change.list_id is not None:
        target["list_id"] = change.list_id


def _suppress(channel: dict[str, Any], reason: str, at: str) -> None:
    current = channel.setdefault("suppression", [])
    if not any(s["reason"] == reason for s in current):
        current.append({"reason": reason, "timestamp": at})


def suppressions(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The email marketing suppressions of a consent record, [{reason, timestamp}]."""
    return list((record.get("email") or {}).get("suppression") or [])


def suppressed(record: dict[str, Any]) -> bool:
    """Globally suppressed for email marketing (cannot receive it, whatever the consent)."""
    return bool((record.get("email") or {}).get("suppression"))


def subscriptions(record: dict[str, Any]) -> dict[str, Any]:
    """Klaviyo's `subscriptions` object (additional-fields[profile]=subscriptions) of a consent record,
    typed as the SDK's EmailMarketing / SMSMarketing / SMSTransactional models expect."""
    email = record.get("email") or {}
    sms = record.get("sms") or {}
    email_consent = email.get("consent") or NEVER_SUBSCRIBED
    return {
        "email": {"marketing": {
            "can_receive_email_marketing": email_consent == SUBSCRIBED and not email.get("suppression"),
            "consent": email_consent,
            "consent_timestamp": email.get("consented_at"),
            "last_updated": email.get("last_updated") or email.get("consented_at"),
            "method": email.get("method"),
            "method_detail": email.get("custom_source") or "",
            "custom_method_detail": email.get("custom_source"),
            "double_optin": False if email.get("consent") else None,
            "suppression": [{"reason": s["reason"], "timestamp": s["timestamp"]} for s in email.get("suppression", [])],
            "list_suppressions": [{"list_id": s["list_id"], "reason": s["reason"], "timestamp": s["timestamp"]}
                                  for s in email.get("list_suppressions", [])],
        }},
        "sms": {
            "marketing": _sms(sms, "marketing"),
            "transactional": _sms(sms.get("transactional") or {}, "transactional"),
        },
    }


def _sms(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    consent = entry.get("consent") or NEVER_SUBSCRIBED
    return {
        f"can_receive_sms_{kind}": consent == SUBSCRIBED,
        "consent": consent,
        "consent_timestamp": entry.get("consented_at"),
        "method": entry.get("method"),
        "method_detail": entry.get("custom_source") or "",
        "last_updated": entry.get("last_updated") or entry.get("consented_at"),
    }


# Klaviyo computes these from order history; Footfall computes no predictions and answers nulls.
PREDICTIVE_ANALYTICS: dict[str, Any] = {
    "historic_clv": None, "predicted_clv": None, "total_clv": None, "historic_number_of_orders": None,
    "predicted_number_of_orders": None, "average_days_between_orders": None, "average_order_value": None,
    "churn_probability": None, "expected_date_of_next_order": None, "ranked_channel_affinity": None,
}
