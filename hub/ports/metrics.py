"""Operational metrics the services record, without knowing the exporter (Prometheus in
hub/api/instruments.py)."""

from __future__ import annotations

from typing import Protocol


class EngineMetrics(Protocol):
    """The workflow engine's figures, labelled by tenant and workflow (never run id)."""

    def run_finished(self, tenant: str, workflow: str, status: str, seconds: float | None) -> None:
        """A run ended with `status`; `seconds` from its start, when known."""
        ...

    def activity_took(self, tenant: str, workflow: str, activity: str, seconds: float) -> None: ...

    def runs_in_flight(self, counts: dict[tuple[str, str, str], int]) -> None:
        """Runs not finished, by (tenant, workflow, status): the whole set, replacing the last."""
        ...

    def expressions_off_loop(self) -> None:
        """A unit of work's expressions went over the loop's allowance (run in a thread)."""
        ...
