"""Industrial and enterprise integration hub."""

__version__ = "0.1.0"
