"""The EngineMetrics port (hub/ports/metrics.py) as Prometheus instruments, labelled by
tenant and workflow (never run id). /metrics (hub/api/metrics.py) exposes the registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUN_SECONDS = Histogram(
    "hub_workflow_duration_seconds",
    "Time from a run's start to its end",
    ["tenant", "workflow", "status"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 86400),
)
ACTIVITY_SECONDS = Histogram(
    "hub_activity_duration_seconds",
    "Time one activity attempt took",
    ["tenant", "workflow", "activity"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
# Runs in flight (queued, running, waiting, suspended), counted from the database every
# 5 s over an index of those runs only; finished runs are counted as they finish, by this
# process (Prometheus sums the processes, and rate() copes with a restart's reset to zero).
RUNS = Gauge("hub_runs", "Runs not finished, by status", ["tenant", "workflow", "status"])
RUNS_FINISHED = Counter(
    "hub_runs_finished", "Runs finished, by final status", ["tenant", "workflow", "status"]
)
OFF_LOOP = Counter(
    "hub_expressions_off_loop",
    "Units of work (transitions, trigger conditions) whose expressions went over the "
    "event loop's allowance and were taken again in a worker thread",
)


class PrometheusEngineMetrics:
    def run_finished(self, tenant: str, workflow: str, status: str, seconds: float | None) -> None:
        if seconds is not None:
            RUN_SECONDS.labels(tenant, workflow, status).observe(seconds)
        RUNS_FINISHED.labels(tenant, workflow, status).inc()

    def activity_took(self, tenant: str, workflow: str, activity: str, seconds: float) -> None:
        ACTIVITY_SECONDS.labels(tenant, workflow, activity).observe(seconds)

    def runs_in_flight(self, counts: dict[tuple[str, str, str], int]) -> None:
        RUNS.clear()
        for (tenant, workflow, status), count in counts.items():
            RUNS.labels(tenant, workflow, status).set(count)

    def expressions_off_loop(self) -> None:
        OFF_LOOP.inc()
