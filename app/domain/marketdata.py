"""Market data as the rest of Tradewire sees it: quotes, L2 order books and candles.

Pure values, no I/O. Prices are quote currency per base unit, amounts are base units, all
``Decimal``; timestamps are UTC-aware. Every snapshot carries two times: ``ts_exchange``
(the venue's, when it says; ``None`` when it does not) and ``received_at`` (ours, when the
snapshot reached Tradewire).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

Level = tuple[Decimal, Decimal]  # (price in quote per base, amount in base units)
BOOK_DEPTH = 20  # levels a side kept in a book snapshot


def snapshot_age(ts_exchange: datetime | None, received_at: datetime, now: datetime) -> float:
    """Seconds since the *older* of the venue's timestamp and our receipt time.

    The venue's timestamp catches a frozen feed that we keep re-reading (a REST poll of a
    stalled market answers at once, with an old time); our receipt time catches a feed that
    stopped arriving, and a venue that sends no time. A venue clock running ahead of ours
    therefore never makes a quote look younger than our receipt of it; one running behind by
    ``d`` seconds ages every quote by ``d`` (Binance's clock is NTP-synchronised).
    """
    oldest = received_at if ts_exchange is None else min(ts_exchange, received_at)
    return max(0.0, (now - oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and last trade of ``symbol`` (ccxt unified) on ``source`` (ccxt id).

    ``bid`` / ``ask`` / ``last`` are ``None`` when the venue did not send them (an empty side).
    """

    source: str
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    ts_exchange: datetime | None
    received_at: datetime

    def age(self, now: datetime) -> float:
        """Seconds old at ``now``: see ``snapshot_age`` (the older of ``ts_exchange`` and
        ``received_at``), so a source that froze becomes stale even while it is still polled."""
        return snapshot_age(self.ts_exchange, self.received_at, now)

    @property
    def mid(self) -> Decimal | None:
        """(bid + ask) / 2, or None without both sides."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class OrderBook:
    """L2 book of ``symbol`` on ``source``: at most ``BOOK_DEPTH`` levels a side, best first
    (bids descending, asks ascending); each level (price in quote per base, amount in base units)."""

    source: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_exchange: datetime | None
    received_at: datetime

    def age(self, now: datetime) -> float:
        """Seconds old at ``now``, as ``Quote.age``."""
        return snapshot_age(self.ts_exchange, self.received_at, now)

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle: ``ts`` is its open time (UTC); prices in quote per base, ``volume`` in base units."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
