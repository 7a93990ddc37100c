"""Observability adapters: the services' metrics port exported to Prometheus."""
