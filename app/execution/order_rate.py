"""A venue's order-count limit, kept per account across every worker process.

Exchanges cap how many orders an account may place per interval, apart from the request
weight ccxt's own limiter paces (``enableRateLimit``, per process): Binance spot answers
HTTP 429 with ``-1015 TOO_MANY_ORDERS`` ("Too many new orders; current limit is 50 orders per
10 SECOND", https://developers.binance.com/docs/binance-spot-api-docs/errors and the
``ORDERS`` entry of ``exchangeInfo.rateLimits``). ccxt's limiter cannot keep that count: it
lives in one process, and several workers send for the same account. So the count lives in
Redis: a sliding-window log per account (a sorted set of send times, Redis's own clock), and
a send waits for a free slot (``acquire``) instead of being refused by the venue.

``[accounts.NAME] order_rate_limit = "50/10s"`` turns it on for an account (``N/Ds``, ``N/Dm``);
unset, sends are not paced here (the venue's 429 is then met with backoff, ``lifecycle``).
"""

import logging
import re
import time
import uuid
from dataclasses import dataclass

from app.config import get_settings
from app.redis_client import get_redis

log = logging.getLogger(__name__)
_SPEC = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)(s|m)$")  # as AccountConfig.order_rate_limit's pattern
# KEYS[1] the account's log; ARGV: limit, window (ms), member. Returns 0 when a slot was
# taken, else the milliseconds until the oldest send leaves the window.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


@dataclass(frozen=True)
class OrderRate:
    """At most ``limit`` order sends per ``window_seconds`` (sliding) for one account."""

    limit: int
    window_seconds: float

    @classmethod
    def parse(cls, spec: str) -> "OrderRate":
        """``"50/10s"`` → 50 per 10 s; ``"1200/1m"`` → 1200 per 60 s. Raises ``ValueError``
        naming the expected form."""
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"{spec!r} is not an order rate: write orders/window, e.g. \"50/10s\" or \"1200/1m\"")
        seconds = int(match.group(2)) * (60 if match.group(3) == "m" else 1)
        return cls(int(match.group(1)), seconds)


def _key(account_id: uuid.UUID) -> str:
    return f"{get_settings().queue_prefix}:order-rate:{account_id}"


def acquire(account_id: uuid.UUID, rate: OrderRate, *, max_wait_seconds: float | None = None) -> float:
    """Take a send slot of ``account_id`` under ``rate``, sleeping until one is free.
    Returns the seconds waited. ``max_wait_seconds`` (default: the window) bounds the wait:
    past it the send goes ahead and the venue's answer decides (a 429 is backed off by the
    lifecycle), so a Redis outage or a clock jump never holds an order forever. Redis errors
    are logged and the send goes ahead unpaced."""
    script = get_redis().register_script(_ACQUIRE)
    limit_wait = rate.window_seconds if max_wait_seconds is None else max_wait_seconds
    waited, member = 0.0, uuid.uuid4().hex
    window_ms = int(rate.window_seconds * 1000)
    while True:
        try:
            wait_ms = int(script(keys=[_key(account_id)], args=[rate.limit, window_ms, member]))
        except Exception:  # redis-py raises several unrelated classes for a down server
            log.warning("order rate of account %s not checked (Redis); sending unpaced", account_id, exc_info=True)
            return waited
        if wait_ms == 0:
            return waited
        if waited >= limit_wait:
            log.warning("order rate of account %s: no slot after %.1f s; sending anyway", account_id, waited)
            return waited
        pause = min(wait_ms / 1000, limit_wait - waited) + 0.005
        time.sleep(pause)
        waited += pause
