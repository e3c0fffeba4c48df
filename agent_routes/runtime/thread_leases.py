"""One turn at a time per thread, across instances: a lease per thread.

A run on a named thread takes the thread's lease before its graph runs and gives it back
when it ends. Two turns on one thread at once would both read the same checkpoint and each
write its own continuation, so one turn's messages would be lost while both callers got
200. What a second caller gets while a turn runs is the agent's ``multitask`` policy
(``gateway.agents.registry.<name>.multitask``, after LangGraph's multitask strategies):

- ``reject`` (default): 409 ``thread_busy`` at once; nothing of the request runs, so it is
  safe to retry;
- ``enqueue``: wait for the lease up to ``enqueue_timeout_s``, then 409 ``thread_busy``.
  Waiters poll, so the order among several waiters is not guaranteed.

The lease lives in Redis when ``GATEWAY_REDIS_URL`` is set (``SET NX PX``; renew and release
only by its holder), else in the thread-owner table of the thread store (a conditional
``UPDATE`` of ``lease_holder``/``lease_until``: SQLite, or PostgreSQL shared by every
instance). Either way it expires after ``gateway.agents.thread_lease_ttl_s`` unless renewed,
and the run renews it every third of that while it lives: a crashed instance's turn frees
its thread within one TTL. Redis unreachable fails closed: 503 ``thread_lease_unavailable``
(retryable) rather than two turns at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal, Protocol

from agent_routes.runtime.errors import ThreadBusy, ThreadLeaseUnavailable

__all__ = ["Lease", "LeaseBackend", "RedisLeases", "take_turn"]

log = logging.getLogger("gateway.agents.leases")

Multitask = Literal["reject", "enqueue"]


class LeaseBackend(Protocol):
    """Where thread leases live; every call is atomic on the shared state."""

    async def acquire(self, thread_id: str, holder: str, ttl_s: float) -> bool: ...
    async def renew(self, thread_id: str, holder: str, ttl_s: float) -> bool: ...
    async def release(self, thread_id: str, holder: str) -> None: ...


_IF_HELD = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RENEW = _IF_HELD + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _IF_HELD + "redis.call('del', KEYS[1]) end return 0"


class RedisLeases:
    """Leases as Redis keys ``<prefix><thread id>`` holding the holder's run id."""

    def __init__(self, url: str, *, prefix: str = "gateway:thread-lease:", timeout_s: float = 1.0) -> None:
        import redis.asyncio as aioredis

        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._prefix = prefix

    async def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await fn(*args, **kw)
        except (RedisError, OSError) as exc:
            log.warning("thread lease: Redis unreachable (%s)", type(exc).__name__)
            raise ThreadLeaseUnavailable(
                "The thread's turn could not be coordinated (shared state unreachable); retry shortly."
            ) from None

    async def acquire(self, thread_id: str, holder: str, ttl_s: float) -> bool:
        ok = await self._call(self._client.set, self._prefix + thread_id, holder, nx=True, px=_ms(ttl_s))
        return bool(ok)

    async def renew(self, thread_id: str, holder: str, ttl_s: float) -> bool:
        key = self._prefix + thread_id
        return bool(await self._call(self._client.eval, _RENEW, 1, key, holder, _ms(ttl_s)))

    async def release(self, thread_id: str, holder: str) -> None:
        await self._call(self._client.eval, _RELEASE, 1, self._prefix + thread_id, holder)

    async def aclose(self) -> None:
        await self._client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class Lease:
    """A held lease, renewed in the background until :meth:`release`."""

    def __init__(self, backend: LeaseBackend, thread_id: str, holder: str, ttl_s: float) -> None:
        self.backend = backend
        self.thread_id = thread_id
        self.holder = holder
        self.ttl_s = ttl_s
        self._renewer = asyncio.create_task(self._keep(), name=f"lease-{thread_id}")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if not await self.backend.renew(self.thread_id, self.holder, self.ttl_s):
                    log.warning("thread lease on %s expired before the run ended", self.thread_id)
                    return
            except ThreadLeaseUnavailable:
                continue  # try again next period; the lease may still be valid

    async def release(self) -> None:
        self._renewer.cancel()
        try:
            await self.backend.release(self.thread_id, self.holder)
        except Exception:  # the run's own result matters more; the TTL frees the thread
            log.exception("releasing the lease on thread %s failed", self.thread_id)


async def take_turn(
    backend: LeaseBackend,
    thread_id: str,
    holder: str,
    *,
    multitask: Multitask,
    wait_s: float,
    ttl_s: float,
) -> Lease:
    """The thread's lease for ``holder``, or :class:`ThreadBusy` per the multitask policy."""
    deadline = time.monotonic() + (wait_s if multitask == "enqueue" else 0.0)
    pause = 0.05
    while True:
        if await backend.acquire(thread_id, holder, ttl_s):
            return Lease(backend, thread_id, holder, ttl_s)
        left = deadline - time.monotonic()
        if left <= 0:
            waited = f" within {wait_s:g} s" if multitask == "enqueue" else ""
            raise ThreadBusy(
                f"Thread '{thread_id}' is running another turn and did not become free{waited}. "
                "Send one message at a time per thread, then retry this one; nothing of it ran.",
                param="metadata.thread_id",
            )
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)
