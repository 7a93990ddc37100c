"""Use cases, one module per capability."""
