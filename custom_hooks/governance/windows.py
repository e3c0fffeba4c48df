"""Window spend: what a key, team or user spent in its current budget window.

A budget ``{"scope", "id", "max_budget", "duration"}`` maps to one :class:`Window`:

- windows are FIXED and aligned to the Unix epoch in UTC: a ``1h`` window starts on the
  hour, ``1d`` at 00:00 UTC, ``30d`` every 30 days counted from 1970-01-01 (so all
  instances agree on the window without sharing any state); ``30s`` or ``2w`` work the
  same way. The window resets (a new window starts at zero) at :attr:`Window.end`;
- ``duration: None`` is a lifetime budget: one window from the epoch, never reset.

Each window has a counter holding the settled spend plus the reservations of calls in
flight. :meth:`WindowCounters.reserve` checks every window of a request and reserves
in all of them in one atomic step (one Lua script in Redis, one synchronous block
in-process), so concurrent requests cannot all slip under the same budget: the
overshoot past a budget is bounded by the reservations in flight.

A counter that does not exist yet (first use after start, a new window, Redis lost its
data) is reported as missing; the caller rebuilds it from the ledger with
:meth:`WindowCounters.seed` (set-if-absent, so two instances seeding at once agree).

Reservations are leases: each expires ``ttl_s`` after it was made or last
:meth:`WindowCounters.renew`-ed, so the live instance keeps its own alive and a crashed
instance's reservations free their budget within one lease. :meth:`WindowCounters.raise_to`
lifts a counter to the ledger's spend when settlements were lost (Redis unreachable);
it never lowers one, so two instances reconciling at once, or a reconciliation racing a
settlement, can only leave the counter at or above what the ledger proves was spent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from custom_hooks.auth.keys import parse_duration

__all__ = [
    "EPSILON",
    "InProcessCounters",
    "RedisCounters",
    "ReserveOutcome",
    "Window",
    "WindowCounters",
    "member",
    "window_for",
]

# Counters outlive their window by this much, so a late settlement still finds them.
_GRACE_S = 3600.0
# Sums of float costs drift (0.1 * 10 < 1.0): a budget within a nano-dollar is reached.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Window:
    """One budget's current window."""

    scope: str  # key | team | user
    scope_id: str
    limit: float
    duration_s: float | None
    start: float  # epoch seconds
    end: float | None  # None: never resets

    @property
    def key(self) -> str:
        span = "all" if self.duration_s is None else str(int(self.duration_s))
        return f"{self.scope}:{self.scope_id}:{span}:{int(self.start)}"

    @property
    def start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def reset_at(self) -> datetime | None:
        return None if self.end is None else datetime.fromtimestamp(self.end, UTC)

    def expire_at(self, reservation_ttl_s: float) -> int:
        """When the counter may be dropped (0: keep forever)."""
        if self.end is None:
            return 0
        return int(self.end + max(_GRACE_S, reservation_ttl_s))


def window_for(scope: str, scope_id: str, limit: float, duration: str | None, now: float) -> Window:
    """The window of a budget that contains ``now`` (epoch-aligned, UTC)."""
    if not duration:
        return Window(scope, scope_id, float(limit), None, 0.0, None)
    span = parse_duration(duration).total_seconds()
    start = math.floor(now / span) * span
    return Window(scope, scope_id, float(limit), span, start, start + span)


@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    """What :meth:`WindowCounters.reserve` decided.

    ``totals`` are spend + reservations per window (including this reservation when
    allowed); ``blocked`` is the first window whose budget is reached; ``missing`` are
    windows whose counter must be seeded before anything can be decided.
    """

    allowed: bool
    totals: tuple[float, ...] = ()
    blocked: Window | None = None
    blocked_total: float = 0.0
    missing: tuple[Window, ...] = ()


class WindowCounters(Protocol):
    """Where window spend lives: in this process or in Redis (shared by instances)."""

    backend: str

    async def reserve(
        self, windows: Sequence[Window], rid: str, amount: float, now: float, ttl_s: float
    ) -> ReserveOutcome: ...

    async def settle(self, windows: Sequence[Window], rid: str, amount: float, actual: float) -> None:
        """Drop reservation ``rid`` (if still held) and add ``actual`` to each window."""
        ...

    async def seed(self, window: Window, spend: float, ttl_s: float) -> None:
        """Set the window's settled spend unless a counter already exists."""
        ...

    async def totals(self, windows: Sequence[Window], now: float) -> list[float | None]:
        """Spend + reservations per window (None: counter missing)."""
        ...

    async def renew(self, windows: Sequence[Window], members: Sequence[str], expires: float) -> None:
        """Move the expiry of still-held reservations (``rid:amount`` members) to ``expires``."""
        ...

    async def raise_to(self, window: Window, spend: float, ttl_s: float) -> float | None:
        """Set the settled spend to ``spend`` if that is higher (or the counter is missing).

        Returns the settled spend before (None: it was missing and is now seeded).
        """
        ...

    async def close(self) -> None: ...


def member(rid: str, amount: float) -> str:
    """A reservation's member name in a window's held set."""
    return _member(rid, amount)


def _member(rid: str, amount: float) -> str:
    return f"{rid}:{amount!r}"


@dataclass
class InProcessCounters:
    """Counters in this process only (the embedded default; one instance)."""

    backend: str = "memory"
    _spend: dict[str, float] = field(default_factory=dict)
    _ends: dict[str, float] = field(default_factory=dict)
    _held: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    _last_prune: float = 0.0

    def _reserved(self, key: str, now: float) -> float:
        held = self._held.get(key)
        if not held:
            return 0.0
        for rid in [r for r, (_, exp) in held.items() if exp <= now]:
            del held[rid]
        return sum(a for a, _ in held.values())

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        for key in [k for k, end in self._ends.items() if 0 < end <= now]:
            self._spend.pop(key, None)
            self._held.pop(key, None)
            self._ends.pop(key, None)

    async def reserve(
        self, windows: Sequence[Window], rid: str, amount: float, now: float, ttl_s: float
    ) -> ReserveOutcome:
        # No await inside: the check and the reservation are one atomic step on the loop.
        self._prune(now)
        missing = tuple(w for w in windows if w.key not in self._spend)
        if missing:
            return ReserveOutcome(False, missing=missing)
        totals = []
        for w in windows:
            total = self._spend[w.key] + self._reserved(w.key, now)
            if total >= w.limit - EPSILON:
                return ReserveOutcome(False, blocked=w, blocked_total=total)
            totals.append(total + amount)
        for w in windows:
            self._held.setdefault(w.key, {})[rid] = (amount, now + ttl_s)
        return ReserveOutcome(True, totals=tuple(totals))

    async def settle(self, windows: Sequence[Window], rid: str, amount: float, actual: float) -> None:
        for w in windows:
            self._held.get(w.key, {}).pop(rid, None)
            if actual and w.key in self._spend:
                self._spend[w.key] += actual

    async def seed(self, window: Window, spend: float, ttl_s: float) -> None:
        if window.key not in self._spend:
            self._spend[window.key] = float(spend)
            self._ends[window.key] = float(window.expire_at(ttl_s))

    async def totals(self, windows: Sequence[Window], now: float) -> list[float | None]:
        return [
            (self._spend[w.key] + self._reserved(w.key, now)) if w.key in self._spend else None
            for w in windows
        ]

    async def renew(self, windows: Sequence[Window], members: Sequence[str], expires: float) -> None:
        rids = {m.rpartition(":")[0] for m in members}
        for w in windows:
            held = self._held.get(w.key, {})
            for rid in rids & held.keys():
                held[rid] = (held[rid][0], expires)

    async def raise_to(self, window: Window, spend: float, ttl_s: float) -> float | None:
        before = self._spend.get(window.key)
        if before is None:
            await self.seed(window, spend, ttl_s)
        elif spend > before:
            self._spend[window.key] = float(spend)
        return before

    async def close(self) -> None:
        return None


# KEYS: spend_1, held_1, spend_2, held_2, ...   (held_i: ZSET "rid:amount" -> expiry)
# ARGV: now, amount, member, expires, then limit_i, expire_at_i per window
_RESERVE_LUA = """
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local member = ARGV[3]
local expires = tonumber(ARGV[4])
local n = #KEYS / 2
local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2*i-1]) == 0 then missing[#missing+1] = tostring(i) end
end
if #missing > 0 then
  table.insert(missing, 1, 'missing')
  return missing
end
local totals = {}
for i = 1, n do
  local spend = tonumber(redis.call('GET', KEYS[2*i-1])) or 0
  redis.call('ZREMRANGEBYSCORE', KEYS[2*i], '-inf', now)
  local held = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2*i], 0, -1)) do
    local a = tonumber(string.match(m, ':([^:]+)$'))
    if a then held = held + a end
  end
  local total = spend + held
  if total >= tonumber(ARGV[3 + 2*i]) - 1e-9 then
    return {'blocked', tostring(i), string.format('%.17g', total)}
  end
  totals[i] = total
end
local out = {'ok'}
for i = 1, n do
  redis.call('ZADD', KEYS[2*i], expires, member)
  local exat = tonumber(ARGV[4 + 2*i])
  if exat > 0 then redis.call('EXPIREAT', KEYS[2*i], exat) end
  out[#out+1] = string.format('%.17g', totals[i] + amount)
end
return out
"""

# KEYS: spend_i, held_i pairs; ARGV: member, actual
_SETTLE_LUA = """
local actual = tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2*i], ARGV[1])
  if actual ~= 0 and redis.call('EXISTS', KEYS[2*i-1]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[2*i-1], ARGV[2])
  end
end
return 1
"""

# KEYS: spend_i, held_i pairs; ARGV: now
_TOTALS_LUA = """
local out = {}
for i = 1, #KEYS / 2 do
  local spend = redis.call('GET', KEYS[2*i-1])
  if not spend then
    out[#out+1] = ''
  else
    local held = 0
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2*i], ARGV[1], '+inf')) do
      local a = tonumber(string.match(m, ':([^:]+)$'))
      if a then held = held + a end
    end
    out[#out+1] = string.format('%.17g', tonumber(spend) + held)
  end
end
return out
"""


# KEYS: held_1..held_n; ARGV: expires, member_1..member_m (only members still held move)
_RENEW_LUA = """
for i = 1, #KEYS do
  for j = 2, #ARGV do
    redis.call('ZADD', KEYS[i], 'XX', ARGV[1], ARGV[j])
  end
end
return 1
"""

# KEYS: spend; ARGV: spend, expire_at (0: none). Returns the value before ('' if missing).
_RAISE_LUA = """
local cur = redis.call('GET', KEYS[1])
local want = tonumber(ARGV[1])
if not cur then
  if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[1])
  end
  return ''
end
if want > tonumber(cur) then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return cur
"""


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCounters:
    """Counters in Redis, shared by every instance; each operation is one Lua script."""

    backend = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5, prefix: str = "gw:budget:") -> None:
        import redis.asyncio as aioredis

        self.client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
        )
        self.prefix = prefix
        self._reserve = self.client.register_script(_RESERVE_LUA)
        self._settle = self.client.register_script(_SETTLE_LUA)
        self._totals = self.client.register_script(_TOTALS_LUA)
        self._renew = self.client.register_script(_RENEW_LUA)
        self._raise = self.client.register_script(_RAISE_LUA)

    def _keys(self, windows: Sequence[Window]) -> list[str]:
        keys: list[str] = []
        for w in windows:
            keys += [f"{self.prefix}spend:{w.key}", f"{self.prefix}held:{w.key}"]
        return keys

    async def reserve(
        self, windows: Sequence[Window], rid: str, amount: float, now: float, ttl_s: float
    ) -> ReserveOutcome:
        args: list[Any] = [repr(now), repr(amount), _member(rid, amount), repr(now + ttl_s)]
        for w in windows:
            args += [repr(w.limit), w.expire_at(ttl_s)]
        reply = [_s(x) for x in await self._reserve(keys=self._keys(windows), args=args)]
        if reply[0] == "missing":
            return ReserveOutcome(False, missing=tuple(windows[int(i) - 1] for i in reply[1:]))
        if reply[0] == "blocked":
            return ReserveOutcome(False, blocked=windows[int(reply[1]) - 1], blocked_total=float(reply[2]))
        return ReserveOutcome(True, totals=tuple(float(x) for x in reply[1:]))

    async def settle(self, windows: Sequence[Window], rid: str, amount: float, actual: float) -> None:
        await self._settle(keys=self._keys(windows), args=[_member(rid, amount), repr(float(actual))])

    async def seed(self, window: Window, spend: float, ttl_s: float) -> None:
        exat = window.expire_at(ttl_s)
        key = f"{self.prefix}spend:{window.key}"
        if exat:
            await self.client.set(key, repr(float(spend)), nx=True, exat=exat)
        else:
            await self.client.set(key, repr(float(spend)), nx=True)

    async def totals(self, windows: Sequence[Window], now: float) -> list[float | None]:
        reply = [_s(x) for x in await self._totals(keys=self._keys(windows), args=[repr(now)])]
        return [float(x) if x else None for x in reply]

    async def renew(self, windows: Sequence[Window], members: Sequence[str], expires: float) -> None:
        if members:
            keys = [f"{self.prefix}held:{w.key}" for w in windows]
            await self._renew(keys=keys, args=[repr(expires), *members])

    async def raise_to(self, window: Window, spend: float, ttl_s: float) -> float | None:
        key = f"{self.prefix}spend:{window.key}"
        before = _s(await self._raise(keys=[key], args=[repr(float(spend)), window.expire_at(ttl_s)]))
        return float(before) if before else None

    async def close(self) -> None:
        await self.client.aclose()
