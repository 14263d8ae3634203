"""Candles for a replay: one columnar series per symbol, loaded once, scanned in plain Python.

A year of 1-minute candles is 525,600 rows a symbol; as ``Candle`` objects with five
``Decimal`` each, twenty symbols would need several GiB. A ``Series`` keeps open times as
epoch seconds (``array('q')``) and open, high, low, close as ``array('d')``: 40 bytes a
candle. Candle prices come from ccxt as JSON numbers (IEEE doubles) and are stored from their
``repr`` (``app.marketdata.candles._rows``), so ``Decimal(repr(x))`` of the double gives back
the stored price exactly; the engine converts only the prices it trades or marks at.

Loading reads a symbol's window in statements of ``CHUNK_CANDLES`` candles, each answering
five ``bytea`` values: the open times and prices, each column one array in PostgreSQL's binary
format (``array_send(array_agg(...))`` in time order), turned into an ``array`` by slicing,
never a Python object per value. The NUMERIC → float8 conversion (PostgreSQL's, correctly
rounded: the double ``repr`` wrote) runs in the database's processes, so a ``Loader`` keeps
``LOAD_CONNECTIONS`` symbols loading while the replay parses its signals. Coverage is judged
from the loaded series; missing candles are then fetched with ``sync_candles`` (ccxt
``fetch_ohlcv``, paginated, rate-limited) when allowed, one symbol after the other, and the
symbol loaded again.
"""

import logging
import os
import sys
from array import array
from bisect import bisect_left, bisect_right
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.db import unit_of_work
from app.domain.indicators import wilder_atr
from app.domain.marketdata import Candle
from app.errors import VenueError
from app.marketdata.candles import sync_candles, timeframe_seconds

log = logging.getLogger(__name__)

# Symbols loaded at once: each load is one PostgreSQL backend converting NUMERIC to float8.
LOAD_CONNECTIONS = max(1, min(4, os.cpu_count() or 1))
# Candles a statement answers: a year of 1-minute candles is read in 11 windows of ~35 days, so
# what one answer needs beside the series (its bytes, twice: libpq's and Python's) stays small.
CHUNK_CANDLES = 50_000
_COLUMNS = ("CAST(date_part('epoch', ts) AS int8)", "CAST(open AS float8)", "CAST(high AS float8)",
            "CAST(low AS float8)", "CAST(close AS float8)")
_WINDOW = ("FROM candles WHERE source = %(source)s AND symbol = %(symbol)s AND timeframe = %(timeframe)s "
           "AND ts >= %(start)s AND ts < %(end)s")
# Each column as one array in PostgreSQL's binary array format (``array_send``). The rows reach
# the aggregates in the subquery's index order, which PostgreSQL keeps in practice but does not
# promise (https://www.postgresql.org/docs/current/functions-aggregate.html): the open times are
# checked, and an unordered answer is asked again with ORDER BY in each aggregate (a sort).
_LOAD = ("SELECT count(*), " + ", ".join(f"array_send(array_agg({c}))" for c in _COLUMNS)
         + f" FROM (SELECT ts, open, high, low, close {_WINDOW} ORDER BY ts) AS window_rows")
_LOAD_ORDERED = ("SELECT count(*), " + ", ".join(f"array_send(array_agg({c} ORDER BY ts))" for c in _COLUMNS)
                 + f" {_WINDOW}")
# array_send: ndim, has-null flag, element type, the dimension's length and lower bound (int32 each).
_ARRAY_HEADER = 20
_LENGTH_8 = int.from_bytes((8).to_bytes(4, "big"), sys.byteorder, signed=True)  # an element's length word, as read


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
    """Stored candles of ``symbol`` opening in [``start``, ``end``), one statement per
    ``CHUNK_CANDLES`` candles' span (see the module)."""
    step = timeframe_seconds(timeframe)
    connection: Any = session.connection().connection.driver_connection  # psycopg 3
    series = empty(symbol, step)
    span = timedelta(seconds=step * CHUNK_CANDLES)
    at = start
    while at < end:
        params = {"source": source, "symbol": symbol, "timeframe": timeframe, "start": at, "end": min(at + span, end)}
        chunk = _unpack(symbol, step, _fetch(connection, _LOAD, params))
        if chunk.ts != array("q", sorted(chunk.ts)):  # (timsort: linear on a sorted run)
            chunk = _unpack(symbol, step, _fetch(connection, _LOAD_ORDERED, params))
        for column in ("ts", "open", "high", "low", "close"):
            getattr(series, column).extend(getattr(chunk, column))
        at += span
    return series


def _fetch(connection: Any, statement: str, params: dict[str, Any]) -> tuple[Any, ...]:
    with connection.cursor(binary=True) as cursor:  # bytea as bytes, not hex text
        return cursor.execute(statement, params, prepare=False).fetchone()


def _unpack(symbol: str, step: int, row: tuple[Any, ...]) -> Series:
    count, packed = row[0], row[1:]
    columns = [_values(data, count, typecode, symbol) for data, typecode in zip(packed, "qdddd")]
    return Series(symbol, step, *columns)


def _values(data: bytes | None, count: int, typecode: str, symbol: str) -> array:
    """The 8-byte values of one ``array_send`` answer (each element: its length, int32, then the
    value, network byte order) as an ``array`` of ``typecode``, without a Python object per value."""
    values = array(typecode)
    if data is None:  # no candle in the window
        return values
    words = array("i")
    words.frombytes(memoryview(data)[_ARRAY_HEADER:])
    lengths, first_half, second_half = words[0::3], words[1::3], words[2::3]
    if len(lengths) != count or lengths.count(_LENGTH_8) != count:  # a NULL would be length -1
        raise ValueError(f"unexpected layout of {symbol} candles: {len(lengths)} values for {count} rows")
    pairs = array("i", bytes(8 * count))
    pairs[0::2], pairs[1::2] = first_half, second_half
    values.frombytes(pairs.tobytes())
    if sys.byteorder == "little":
        values.byteswap()
    return values


def gap(series: Series, start: datetime, end: datetime) -> tuple[int, int] | None:
    """(candles stored, candles expected) in [``start``, ``end``) when ``series`` does not cover
    it: it must hold every candle and start within one step of ``start`` and end within two of
    ``end``. None when it does."""
    step = series.step
    first, stop = bisect_left(series.ts, start.timestamp()), bisect_left(series.ts, end.timestamp())
    count = stop - first
    expected = max(0, int((end - start).total_seconds()) // step)
    covered = (count and series.ts[first] - start.timestamp() < step
               and end.timestamp() - series.ts[stop - 1] <= 2 * step)
    return None if covered and count >= expected else (count, expected)


class Loader:
    """Loads symbols' candles opening in [``start``, ``end``) in the background as they are named
    (``want``), ``LOAD_CONNECTIONS`` at a time, each in its own session: the loads run in
    PostgreSQL while the caller goes on (parsing the signals). Use it as a context manager."""

    def __init__(self, source: str, timeframe: str, start: datetime, end: datetime) -> None:
        self.source, self.timeframe, self.start, self.end = source, timeframe, start, end
        self._pool = ThreadPoolExecutor(max_workers=LOAD_CONNECTIONS, thread_name_prefix="replay-candles")
        self._loads: dict[str, Future[Series]] = {}

    def __enter__(self) -> "Loader":
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def want(self, symbol: str) -> None:
        """Start loading ``symbol`` (once)."""
        if symbol not in self._loads:
            self._loads[symbol] = self._pool.submit(self._load, symbol)

    def finish(self, symbols: list[str], fetch: bool, now: datetime) -> tuple[dict[str, Series], dict[str, str]]:
        """Each of ``symbols``' series (in that order), once loaded; then, for a symbol whose
        candles do not cover [``start``, min(``end``, ``now``)): fetched (when ``fetch``) and
        loaded again, one symbol after the other. Returns the series and a note per symbol
        whose candles are still missing, saying why. Raises what a load raised."""
        for symbol in symbols:
            self.want(symbol)
        series = {symbol: self._loads[symbol].result() for symbol in symbols}
        notes = {}
        until = min(self.end, now)
        for symbol in symbols:
            missing = gap(series[symbol], self.start, until)
            if missing is None:
                continue
            note = _fetch_missing(self.source, symbol, self.timeframe, self.start, until, missing, fetch)
            if fetch:
                series[symbol] = self._load(symbol)
            if note:
                notes[symbol] = note
        return series, notes

    def _load(self, symbol: str) -> Series:
        with unit_of_work() as session:
            return load(session, self.source, symbol, self.timeframe, self.start, self.end)


def load_all(source: str, symbols: list[str], timeframe: str, start: datetime, end: datetime, fetch: bool,
             now: datetime) -> tuple[dict[str, Series], dict[str, str]]:
    """``Loader.finish`` of ``symbols`` named all at once."""
    with Loader(source, timeframe, start, end) as loader:
        return loader.finish(symbols, fetch, now)


def _fetch_missing(source: str, symbol: str, timeframe: str, start: datetime, end: datetime,
                   missing: tuple[int, int], fetch: bool) -> str | None:
    """Fetch the window's candles; a note when that is off or failed, else None."""
    count, expected = missing
    if not fetch:
        return f"{count} of {expected} {timeframe} candles of {symbol} on {source} stored; fetching is off"
    step = timeframe_seconds(timeframe)
    try:
        sync_candles(source, symbol, timeframe, start, until=datetime.fromtimestamp(end.timestamp() - step, UTC))
    except VenueError as e:
        log.warning("replay: candles of %s not fetched: %s", symbol, e.message)
        return f"{count} of {expected} {timeframe} candles of {symbol} on {source} stored; fetch failed: {e.message}"
    return None
