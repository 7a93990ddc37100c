"""The workflow engine's use cases: definitions, runs, the worker, triggers, retention."""
