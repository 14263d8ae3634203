"""Candles for a replay: one columnar series per symbol, loaded once, scanned in plain Python.

A year of 1-minute candles is 525,600 rows a symbol; as ``Candle`` objects with five
``Decimal`` each, twenty symbols would need several GiB. A ``Series`` keeps open times as
epoch seconds (``array('q')``) and open, high, low, close as ``array('d')``: 40 bytes a
candle. Candle prices come from ccxt as JSON numbers (IEEE doubles) and are stored from their
``repr`` (``app.marketdata.candles._rows``), so ``Decimal(repr(x))`` of the double gives back
the stored price exactly; the engine converts only the prices it trades or marks at.

Loading reads one symbol's window with a single binary ``COPY`` (fixed-width rows unpacked by
``struct.iter_unpack``), never a query per signal. Missing candles are fetched first with
``sync_candles`` (ccxt ``fetch_ohlcv``, paginated, rate-limited) when allowed.
"""

import logging
import struct
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain.indicators import wilder_atr
from app.domain.marketdata import Candle
from app.errors import VenueError
from app.marketdata.candles import sync_candles, timeframe_seconds

log = logging.getLogger(__name__)

# COPY BINARY row: field count (int16), then (length int32, value) per field: ts int8, 4 × float8.
_ROW = struct.Struct(">hiqidididid")
_HEADER = 19  # signature (11) + flags (4) + extension length (4)
_COPY = ("COPY (SELECT extract(epoch FROM ts)::int8, open::float8, high::float8, low::float8, close::float8 "
         "FROM candles WHERE source = {source} AND symbol = {symbol} AND timeframe = {timeframe} "
         "AND ts >= to_timestamp({start}) AND ts < to_timestamp({end}) ORDER BY ts) TO STDOUT (FORMAT BINARY)")
_COVERAGE = text("SELECT count(*), min(ts), max(ts) FROM candles WHERE source = :source AND symbol = :symbol "
                 "AND timeframe = :timeframe AND ts >= :start AND ts < :end")


def price(value: float) -> Decimal:
    """The stored price of a double read from a series (see the module)."""
    return Decimal(repr(value))


@dataclass
class Series:
    """Candles of one symbol, oldest first: ``ts`` open times (epoch s), ``step`` the timeframe (s)."""

    symbol: str
    step: int
    ts: array
    open: array
    high: array
    low: array
    close: array

    def __len__(self) -> int:
        return len(self.ts)

    def first_at_or_after(self, epoch: float) -> int | None:
        """Index of the first candle opening at or after ``epoch``; None past the end."""
        i = bisect_left(self.ts, epoch)
        return i if i < len(self.ts) else None

    def closed_before(self, epoch: float) -> int:
        """How many candles have closed by ``epoch`` (open + step ≤ epoch): the index after the last."""
        return bisect_right(self.ts, epoch - self.step)

    def last_close(self, epoch: float) -> Decimal | None:
        """Close of the last candle closed by ``epoch``; None before the first."""
        i = self.closed_before(epoch)
        return price(self.close[i - 1]) if i else None

    def candle(self, i: int) -> Candle:
        return Candle(datetime.fromtimestamp(self.ts[i], UTC), price(self.open[i]), price(self.high[i]),
                      price(self.low[i]), price(self.close[i]), Decimal(0))

    def atr(self, epoch: float, timeframe: str, period: int = 14) -> tuple[Decimal | None, str | None]:
        """Wilder's ATR(``period``) of ``timeframe`` bars built from this series (open of the first,
        max high, min low, close of the last), over the ``period + 1`` bars closed by ``epoch``;
        (None, why) without them."""
        try:
            step = timeframe_seconds(timeframe)
        except ValueError as e:
            return None, str(e)
        if step < self.step or step % self.step:
            return None, f"{timeframe} bars cannot be built from {self.step} s candles"
        last_open = (int(epoch) // step) * step - step
        bars = []
        for k in range(period, -1, -1):
            start = last_open - k * step
            a, b = bisect_left(self.ts, start), bisect_left(self.ts, start + step)
            if a < b:
                bars.append(Candle(datetime.fromtimestamp(start, UTC), price(self.open[a]),
                                   price(max(self.high[a:b])), price(min(self.low[a:b])), price(self.close[b - 1]),
                                   Decimal(0)))
        atr = wilder_atr(bars, period)
        if atr is None:
            return None, (f"ATR({period}) needs {period + 1} closed {timeframe} bars of {self.symbol} before "
                          f"{datetime.fromtimestamp(epoch, UTC).isoformat()}; the candles give {len(bars)}")
        return atr, None


def empty(symbol: str, step: int) -> Series:
    return Series(symbol, step, array("q"), array("d"), array("d"), array("d"), array("d"))


def from_rows(symbol: str, step: int, rows: list[tuple[int, float, float, float, float]]) -> Series:
    """A series from (epoch s, open, high, low, close) rows, oldest first (tests, the benchmark)."""
    series = empty(symbol, step)
    for t, o, h, low, c in rows:
        series.ts.append(t)
        series.open.append(o)
        series.high.append(h)
        series.low.append(low)
        series.close.append(c)
    return series


def load(session: Session, source: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> Series:
    """Stored candles of ``symbol`` opening in [``start``, ``end``), with one binary COPY."""
    series = empty(symbol, timeframe_seconds(timeframe))
    from psycopg import sql

    connection: Any = session.connection().connection.driver_connection  # psycopg 3

    statement = sql.SQL(_COPY).format(source=sql.Literal(source), symbol=sql.Literal(symbol),
                                      timeframe=sql.Literal(timeframe), start=sql.Literal(start.timestamp()),
                                      end=sql.Literal(end.timestamp()))
    chunks = []
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    data = b"".join(chunks)
    body = memoryview(data)[_HEADER:len(data) - 2]  # the trailer is int16 -1
    if len(body) % _ROW.size:
        raise ValueError(f"unexpected COPY layout for {symbol} candles ({len(body)} bytes)")
    rows_per_slice = 65_536  # unpacked a slice at a time: the tuples of a whole year would take ~150 MB
    for start in range(0, len(body), rows_per_slice * _ROW.size):
        columns = list(zip(*_ROW.iter_unpack(body[start:start + rows_per_slice * _ROW.size])))
        series.ts.extend(columns[2])
        series.open.extend(columns[4])
        series.high.extend(columns[6])
        series.low.extend(columns[8])
        series.close.extend(columns[10])
    return series


def ensure(session: Session, source: str, symbol: str, timeframe: str, start: datetime, end: datetime,
           fetch: bool) -> str | None:
    """Fetch the window's candles when stored ones do not cover it (and ``fetch``). Returns a
    note when candles are missing and could not be fetched, else None. The session's
    transaction is ended (``sync_candles`` writes in its own)."""
    step = timeframe_seconds(timeframe)
    count, first, last = session.execute(_COVERAGE, {"source": source, "symbol": symbol, "timeframe": timeframe,
                                                     "start": start, "end": end}).one()
    session.rollback()
    expected = max(0, int((end - start).total_seconds()) // step)
    covered = count and first.timestamp() - start.timestamp() < step and end.timestamp() - last.timestamp() <= 2 * step
    if covered and count >= expected:
        return None
    if not fetch:
        return f"{count} of {expected} {timeframe} candles of {symbol} on {source} stored; fetching is off"
    try:
        sync_candles(source, symbol, timeframe, start, until=datetime.fromtimestamp(end.timestamp() - step, UTC))
    except VenueError as e:
        log.warning("replay: candles of %s not fetched: %s", symbol, e.message)
        return f"{count} of {expected} {timeframe} candles of {symbol} on {source} stored; fetch failed: {e.message}"
    return None
