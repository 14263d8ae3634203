"""Queries used by more than one stage. Functions take a session and never commit."""

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.redis_client import get_redis
from app.persistence.models import Account, Strategy


def hash_token(token: str) -> str:
    """sha256 hex of a webhook token or API key; only this is stored. Tokens are 192-bit
    random, so a fast hash is enough (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StrategyRef:
    """A strategy as ingest needs it: plain values, no session attached."""

    id: uuid.UUID
    name: str
    account_id: uuid.UUID
    account_name: str
    account_wide_lock: bool = True
    risk_reads: frozenset[str] | None = None  # None: read everything (see app.risk.state.OPTIONAL_READS)
    # True: the strategy trades its own account only (no fan-out ``accounts``, no ``route``, no
    # ``shadow``), so ingest skips reading those. False (the safe default): they are read.
    alone: bool = False


_BY_TOKEN_HASH = (
    select(Strategy.id, Strategy.name, Account.id, Account.name, Account.settings, Strategy.settings)
    .join(Account, Account.id == Strategy.account_id)
    .where(Strategy.token_hash == bindparam("token_hash"), Strategy.enabled.is_(True))
)
# A cached strategy is used only while the strategies generation in Redis is unchanged (every
# change INCRs it, see ``strategies_changed``), so a disable or a rotation takes effect at once
# in every API process. The age limit only bounds a change made while Redis was unreachable.
STRATEGY_CACHE_SECONDS = 5.0
REDIS_RETRY_SECONDS = 1.0
_strategy_cache: dict[str, tuple[float, int, StrategyRef]] = {}
_redis_down_until = 0.0
log = logging.getLogger(__name__)


def generation_key() -> str:
    """The Redis key of the strategies generation counter (per queue prefix, i.e. per install)."""
    return f"{get_settings().queue_prefix}:strategies:generation"


def strategy_by_token(session: Session, token: str) -> StrategyRef | None:
    """The enabled strategy whose token hashes to the stored hash, else None.

    Costs one Redis GET (the strategies generation) and, unless this process has the strategy
    cached for the current generation, one indexed query. With Redis unreachable the cache is
    bypassed. Unknown tokens are never cached.
    """
    token_hash = hash_token(token)
    generation = _generation()
    cached = _strategy_cache.get(token_hash)
    if generation is not None and cached is not None and cached[1] == generation and cached[0] > time.monotonic():
        return cached[2]
    row = session.execute(_BY_TOKEN_HASH, {"token_hash": token_hash}).first()
    if row is None:
        _strategy_cache.pop(token_hash, None)
        return None
    ref = StrategyRef(*row[:4], account_wide_lock=needs_account_lock(row[4]), risk_reads=risk_reads(row[4]),
                      alone=trades_alone(row[5]))
    if generation is not None:
        if len(_strategy_cache) > 10_000:
            _strategy_cache.clear()
        _strategy_cache[token_hash] = (time.monotonic() + STRATEGY_CACHE_SECONDS, generation, ref)
    return ref


def _generation() -> int | None:
    """The strategies generation (0 before any change), or None when Redis cannot be asked
    (then not retried for ``REDIS_RETRY_SECONDS``, so a down Redis costs no time per request)."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        value = get_redis().get(generation_key())
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("strategy cache bypassed, Redis unreachable: %s", type(e).__name__)
        return None
    return int(value) if value else 0


def strategies_changed() -> None:
    """Call after committing a change to a strategy (disabled, enabled, token rotated) or to
    its account's settings: every API process drops its cached strategies before its next
    request. If Redis is unreachable the change still reaches them within
    ``STRATEGY_CACHE_SECONDS`` (and this process at once)."""
    global _redis_down_until
    _strategy_cache.clear()
    try:
        get_redis().incr(generation_key())
    except Exception as e:
        _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("could not publish a strategy change to other API processes (Redis: %s); "
                    "they follow within %.0f s", type(e).__name__, STRATEGY_CACHE_SECONDS)


def trades_alone(strategy_settings: dict | None) -> bool:
    """True when the strategy's settings have no fan-out ``accounts`` table (not even its own
    account with a multiplier), no venue-group ``route`` and no ``shadow`` (``StrategyRef.alone``)."""
    settings = strategy_settings or {}
    return not settings.get("accounts") and not settings.get("route") and not settings.get("shadow")


def needs_account_lock(account_settings: dict | None) -> bool:
    """True when the account has limits across symbols (open positions, orders per minute):
    then its decisions are serialised on the account row; otherwise per (account, symbol)."""
    risk = (account_settings or {}).get("risk") or {}
    return risk.get("max_open_positions") is not None or risk.get("max_orders_per_minute") is not None


def risk_reads(account_settings: dict | None) -> frozenset[str]:
    """The optional state reads the account's limits use (``app.risk.state.OPTIONAL_READS``):
    an account without an open-positions cap never counts open positions, and so on."""
    risk = (account_settings or {}).get("risk") or {}
    wanted = {
        "open_symbols": risk.get("max_open_positions") is not None,
        "orders_last_minute": risk.get("max_orders_per_minute") is not None,
        "last_order_at": bool(risk.get("cooldown_seconds")),
        "realized_today": risk.get("daily_loss_limit") is not None,
    }
    return frozenset(name for name, needed in wanted.items() if needed)


def forget_strategies() -> None:
    """Drop this process's token cache (tests; other processes: ``strategies_changed``)."""
    global _redis_down_until
    _strategy_cache.clear()
    _redis_down_until = 0.0
