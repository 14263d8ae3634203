"""OHLCV candles in PostgreSQL (table ``candles``, ``CandleRecord``): fetched with ccxt's
``fetch_ohlcv`` (paginated, rate limiter on), upserted in batches, read oldest first.

The streamer keeps the last ``KEEP_CANDLES`` candles of ``DEFAULT_TIMEFRAME`` synced for the
symbols it watches, so ``recent_candles`` on the request path usually finds them stored.
"""

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.domain.marketdata import Candle
from app.errors import VenueError
from app.execution.venues.ccxt_errors import translated
from app.marketdata.sources import build_exchange, source_config
from app.persistence.models import CandleRecord

__all__ = ["CandleRecord", "DEFAULT_TIMEFRAME", "sync_candles", "read_candles", "recent_candles", "timeframe_seconds"]

log = logging.getLogger(__name__)
DEFAULT_TIMEFRAME = "1h"
KEEP_CANDLES = 100
PAGE_LIMIT = 1000  # Binance's klines maximum; others cap lower and answer fewer rows
WEEK_OFFSET = timedelta(days=4)  # weekly candles open on Monday; 1970-01-01 was a Thursday
_UPDATED = ("open", "high", "low", "close", "volume")


def timeframe_seconds(timeframe: str) -> int:
    """Seconds in a ccxt timeframe (``1m``, ``1h``, ``1d``, ``1w``). Raises ``ValueError`` for
    months (``1M``: not a fixed length) or an unknown unit."""
    from ccxt.base.exchange import Exchange

    if timeframe.endswith("M") or timeframe.endswith("y"):
        raise ValueError(f"timeframe {timeframe!r} has no fixed length; use 1w or shorter")
    try:
        return int(Exchange.parse_timeframe(timeframe))
    except Exception as e:
        raise ValueError(f"unknown timeframe {timeframe!r}") from e


def candle_open(t: datetime, timeframe: str) -> datetime:
    """Open time (UTC) of the ``timeframe`` candle containing ``t``."""
    step = timeframe_seconds(timeframe)
    offset = WEEK_OFFSET.total_seconds() if timeframe.endswith("w") else 0
    seconds = (t.timestamp() - offset) // step * step + offset
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=16)
def _rest_exchange(source: str, settings_json: str) -> tuple[Any, threading.Lock]:
    # One synchronous ccxt instance per source and settings: it keeps the rate limiter and the
    # loaded markets; the lock serialises it (ccxt objects are not thread-safe).
    from app.config_file import MarketDataSource

    return build_exchange(source, MarketDataSource.model_validate_json(settings_json), pro=False), threading.Lock()


def rest_exchange(source: str) -> tuple[Any, threading.Lock]:
    """The shared synchronous ccxt exchange of ``source`` and the lock to hold while using it."""
    return _rest_exchange(source, source_config(source).model_dump_json())


def _rows(source: str, symbol: str, timeframe: str, ohlcv: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    rows = []
    for ts, o, h, low, c, v in (r[:6] for r in ohlcv):
        if None in (ts, o, h, low, c, v):
            continue  # a venue's placeholder for a candle without trades
        rows.append({"source": source, "symbol": symbol, "timeframe": timeframe,
                     "ts": datetime.fromtimestamp(ts / 1000, UTC), "open": Decimal(repr(o)), "high": Decimal(repr(h)),
                     "low": Decimal(repr(low)), "close": Decimal(repr(c)), "volume": Decimal(repr(v))})
    return rows


def upsert_candles(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or overwrite ``rows`` (CandleRecord columns) in one statement."""
    if not rows:
        return
    statement = insert(CandleRecord).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "symbol", "timeframe", "ts"],
        set_={name: getattr(statement.excluded, name) for name in _UPDATED},
    )
    session.execute(statement)


def sync_candles(source: str, symbol: str, timeframe: str, since: datetime, until: datetime | None = None) -> int:
    """Fetch the ``timeframe`` candles of ``symbol`` on ``source`` opening in [``since``,
    ``until``] (default: up to now) with ``fetch_ohlcv`` pages of up to 1000, and upsert each
    page in one statement and its own transaction (no session is held across a request).
    Returns the number of candles written. Raises ``VenueError`` subclasses (translated
    ccxt errors; ``TemporaryVenueError`` for network trouble); pages written before stay."""
    exchange, lock = rest_exchange(source)
    step_ms = timeframe_seconds(timeframe) * 1000
    cursor = int(since.timestamp() * 1000)
    end = int((until or datetime.now(UTC)).timestamp() * 1000)
    written = 0
    while cursor <= end:
        with lock, translated(source, f"fetch_ohlcv {symbol} {timeframe}"):
            if not exchange.markets:
                exchange.load_markets()
            page = exchange.fetch_ohlcv(symbol, timeframe, since=cursor, limit=PAGE_LIMIT)
        page = [r for r in page if r and r[0] is not None and cursor <= r[0] <= end]
        if not page:
            break
        rows = _rows(source, symbol, timeframe, page)
        with unit_of_work() as session:
            upsert_candles(session, rows)
        written += len(rows)
        cursor = max(r[0] for r in page) + step_ms
    return written


def read_candles(session: Session, source: str, symbol: str, timeframe: str, limit: int,
                 until: datetime | None = None) -> list[Candle]:
    """The newest ``limit`` stored candles opening at or before ``until`` (default: any), oldest first."""
    query = (select(CandleRecord)
             .where(CandleRecord.source == source, CandleRecord.symbol == symbol, CandleRecord.timeframe == timeframe)
             .order_by(CandleRecord.ts.desc()).limit(limit))
    if until is not None:
        query = query.where(CandleRecord.ts <= until)
    records = session.execute(query).scalars().all()
    return [Candle(r.ts, r.open, r.high, r.low, r.close, r.volume) for r in reversed(records)]


def recent_candles(source: str, symbol: str, timeframe: str, count: int, *, now: datetime | None = None,
                   sync: bool = True) -> list[Candle]:
    """The last ``count`` *closed* candles (open time + timeframe ≤ ``now``), oldest first: a
    live candle's range is still growing. Stored candles are read first; when some of the
    window is missing and ``sync``, the missing part is fetched (``sync_candles``) and read
    again. A failed fetch is logged and what is stored is returned, so the list may be
    shorter than ``count`` (a new listing, a source down); ``sync=False`` never calls the network."""
    step = timedelta(seconds=timeframe_seconds(timeframe))
    last_closed = candle_open(now or datetime.now(UTC), timeframe) - step
    with unit_of_work() as session:
        stored = read_candles(session, source, symbol, timeframe, count, until=last_closed)
    if not sync or (len(stored) == count and stored[-1].ts == last_closed and stored[0].ts == last_closed - step * (count - 1)):
        return stored
    window_start = last_closed - step * (count - 1)
    since = stored[-1].ts + step if len(stored) == count and stored[0].ts == window_start else window_start
    try:
        sync_candles(source, symbol, timeframe, since, until=last_closed)
    except VenueError as e:
        log.warning("candles not synced: %s", e.message, extra={"source": source, "symbol": symbol})
        return stored
    with unit_of_work() as session:
        return read_candles(session, source, symbol, timeframe, count, until=last_closed)

