"""Queries used by more than one stage. Functions take a session and never commit."""

import hashlib
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

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


_BY_TOKEN_HASH = (
    select(Strategy.id, Strategy.name, Account.id, Account.name, Account.settings)
    .join(Account, Account.id == Strategy.account_id)
    .where(Strategy.token_hash == bindparam("token_hash"), Strategy.enabled.is_(True))
)
STRATEGY_CACHE_SECONDS = 5.0
_strategy_cache: dict[str, tuple[float, StrategyRef]] = {}


def strategy_by_token(session: Session, token: str) -> StrategyRef | None:
    """The enabled strategy whose token hashes to the stored hash, else None.

    Found strategies are remembered for ``STRATEGY_CACHE_SECONDS`` per process, so a disabled
    strategy or a rotated token stops working within 5 s; unknown tokens are never cached.
    """
    token_hash = hash_token(token)
    cached = _strategy_cache.get(token_hash)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    row = session.execute(_BY_TOKEN_HASH, {"token_hash": token_hash}).first()
    if row is None:
        _strategy_cache.pop(token_hash, None)
        return None
    ref = StrategyRef(*row[:4], account_wide_lock=needs_account_lock(row[4]), risk_reads=risk_reads(row[4]))
    if len(_strategy_cache) > 10_000:
        _strategy_cache.clear()
    _strategy_cache[token_hash] = (time.monotonic() + STRATEGY_CACHE_SECONDS, ref)
    return ref


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
    """Drop the token cache (after disabling a strategy or rotating its token in this process)."""
    _strategy_cache.clear()
