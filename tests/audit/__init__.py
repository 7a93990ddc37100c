"""Tests of the standalone audit package (no hub imports)."""
