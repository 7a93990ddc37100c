"""The REST API (Litestar): a driving adapter over hub/services."""
