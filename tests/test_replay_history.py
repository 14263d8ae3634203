"""Replay inputs at scale: candles (``app.replay.history``) loaded from PostgreSQL exactly as
stored, several symbols at once; missing ones fetched from the venue (the fake Binance public
API through the real ccxt) and loaded again, or named in a note when fetching is off; and the
signals of a large input kept packed, reading back equal to a fresh parse."""

from __future__ import annotations

from array import array
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import json
from pathlib import Path

from app.db import unit_of_work
from app.domain.enums import Source
from app.marketdata.candles import upsert_candles
from app.replay import history
from app.replay.inputs import Raw, parse_all
from tests.conftest import CORPUS_DIR, rendered_bytes
from tests.test_marketdata import BTC, ETH, md, fake_public, use_config  # noqa: F401  (fixtures)

HOUR = timedelta(hours=1)
START = datetime(2026, 1, 1, tzinfo=UTC)
# Prices as ccxt hands them over (doubles), stored from their repr.
PRICES = [0.30000000000000004, 67432.51, 0.0027486, 123456789.123, 1e-08, 2.5]


def store(symbol: str, closes: list[float], start: datetime = START) -> None:
    rows = [{"source": "binance", "symbol": symbol, "timeframe": "1h", "ts": start + HOUR * k,
             "open": D(repr(c)), "high": D(repr(c * 2)), "low": D(repr(c / 2)), "close": D(repr(c)), "volume": D(1)}
            for k, c in enumerate(closes)]
    with unit_of_work() as session:
        upsert_candles(session, rows)


def test_stored_candles_load_as_the_doubles_they_were_written_from(md):
    store(BTC, PRICES)
    with unit_of_work() as session:
        series = history.load(session, "binance", BTC, "1h", START - HOUR, START + HOUR * 10)
        connection = session.connection().connection.driver_connection
        params = {"source": "binance", "symbol": BTC, "timeframe": "1h", "start": START, "end": START + HOUR * 10}
        ordered = history._unpack(BTC, 3600, history._fetch(connection, history._LOAD_ORDERED, params))
    assert list(series.ts) == [int((START + HOUR * k).timestamp()) for k in range(len(PRICES))]
    assert series.close == array("d", PRICES) and series.high == array("d", [p * 2 for p in PRICES])
    assert [history.price(p) for p in series.close] == [D(repr(p)) for p in PRICES]
    # The fallback statement (ORDER BY in every aggregate) answers the same series.
    assert (ordered.ts, ordered.open, ordered.low, ordered.close) == (series.ts, series.open, series.low, series.close)
    with unit_of_work() as session:
        empty = history.load(session, "binance", "XRP/USDT", "1h", START, START + HOUR)
    assert len(empty) == 0 and history.gap(empty, START, START + HOUR) == (0, 1)


def test_missing_candles_are_fetched_and_loaded_and_a_gap_without_fetching_is_named(md):
    rows = md.generate_candles(BTC, "1h", int(START.timestamp() * 1000), 48, seed=3)
    store(ETH, [100.5] * 10)  # 10 of 48 hours stored; not fetched
    now = START + HOUR * 60
    series, notes = history.load_all("binance", [BTC], "1h", START, START + HOUR * 48, True, now)
    assert list(series[BTC].ts) == [r[0] // 1000 for r in rows]
    assert series[BTC].close == array("d", [r[4] for r in rows]) and notes == {}

    series, notes = history.load_all("binance", [BTC, ETH], "1h", START, START + HOUR * 48, False, now)
    assert len(series[BTC]) == 48 and len(series[ETH]) == 10
    assert notes == {ETH: "10 of 48 1h candles of ETH/USDT on binance stored; fetching is off"}


def test_packed_signals_of_a_large_input_read_back_equal_to_a_fresh_parse():
    corpus = [json.loads(f.read_text()) for f in sorted(Path(CORPUS_DIR).glob("*.json"))]
    items = [Raw(f"corpus {k}", START, rendered_bytes(e), Source.TRADINGVIEW) for k, e in enumerate(corpus)
             if "rendered" in e]
    bodies = [
        {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "size": "0.01", "size_unit": "base",
         "order_type": "limit", "limit_price": "60000.5", "time_in_force": "IOC", "stop_loss": "59000",
         "take_profit": "62000", "price": "60001", "signal_time": "2026-01-01T02:00:00+02:00", "comment": "é ✓"},
        {"tradewire": 1, "symbol": "BTCUSDT.P", "action": "sell", "target_position": "short", "prev_position": "long",
         "leverage": "3", "margin_mode": "isolated", "limit_offset": "-5 ticks",
         "exit_ladder": {"take_profits": [{"percent": 1, "fraction": 0.5}], "stop_loss_percent": 2,
                         "trailing_stop": {"percent": 1}}},
        {"tradewire": 1, "symbol": "ETHUSDT", "action": "buy", "target_percent": "-12.5"},
    ]
    items += [Raw(f"body {k}", START, json.dumps(b).encode(), Source.REST, "tradewire") for k, b in enumerate(bodies)]
    kept = {s.ref: s.decode() for s in parse_all(items, "s", keep=True) if s.summary is not None}
    packed = [s for s in parse_all(items, "s", keep=False) if s.summary is not None]
    assert len(packed) == len(kept) >= len(bodies) + 5
    assert all(s.signal is None and s.packed is not None for s in packed)
    assert {s.ref: s.decode() for s in packed} == kept
