"""Budgets that hold: reserve before the upstream call, settle after, on a durable ledger.

Every call the gateway settles becomes one row of the store's spend ledger, whether or
not its key has a budget, written in batches off the request path. The ledger is the
truth; the running totals a budget is checked against are a cache of it:

- without Redis, in this process, read from the ledger when a key's budget is first
  checked and again every ``refresh_s`` (so other replicas' spend is seen that late);
- with ``redis_url``, in Redis, read from the ledger when Redis does not hold the
  total, then shared by every replica.

Before the upstream is called, a budgeted key reserves the call's most expensive
outcome (prompt tokens plus ``max_tokens``, or ``reserve_max_tokens``, at the dearest
deployment's price). A call is admitted while spent plus reserved is under the budget,
so concurrent calls cannot overshoot it by more than the last admitted call. Settling
swaps the reservation for the real cost; a failed call releases it; a reservation that
neither happens to (a client gone before its stream began) expires after
``reserve_ttl_s``.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from sqlalchemy.orm import Session

from triops.core.gateway_settings import GatewaySettings
from triops.core.ids import now_ms
from triops.llm.gateway.calltrace import CallTrace
from triops.llm.gateway.cost import PriceTable, Usage, count_messages, count_text
from triops.llm.gateway.limits import (
    KeyPolicy,
    Limiter,
    MemoryCounters,
    RateState,
    RedisCounters,
    rate_limited,
)
from triops.llm.gateway.routing import RouteTable
from triops.store.batch_writer import BatchWriter
from triops.store.engine import Database
from triops.store.repos import llm_spend as repo
from triops.store.repos.llm_spend import SpendRow

log = logging.getLogger("triops.llm.gateway")

PERIODS = ("day", "month", "total")
_PERIOD_TTL_S = {"day": 2 * 86_400, "month": 32 * 86_400, "total": None}

#: Reads a key's ledger total for one period, up to (not including) a cut-off in ms.
Seed = Callable[[int], Awaitable[float]]


# -- periods ---------------------------------------------------------------------------


def period_start_s(period: str, now_s: float) -> float:
    """When the budget period holding ``now_s`` began (UTC calendar day or month)."""
    if period == "total":
        return 0.0
    day = time.gmtime(now_s)
    return float(calendar.timegm((day.tm_year, day.tm_mon, 1 if period == "month" else
                                  day.tm_mday, 0, 0, 0)))


def period_end_s(period: str, now_s: float) -> float | None:
    if period == "day":
        return period_start_s("day", now_s) + 86_400
    if period == "month":
        day = time.gmtime(now_s)
        year, month = (day.tm_year + 1, 1) if day.tm_mon == 12 else (day.tm_year, day.tm_mon + 1)
        return float(calendar.timegm((year, month, 1, 0, 0, 0)))
    return None


def bucket(key_id: str, period: str, now_s: float) -> str:
    """The counter of one key in one period: ``k1:day:20250301``, ``k1:total:all``."""
    stamp = {"day": "%Y%m%d", "month": "%Y%m"}.get(period)
    return f"{key_id}:{period}:{time.strftime(stamp, time.gmtime(now_s)) if stamp else 'all'}"


# -- the ledger ------------------------------------------------------------------------


class Ledger(BatchWriter[SpendRow]):
    """Spend rows, queued by requests and committed in batches by one thread."""

    def __init__(self, db: Database, *, interval_s: float = 0.25) -> None:
        super().__init__(db, name="triops-gateway-spend", interval_s=interval_s)

    def persist(self, session: Session, project: str, items: list[SpendRow],
                prepared: Any) -> None:
        repo.append(session, items)


# -- running totals --------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """One reservation: which counter holds it, under what name, for how much."""

    counter: str
    name: str
    usd: float


@dataclass(frozen=True)
class Reserved:
    admitted: bool
    spent: float
    held: float  # by other calls in flight, this one not included
    hold: Hold | None


class Totals(Protocol):
    async def reserve(self, counter: str, limit: float, usd: float, ttl_s: float,
                      period_ttl_s: int | None, seed: Seed) -> Reserved:
        """Hold ``usd`` under ``counter`` if spent plus held is under ``limit``."""
        ...

    async def settle(self, counters: list[str], cost: float, hold: Hold | None) -> None:
        """Drop ``hold`` and add ``cost`` to each of ``counters`` that is kept."""
        ...

    def release(self, hold: Hold) -> None:
        """Drop ``hold`` now, from code that cannot wait (a call's end, on any path)."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Seeding:
    delta: float = 0.0  # settled while the ledger was being read
    done: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryTotals:
    """Totals in this process. All of it runs on the server's event loop, and nothing
    awaits between checking a budget and holding the reservation."""

    def __init__(self, refresh_s: float) -> None:
        self._refresh_s = refresh_s
        self._spent: dict[str, tuple[float, float]] = {}  # counter -> (usd, read at)
        self._held: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
        self._seeding: dict[str, _Seeding] = {}

    async def _spent_of(self, counter: str, seed: Seed) -> float:
        while True:
            entry = self._spent.get(counter)
            if entry is not None and time.monotonic() - entry[1] < self._refresh_s:
                return entry[0]
            seeding = self._seeding.get(counter)
            if seeding is None:
                break
            if entry is not None:
                return entry[0]  # a re-read is under way; the last figure serves meanwhile
            await seeding.done.wait()
        seeding = self._seeding[counter] = _Seeding()
        try:
            # Rows from the cut on are counted by ``settle`` into the delta instead.
            base = await seed(now_ms())
        except Exception:
            if entry is None:
                raise  # nothing to check the budget against: refuse rather than guess
            log.warning("could not re-read spend of %s; keeping the last total", counter,
                        exc_info=True)
            base, seeding.delta = self._spent[counter][0], 0.0
        finally:
            del self._seeding[counter]
            seeding.done.set()
        total = base + seeding.delta
        self._spent[counter] = (total, time.monotonic())
        return total

    async def reserve(self, counter: str, limit: float, usd: float, ttl_s: float,
                      period_ttl_s: int | None, seed: Seed) -> Reserved:
        spent = await self._spent_of(counter, seed)
        now = time.monotonic()
        held_by = self._held[counter]
        for name in [n for n, (_, expires) in held_by.items() if expires < now]:
            del held_by[name]
        held = sum(amount for amount, _ in held_by.values())
        if spent + held >= limit:
            return Reserved(False, spent, held, None)
        hold = Hold(counter, uuid.uuid4().hex, usd)
        held_by[hold.name] = (usd, now + ttl_s)
        return Reserved(True, spent, held, hold)

    def release(self, hold: Hold) -> None:
        held_by = self._held.get(hold.counter)
        if held_by is not None:
            held_by.pop(hold.name, None)
            if not held_by:
                del self._held[hold.counter]

    async def settle(self, counters: list[str], cost: float, hold: Hold | None) -> None:
        if hold is not None:
            self.release(hold)
        if not cost:
            return
        for counter in counters:
            entry = self._spent.get(counter)
            if entry is not None:
                self._spent[counter] = (entry[0] + cost, entry[1])
            seeding = self._seeding.get(counter)
            if seeding is not None:
                seeding.delta += cost

    async def close(self) -> None:
        return None


# KEYS: spent total, reservations (a sorted set of "name:usd" scored by expiry).
# ARGV: now, limit, usd, expires, name, reservations' ttl.
# Returns {-1} when the total is not in Redis (read it from the ledger first), else
# {admitted, spent, held}; numbers as strings, since Lua would truncate them to integers.
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '0', '0'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  held = held + tonumber(string.match(member, ':([^:]+)$'))
end
local spent = tonumber(redis.call('GET', KEYS[1]))
if spent + held >= tonumber(ARGV[2]) then
  return {0, tostring(spent), tostring(held)}
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5] .. ':' .. ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {1, tostring(spent), tostring(held)}
"""

# KEYS: the reservation set (or a dummy), then every spent total to add to.
# ARGV: the reservation member ('' for none), cost.
_SETTLE = """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if tonumber(ARGV[2]) > 0 then
  for i = 2, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('INCRBYFLOAT', KEYS[i], ARGV[2])
    end
  end
end
return 0
"""


class RedisTotals:
    """Totals in Redis, shared by every replica; each check and each settle is one
    script, so no two replicas can both take the last of a budget."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._releasing: set[asyncio.Task[None]] = set()

    def _keys(self, counter: str) -> tuple[str, str]:
        return f"{self._prefix}usd:{counter}", f"{self._prefix}held:{counter}"

    async def reserve(self, counter: str, limit: float, usd: float, ttl_s: float,
                      period_ttl_s: int | None, seed: Seed) -> Reserved:
        if self._releasing:  # this process's released holds are gone before it checks
            await asyncio.gather(*self._releasing, return_exceptions=True)
        spent_key, held_key = self._keys(counter)
        name = uuid.uuid4().hex
        for _ in range(2):
            now = time.time()
            answer = await self._reserve(keys=[spent_key, held_key], args=[
                repr(now), repr(limit), repr(usd), repr(now + ttl_s), name,
                int(ttl_s) + 60])
            if int(answer[0]) >= 0:
                admitted, spent, held = int(answer[0]), float(answer[1]), float(answer[2])
                hold = Hold(counter, f"{name}:{usd!r}", usd) if admitted else None
                return Reserved(bool(admitted), spent, held, hold)
            # The first replica to get here writes the ledger's total; the others keep it.
            total = await seed(now_ms())
            await self._redis.set(spent_key, repr(total), nx=True, ex=period_ttl_s)
        raise RuntimeError(f"redis would not keep the spend total of {counter}")

    async def settle(self, counters: list[str], cost: float, hold: Hold | None) -> None:
        if hold is None and not cost:
            return
        held_key = self._keys(hold.counter)[1] if hold is not None else self._prefix + "-"
        await self._settle(keys=[held_key, *(self._keys(c)[0] for c in counters)],
                           args=[hold.name if hold is not None else "", repr(cost)])

    def release(self, hold: Hold) -> None:
        task = asyncio.get_running_loop().create_task(self.settle([], 0.0, hold))
        self._releasing.add(task)  # a task nothing refers to may be collected unfinished
        task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        await self._redis.aclose()


# -- the gateway's side ----------------------------------------------------------------


@dataclass
class Ticket:
    """What admission decided for one call; settling or releasing it ends it."""

    policy: KeyPolicy
    rate: RateState | None = None
    budget_left: float | None = None  # USD left at admission, other calls' holds deducted
    hold: Hold | None = None

    def headers(self) -> dict[str, str]:
        out = self.rate.headers() if self.rate is not None else {}
        if self.policy.budget_usd is not None and self.budget_left is not None:
            out["x-triops-budget-limit-usd"] = f"{self.policy.budget_usd:.6f}"
            out["x-triops-budget-remaining-usd"] = f"{max(0.0, self.budget_left):.6f}"
        return out


def headers_of(trace: CallTrace) -> dict[str, str]:
    """The rate-limit headers of an admitted call (none when no limit applies)."""
    ticket = trace.ticket
    return ticket.headers() if isinstance(ticket, Ticket) else {}


def estimate(prices: PriceTable, table: RouteTable, trace: CallTrace,
             reserve_max_tokens: int) -> float:
    """The most a call can cost: its prompt and its allowed output at the dearest
    deployment that may serve it."""
    body, route = trace.body, trace.route
    models = [t.model for t in table.candidates(route)]
    if trace.operation == "chat":
        prompt = count_messages(body.get("messages") or [], models[0])
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        output = limit if isinstance(limit, int) and limit > 0 else reserve_max_tokens
    else:
        given = body.get("input")
        texts = [given] if isinstance(given, str) else [t for t in given or []
                                                        if isinstance(t, str)]
        prompt, output = sum(count_text(t, models[0]) for t in texts), 0
    usage = Usage(prompt, output)
    return max(prices.cost(m, usage) or prices.cost(route, usage) for m in models)


class Spend:
    """Admission (rates, then budget) and settlement for every gateway call."""

    def __init__(self, settings: GatewaySettings, db: Database, prices: PriceTable,
                 redis_url: str | None) -> None:
        self._settings = settings
        self._db = db
        self._prices = prices
        prefix = settings.redis_prefix
        self.limiter = Limiter(RedisCounters(redis_url, prefix) if redis_url
                               else MemoryCounters())
        self.totals: Totals = (RedisTotals(redis_url, prefix) if redis_url
                               else MemoryTotals(settings.refresh_s))
        self.ledger = Ledger(db)

    def _seed(self, key_id: str, period: str) -> Seed:
        def read(cut_ms: int) -> float:
            self.ledger.flush()  # this process's own calls up to now are in the store
            since_ms = int(period_start_s(period, cut_ms / 1000) * 1000)
            with self._db.read() as session:
                return repo.key_total(session, key_id, since_ms, cut_ms)

        async def seed(cut_ms: int) -> float:
            return await anyio.to_thread.run_sync(read, cut_ms)

        return seed

    async def admit(self, policy: KeyPolicy, trace: CallTrace, table: RouteTable) -> None:
        """Raise (403, 429) when the key may not make this call now; otherwise hold the
        call's most expensive outcome against its budget until it is settled."""
        ticket = trace.ticket = Ticket(policy)
        ticket.rate = await self.limiter.admit(policy, trace.route)
        if policy.budget_usd is None:
            return
        now = time.time()
        period = policy.budget_period
        usd = estimate(self._prices, table, trace, self._settings.reserve_max_tokens)
        got = await self.totals.reserve(
            bucket(policy.key_id, period, now), policy.budget_usd, usd,
            self._settings.reserve_ttl_s, _PERIOD_TTL_S.get(period),
            self._seed(policy.key_id, period))
        ticket.budget_left = policy.budget_usd - got.spent - got.held
        if got.admitted:
            ticket.hold = got.hold
            return
        if got.spent >= policy.budget_usd:
            end = period_end_s(period, now)
            raise rate_limited(
                f"budget exhausted: ${got.spent:.4f} of ${policy.budget_usd:.4f} spent "
                + (f"this {period}" if end is not None else "in total"),
                "insufficient_quota", ticket.headers(),
                None if end is None else end - now)
        raise rate_limited(
            f"budget held: ${got.spent:.4f} spent and ${got.held:.4f} reserved by calls in "
            f"flight, of ${policy.budget_usd:.4f} this {period}; retry when they finish",
            "insufficient_quota", ticket.headers(), 1.0)

    async def settle(self, trace: CallTrace) -> None:
        """Record the call's real usage and cost, and swap its reservation for it."""
        usage = trace.usage or Usage(0, 0)
        now = time.time()
        self.ledger.enqueue(trace.project, SpendRow(
            key_id=trace.key_id, project=trace.project, route=trace.route,
            model=trace.model or trace.route, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cost_usd=trace.cost,
            created_ms=int(now * 1000)))
        ticket = trace.ticket
        hold = None
        if isinstance(ticket, Ticket):
            hold, ticket.hold = ticket.hold, None
            await self.limiter.settle(ticket.policy, usage.total_tokens)
        # Every period's total a budget may be read from moves, set or not: a budget set
        # or changed later finds its running total right.
        await self.totals.settle([bucket(trace.key_id, p, now) for p in PERIODS],
                                 trace.cost, hold)

    def release(self, trace: CallTrace) -> None:
        """Give back the reservation of a call that ended without being settled."""
        ticket = trace.ticket
        if not isinstance(ticket, Ticket) or ticket.hold is None:
            return
        hold, ticket.hold = ticket.hold, None
        self.totals.release(hold)

    def close(self) -> None:
        self.ledger.close()
