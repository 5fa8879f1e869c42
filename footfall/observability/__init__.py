"""Operating Footfall: worker heartbeats, access and lifecycle logs, Prometheus metrics."""
