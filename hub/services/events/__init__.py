"""Tenant-scoped events: publish and subscribe through the event-bus port."""
