"""One source's live feed inside the streamer: ccxt.pro ``watch_ticker`` /
``watch_order_book`` per symbol, REST polling when the WebSocket cannot be reached or fails
repeatedly, and the stream tried again every ``stream_retry_seconds`` while polling.

Modes (``status``): ``stream`` (a WebSocket message arrived since the last switch), ``poll``
(REST polling answers), ``down`` (neither answers), ``idle`` (nothing to watch). A change of
mode is logged once (WARNING for ``poll`` and ``down``), never per tick.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.config_file import MarketDataSource
from app.domain.marketdata import BOOK_DEPTH
from app.marketdata import cache
from app.marketdata.convert import book_from_ccxt, quote_from_ticker
from app.marketdata.sources import build_exchange

log = logging.getLogger(__name__)
MAX_ERROR = 300


@dataclass(frozen=True)
class FeedTuning:
    """How hard a feed tries. Seconds unless named otherwise."""

    stream_failures: int = 3  # consecutive failures of one watch loop before falling back to polling
    failure_backoff_seconds: float = 0.5  # pause between a failed watch and the next
    markets_retry_seconds: float = 5.0  # pause after load_markets failed
    timeout_ms: int | None = None  # ccxt request timeout (default: TRADEWIRE_VENUE_TIMEOUT_MS)


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:MAX_ERROR]


class SourceFeed:
    """The feed of one source. ``set_symbols`` from the streamer; ``run`` until cancelled."""

    def __init__(self, name: str, config: MarketDataSource, tuning: FeedTuning,
                 on_write: Callable[[str, str], None]) -> None:
        self.name, self.config, self.tuning, self._on_write = name, config, tuning, on_write
        self.symbols: set[str] = set()
        self.mode = "idle"
        self.note: str | None = None
        self.last_error: str | None = None
        self.updated_at: datetime | None = None
        self.exchange: Any = None
        self._changed = asyncio.Event()
        self._fallback = asyncio.Event()
        self._stream_retry_at = 0.0
        self._unknown: set[str] = set()

    # ------------------------------------------------------------------ control
    def set_symbols(self, symbols: set[str]) -> None:
        if symbols != self.symbols:
            self.symbols = set(symbols)
            self._changed.set()

    def report(self) -> dict[str, Any]:
        return {"mode": self.mode, "note": self.note, "last_error": self.last_error,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "symbols": sorted(self.symbols)}

    def _set_mode(self, mode: str, note: str | None = None) -> None:
        changed = mode != self.mode
        self.mode, self.note = mode, note
        if not changed:
            return
        message = "market data %s: %s%s"
        args = (self.name, mode, f" ({note})" if note else "")
        log.log(logging.WARNING if mode in ("poll", "down") else logging.INFO, message, *args,
                extra={"source": self.name, "mode": mode, "error": self.last_error})
        self._write_status()

    def _write_status(self) -> None:
        try:
            cache.write_status(self.name, self.report())
        except Exception as e:  # Redis down: the next report retries
            log.debug("status not written: %s", e)

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        self.exchange = build_exchange(self.name, self.config, pro=True, timeout_ms=self.tuning.timeout_ms)
        try:
            while True:
                if not await self._load_markets():
                    continue
                symbols = self._valid_symbols()
                if not symbols:
                    self._set_mode("idle")
                    await self._wait_change(None)
                elif self._stream_allowed() and time.monotonic() >= self._stream_retry_at:
                    await self._stream()
                else:
                    await self._poll(symbols)
        finally:
            await self.exchange.close()

    def _stream_allowed(self) -> bool:
        has = self.exchange.has
        return self.config.stream and bool(has.get("watchTicker")) and bool(has.get("watchOrderBook"))

    def _poll_note(self) -> str:
        if not self.config.stream:
            return "streaming disabled in the configuration"
        if not self._stream_allowed():
            return f"ccxt has no WebSocket ticker/order book for {self.name}"
        return f"WebSocket unavailable ({self.last_error}); retrying every {self.config.stream_retry_seconds:g} s"

    async def _load_markets(self) -> bool:
        if self.exchange.markets:
            return True
        try:
            await self.exchange.load_markets()
            return True
        except Exception as e:
            self.last_error = f"load_markets: {_error(e)}"
            self._set_mode("down", "markets could not be loaded")
            await self._wait_change(self.tuning.markets_retry_seconds)
            return False

    def _valid_symbols(self) -> set[str]:
        markets = self.exchange.markets or {}
        unknown = {s for s in self.symbols if s not in markets}
        for symbol in unknown - self._unknown:
            self.last_error = f"{symbol} is not a market on {self.name}"
            log.warning("market data: %s", self.last_error, extra={"source": self.name, "symbol": symbol})
        self._unknown = unknown
        return self.symbols - unknown

    async def _wait_change(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
        self._changed.clear()

    # ------------------------------------------------------------------ stream
    async def _stream(self) -> None:
        """Watch loops for every symbol until the symbols change to none or a loop keeps failing."""
        self._fallback.clear()
        tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        try:
            while not self._fallback.is_set():
                self._changed.clear()
                symbols = self._valid_symbols()
                if not symbols:
                    return
                wanted = {(s, kind) for s in symbols for kind in ("ticker", "book")}
                for key in set(tasks) - wanted:
                    tasks.pop(key).cancel()
                for key in wanted - set(tasks):
                    tasks[key] = asyncio.create_task(self._watch(*key), name=f"md-{self.name}-{key[0]}-{key[1]}")
                waits = [asyncio.create_task(self._changed.wait()), asyncio.create_task(self._fallback.wait())]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        self._stream_retry_at = time.monotonic() + self.config.stream_retry_seconds
        self._set_mode("poll", self._poll_note())

    async def _watch(self, symbol: str, kind: str) -> None:
        failures = 0
        while True:
            try:
                if kind == "ticker":
                    ticker = await self.exchange.watch_ticker(symbol)
                    snapshot: Any = quote_from_ticker(self.name, symbol, ticker)
                else:
                    book = await self.exchange.watch_order_book(symbol, BOOK_DEPTH)
                    snapshot = book_from_ccxt(self.name, symbol, book)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                self.last_error = f"watch_{kind} {symbol}: {_error(e)}"
                log.debug("market data stream failure %d: %s", failures, self.last_error)
                if failures >= self.tuning.stream_failures:
                    self._fallback.set()
                    return
                await asyncio.sleep(self.tuning.failure_backoff_seconds)
                continue
            failures = 0
            if self._store(snapshot, symbol) and self.mode != "stream":
                self._set_mode("stream")

    # ------------------------------------------------------------------ poll
    async def _poll(self, symbols: set[str]) -> None:
        """One REST round over ``symbols``, then a pause of ``poll_interval_seconds`` (cut short
        when the symbols change)."""
        results = await asyncio.gather(*(self._poll_symbol(s) for s in sorted(symbols)))
        if any(results):
            self._set_mode("poll", self._poll_note())
        else:
            self._set_mode("down", "REST polling fails too")
        await self._wait_change(self.config.poll_interval_seconds)

    async def _poll_symbol(self, symbol: str) -> bool:
        ok = False
        try:
            ticker = await self.exchange.fetch_ticker(symbol)
            ok = self._store(quote_from_ticker(self.name, symbol, ticker), symbol)
        except Exception as e:
            self.last_error = f"fetch_ticker {symbol}: {_error(e)}"
        try:
            book = await self.exchange.fetch_order_book(symbol, BOOK_DEPTH)
            ok = self._store(book_from_ccxt(self.name, symbol, book), symbol) or ok
        except Exception as e:
            self.last_error = f"fetch_order_book {symbol}: {_error(e)}"
        return ok

    # ------------------------------------------------------------------ writes
    def _store(self, snapshot: Any, symbol: str) -> bool:
        """Write a quote or a book to the cache and tell the listeners; False if Redis failed."""
        try:
            if hasattr(snapshot, "bids"):
                cache.write_book(snapshot)
            else:
                cache.write_quote(snapshot)
        except Exception as e:
            self.last_error = f"cache write: {_error(e)}"
            return False
        self.updated_at = datetime.now(UTC)
        self._on_write(self.name, symbol)
        return True
