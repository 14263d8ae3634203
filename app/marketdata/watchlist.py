"""Which symbols the streamer watches, from the database: per source, the symbols of accounts
using it that hold a non-zero position, have an open order, or were signalled recently."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config_file import AccountConfig, market_data_source
from app.domain.orders import OPEN_STATE_VALUES
from app.persistence.models import Account, OrderRecord, PositionRecord, SignalRecord, Strategy

SIGNAL_WINDOW = timedelta(hours=24)


def account_source(venue: str, settings: dict[str, Any] | None) -> str | None:
    """The market-data source of an account row (its stored settings may predate newer keys)."""
    return market_data_source(AccountConfig(venue=venue, market_data=(settings or {}).get("market_data")))


def traded_symbols(session: Session, now: datetime | None = None) -> dict[str, set[str]]:
    """{source: symbols} of positions ≠ 0, open orders and signals of the last 24 h, each under
    the source of its account. Read-only; the caller owns the session."""
    sources: dict[uuid.UUID, str | None] = {
        row.id: account_source(row.venue, row.settings)
        for row in session.execute(select(Account.id, Account.venue, Account.settings))
    }
    since = (now or datetime.now(UTC)) - SIGNAL_WINDOW
    queries = (
        select(PositionRecord.account_id, PositionRecord.symbol).where(PositionRecord.quantity != 0),
        select(OrderRecord.account_id, OrderRecord.symbol).where(OrderRecord.status.in_(OPEN_STATE_VALUES)),
        select(Strategy.account_id, SignalRecord.symbol)
        .join(Strategy, Strategy.id == SignalRecord.strategy_id)
        .where(SignalRecord.received_at >= since, SignalRecord.symbol.is_not(None)),
    )
    watched: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        for account_id, symbol in session.execute(query.distinct()):
            source = sources.get(account_id)
            if source and symbol:
                watched[source].add(symbol)
    return dict(watched)
