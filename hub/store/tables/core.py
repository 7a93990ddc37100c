"""Table definitions (SQLAlchemy Core). Alembic migrations must match these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from hub.store.tables.base import Timestamp, metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_platform_admin", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_memberships_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("family_id", String(32), nullable=False, index=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("issued_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp, nullable=True),
    Column("revoked_at", Timestamp, nullable=True),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column(
        "id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True
    ),
    Column("username", String(64), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_login_failures_username_at", "username", "at"),
)

# One row; its version changes whenever a role assignment, user or tenant status changes,
# so every process can tell when its in-memory authorization snapshot is stale.
authz_state = Table(
    "authz_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# --- audit log (one log per tenant id, plus the platform's log "platform") ---

audit_logs = Table(
    "audit_logs",
    metadata,
    Column("log_id", String(32), primary_key=True),
    # Entries so far. Bumped with UPDATE ... RETURNING, whose row lock hands out gapless
    # sequence numbers to concurrent writers.
    Column("size", BigInteger, nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("log_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", Timestamp, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    # The entry exactly as served, in RFC 8785 form: its leaf is SHA-256(0x00 || body).
    Column("body", Text, nullable=False),
    Index("ix_audit_entries_log_id_ts", "log_id", "ts"),
    Index("ix_audit_entries_log_id_actor", "log_id", "actor"),
    Index("ix_audit_entries_log_id_resource", "log_id", "resource_type", "resource_id"),
)

# Every complete subtree hash: (level, idx) covers leaves [idx * 2**level, (idx+1) * 2**level).
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("log_id", String(32), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("log_id", String(32), primary_key=True),
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("timestamp", String(40), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("key_id", String(32), nullable=False),
)

# --- workflows ---

workflow_definitions = Table(
    "workflow_definitions",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("major", Integer, nullable=False),
    Column("minor", Integer, nullable=False),
    Column("patch", Integer, nullable=False),
    Column("body", Text, nullable=False),  # the definition as published, JSON
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(64), nullable=False),
)

# The statuses of a run (hub.engine.history.RunStatus): in flight, and finished. The
# condition of runs in flight is written out with constants: a partial index serves only
# queries with the very same condition (a bound parameter does not count as equal).
LIVE_RUN_STATUSES = ("queued", "running", "waiting", "suspended")
# Runs holding a slot of their concurrency key (queued ones wait for one).
ACTIVE_RUN_STATUSES = ("running", "waiting", "suspended")
FINISHED_RUN_STATUSES = ("completed", "failed", "cancelled")
LIVE_RUNS = text(f"status IN ({', '.join(repr(s) for s in LIVE_RUN_STATUSES)})")
HAS_PARENT = text("parent_run_id IS NOT NULL")
HAS_CONCURRENCY_KEY = text("concurrency_key IS NOT NULL")

workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("workflow", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("current_steps", Text, nullable=False),
    Column("next_seq", Integer, nullable=False),  # the seq the next history event gets
    Column("idempotency_key", String(128), nullable=True),
    Column("parent_run_id", String(32), nullable=True),
    Column("parent_step", String(64), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    # hub.engine.concurrency: the run's rendered key (at most 200 characters), NULL for
    # runs of a workflow without `concurrency` (or whose key rendered empty).
    Column("concurrency_key", String(200), nullable=True),
    # Since when a keyed run holds or waits for a slot of its key (its place in the
    # queue): its creation for a definition without `concurrency.from`, else when it
    # reached that step; NULL while a `from` run has not (it holds nothing).
    Column("concurrency_since", Timestamp, nullable=True),
    Index("uq_workflow_runs_idempotency", "tenant_id", "idempotency_key", unique=True),
    # One index per filter combination of the runs list (tenant, status, workflow; newest
    # first by id, the cursor): a page walks one of them in order and stops at its limit.
    # Each index with `status` is rewritten by every transition (SQLite rewrites the
    # entries of an index whose column is SET, changed or not): keep them few.
    Index("ix_workflow_runs_tenant_id_id", "tenant_id", "id"),
    Index("ix_workflow_runs_tenant_id_status_id", "tenant_id", "status", "id"),
    Index("ix_workflow_runs_tenant_id_workflow_id", "tenant_id", "workflow", "id"),
    Index("ix_workflow_runs_tenant_id_status_workflow_id", "tenant_id", "status", "workflow", "id"),
    # Only the runs in flight: the hub_runs gauge counts these, whatever the history holds
    # (on PostgreSQL a full index needs a scan of every run's entry or the table).
    Index(
        "ix_workflow_runs_live",
        "tenant_id",
        "workflow",
        "status",
        sqlite_where=LIVE_RUNS,
        postgresql_where=LIVE_RUNS,
    ),
    # Runs with a concurrency key only (runs without one never touch it): a key's active
    # runs, its queue in order (concurrency_since, id), and the keys that have a queue.
    Index(
        "ix_workflow_runs_concurrency",
        "status",
        "tenant_id",
        "workflow",
        "concurrency_key",
        "concurrency_since",
        "id",
        sqlite_where=HAS_CONCURRENCY_KEY,
        postgresql_where=HAS_CONCURRENCY_KEY,
    ),
    # Children by parent (few rows): retention keeps a finished parent while one runs.
    Index(
        "ix_workflow_runs_parent_run_id",
        "parent_run_id",
        sqlite_where=HAS_PARENT,
        postgresql_where=HAS_PARENT,
    ),
)

workflow_events = Table(
    "workflow_events",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("type", String(32), nullable=False),
    Column("step", String(64), nullable=True),
    Column("data", Text, nullable=False),
    Column("ts", Timestamp, nullable=False),
)

# Ready and future work: one row per thing a worker must do for a run.
workflow_tasks = Table(
    "workflow_tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("run_id", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("step", String(64), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Index("ix_workflow_tasks_due", "due_at", "priority"),
)

user_tasks = Table(
    "user_tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("step", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("form", Text, nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("candidate_groups", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | claimed | completed | cancelled
    Column("claimed_by", String(64), nullable=True),
    Column("due_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("completed_at", Timestamp, nullable=True),
    Column("completed_by", String(64), nullable=True),
    Column("values", Text, nullable=True),
    Index("ix_user_tasks_tenant_id_status", "tenant_id", "status"),
    Index("ix_user_tasks_run_id", "run_id"),  # a finishing run cancels its open ones
)

# Cron triggers remember the last slot they fired for, so a restart never fires twice.
workflow_cron_marks = Table(
    "workflow_cron_marks",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("trigger", Integer, primary_key=True, autoincrement=False),
    Column("last_fired", Timestamp, nullable=False),
)

# Runs waiting at a `wait` step for an event-bus topic, so an event finds them.
workflow_waits = Table(
    "workflow_waits",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("topic", String(1024), nullable=False),
    Column("match", Text, nullable=True),  # JSON: payload fields the event must have
    # hub.engine.topics.wait_key(topic): an event finds the waits that can match it by key
    # (indexed), so its cost does not grow with the tenant's other waits.
    Column("topic_key", String(256), nullable=False),
    Index("ix_workflow_waits_topic_key_tenant_id", "topic_key", "tenant_id"),
)

# --- anchors of audit tree heads on a chain (issue 6) ---

audit_anchors = Table(
    "audit_anchors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("log_id", String(32), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | submitted | confirmed | failed
    Column("chain_id", BigInteger, nullable=True),
    Column("contract", String(42), nullable=True),
    Column("tx_hash", String(66), nullable=True),
    Column("nonce", BigInteger, nullable=True),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("log_index", Integer, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("resubmissions", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", Timestamp, nullable=False),
    # A worker holds an anchor while it talks to the chain, so two processes never both send.
    Column("lease_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("submitted_at", Timestamp, nullable=True),
    Column("confirmed_at", Timestamp, nullable=True),
    Index("uq_audit_anchors_log_id_tree_size", "log_id", "tree_size", unique=True),
    Index("ix_audit_anchors_status_next_attempt_at", "status", "next_attempt_at"),
)

# The chain the hub anchors on now, as last seen by the anchoring service (one row, id 1).
# Receipts use anchors on it; anchors on others are history (issue 12 item 16).
anchor_chain = Table(
    "anchor_chain",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(42), nullable=False),
    Column("since", Timestamp, nullable=False),
)

# --- PLC devices, tags, telemetry and alarms (issue 5) ---

plc_devices = Table(
    "plc_devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("config", Text, nullable=False),  # the device as given (JSON), tags apart
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("uq_plc_devices_tenant_name", "tenant_id", "name", unique=True),
)

# One row per tag; its integer id keys the tag's samples (a compact, fast index).
plc_tags = Table(
    "plc_tags",
    metadata,
    Column(
        "id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True
    ),
    Column("tenant_id", String(32), nullable=False),
    Column("device_id", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Index("uq_plc_tags_device_name", "device_id", "name", unique=True),
)

# Samples: ts in microseconds since the epoch, quality 0 good / 1 uncertain / 2 bad.
# Samples in chunks (hub/domain/samples.py): one row per tag per flush, its samples packed.
telemetry_chunks = Table(
    "telemetry_chunks",
    metadata,
    Column(
        "id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True
    ),
    Column("series_id", BigInteger, nullable=False),
    Column("ts_first", BigInteger, nullable=False),  # microseconds since the epoch
    Column("ts_last", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("ts", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=True),
    Column("texts", Text, nullable=True),
    Column("quality", LargeBinary, nullable=False),
    # The summary of the usable samples (not bad, not empty): a bucket that wholly holds
    # the chunk takes these instead of decoding it. Numbers are null for text.
    Column("usable", Integer, nullable=True),
    Column("v_min", Double, nullable=True),
    Column("v_max", Double, nullable=True),
    Column("v_sum", Double, nullable=True),
    Column("v_last", Double, nullable=True),
    Column("v_last_ts", BigInteger, nullable=True),
    Index("ix_telemetry_chunks_series_last", "series_id", "ts_last"),
    # Chunks stored before summaries (migration 0013): reads find them without a scan;
    # new chunks never enter it.
    Index(
        "ix_telemetry_chunks_unsummarised",
        "series_id",
        "ts_last",
        sqlite_where=text("usable IS NULL"),
        postgresql_where=text("usable IS NULL"),
    ),
)

# One alarm per rule: the rule (JSON) and the alarm's current ISA-18.2 state.
alarms = Table(
    "alarms",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("device_id", String(32), nullable=False),
    Column("tag", String(64), nullable=False),
    Column("rule", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("condition", String(16), nullable=True),
    Column("value", Text, nullable=True),  # JSON
    Column("since", Timestamp, nullable=True),
    Column("shelved_until", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_alarms_tenant_id_state", "tenant_id", "state"),
)

alarm_journal = Table(
    "alarm_journal",
    metadata,
    Column(
        "id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True
    ),
    Column("alarm_id", String(32), nullable=False),
    Column("tenant_id", String(32), nullable=False),
    Column("ts", Timestamp, nullable=False),
    Column("action", String(32), nullable=False),
    Column("old_state", String(32), nullable=False),
    Column("new_state", String(32), nullable=False),
    Column("condition", String(16), nullable=True),
    Column("value", Text, nullable=True),  # JSON
    Column("limit", Text, nullable=True),  # JSON
    Column("actor", String(64), nullable=False),
    Column("comment", Text, nullable=False),
    Index("ix_alarm_journal_alarm_id", "alarm_id", "id"),
)
