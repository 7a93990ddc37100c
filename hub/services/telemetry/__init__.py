"""The telemetry pipeline, per-device feeds and tag history."""
