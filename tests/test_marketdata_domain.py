"""Pure market-data values, Wilder's ATR by hand, and the market-data configuration keys."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from app.config_file import AccountConfig, FileConfig, load_config, market_data_source
from app.domain.indicators import true_range, wilder_atr
from app.domain.marketdata import Candle, OrderBook, Quote
from app.errors import ConfigError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def candle(i: int, high, low, close, open_=None) -> Candle:
    return Candle(T0 + timedelta(hours=i), D(str(open_ if open_ is not None else close)), D(str(high)), D(str(low)),
                  D(str(close)), D(1))


def test_true_range_takes_the_gap_from_the_previous_close():
    assert true_range(candle(1, 105, 100, 102), D(101)) == D(5)  # inside: high - low
    assert true_range(candle(1, 95, 90, 92), D(100)) == D(10)  # gap down: |low - prev close|
    assert true_range(candle(1, 120, 115, 118), D(100)) == D(20)  # gap up: |high - prev close|
    assert true_range(candle(0, 105, 100, 102), None) == D(5)


def test_wilder_atr_by_hand_period_3():
    # TRs of candles 1..4: 4, 10 (gap down from 100 to a 95-90 bar), 6, 8.
    candles = [candle(0, 101, 99, 100), candle(1, 102, 98, 100), candle(2, 95, 90, 92),
               candle(3, 96, 90, 93), candle(4, 100, 92, 97)]
    # first ATR = (4 + 10 + 6) / 3 = 20/3; then (20/3 × 2 + 8) / 3 = (40/3 + 24/3) / 3 = 64/9
    atr = wilder_atr(candles, period=3)
    first = wilder_atr(candles[:4], period=3)
    assert atr is not None and first is not None
    assert str(atr)[:32] == "7." + "1" * 30  # 64/9
    assert str(first)[:32] == "6." + "6" * 30  # 20/3


def test_wilder_atr_14_by_hand_and_none_when_too_few_candles():
    # Flat closes at 100; candle i (1..14) spans a true range of i, candle 15 one of 14.5:
    # first ATR = mean(1..14) = 7.5, then (7.5 × 13 + 14.5) / 14 = 112 / 14 = 8.
    ranges = [D(2)] + [D(i) for i in range(1, 15)] + [D("14.5")]
    candles = [candle(i, 100 + r / 2, 100 - r / 2, 100) for i, r in enumerate(ranges)]
    assert wilder_atr(candles[:15]) == D("7.5")
    assert wilder_atr(candles) == D(8)
    assert wilder_atr(candles[:14]) is None
    with pytest.raises(ValueError):
        wilder_atr(candles, period=0)


def test_age_is_taken_from_the_older_of_the_venue_time_and_ours():
    now = T0 + timedelta(seconds=100)
    frozen = Quote("binance", "BTC/USDT", D(1), D(2), D(1), T0, now - timedelta(seconds=1))
    assert frozen.age(now) == 100.0  # polled a second ago, but the venue's time stands still
    no_venue_time = Quote("binance", "BTC/USDT", D(1), D(2), D(1), None, now - timedelta(seconds=3))
    assert no_venue_time.age(now) == 3.0
    ahead = Quote("binance", "BTC/USDT", D(1), D(2), D(1), now + timedelta(seconds=5), now - timedelta(seconds=2))
    assert ahead.age(now) == 2.0  # a venue clock ahead of ours never makes a quote younger
    book = OrderBook("binance", "BTC/USDT", ((D(1), D(1)),), (), T0, now)
    assert book.age(now) == 100.0 and book.best_bid == D(1) and book.best_ask is None


def test_sources_default_to_binance_for_paper_and_the_own_venue_otherwise():
    assert FileConfig().market_data.keys() == {"binance"}
    assert market_data_source(AccountConfig()) == "binance"
    assert market_data_source(AccountConfig(venue="bybit")) == "bybit"
    assert market_data_source(AccountConfig(venue="paper", market_data="okx")) == "okx"
    assert market_data_source(AccountConfig(market_data="")) is None


def test_the_market_data_keys_are_read_and_a_bad_source_is_named(tmp_path: Path):
    good = tmp_path / "good.toml"
    good.write_text('[market_data.binance]\napi_url = "http://127.0.0.1:9000"\nmax_quote_age_seconds = 3\n'
                    'options = { fetchCurrencies = false }\n[accounts.paper]\nvenue = "paper"\nmarket_data = "binance"\n')
    config = load_config(good)
    assert config.market_data["binance"].api_url == "http://127.0.0.1:9000"
    assert config.market_data["binance"].max_quote_age_seconds == 3
    assert config.market_data["binance"].options == {"fetchCurrencies": False}
    assert config.accounts["paper"].market_data == "binance"
    bad = tmp_path / "bad.toml"
    bad.write_text('[accounts.paper]\nvenue = "paper"\nmarket_data = "nosuchexchange"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    assert raised.value.field == "accounts.paper.market_data" and "nosuchexchange" in raised.value.message
    bad.write_text('[market_data.nosuchexchange]\n')
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    assert raised.value.field == "market_data.nosuchexchange"
