"""Outbound: webhook deliveries from the outbox, and the live stream (see docs/architecture.md)."""
