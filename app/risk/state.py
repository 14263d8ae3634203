"""Read what risk needs about an account, under its row lock, from our own tables only
(the request path never calls a venue): position, equity, open symbols, recent orders,
today's realised PnL, the market's rules, and the account's and strategy's configuration."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Boolean, Select, bindparam, case, func, null, or_, select, union, update
from sqlalchemy.orm import Session

from app.config_file import AccountConfig, StrategyConfig
from app.domain.enums import IntentStatus, PositionSide, TradingState
from app.domain.equity import equity
from app.domain.orders import OrderStatus
from app.domain.signal import Signal
from app.persistence.models import (
    Account,
    BalanceRecord,
    FillRecord,
    MarketRecord,
    OrderIntentRecord,
    OrderRecord,
    PositionRecord,
    Strategy,
)
from app.risk.engine import AccountState, RiskContext
from app.domain.symbols import is_derivative
from app.execution.ledger import NET
from app.risk.futures import hedge_side, is_hedged
from app.risk.market import market_view
from app.risk.rules import ccxt_rules, paper_rules

DAILY_LOSS_REASON = "daily loss limit"
OPERATOR_REASON = "operator"


@dataclass(frozen=True)
class Loaded:
    """The locked account's id and venue, and the context risk decides in."""

    account_id: uuid.UUID
    venue: str
    context: RiskContext


def load_context(
    session: Session,
    account_id: uuid.UUID,
    strategy_id: uuid.UUID,
    signal: Signal,
    *,
    lock: bool = True,
    account_wide: bool = True,
    reads: frozenset[str] | None = None,
) -> Loaded:
    """The risk context for ``signal``, read in one query.

    With ``lock``, decisions are serialised until the caller's transaction ends: on the
    account row when ``account_wide`` (the account has cross-symbol limits), else on
    (account, symbol) with a transaction-scoped advisory lock, so alerts for different
    symbols are decided in parallel and two alerts for one symbol never both act on the
    same position. ``reads`` names the optional reads the account's limits need (None: all);
    the others are not evaluated (a CASE keeps PostgreSQL from running their subqueries).
    """
    market = market_view(session, account_id, signal, wait=lock)  # before the lock: it may wait for a first quote
    side = hedge_side(signal) if is_derivative(signal.symbol) else None
    if lock:
        # A statement of its own: in READ COMMITTED the next statement's snapshot is taken
        # after the lock is granted, so it sees what the previous holder committed (a
        # subquery of a FOR UPDATE statement would read the older snapshot).
        if account_wide:
            session.connection().execute(LOCK_ACCOUNT, {"account_id": account_id})
        else:
            session.connection().execute(_SYMBOL_LOCK, {"key": _lock_key(account_id, signal.symbol)})
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    row = session.connection().execute(
        _STATE,
        {"account_id": account_id, "strategy_id": strategy_id, "symbol": signal.symbol,
         "minute_ago": now - timedelta(seconds=60), "midnight": midnight,
         "hedge_side": side.value if side is not None else "", "read_hedge_side": side is not None,
         "other_side": _other(side).value if side is not None else "",
         **{f"read_{name}": reads is None or name in reads for name in OPTIONAL_READS}},
    ).one()
    config = parsed_account_config(row.settings)
    hedged = side if is_hedged(config, signal.symbol) else None
    position, in_flight = (row.side_position, row.side_in_flight) if hedged else (row.position, row.in_flight)
    other = (row.other_position or Decimal(0)) + (row.other_in_flight or Decimal(0)) if hedged else Decimal(0)
    trading_state = TradingState(row.trading_state)
    if _lapsed(row, midnight):
        record_state_change(session, account_id, TradingState.ACTIVE, "new UTC day", at=midnight)
        trading_state = TradingState.ACTIVE
    holdings = [_Holding(*h) for h in zip(row.spot_symbols or (), row.spot_quantities or (), row.spot_prices or ())]
    state = AccountState(
        trading_state=trading_state,
        position=position if position is not None else Decimal(0),
        equity=equity(row.cash or Decimal(0), holdings, config.quote_currency),
        open_symbols=frozenset(row.open_symbols or ()),
        orders_last_minute=row.orders_last_minute or 0,
        last_order_at=row.last_order_at,
        realized_pnl_today=row.realized_today or Decimal(0),
        in_flight=in_flight if in_flight is not None else Decimal(0),
        opposite=other,
        daily_loss_armed=not (row.state_reason == OPERATOR_REASON and _since(row.state_changed_at, midnight)),
    )
    strategy_config = parsed_strategy_config(row.strategy_settings)
    rules = paper_rules(signal.symbol, config.min_notional) if row.venue == "paper" else ccxt_rules(row.venue, signal.symbol, row.market)
    return Loaded(account_id, row.venue, RiskContext(signal, state, config.risk, strategy_config, rules, now, market,
                                                       account=config, hedge_side=hedged))


def _state_query() -> Select:
    """Everything risk reads, as scalar subqueries of one SELECT on the account row; built
    once with bind parameters.

    Equity (``app.domain.equity``) needs the balance in the account's quote currency (read
    from its settings here) and its spot positions (as three arrays). The position and the
    orders in flight are read for the one-way (net) position and, when ``read_hedge_side``,
    for the hedge-mode side ``hedge_side`` and the ``other_side`` too: which counts depends on
    the account's settings, read by the same statement.
    """
    P, I, F, B, M, a = PositionRecord, OrderIntentRecord, FillRecord, BalanceRecord, MarketRecord, Account
    O = OrderRecord
    account_id, symbol = bindparam("account_id"), bindparam("symbol")
    live = [IntentStatus.PENDING.value, IntentStatus.SUBMITTING.value]
    open_symbols = union(
        select(P.symbol).where(P.account_id == account_id, P.quantity != 0),
        select(I.symbol).where(I.account_id == account_id, I.reduce_only.is_(False), I.status.in_(live)),
    ).subquery()
    return select(
        a.venue, a.trading_state, a.state_reason, a.state_changed_at, a.settings,
        select(Strategy.settings).where(Strategy.id == bindparam("strategy_id")).scalar_subquery().label("strategy_settings"),
        select(P.quantity).where(P.account_id == account_id, P.symbol == symbol, P.position_side == NET)
        .scalar_subquery().label("position"),
        _in_flight(account_id, symbol, I.position_side.is_(None)).label("in_flight"),
        _optional("hedge_side", select(P.quantity).where(
            P.account_id == account_id, P.symbol == symbol, P.position_side == bindparam("hedge_side"))
            .scalar_subquery(), label="side_position"),
        _optional("hedge_side", _in_flight(account_id, symbol, I.position_side == bindparam("hedge_side")),
                  label="side_in_flight"),
        _optional("hedge_side", select(P.quantity).where(
            P.account_id == account_id, P.symbol == symbol, P.position_side == bindparam("other_side"))
            .scalar_subquery(), label="other_position"),
        _optional("hedge_side", _in_flight(account_id, symbol, I.position_side == bindparam("other_side")),
                  label="other_in_flight"),
        select(B.total).where(B.account_id == account_id, B.currency == _quote_of(a)).scalar_subquery().label("cash"),
        *(select(func.array_agg(column)).where(P.account_id == account_id, P.quantity != 0, ~P.symbol.contains(":"))
          .scalar_subquery().label(f"spot_{name}")
          for name, column in (("symbols", P.symbol), ("quantities", P.quantity), ("prices", P.average_price))),
        _optional("open_symbols", func.array(select(open_symbols.c.symbol).scalar_subquery())),
        _optional("orders_last_minute", select(func.count()).where(
            I.account_id == account_id, I.created_at >= bindparam("minute_ago")).scalar_subquery()),
        _optional("last_order_at", select(func.max(I.created_at)).where(
            I.account_id == account_id, I.symbol == symbol).scalar_subquery()),
        _optional("realized_today", select(func.sum(F.realized_pnl)).where(
            F.account_id == account_id, F.ts_event >= bindparam("midnight")).scalar_subquery()),
        select(M.market).where(M.venue == a.venue, M.symbol == symbol).scalar_subquery().label("market"),
    ).where(a.id == account_id)


def _in_flight(account_id: Any, symbol: Any, side: Any) -> Any:
    """Signed base quantity of (account, symbol) orders on their way and not yet filled, on the
    position ``side`` selects (a condition on the intent's ``position_side``).

    Counted: entry intents not yet sent (pending), sent with no answer yet or in doubt
    (submitting, order SUBMITTED), market orders not yet final, and open reduce-only orders
    (an exit already resting must not be doubled). Not counted: protective orders (they act
    only if triggered) and resting opening limit orders (they may never fill).
    """
    I, O = OrderIntentRecord, OrderRecord
    signed = case((I.side == "buy", 1), else_=-1) * (I.quantity - func.coalesce(O.filled_quantity, 0))
    return (
        select(func.sum(signed))
        .select_from(I)
        .outerjoin(O, O.intent_id == I.id)
        .where(
            I.account_id == account_id, I.symbol == symbol, I.purpose == "entry", side,
            I.status.in_(IN_FLIGHT_INTENTS),
            or_(O.id.is_(None), O.status == OrderStatus.SUBMITTED.value, I.order_type == "market", I.reduce_only),
        )
        .scalar_subquery()
    )


IN_FLIGHT_INTENTS = (IntentStatus.PENDING.value, IntentStatus.SUBMITTING.value)
def _quote_of(account: Any) -> Any:
    """The account's quote currency from its stored settings (``AccountConfig.quote_currency``)."""
    return func.coalesce(account.settings["quote_currency"].astext, AccountConfig.model_fields["quote_currency"].default)


@dataclass(frozen=True)
class _Holding:
    symbol: str
    quantity: Decimal
    average_price: Decimal | None


OPTIONAL_READS = ("open_symbols", "orders_last_minute", "last_order_at", "realized_today")


def _optional(name: str, expression: Any, label: str | None = None) -> Any:
    return case((bindparam(f"read_{name}", type_=Boolean), expression), else_=null()).label(label or name)


_STATE = _state_query()
LOCK_ACCOUNT = select(Account.id).where(Account.id == bindparam("account_id")).with_for_update()
_SYMBOL_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _other(side: PositionSide) -> PositionSide:
    return PositionSide.SHORT if side == PositionSide.LONG else PositionSide.LONG


def _lock_key(account_id: uuid.UUID, symbol: str) -> int:
    """A stable signed 64-bit key for (account, symbol), the same in every process."""
    digest = hashlib.blake2b(f"{account_id}:{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=256)
def _parse_account_config(settings_json: str) -> AccountConfig:
    return AccountConfig.model_validate_json(settings_json)


@lru_cache(maxsize=1024)
def _parse_strategy_config(settings_json: str) -> StrategyConfig:
    return StrategyConfig.model_validate_json(settings_json)


def parsed_account_config(settings: dict | None) -> AccountConfig:
    """An account's stored settings as ``AccountConfig``, parsed once per distinct JSON (cached)."""
    return _parse_account_config(json.dumps(settings or {}, sort_keys=True))


def parsed_strategy_config(settings: dict | None) -> StrategyConfig:
    """A strategy's stored settings as ``StrategyConfig``, parsed once per distinct JSON (cached)."""
    return _parse_strategy_config(json.dumps(settings or {}, sort_keys=True))


def _lapsed(row: Any, midnight: datetime) -> bool:
    """A state set by the daily loss limit lapses at 00:00 UTC."""
    return (
        row.trading_state != TradingState.ACTIVE.value
        and row.state_reason == DAILY_LOSS_REASON
        and not _since(row.state_changed_at, midnight)
    )


def _since(moment: datetime | None, start: datetime) -> bool:
    return moment is not None and moment >= start


def record_state_change(
    session: Session, account_id: uuid.UUID, state: TradingState, reason: str, *, at: datetime | None = None
) -> None:
    """Set the account's trading state with its reason (the caller's transaction persists it)."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(trading_state=state.value, state_reason=reason, state_changed_at=at or datetime.now(UTC))
    )


__all__ = ["DAILY_LOSS_REASON", "OPERATOR_REASON", "Loaded", "load_context", "record_state_change"]
