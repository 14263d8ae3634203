"""ccxt's unified ticker and order book structures → ``Quote`` / ``OrderBook``.

ccxt's spellings stay here. ccxt gives floats (https://docs.ccxt.com/#/README?id=ticker-structure);
each becomes the Decimal of its shortest repr, which is the number the venue sent.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain.marketdata import BOOK_DEPTH, Level, OrderBook, Quote


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number.is_finite() else None


def ms_to_datetime(ms: Any) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def quote_from_ticker(source: str, symbol: str, ticker: Mapping[str, Any], received_at: datetime | None = None) -> Quote:
    """A ``Quote`` from a ccxt ticker (``bid``, ``ask``, ``last``, ``timestamp`` in ms)."""
    return Quote(
        source=source,
        symbol=symbol,
        bid=decimal_or_none(ticker.get("bid")),
        ask=decimal_or_none(ticker.get("ask")),
        last=decimal_or_none(ticker.get("last")),
        ts_exchange=ms_to_datetime(ticker.get("timestamp")),
        received_at=received_at or now_utc(),
    )


def _levels(raw: Sequence[Sequence[Any]]) -> tuple[Level, ...]:
    levels = []
    for level in raw[:BOOK_DEPTH]:
        price, amount = decimal_or_none(level[0]), decimal_or_none(level[1])
        if price is not None and amount is not None and amount > 0:
            levels.append((price, amount))
    return tuple(levels)


def book_from_ccxt(source: str, symbol: str, book: Mapping[str, Any], received_at: datetime | None = None) -> OrderBook:
    """An ``OrderBook`` from a ccxt order book (``bids`` / ``asks`` best first, ``timestamp`` in ms),
    cut to ``BOOK_DEPTH`` levels a side."""
    return OrderBook(
        source=source,
        symbol=symbol,
        bids=_levels(book.get("bids") or []),
        asks=_levels(book.get("asks") or []),
        ts_exchange=ms_to_datetime(book.get("timestamp")),
        received_at=received_at or now_utc(),
    )
