"""Messaging adapters behind the event-bus port: the in-process bus (MQTT comes here)."""
