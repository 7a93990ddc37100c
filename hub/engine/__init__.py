"""The durable workflow engine.

The definition layer (``definition``, ``expressions``, ``durations``, ``versions``,
``diagram`` and their helpers) is pure: no I/O, no web framework, no ORM, no protocol
library. Import from the submodules; this package module stays empty so that importing
one part of the engine does not load the CEL parser for all of it.
"""
