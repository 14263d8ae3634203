"""The ``tradewire marketdata`` process: one asyncio loop feeding the Redis cache.

Per source (``[market_data.ID]`` plus the sources of the configured accounts) a
``SourceFeed`` streams quotes and L2 books with ccxt.pro (falling back to REST polling).
Watched symbols: those requested through ``cache.request`` in the last 24 h, plus, per
source, the symbols of accounts using it with a non-zero position, an open order or a
signal in the last 24 h (``watchlist``). A request wakes the streamer at once; the database
is re-read every ``watch_refresh_seconds``. The last ``KEEP_CANDLES`` candles of the default
timeframe are kept synced for watched symbols (REST, every ``candle_refresh_seconds``).

Listeners (``add_listener``) run in this process, in one thread of their own, after cache
writes; SIGINT / SIGTERM stop the loop and close every exchange.
"""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.config_file import MarketDataSource
from app.db import unit_of_work
from app.domain.marketdata import BOOK_DEPTH, Quote
from app.execution.venues.ccxt_errors import translated
from app.redis_client import get_redis
from app.marketdata import cache
from app.marketdata.candles import DEFAULT_TIMEFRAME, KEEP_CANDLES, recent_candles, rest_exchange
from app.marketdata.convert import book_from_ccxt, quote_from_ticker
from app.marketdata.feed import FeedTuning, SourceFeed
from app.marketdata.sources import configured_sources, source_config
from app.marketdata.watchlist import traded_symbols

log = logging.getLogger(__name__)
Listener = Callable[[str, str], None]
_listeners: list[Listener] = []


def add_listener(fn: Listener) -> None:
    """Call ``fn(source, symbol)`` after quote or book writes of this process's streamer.

    Runs in the streamer's listener thread, never in its event loop, so a slow listener does
    not delay the feed; writes that arrive while listeners run are coalesced into one call per
    (source, symbol), so ``fn`` should read the cache for the latest snapshot. An exception is
    logged and the next write calls ``fn`` again."""
    _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


class _Notifier:
    """Runs the listeners in one thread, coalescing pending (source, symbol) pairs."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], None] = {}
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="marketdata-listeners", daemon=True)
        self._thread.start()

    def notify(self, source: str, symbol: str) -> None:
        if not _listeners:
            return
        with self._cv:
            self._pending[(source, symbol)] = None
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                batch, self._pending = list(self._pending), {}
            for source, symbol in batch:
                for fn in list(_listeners):
                    try:
                        fn(source, symbol)
                    except Exception:
                        log.exception("market data listener failed", extra={"source": source, "symbol": symbol})


@dataclass(frozen=True)
class StreamerTuning:
    """Pacing of the streamer's housekeeping, in seconds."""

    watch_refresh_seconds: float = 10.0  # re-read the database's traded symbols
    wake_block_seconds: float = 1.0  # longest BLPOP on the wake list (bounds pickup of a missed wake)
    status_interval_seconds: float = 1.0  # status report to Redis (/readyz)
    candle_refresh_seconds: float = 300.0  # re-sync a watched symbol's candles after this long
    candles: bool = True  # keep candles synced
    feed: FeedTuning = field(default_factory=FeedTuning)


class Streamer:
    """The market-data loop. ``await run(stop)`` in a loop of your own, or ``start_thread()`` /
    ``stop_thread()`` (tests), or ``run_streamer()`` (the CLI, with signal handlers)."""

    def __init__(self, sources: dict[str, MarketDataSource] | None = None,
                 tuning: StreamerTuning | None = None) -> None:
        self.sources = dict(configured_sources() if sources is None else sources)
        self.tuning = tuning or StreamerTuning()
        self.feeds: dict[str, SourceFeed] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._db_symbols: dict[str, set[str]] = {}
        self._db_read_at = float("-inf")
        self._db_error: str | None = None
        self._candles_synced: dict[tuple[str, str, str], float] = {}
        self._notifier: _Notifier | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event | None = None) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), stop or asyncio.Event()
        self._notifier = _Notifier()
        try:
            for name in self.sources:
                self._feed(name)
            self._tasks += [asyncio.create_task(self._watchlist_loop(), name="md-watchlist"),
                            asyncio.create_task(self._status_loop(), name="md-status")]
            if self.tuning.candles:
                self._tasks.append(asyncio.create_task(self._candle_loop(), name="md-candles"))
            self.ready.set()
            await self._stop.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._notifier.stop()
            log.info("market data streamer stopped")

    def stop(self) -> None:
        """Ask a running streamer to stop (from any thread)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def start_thread(self, timeout: float = 10.0) -> "Streamer":
        """Run in a background thread (its own event loop); returns once the feeds are started."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.run()), name="marketdata", daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"the market data streamer did not start within {timeout} s")
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _feed(self, name: str) -> SourceFeed | None:
        feed = self.feeds.get(name)
        if feed is None:
            try:
                config = self.sources.get(name) or source_config(name)
            except Exception as e:
                log.warning("market data source %r cannot be used: %s", name, e)
                return None
            feed = SourceFeed(name, config, self.tuning.feed, self._written)
            self.feeds[name] = feed
            self._tasks.append(asyncio.create_task(self._run_feed(feed), name=f"md-{name}"))
        return feed

    async def _run_feed(self, feed: SourceFeed) -> None:
        while True:  # a bug in a feed must not end it for good
            try:
                await feed.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("market data feed %s crashed; restarting", feed.name)
                await asyncio.sleep(1)

    def _written(self, source: str, symbol: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(source, symbol)

    # ------------------------------------------------------------------ housekeeping
    async def _watchlist_loop(self) -> None:
        while True:
            try:
                await self._refresh_symbols()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("market data watch list not refreshed: %s", e)
                await asyncio.sleep(1)
            await asyncio.to_thread(self._wait_for_wake)

    def _wait_for_wake(self) -> None:
        try:
            redis = get_redis()
            if redis.blpop([cache.wake_key()], timeout=self.tuning.wake_block_seconds):
                redis.delete(cache.wake_key())  # one refresh serves every pending request
        except Exception:
            time.sleep(self.tuning.wake_block_seconds)

    async def _refresh_symbols(self) -> None:
        if time.monotonic() - self._db_read_at >= self.tuning.watch_refresh_seconds:
            self._db_read_at = time.monotonic()
            try:  # without the database, requested symbols are still watched
                self._db_symbols = await asyncio.to_thread(_read_traded_symbols)
                self._db_error = None
            except Exception as e:
                if str(e) != self._db_error:
                    log.warning("market data: traded symbols not read from the database: %s", e)
                self._db_error = str(e)
        wanted = await asyncio.to_thread(cache.wanted)
        by_source: dict[str, set[str]] = {name: set(s) for name, s in self._db_symbols.items()}
        for source, symbol in wanted:
            by_source.setdefault(source, set()).add(symbol)
        for name in set(by_source) | set(self.feeds):
            feed = self._feed(name)
            if feed is not None:
                feed.set_symbols(by_source.get(name, set()))

    async def _status_loop(self) -> None:
        while True:
            for name, feed in list(self.feeds.items()):
                try:
                    await asyncio.to_thread(cache.write_status, name, feed.report())
                except Exception as e:
                    log.debug("status not written: %s", e)
            await asyncio.sleep(self.tuning.status_interval_seconds)

    async def _candle_loop(self) -> None:
        while True:
            try:
                requested = await asyncio.to_thread(cache.candles_wanted)
            except Exception as e:
                log.debug("candle requests not read: %s", e)
                requested = set()
            due = sorted(requested) + [(name, symbol, DEFAULT_TIMEFRAME) for name, feed in list(self.feeds.items())
                                       for symbol in sorted(feed.symbols)]
            for key in due:
                if time.monotonic() - self._candles_synced.get(key, float("-inf")) < self.tuning.candle_refresh_seconds:
                    continue
                try:
                    await asyncio.to_thread(recent_candles, *key, KEEP_CANDLES)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("%s candles of %s on %s not synced: %s", key[2], key[1], key[0], e)
                self._candles_synced[key] = time.monotonic()
            await asyncio.sleep(0.25)


def _read_traded_symbols() -> dict[str, set[str]]:
    with unit_of_work() as session:
        return traded_symbols(session)


def poll_once(source: str, symbols: Iterable[str]) -> list[Quote]:
    """Fetch the ticker and the top-20 book of each of ``symbols`` on ``source`` over REST
    (synchronous ccxt) and write them to the cache; returns the quotes. Listeners are not
    called. Raises ``VenueError`` subclasses (translated ccxt errors) on the first failure."""
    exchange, lock = rest_exchange(source)
    quotes = []
    for symbol in symbols:
        with lock, translated(source, f"poll {symbol}"):
            if not exchange.markets:
                exchange.load_markets()
            ticker = exchange.fetch_ticker(symbol)
            book = exchange.fetch_order_book(symbol, BOOK_DEPTH)
        quote = quote_from_ticker(source, symbol, ticker)
        cache.write_quote(quote)
        cache.write_book(book_from_ccxt(source, symbol, book))
        quotes.append(quote)
    return quotes


def run_streamer() -> int:
    """The ``tradewire marketdata`` command: run until SIGINT / SIGTERM."""
    streamer = Streamer()
    log.info("market data streamer starting", extra={"sources": sorted(streamer.sources)})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await streamer.run(stop)

    asyncio.run(main())
    return 0
