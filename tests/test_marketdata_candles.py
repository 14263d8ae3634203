"""Candles: paginated fetch from the fake Binance klines through the real ccxt, idempotent
upserts into PostgreSQL, reads oldest first, and Wilder's ATR from stored candles."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import func, select

from app.db import unit_of_work
from app.domain.indicators import wilder_atr
from app.marketdata.candles import candle_open, read_candles, recent_candles, sync_candles
from app.persistence.models import CandleRecord
from tests.test_marketdata import BTC, md, fake_public, use_config  # noqa: F401  (fixtures)

KLINES = "/api/v3/klines"
HOUR = timedelta(hours=1)


def stored(symbol: str = BTC) -> int:
    with unit_of_work() as session:
        return session.execute(select(func.count()).select_from(CandleRecord)
                               .where(CandleRecord.symbol == symbol)).scalar_one()


def test_sync_paginates_past_1000_candles_and_upserts_idempotently(md):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = md.generate_candles(BTC, "1h", int(start.timestamp() * 1000), 2500, seed=7)
    until = start + HOUR * 2499
    assert sync_candles("binance", BTC, "1h", start, until) == 2500
    assert len(md.requests_to(KLINES)) >= 3 and all(int(r["params"]["limit"]) == 1000 for r in md.requests_to(KLINES))
    assert stored() == 2500
    with unit_of_work() as session:
        candles = read_candles(session, "binance", BTC, "1h", 3000)
    assert [c.ts for c in candles] == [start + HOUR * i for i in range(2500)]
    assert (candles[0].open, candles[0].high, candles[0].low, candles[0].close, candles[0].volume) == tuple(
        D(repr(v)) for v in rows[0][1:6])
    assert sync_candles("binance", BTC, "1h", start, until) == 2500  # again: the same rows, nothing added
    assert stored() == 2500
    changed = [[rows[-1][0], 1, 2, 0.5, 1.5, 10]]
    md.set_candles(BTC, "1h", [*rows[:-1], *changed])
    sync_candles("binance", BTC, "1h", until, until)
    with unit_of_work() as session:
        last = read_candles(session, "binance", BTC, "1h", 1)
        before = read_candles(session, "binance", BTC, "1h", 2, until=until - HOUR)
    assert stored() == 2500 and (last[0].close, last[0].volume) == (D("1.5"), D(10))
    assert [c.ts for c in before] == [until - HOUR * 2, until - HOUR]


def test_atr_from_candles_synced_on_demand_equals_the_hand_computation(md):
    # 16 closed hourly candles ending with the last closed hour; flat closes at 100, candle i
    # (1..14) has a true range of i, the last one 14.5: ATR(14) = (7.5 × 13 + 14.5) / 14 = 8.
    now = datetime.now(UTC)
    last_closed = candle_open(now, "1h") - HOUR
    ranges = [2] + list(range(1, 15)) + [14.5]
    first = last_closed - HOUR * 15
    rows = [[int((first + HOUR * i).timestamp() * 1000), 100, 100 + r / 2, 100 - r / 2, 100, 1]
            for i, r in enumerate(ranges)]
    live = [int((last_closed + HOUR).timestamp() * 1000), 100, 500, 1, 100, 1]  # still open: not used
    md.set_candles(BTC, "1h", [*rows, live])
    assert stored() == 0
    candles = recent_candles("binance", BTC, "1h", 16, now=now)  # nothing stored: fetched first
    assert [c.ts for c in candles] == [first + HOUR * i for i in range(16)]
    assert wilder_atr(candles, 14) == D(8)
    calls = md.calls(KLINES)
    assert recent_candles("binance", BTC, "1h", 16, now=now) == candles and md.calls(KLINES) == calls  # all stored
    # an hour later the newest closed candle is missing; sync=False returns what is stored, fetching nothing
    assert recent_candles("binance", BTC, "1h", 16, now=now + HOUR, sync=False) == candles
    assert md.calls(KLINES) == calls


def test_the_streamer_keeps_the_last_100_hourly_candles_of_a_watched_symbol(md):
    from app.marketdata import cache
    from app.marketdata.feed import FeedTuning
    from app.marketdata.streamer import Streamer, StreamerTuning

    now = datetime.now(UTC)
    start = candle_open(now, "1h") - HOUR * 119
    md.generate_candles(BTC, "1h", int(start.timestamp() * 1000), 120, seed=3)
    streamer = Streamer(tuning=StreamerTuning(feed=FeedTuning(failure_backoff_seconds=0.2))).start_thread()
    try:
        cache.request("binance", BTC)
        deadline = time.monotonic() + 15
        while stored() < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        streamer.stop_thread()
    with unit_of_work() as session:
        candles = read_candles(session, "binance", BTC, "1h", 200)
    assert len(candles) == 100 and candles[-1].ts == candle_open(now, "1h") - HOUR
