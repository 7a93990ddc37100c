"""Devices and their connections: the registry, tag writes, the connection supervisor."""
