"""Read what risk needs about an account, under its row lock, from our own tables only
(the request path never calls a venue): position, equity, open symbols, recent orders,
today's realised PnL, the market's rules, and the account's and strategy's configuration."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config_file import AccountConfig, StrategyConfig
from app.domain.enums import IntentStatus, TradingState
from app.domain.signal import Signal
from app.domain.symbols import base_quote, is_derivative
from app.persistence.models import (
    Account,
    BalanceRecord,
    FillRecord,
    MarketRecord,
    OrderIntentRecord,
    PositionRecord,
    Strategy,
)
from app.risk.engine import AccountState, RiskContext
from app.risk.rules import MarketRules, ccxt_rules, paper_rules

DAILY_LOSS_REASON = "daily loss limit"
OPERATOR_REASON = "operator"


@dataclass(frozen=True)
class Loaded:
    account: Account
    context: RiskContext


def load_context(
    session: Session, account_id: uuid.UUID, strategy_id: uuid.UUID, signal: Signal, *, lock: bool = True
) -> Loaded:
    """The risk context for ``signal``. With ``lock`` the account row stays locked until the
    caller's transaction ends, serialising decisions per account."""
    query = select(Account).where(Account.id == account_id)
    account = session.execute(query.with_for_update() if lock else query).scalar_one()
    now = datetime.now(UTC)
    config = AccountConfig.model_validate(account.settings or {})
    strategy = session.get(Strategy, strategy_id)
    strategy_config = StrategyConfig.model_validate((strategy.settings if strategy else None) or {})
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    trading_state = _current_state(account, midnight)
    state = AccountState(
        trading_state=trading_state,
        position=_position(session, account.id, signal.symbol),
        equity=_equity(session, account.id, config.quote_currency),
        open_symbols=_open_symbols(session, account.id),
        orders_last_minute=_count_intents_since(session, account.id, now - timedelta(seconds=60)),
        last_order_at=_last_order_at(session, account.id, signal.symbol),
        realized_pnl_today=_realized_since(session, account.id, midnight),
        daily_loss_armed=not (account.state_reason == OPERATOR_REASON and _changed_since(account, midnight)),
    )
    rules = _rules(session, account.venue, signal.symbol, config)
    return Loaded(account, RiskContext(signal, state, config.risk, strategy_config, rules, now))


def _current_state(account: Account, midnight: datetime) -> TradingState:
    """A state set by the daily loss limit lapses at 00:00 UTC."""
    state = TradingState(account.trading_state)
    if state != TradingState.ACTIVE and account.state_reason == DAILY_LOSS_REASON and not _changed_since(account, midnight):
        account.trading_state, account.state_reason, account.state_changed_at = TradingState.ACTIVE.value, "new UTC day", midnight
        return TradingState.ACTIVE
    return state


def _changed_since(account: Account, moment: datetime) -> bool:
    return account.state_changed_at is not None and account.state_changed_at >= moment


def _position(session: Session, account_id: uuid.UUID, symbol: str) -> Decimal:
    value = session.execute(
        select(PositionRecord.quantity).where(PositionRecord.account_id == account_id, PositionRecord.symbol == symbol)
    ).scalar_one_or_none()
    return value if value is not None else Decimal(0)


def _equity(session: Session, account_id: uuid.UUID, quote: str) -> Decimal:
    """Quote balance plus spot positions at their average entry (mark-to-cost: the request
    path has no live prices)."""
    cash = session.execute(
        select(BalanceRecord.total).where(BalanceRecord.account_id == account_id, BalanceRecord.currency == quote)
    ).scalar_one_or_none() or Decimal(0)
    held = Decimal(0)
    for symbol, quantity, average in session.execute(
        select(PositionRecord.symbol, PositionRecord.quantity, PositionRecord.average_price).where(
            PositionRecord.account_id == account_id, PositionRecord.quantity != 0
        )
    ):
        if not is_derivative(symbol) and base_quote(symbol)[1] == quote and average is not None:
            held += quantity * average
    return cash + held


def _open_symbols(session: Session, account_id: uuid.UUID) -> frozenset[str]:
    """Symbols with a position, or an opening intent not yet done."""
    held = session.execute(
        select(PositionRecord.symbol).where(PositionRecord.account_id == account_id, PositionRecord.quantity != 0)
    ).scalars()
    opening = session.execute(
        select(OrderIntentRecord.symbol).where(
            OrderIntentRecord.account_id == account_id,
            OrderIntentRecord.reduce_only.is_(False),
            OrderIntentRecord.status.in_([IntentStatus.PENDING.value, IntentStatus.SUBMITTING.value]),
        )
    ).scalars()
    return frozenset(held) | frozenset(opening)


def _count_intents_since(session: Session, account_id: uuid.UUID, since: datetime) -> int:
    return session.execute(
        select(func.count()).where(OrderIntentRecord.account_id == account_id, OrderIntentRecord.created_at >= since)
    ).scalar_one()


def _last_order_at(session: Session, account_id: uuid.UUID, symbol: str) -> datetime | None:
    return session.execute(
        select(func.max(OrderIntentRecord.created_at)).where(
            OrderIntentRecord.account_id == account_id, OrderIntentRecord.symbol == symbol
        )
    ).scalar_one()


def _realized_since(session: Session, account_id: uuid.UUID, since: datetime) -> Decimal:
    value = session.execute(
        select(func.sum(FillRecord.realized_pnl)).where(FillRecord.account_id == account_id, FillRecord.ts_event >= since)
    ).scalar_one()
    return value or Decimal(0)


def _rules(session: Session, venue: str, symbol: str, config: AccountConfig) -> MarketRules:
    if venue == "paper":
        return paper_rules(symbol, config.min_notional)
    market = session.execute(
        select(MarketRecord.market).where(MarketRecord.venue == venue, MarketRecord.symbol == symbol)
    ).scalar_one_or_none()
    return ccxt_rules(venue, symbol, market)


def record_state_change(account: Account, state: TradingState, reason: str) -> None:
    """Set the account's trading state (the caller's transaction persists it)."""
    account.trading_state, account.state_reason, account.state_changed_at = state.value, reason, datetime.now(UTC)


__all__ = ["DAILY_LOSS_REASON", "OPERATOR_REASON", "Loaded", "load_context", "record_state_change"]
