"""Webhook management writes, handed to the ingest pipeline like any other write (one writer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SaveWebhook:
    """Create (webhook_id None) or change a webhook; `fields` holds only what is set or changed:
    name, description, endpoint_url, secret_key, enabled, format, topics, group_ids, batch_size."""

    account_id: str
    webhook_id: str | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeleteWebhook:
    account_id: str
    webhook_id: str


@dataclass
class WebhookResult:
    webhook_id: str
