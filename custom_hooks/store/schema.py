"""Tables of the gateway store (keys, teams, ledger), one definition for SQLite and PostgreSQL.

The definitions here are the CURRENT schema; :mod:`custom_hooks.store.migrations` brings an
existing database to it, step by step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["UTCDateTime", "keys", "ledger", "metadata", "schema_version", "teams", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite has no time zone type: values are stored as naive UTC text in one fixed
    format (so comparisons of stored values sort correctly) and come back aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

metadata = sa.MetaData()

schema_version = sa.Table(
    "gw_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

teams = sa.Table(
    "gw_teams",
    metadata,
    sa.Column("team_id", sa.String(128), primary_key=True),
    sa.Column("team_alias", sa.String(256), nullable=True),
    sa.Column("max_budget", sa.Float, nullable=True),
    sa.Column("budget_duration", sa.String(16), nullable=True),
    sa.Column("models", sa.JSON, nullable=False),  # [] = every model
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("tpm_limit", sa.Integer, nullable=True),
    sa.Column("max_parallel_requests", sa.Integer, nullable=True),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# ``key_hash`` is the key's stable id: the sha256 of the secret it was first issued with.
# ``secret_hash`` is the sha256 of the CURRENT secret (equal until the key is rotated), so
# rotation keeps the same record, ledger history, budget windows and rate-limit counters.
keys = sa.Table(
    "gw_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("key_alias", sa.String(256), nullable=True),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("team_id", sa.String(128), sa.ForeignKey("gw_teams.team_id"), nullable=True),
    sa.Column("models", sa.JSON, nullable=False),  # [] = every model (within the team's)
    sa.Column("max_budget", sa.Float, nullable=True),
    sa.Column("budget_duration", sa.String(16), nullable=True),
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("tpm_limit", sa.Integer, nullable=True),
    sa.Column("max_parallel_requests", sa.Integer, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("tier", sa.String(64), nullable=True),
    sa.Column("user_role", sa.String(32), nullable=True),  # "admin" makes it an admin key
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("rotated_at", UTCDateTime, nullable=True),
    sa.Column("deleted_at", UTCDateTime, nullable=True),  # soft delete: ledger keeps its alias
    # An alias names at most one live key; a deleted key frees its alias.
    sa.Index(
        "ix_gw_keys_alias_live",
        "key_alias",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
    sa.Index("ix_gw_keys_team", "team_id"),
)

ledger = sa.Table(
    "gw_ledger",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=True),
    sa.Column("key_alias", sa.String(256), nullable=True),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("team_id", sa.String(128), nullable=True),
    sa.Column("requested_model", sa.String(256), nullable=True),
    sa.Column("served_model", sa.String(256), nullable=True),
    sa.Column("deployment", sa.String(256), nullable=True),
    sa.Column("agent_run_id", sa.String(128), nullable=True),
    sa.Column("parent_request_id", sa.String(128), nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("completion_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cost", sa.Float, nullable=False, default=0.0),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # success | failure | cache_hit
    sa.Column("error_class", sa.String(256), nullable=True),
    sa.Column("cache_hit", sa.Boolean, nullable=False, default=False),
    sa.Column("routing_reason", sa.String(256), nullable=True),
    sa.Index("ix_gw_ledger_key_time", "key_hash", "created_at"),
    sa.Index("ix_gw_ledger_team_time", "team_id", "created_at"),
    sa.Index("ix_gw_ledger_user_time", "user_id", "created_at"),
    sa.Index("ix_gw_ledger_time", "created_at"),
    sa.Index("ix_gw_ledger_run", "agent_run_id"),
)
