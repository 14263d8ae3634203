"""Rate limits kept in Redis, so they hold across API processes.

Failed authentication: each failure from one address for one credential kind (``admin``,
``api_key``, ``webhook``, ``metrics``) is logged in a sorted set; beyond
``auth_failure_limit`` failures within ``auth_failure_window_seconds``, the answer is 429 with
``Retry-After`` (seconds until a failure would be answered 401 again). Only failures count and
only failures are refused: a request whose credential is valid is never slowed, so senders
sharing an address (TradingView's four webhook IPs serve every TradingView user) cannot lock
each other out. Guessing stays pointless: generated tokens carry 192+ bits, the admin token
at least 32 characters.

Signal ceiling: per strategy token and per API key, at most ``signals_per_minute`` signals are
taken in any 60 s (a sliding log); beyond, 429 with ``Retry-After`` and nothing is stored, so a
runaway alert loop cannot flood the venue.

Counts for ``/metrics`` live in one Redis hash. With Redis down, limits are skipped (logged):
authentication and ingest keep working.
"""

import logging
import math
import secrets
import time
from dataclasses import dataclass

from app.config import get_settings
from app.errors import AppError
from app.jobs.queue import get_redis
from app.security.settings import get_security_settings

log = logging.getLogger(__name__)
SIGNAL_WINDOW_MS = 60_000
KINDS = ("admin", "api_key", "webhook", "metrics")

# KEYS[1] failures of one (kind, address); ARGV now_ms, window_ms, limit, member.
# Returns {failures in the window (at most limit + 1 kept), ms until one expires when over}.
_FAILURE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 2))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count > tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {count, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])}
end
return {count, 0}
"""
# KEYS[1] signals of one token or key; ARGV now_ms, window_ms, limit, member. {admitted 1|0, retry ms}.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
"""


class TooManyRequests(AppError):
    """Too many failed authentications from this address, or too many signals from this
    token or key in the last minute. Wait ``Retry-After`` seconds; nothing was stored. A sender
    that keeps hitting the signal ceiling is looping: fix the alert, or raise
    ``TRADEWIRE_SIGNALS_PER_MINUTE``."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Verdict:
    limited: bool
    retry_after: int = 0


def _key(*parts: str) -> str:
    return ":".join((get_settings().queue_prefix, "security", *parts))


def counters_key() -> str:
    return _key("counters")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _seconds(ms: int | float) -> int:
    return max(1, math.ceil(ms / 1000))


def record_auth_failure(kind: str, address: str | None) -> Verdict:
    """Count a failed authentication of ``kind`` from ``address``; limited once the window
    holds more than ``auth_failure_limit`` failures."""
    settings = get_security_settings()
    window_ms = settings.auth_failure_window_seconds * 1000
    try:
        redis = get_redis()
        count, retry_ms = redis.eval(_FAILURE, 1, _key("auth", kind, address or "unknown"), _now_ms(), window_ms,
                                     settings.auth_failure_limit, f"{_now_ms()}-{secrets.token_hex(4)}")
        limited = int(count) > settings.auth_failure_limit
        pipe = redis.pipeline()
        pipe.hincrby(counters_key(), f"auth_failures:{kind}", 1)
        if limited:
            pipe.hincrby(counters_key(), f"auth_refused:{kind}", 1)
        pipe.execute()
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        log.warning("auth failure not counted, Redis unreachable: %s", type(e).__name__)
        return Verdict(False)
    if limited:
        log.warning("refusing %s authentication from %s: %s failures within %s s", kind, address or "?",
                    count, settings.auth_failure_window_seconds)
    return Verdict(limited, _seconds(retry_ms) if limited else 0)


def admit_signal(kind: str, ident: str, label: str) -> None:
    """Take one signal for strategy token or API key ``ident`` (``kind`` ``strategy`` or
    ``api_key``; ``label`` names it in ``/metrics``). Raises ``TooManyRequests`` beyond
    ``signals_per_minute`` in the last 60 s."""
    ceiling = get_security_settings().signals_per_minute
    if ceiling <= 0:
        return
    try:
        redis = get_redis()
        admitted, retry_ms = redis.eval(_ADMIT, 1, _key("signals", kind, ident), _now_ms(), SIGNAL_WINDOW_MS,
                                        ceiling, f"{_now_ms()}-{secrets.token_hex(4)}")
        if not int(admitted):
            redis.hincrby(counters_key(), f"throttled:{kind}:{label}", 1)
    except Exception as e:
        log.warning("signal ceiling not applied, Redis unreachable: %s", type(e).__name__)
        return
    if not int(admitted):
        what = "strategy" if kind == "strategy" else "API key"
        log.warning("%s %s is over its ceiling of %s signals per minute; refused", what, label, ceiling)
        raise TooManyRequests(f"{what} {label} sent more than {ceiling} signals in the last minute; nothing was "
                              f"stored (TRADEWIRE_SIGNALS_PER_MINUTE)", _seconds(retry_ms))


def admit_strategy_signal(strategy: object) -> None:
    """``admit_signal`` for a webhook's strategy (anything with ``id`` and ``name``)."""
    admit_signal("strategy", str(getattr(strategy, "id")), str(getattr(strategy, "name")))


def admit_key_signal(key_id: object) -> None:
    """``admit_signal`` for an API key by id (the admin token, ``None``, has no ceiling)."""
    if key_id is not None:
        admit_signal("api_key", str(key_id), str(key_id))


def counters() -> dict[str, int]:
    """The counts ``/metrics`` shows: ``auth_failures:KIND``, ``auth_refused:KIND``,
    ``throttled:KIND:NAME``."""
    raw = get_redis().hgetall(counters_key())
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def admit_ingest(key_id: object, strategy: object, source: object) -> None:
    """The ingest hook (``app.ingest.entry``): an API key's request counts against its key, a
    TradingView webhook's against its strategy token; the poller's (no key, not a webhook)
    against nothing. Raises ``TooManyRequests``."""
    if key_id is not None:
        admit_key_signal(key_id)
    elif str(getattr(source, "value", source)) == "tradingview":
        admit_strategy_signal(strategy)
