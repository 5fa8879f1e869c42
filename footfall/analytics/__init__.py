"""Metric aggregates: time buckets in a time zone (buckets.py); the SQL lives in store/aggregates.py."""
