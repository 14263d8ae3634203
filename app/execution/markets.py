"""Venue data written to our tables so the request path never calls a venue: markets (ccxt's
unified structures, read by risk for precision and limits) and balance snapshots.

Markets are loaded once per worker process and again after ``market_refresh_seconds``; each
load replaces the venue's rows in ``markets`` (keyed by venue and symbol). A venue with none
stored is loaded on request too (``load_markets_if_missing``: ingest asks when a signal finds
none, ``app.ingest.market_wait``), and ``market_states`` is what ``/readyz`` reports. Balances of a real
venue are a snapshot of its totals (the paper venue's balances are its own book and are
never overwritten).
"""

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, func, literal_column, select, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db import unit_of_work
from app.execution.venues.base import Venue
from app.persistence.models import Account, BalanceRecord, MarketRecord

log = logging.getLogger(__name__)


def refresh_markets_if_stale(venue: Venue) -> int:
    """Load and store the venue's markets if this process has none or they are old.
    Returns how many were stored (0 when fresh). Raises ``TemporaryVenueError``."""
    if not venue.markets_stale():
        return 0
    return store_markets(venue.name, venue.load_markets())


def load_markets_if_missing(venue: Venue) -> int:
    """Load and store the venue's markets when none are stored (whatever this process
    believes), else as ``refresh_markets_if_stale``. Returns how many were stored; raises
    ``TemporaryVenueError``."""
    with unit_of_work() as session:
        stored = session.execute(select(func.count()).where(MarketRecord.venue == venue.name)).scalar_one()
    if stored:
        return refresh_markets_if_stale(venue)
    return store_markets(venue.name, venue.load_markets())


def market_states() -> dict[str, dict[str, object]]:
    """Per venue an account trades on (``paper`` needs no markets) or with markets stored:
    ``{"markets": N, "loaded_at": ISO-8601 UTC or None, "state": "loaded" | "not loaded"}``."""
    M = MarketRecord
    venues = union(
        select(Account.venue.label("venue")).where(Account.venue != "paper"),
        select(M.venue.label("venue")),
    ).subquery()
    query = (
        select(venues.c.venue, func.count(M.id), func.max(M.updated_at))
        .select_from(venues.outerjoin(M, M.venue == venues.c.venue))
        .group_by(venues.c.venue)
        .order_by(literal_column("1"))
    )
    with unit_of_work() as session:
        rows = session.execute(query).all()
    return {
        venue: {"markets": count, "loaded_at": loaded_at.isoformat() if loaded_at else None,
                "state": "loaded" if count else "not loaded"}
        for venue, count, loaded_at in rows
    }


def store_markets(venue_name: str, markets: dict[str, dict]) -> int:
    """Upsert every market of ``venue_name``; markets no longer listed are removed."""
    if not markets:
        return 0
    now = datetime.now(UTC)
    with unit_of_work() as session:
        for symbol, market in markets.items():
            session.execute(
                pg_insert(MarketRecord)
                .values(id=uuid.uuid4(), venue=venue_name, symbol=symbol, market=market, updated_at=now)
                .on_conflict_do_update(index_elements=["venue", "symbol"], set_={"market": market, "updated_at": now})
            )
        session.execute(
            delete(MarketRecord).where(MarketRecord.venue == venue_name, MarketRecord.symbol.not_in(list(markets)))
        )
    log.info("stored %d markets of %s", len(markets), venue_name)
    return len(markets)


def snapshot_balances(venue: Venue, account_id: uuid.UUID) -> dict[str, Decimal] | None:
    """Write the venue's balance totals for the account; None for a venue whose book is ours.
    Currencies no longer held are set to 0. Raises ``TemporaryVenueError``."""
    totals = venue.fetch_balances()
    if totals is None:
        return None
    now = datetime.now(UTC)
    with unit_of_work() as session:
        session.execute(
            update(BalanceRecord)
            .where(BalanceRecord.account_id == account_id, BalanceRecord.currency.not_in(list(totals) or [""]))
            .values(total=Decimal(0), updated_at=now)
        )
        for currency, total in totals.items():
            session.execute(
                pg_insert(BalanceRecord)
                .values(id=uuid.uuid4(), account_id=account_id, currency=currency[:16], total=total, updated_at=now)
                .on_conflict_do_update(index_elements=["account_id", "currency"], set_={"total": total, "updated_at": now})
            )
    return totals
