"""Run tokens: the short-lived credential an agent run's inner LLM calls carry.

A run token is ``gwrun_<claims>.<signature>``: the claims (JSON, base64url) say whose run
it is (``key_hash``), which run (``run_id``, ``parent_request_id``, ``agent``, ``depth``),
which models it may call and until when; the signature is HMAC-SHA256 with a secret from
``GATEWAY_RUN_TOKEN_SECRET`` or, unset, derived from the master key (so every instance
sharing the master key agrees).

A token is valid only while its run is active: :meth:`RunTokens.aissue` marks the run
active, :meth:`RunTokens.arevoke` ends it. Active runs live in this process, in a SQLite file in the
data dir when several workers share the host, or in Redis when ``GATEWAY_REDIS_URL`` is
set so every instance agrees (an inner call may land on another worker or instance).
If Redis is unreachable, ``gateway.agents.shared_state_failure`` decides:
``closed`` (default) answers 503 ``service_unavailable`` (:class:`ServiceUnavailable`: the
caller's credential is fine, the gateway cannot check it right now, so clients retry
rather than treat it as a bad key), ``open`` trusts the signature and expiry.

Custom auth calls :func:`averify_run_token` for keys starting with ``gwrun_``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from custom_hooks.core.errors import ServiceUnavailable
from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.core.settings import GatewaySettings
from custom_hooks.store.sqlite_wal import use_wal_sync

__all__ = [
    "RUN_TOKENS",
    "STEP",
    "TOKEN_PREFIX",
    "LocalRunStore",
    "RedisRunStore",
    "RunClaims",
    "RunTokens",
    "SqliteRunStore",
    "averify_run_token",
    "build_run_tokens",
    "derive_secret",
    "get_run_tokens",
]

log = logging.getLogger("gateway.run_tokens")

TOKEN_PREFIX = "gwrun_"
_REDIS_PREFIX = "gateway:agent_run:"


@dataclass(frozen=True)
class RunClaims:
    """What a valid run token asserts."""

    key_hash: str
    run_id: str
    parent_request_id: str
    agent: str
    allowed_models: tuple[str, ...]
    depth: int
    expires_at: float
    issued_at: float = 0.0  # a run token dies with a rotation of its key after this instant


class RunStore(Protocol):
    """Where active runs are kept."""

    async def aadd(self, run_id: str, expires_at: float) -> None: ...
    async def aremove(self, run_id: str) -> None: ...
    async def ais_active(self, run_id: str) -> bool: ...


class LocalRunStore:
    """Active runs in this process only."""

    def __init__(self) -> None:
        self._runs: dict[str, float] = {}

    async def aadd(self, run_id: str, expires_at: float) -> None:
        now = time.time()
        for rid in [r for r, exp in self._runs.items() if exp < now]:
            del self._runs[rid]
        self._runs[run_id] = expires_at

    async def aremove(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    async def ais_active(self, run_id: str) -> bool:
        exp = self._runs.get(run_id)
        return exp is not None and exp >= time.time()


class SqliteRunStore:
    """Active runs in a SQLite file: shared by the worker processes of one host.

    Used when the gateway runs several workers without Redis (an inner call may land on
    another worker than the one running the agent). Calls are short local file reads.
    """

    def __init__(self, path: str) -> None:
        import sqlite3

        # One connection, kept: autocommit, so every statement sees the other workers'
        # latest commits. Calls are synchronous (never awaited midway); the lock covers
        # a caller on another thread (check_same_thread=False allows that).
        self._conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        use_wal_sync(self._conn)  # the workers start together and open it at once
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS active_runs (run_id TEXT PRIMARY KEY, expires_at REAL)"
        )

    async def aadd(self, run_id: str, expires_at: float) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM active_runs WHERE expires_at < ?", (time.time(),))
            self._conn.execute("INSERT OR REPLACE INTO active_runs VALUES (?, ?)", (run_id, expires_at))

    async def aremove(self, run_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM active_runs WHERE run_id = ?", (run_id,))

    async def ais_active(self, run_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT expires_at FROM active_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        return row is not None and float(row[0]) >= time.time()

    async def aclose(self) -> None:
        with self._lock:
            self._conn.close()


class RedisRunStore:
    """Active runs in Redis (``gateway:agent_run:<run_id>`` with the token's TTL).

    Raises ``redis.RedisError`` (or ``OSError``) when Redis is unreachable; the caller
    applies the fail-open/closed policy.
    """

    def __init__(self, url: str, *, timeout_s: float = 0.5) -> None:
        import redis.asyncio as aredis

        self._async = aredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    @staticmethod
    def _ttl_ms(expires_at: float) -> int:
        return max(1, int((expires_at - time.time()) * 1000))

    async def aadd(self, run_id: str, expires_at: float) -> None:
        await self._async.set(_REDIS_PREFIX + run_id, "1", px=self._ttl_ms(expires_at))

    async def aremove(self, run_id: str) -> None:
        await self._async.delete(_REDIS_PREFIX + run_id)

    async def ais_active(self, run_id: str) -> bool:
        return bool(await self._async.exists(_REDIS_PREFIX + run_id))

    async def aclose(self) -> None:
        await self._async.aclose()


def derive_secret(master_key: str) -> bytes:
    """The signing secret derived from the master key (never the key itself)."""
    return hmac.new(master_key.encode(), b"gateway-run-token-v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _shared_state_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis

        return (redis.RedisError, OSError, TimeoutError)
    except ImportError:  # pragma: no cover - redis is a dependency
        return (OSError, TimeoutError)


class RunTokens:
    """Issues, verifies and revokes run tokens against one secret and one run store."""

    def __init__(
        self,
        secret: bytes,
        store: RunStore | None = None,
        *,
        on_store_failure: Literal["closed", "open"] = "closed",
    ) -> None:
        if not secret:
            raise ValueError("run token secret must not be empty")
        self._secret = secret
        self.store: RunStore = store if store is not None else LocalRunStore()
        self.on_store_failure = on_store_failure

    # -- encoding ---------------------------------------------------------------------
    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def _encode(self, claims: RunClaims) -> str:
        data = asdict(claims)
        data["allowed_models"] = list(claims.allowed_models)
        body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{TOKEN_PREFIX}{body}.{self._sign(body)}"

    def decode(self, token: str) -> RunClaims | None:
        """The claims of a correctly signed, unexpired token (not checking revocation)."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            return None
        body, _, sig = token[len(TOKEN_PREFIX) :].partition(".")
        if not body or not sig or not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            claims = RunClaims(
                key_hash=str(data["key_hash"]),
                run_id=str(data["run_id"]),
                parent_request_id=str(data["parent_request_id"]),
                agent=str(data["agent"]),
                allowed_models=tuple(str(m) for m in data["allowed_models"]),
                depth=int(data["depth"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data.get("issued_at", 0.0)),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if claims.expires_at < time.time():
            return None
        return claims

    # -- lifecycle --------------------------------------------------------------------
    async def aissue(
        self,
        *,
        key_hash: str,
        run_id: str,
        parent_request_id: str,
        agent: str,
        allowed_models: list[str],
        depth: int,
        ttl_s: float,
    ) -> str:
        now = time.time()
        claims = RunClaims(
            key_hash=key_hash,
            run_id=run_id,
            parent_request_id=parent_request_id,
            agent=agent,
            allowed_models=tuple(allowed_models),
            depth=depth,
            expires_at=now + ttl_s,
            issued_at=now,
        )
        try:
            await self.store.aadd(run_id, claims.expires_at)
        except _shared_state_errors():
            self._store_failed("issue")
        return self._encode(claims)

    def _store_failed(self, what: str) -> bool:
        """Log and return whether to proceed (fail-open) for a store failure."""
        log.warning("run store unreachable during %s; failing %s", what, self.on_store_failure)
        return self.on_store_failure == "open"

    async def averify(self, token: str) -> RunClaims | None:
        claims = self.decode(token)
        if claims is None:
            return None
        try:
            active = await self.store.ais_active(claims.run_id)
        except _shared_state_errors():
            if not self._store_failed("verify"):
                raise ServiceUnavailable(
                    "Agent run tokens cannot be checked right now (shared state unreachable);"
                    " the request was not sent. Retry shortly."
                ) from None
            active = True
        return claims if active else None

    async def arevoke(self, run_id: str) -> None:
        try:
            await self.store.aremove(run_id)
        except _shared_state_errors():
            log.warning("run store unreachable; run %s expires with its token instead", run_id)


RUN_TOKENS: Slot[RunTokens] = Slot("run-tokens", "the agent run tokens")


def get_run_tokens() -> RunTokens:
    """The process's run tokens (:class:`GatewayStarting` before the run-tokens step ran)."""
    return services().get(RUN_TOKENS)


def build_run_tokens(settings: GatewaySettings, failure: Literal["closed", "open"]) -> RunTokens:
    """Run tokens from the settings: the secret, and where active runs are registered."""
    raw_secret = settings.run_token_secret
    secret = (
        hashlib.sha256(raw_secret.get_secret_value().encode()).digest()
        if raw_secret is not None
        else derive_secret(settings.resolved_master_key())
    )
    store: RunStore
    if settings.redis_url:
        store = RedisRunStore(settings.redis_url)
    elif settings.workers > 1:  # inner calls may land on a sibling worker
        store = SqliteRunStore(str(settings.resolved_data_dir() / "active_runs.db"))
    else:
        store = LocalRunStore()
    return RunTokens(secret, store, on_store_failure=failure)


async def _start(svc: Services) -> None:
    # Built at start: a bad secret or Redis URL fails here, not on the first agent call.
    svc.provide(RUN_TOKENS, build_run_tokens(svc.settings, svc.config.gateway.agents.shared_state_failure))


async def _stop(svc: Services) -> None:
    tokens = svc.take(RUN_TOKENS)
    close = getattr(tokens.store, "aclose", None) if tokens is not None else None
    if close is not None:
        await close()


STEP = Step("run-tokens", _start, _stop)


async def averify_run_token(token: str) -> RunClaims | None:
    """The token's claims, or None if badly signed, expired or its run has ended."""
    return await get_run_tokens().averify(token)
