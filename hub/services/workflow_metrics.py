"""Prometheus metrics of the workflow engine, labelled by tenant and workflow (never run id)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

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
RUNS = Gauge("hub_runs", "Runs by status", ["tenant", "workflow", "status"])
