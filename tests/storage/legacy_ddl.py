"""The hand-written DDL the stores ran before Alembic, copied verbatim from the code of each era.

``*_FIRST`` is the first release of a database; the others are the last pre-Alembic version. A database
created by any of them must be recognised (tables present, no version table), stamped and upgraded.
"""

from __future__ import annotations

# service/queue/sqlite.py (f39137e, the first release: no usage tables yet)
QUEUE_SQLITE_FIRST = """
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL, kind TEXT NOT NULL,
  operation TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
  run_after REAL NOT NULL, created_at REAL NOT NULL, lease_owner TEXT, lease_expires REAL, started_at REAL,
  finished_at REAL, error TEXT, current_phase TEXT, phases TEXT NOT NULL, outputs TEXT NOT NULL, event_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_tenant ON jobs (slug) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_by_slug ON jobs (slug, state);
CREATE TABLE IF NOT EXISTS tenants (
  slug TEXT PRIMARY KEY, plan TEXT NOT NULL, organization_id TEXT NOT NULL, declaration TEXT NOT NULL,
  phase TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, ready_at REAL, last_job_id TEXT,
  last_error TEXT, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, slug TEXT NOT NULL, created_at REAL NOT NULL);
"""
# service/queue/usage.py (cd5eca1 .. 2a3861d)
USAGE = """
CREATE TABLE IF NOT EXISTS usage_changes (
  job_id TEXT PRIMARY KEY, slug TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, plan TEXT NOT NULL, vms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS usage_changes_by_time ON usage_changes (at);
CREATE TABLE IF NOT EXISTS usage_reports (
  slug TEXT NOT NULL, plan TEXT NOT NULL, window_start BIGINT NOT NULL, vm_hours INTEGER NOT NULL, customer TEXT,
  reported_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (slug, plan, window_start));
CREATE TABLE IF NOT EXISTS usage_watermark (
  name TEXT PRIMARY KEY, next_window BIGINT NOT NULL, last_success DOUBLE PRECISION);
"""
QUEUE_SQLITE = QUEUE_SQLITE_FIRST + USAGE
# service/queue/postgres.py (f39137e .. 2a3861d) plus the usage tables
QUEUE_POSTGRES = (
    """
CREATE TABLE IF NOT EXISTS jobs (
  seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL, kind TEXT NOT NULL,
  operation TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
  run_after DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, lease_owner TEXT,
  lease_expires DOUBLE PRECISION, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, error TEXT,
  current_phase TEXT, phases TEXT NOT NULL, outputs TEXT NOT NULL, event_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_tenant ON jobs (slug) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_by_slug ON jobs (slug, state);
CREATE TABLE IF NOT EXISTS tenants (
  slug TEXT PRIMARY KEY, plan TEXT NOT NULL, organization_id TEXT NOT NULL, declaration TEXT NOT NULL,
  phase TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
  ready_at DOUBLE PRECISION, last_job_id TEXT, last_error TEXT, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, slug TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
"""
    + USAGE
)
# providers/allocation_store.py (fc0d574, the first release: no memory_mb)
IPAM_FIRST = """
CREATE TABLE IF NOT EXISTS allocation (
    pool TEXT NOT NULL,
    owner TEXT NOT NULL,
    vmid INTEGER NOT NULL,
    address TEXT NOT NULL,
    node TEXT NOT NULL,
    created_at {float_type} NOT NULL,
    PRIMARY KEY (pool, owner),
    UNIQUE (pool, vmid),
    UNIQUE (pool, address)
)
"""
# ipam/store.py TABLE_DDL (df8a7a7 .. 2a3861d)
IPAM = """
CREATE TABLE IF NOT EXISTS allocation (
    pool TEXT NOT NULL,
    owner TEXT NOT NULL,
    vmid INTEGER NOT NULL,
    address TEXT NOT NULL,
    node TEXT NOT NULL,
    created_at {float_type} NOT NULL,
    memory_mb INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, owner),
    UNIQUE (pool, vmid),
    UNIQUE (pool, address)
)
"""
# billing/store.py (c13e649, the first release)
BILLING_FIRST = """
CREATE TABLE IF NOT EXISTS billing_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, tenant TEXT, received_at REAL NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_tenants (tenant TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_customers (customer TEXT PRIMARY KEY, tenant TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_actions (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, event_id TEXT NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, done_at REAL);
"""
# service/billing_sink.py suspension timers (39cee74 .. 2a3861d)
SUSPENSIONS = """CREATE TABLE IF NOT EXISTS billing_suspensions (tenant TEXT PRIMARY KEY, not_before INTEGER NOT NULL,
  reason TEXT NOT NULL, executed_at REAL);
"""
# billing/store.py checkout sessions as first added (860fabd: no organization_id)
BILLING_SESSIONS_FIRST = """CREATE TABLE IF NOT EXISTS billing_checkout_sessions (session_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
  created_at REAL NOT NULL);
"""
# billing/adapter/store.py _SCHEMA (9393c1d .. 2a3861d) and the suspension timers
BILLING = (
    BILLING_FIRST
    + """CREATE TABLE IF NOT EXISTS billing_checkout_sessions (session_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
  organization_id TEXT, created_at REAL NOT NULL);
"""
    + SUSPENSIONS
)
# provisioning/key_ledger.py (57ad754 .. 2a3861d)
KEYS = """
CREATE TABLE IF NOT EXISTS run_key (
  key_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  stack TEXT NOT NULL,
  minted_at REAL NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'revoke')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
)
"""
