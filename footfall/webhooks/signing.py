"""Both signatures every delivery carries, from the one secret_key the user chose.

Klaviyo's: Klaviyo-Signature = lower-case hex HMAC-SHA256(secret_key, raw body + Klaviyo-Timestamp).
Standard Webhooks': webhook-signature = "v1," + base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}"),
where the key is the secret_key's bytes, i.e. the secret `whsec_` + base64(secret_key) of the spec.
Both timestamps are the attempt's, in integer unix seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def klaviyo_signature(secret_key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret_key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def standard_secret(secret_key: str) -> str:
    """The secret a Standard Webhooks library is given to verify: whsec_ + base64 of the key's bytes."""
    return "whsec_" + base64.b64encode(secret_key.encode()).decode()


def standard_signature(secret_key: str, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret_key: str, webhook_id: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one attempt: Klaviyo's (Klaviyo-Webhook-Id is the webhook) and Standard
    Webhooks' (webhook-id is the delivery's message id, the same on every retry)."""
    ts = str(timestamp)
    return {
        "content-type": "application/json",
        "klaviyo-webhook-id": webhook_id,
        "klaviyo-timestamp": ts,
        "klaviyo-signature": klaviyo_signature(secret_key, body, ts),
        "webhook-id": message_id,
        "webhook-timestamp": ts,
        "webhook-signature": standard_signature(secret_key, message_id, ts, body),
    }
