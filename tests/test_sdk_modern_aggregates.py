"""The official Python SDK (PyPI klaviyo-api) records events and reads their aggregates back.

Events go in through Events.create_event, the metric is found with Metrics.get_metrics, and
Metrics.query_metric_aggregates must return the hand-computed counts, sums and unique profiles,
parsed by the SDK's strict response models.
"""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI


@pytest.fixture
def klaviyo(server, account) -> KlaviyoAPI:
    return KlaviyoAPI(account.private_key, test_host=server.url, max_retries=0)


def create_order(klaviyo: KlaviyoAPI, email: str, when: str, value: float, currency: str) -> None:
    klaviyo.Events.create_event({"data": {"type": "event", "attributes": {
        "properties": {"Item": "Boots"}, "time": when, "value": value, "value_currency": currency,
        "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
    }}})


def test_sdk_query_metric_aggregates_reads_back_the_right_numbers(klaviyo):
    # Two days in UTC: Jan 1 has ann (10 + 5) and bob (7); Jan 2 has ann (20).
    create_order(klaviyo, "ann@example.com", "2025-01-01T09:00:00+00:00", 10, "EUR")
    create_order(klaviyo, "ann@example.com", "2025-01-01T18:30:00+00:00", 5, "USD")
    create_order(klaviyo, "bob@example.com", "2025-01-01T23:59:59+00:00", 7, "EUR")
    create_order(klaviyo, "ann@example.com", "2025-01-02T00:00:00+00:00", 20, "EUR")

    metrics = klaviyo.Metrics.get_metrics().data
    [metric_id] = [m.id for m in metrics if m.attributes.name == "Placed Order"]

    answer = klaviyo.Metrics.query_metric_aggregates({"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": metric_id,
        "measurements": ["count", "sum_value", "unique"],
        "interval": "day",
        "timezone": "UTC",
        "filter": ["greater-or-equal(datetime,2025-01-01T00:00:00)", "less-than(datetime,2025-01-03T00:00:00)"],
    }}})

    attributes = answer.data.attributes
    assert [d.isoformat()[:10] for d in attributes.dates] == ["2025-01-01", "2025-01-02"]
    [series] = attributes.data
    assert series.measurements["count"] == [3, 1]
    assert series.measurements["sum_value"] == [22, 20]
    assert series.measurements["unique"] == [2, 1]

    # The SDK only lets `by` name Klaviyo's listed dimensions; $value_currency is one Footfall has.
    by_currency = klaviyo.Metrics.query_metric_aggregates({"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": metric_id, "measurements": ["count"], "interval": "day", "by": ["$value_currency"],
        "filter": ["greater-or-equal(datetime,2025-01-01T00:00:00)", "less-than(datetime,2025-01-03T00:00:00)"],
    }}}).data.attributes.data
    counts = {tuple(s.dimensions): s.measurements["count"] for s in by_currency}
    assert counts == {("EUR",): [2, 1], ("USD",): [1, 0]}
