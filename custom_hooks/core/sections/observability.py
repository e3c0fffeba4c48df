"""Metrics, scraping, health and request logs (``gateway.observability``).

Example::

    gateway:
      observability:
        metrics_public: false          # /metrics needs GATEWAY_METRICS_TOKEN or the admin key
        budget_metrics_per_key: false  # per key-alias budget gauges (cardinality: one series per key)
        request_log:
          enabled: true
          include_content: false       # prompts/completions never logged by default
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HealthConfig", "ObservabilityConfig", "RequestLogConfig", "TracingConfig"]


class RequestLogConfig(BaseModel):
    """One structured JSON line per request (logger ``gateway.requests``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    include_content: bool = Field(
        default=False,
        description="Also log prompt and completion text. Off by default: logs are not a data store.",
    )
    destination: Literal["stderr", "stdout", "file"] = "stderr"
    file: Path | None = Field(
        default=None, description="Path for destination=file (appended, one line a request)."
    )


class HealthConfig(BaseModel):
    """Readiness probes: how long each dependency check may take."""

    model_config = ConfigDict(extra="forbid")

    check_timeout_s: float = Field(default=1.5, gt=0, le=30)
    probe_interval_s: float = Field(
        default=15.0, gt=0, description="Background refresh of the dependency-up gauges and budget gauges."
    )


class TracingConfig(BaseModel):
    """OpenTelemetry traces (switched on by the standard OTEL_* variables, not here)."""

    model_config = ConfigDict(extra="forbid")

    client_trace_context: Literal["link", "parent", "ignore"] = Field(
        default="link",
        description="A caller's traceparent: a link on a new trace (link), the parent (parent: trust "
        "every caller), or dropped (ignore). Agent runs' own inner calls always continue their run.",
    )
    include_content: bool = Field(
        default=False, description="Also record prompt and completion text (gen_ai.input/output.messages)."
    )
    include_key_hash: bool = Field(default=False, description="Also record the key hash (gateway.key_hash).")


class ObservabilityConfig(BaseModel):
    """Metrics, scraping, health and request logs (gateway.observability)."""

    model_config = ConfigDict(extra="forbid")

    metrics_public: bool = Field(
        default=False,
        description="Serve /metrics without a token (only where the network already limits who scrapes).",
    )
    budget_metrics_per_key: bool = Field(
        default=False, description="Export budget gauges per key alias too (one series per key)."
    )
    request_id_header: str = Field(
        default="x-request-id",
        description="Header carrying the request id in and out (x-litellm-call-id always carries it too).",
    )
    request_log: RequestLogConfig = RequestLogConfig()
    health: HealthConfig = HealthConfig()
    tracing: TracingConfig = TracingConfig()
