"""Process settings, read once from the environment (prefix ``GATEWAY_``).

Operator policy (models, agents, budgets, guardrails) lives in ``config.yaml``; this
object holds only what differs per process or deployment: where to listen, where state
lives, and secrets. LiteLLM reads ``DATABASE_URL`` itself and then wants Prisma, so our
store uses ``GATEWAY_STORE_URL`` instead.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings", "get_settings"]


class GatewaySettings(BaseSettings):
    """Everything the process needs from its environment.

    Example::

        GATEWAY_STORE_URL=postgresql+asyncpg://gw:pw@db/gw \\
        GATEWAY_REDIS_URL=redis://cache:6379/0 agent-gateway serve
    """

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    config: Path = Field(default=Path("config.yaml"), description="Path to config.yaml.")
    host: str = "127.0.0.1"
    port: int = 4000
    workers: int = 1
    data_dir: Path = Field(default=Path(".gateway-data"), description="Embedded state (SQLite, keys).")
    master_key: SecretStr | None = Field(
        default=None, description="Admin key. Unset: one is generated into <data_dir>/master.key."
    )
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the key/team/ledger store; default SQLite in data_dir."
    )
    redis_url: str | None = Field(default=None, description="Redis for shared counters; unset = in-process.")
    checkpoint_url: str | None = Field(
        default=None, description="PostgreSQL URL for agent threads; default SQLite in data_dir."
    )
    public_url: str | None = Field(
        default=None,
        description="URL agents use to call back into this gateway; default http://127.0.0.1:<port>.",
    )
    run_token_secret: SecretStr | None = Field(
        default=None, description="Signs agent run tokens; unset = derived from the master key."
    )
    log_level: str = "INFO"
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token Prometheus uses to scrape /metrics (besides the admin key)."
    )

    def resolved_data_dir(self) -> Path:
        """The data directory (keys, ledger, threads): created owner-only (0700)."""
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True, mode=0o700)
        return self.data_dir.resolve()

    def secure_data_dir(self) -> None:
        """Make the data directory 0700 and the files in it 0600 (run once at start)."""
        path = self.resolved_data_dir()
        path.chmod(0o700)
        for child in path.iterdir():
            if child.is_file() and not child.is_symlink():
                child.chmod(0o600)

    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite+aiosqlite:///{self.resolved_data_dir() / 'gateway.db'}"

    def resolved_checkpoint_url(self) -> str:
        if self.checkpoint_url:
            return self.checkpoint_url
        return str(self.resolved_data_dir() / "threads.db")

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    def master_key_path(self) -> Path:
        return self.resolved_data_dir() / "master.key"

    def existing_master_key(self) -> str | None:
        """The admin key if there is one already: GATEWAY_MASTER_KEY, LITELLM_MASTER_KEY, else
        ``<data_dir>/master.key``. Never creates a directory or a key (the admin CLI uses this)."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        env = os.environ.get("LITELLM_MASTER_KEY")
        if env:
            return env
        path = self.data_dir / "master.key"
        if path.exists():
            return path.read_text().strip()
        return None

    def resolved_master_key(self) -> str:
        """The admin key: from the environment, else the one generated on first start."""
        existing = self.existing_master_key()
        if existing is not None:
            return existing
        path = self.master_key_path()
        key = "sk-admin-" + secrets.token_urlsafe(24)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another instance wrote it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key


@lru_cache(maxsize=1)
def get_settings() -> GatewaySettings:
    """The process-wide settings, read once."""
    return GatewaySettings()
