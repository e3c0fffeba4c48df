"""The served surface and the request limits (``gateway.security``).

Example::

    gateway:
      security:
        routes:
          enable:                       # LiteLLM routes refused by default, turned on
            - path: "/v1/files*"        #   admin-only unless a grant names a key or team
              methods: [GET, POST]
              teams: [data-platform]
        limits:
          max_header_count: 100
          max_header_bytes: 32768
          max_body_bytes: 20971520
          header_timeout_s: 10
          body_timeout_s: 30
          max_concurrent_streams_per_key: 32
        expose_internal_headers: false  # x-litellm-model-api-base, versions, cache keys
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["LimitsConfig", "RouteGrantConfig", "RoutesConfig", "SecurityConfig"]


class RouteGrantConfig(BaseModel):
    """One LiteLLM route (glob) the operator serves beside the governed surface."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path glob, e.g. '/v1/files*'. Matched against the request path.")
    methods: list[str] = Field(default_factory=lambda: ["*"], description="HTTP methods, or '*'.")
    keys: list[str] = Field(default_factory=list, description="Key aliases granted it besides admins.")
    teams: list[str] = Field(default_factory=list, description="Team ids granted it besides admins.")

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("a route path starts with '/', e.g. '/v1/files*'")
        return v

    @field_validator("methods")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [m.upper() for m in v] or ["*"]


class RoutesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enable: list[RouteGrantConfig] = Field(
        default_factory=list,
        description="LiteLLM routes to serve beyond the governed LLM surface (admin-only unless granted).",
    )


class LimitsConfig(BaseModel):
    """Checked by the front door before auth or JSON parsing (431 / 413 / 408 / 429)."""

    model_config = ConfigDict(extra="forbid")

    max_header_count: int = Field(
        default=100, ge=8, le=10_000, description="Request headers a client may send."
    )
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, description="All request headers together.")
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    header_timeout_s: float = Field(default=10.0, gt=0, description="Time to receive the request headers.")
    body_timeout_s: float = Field(default=30.0, gt=0, description="Time to receive the whole request body.")
    max_concurrent_streams_per_key: int = Field(
        default=32, ge=0, description="Streamed responses one key may hold open at once (0: no cap)."
    )


class SecurityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: RoutesConfig = RoutesConfig()
    limits: LimitsConfig = LimitsConfig()
    expose_internal_headers: bool = Field(
        default=False,
        description="Return LiteLLM's internal headers (api base, version, cache key, provider headers).",
    )
