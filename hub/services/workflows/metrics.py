"""Prometheus metrics of the workflow engine, labelled by tenant and workflow (never run id)."""

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
# Runs in flight (running, waiting, suspended), counted from the database every 5 s over
# an index of those runs only; finished runs are counted as they finish, by this process
# (Prometheus sums the processes, and rate() copes with a restart's reset to zero).
RUNS = Gauge("hub_runs", "Runs not finished, by status", ["tenant", "workflow", "status"])
RUNS_FINISHED = Counter(
    "hub_runs_finished", "Runs finished, by final status", ["tenant", "workflow", "status"]
)
