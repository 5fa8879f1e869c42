"""Whose request this is: the private key and its scopes on /api (401 / 403), the public key on /client.

Every lookup is memoised on the request and counted against the caller's address (api/keyguard.py).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from footfall.api import keyguard
from footfall.api.app_state import services
from footfall.api.fastpath import Incoming
from footfall.domain import scopes
from footfall.store.accounts import Account, KeyGrant
from footfall.refusals import ApiError, KeysThrottled, as_api_error

NO_KEY = "Provide a private key: Authorization: Klaviyo-API-Key pk_…"


async def private_key(request: Incoming, family: str, mode: str) -> KeyGrant:
    """The caller's private key grant, with `family:mode` required (401 / 403 otherwise)."""
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "not_authenticated", NO_KEY)
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() not in ("klaviyo-api-key", "bearer") or not key:
        raise ApiError(401, "not_authenticated", "The Authorization header must be `Klaviyo-API-Key <private key>`.")
    grant = await _grant(request, key)
    if grant is None:
        raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.",
                       title="Incorrect authentication credentials.")
    if not scopes.allows(grant.scopes, family, mode):
        raise ApiError(403, "permission_denied", f"This key lacks the `{family}:{mode}` scope.")
    return grant


async def public_key(request: Incoming) -> Account:
    """The account of ?company_id=<public key> on /client routes."""
    company = request.query_params.get("company_id")
    if not company:
        raise ApiError(400, "invalid", "The `company_id` query parameter (your public key) is required.",
                       parameter="company_id")
    account = await _account(request, company)
    if account is None:
        raise ApiError(400, "invalid", f"{company!r} is not the public key of any account.", parameter="company_id")
    return account


async def _grant(request: Incoming, key: str) -> KeyGrant | None:
    """The grant of a private key, looked up once per request (the rate limiter asks first)."""
    memo = request.scope.setdefault("footfall.grants", {})
    if key not in memo:
        memo[key] = await _guarded(request, key, services(request).grant_for_private_key)
    return memo[key]


async def _account(request: Incoming, company: str) -> Account | None:
    memo = request.scope.setdefault("footfall.accounts", {})
    if company not in memo:
        memo[company] = await _guarded(request, company, services(request).account_for_public_key)
    return memo[company]


async def _guarded(request: Incoming, key: str, lookup: Callable[[str], Awaitable[Any]]) -> Any:
    """A key lookup counted against the caller's address (api/keyguard.py); 429 over its budget."""
    try:
        return await keyguard.checked_lookup(request, key, lookup)
    except KeysThrottled as exc:
        raise as_api_error(exc, 0, detail=f"Request was throttled: {exc}.") from None


async def caller_account_id(request: Incoming) -> str | None:
    """Whose request this is (public key on /client, private key on /api); None if not (yet) known."""
    if request.scope["path"].startswith("/client"):
        company = request.query_params.get("company_id")
        account = await _account(request, company) if company else None
        return account.id if account else None
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() not in ("klaviyo-api-key", "bearer") or not key.strip():
        return None
    grant = await _grant(request, key.strip())
    return grant.account_id if grant else None
