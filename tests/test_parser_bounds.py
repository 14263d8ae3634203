"""Hostile numbers, texts and times in every dialect: a 422 naming the field, never a 500,
a frozen process or an order of the wrong size (issue 10).

Pure tests: no database, no Redis. Each body goes through ``parse()`` as the endpoints call it.
"""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.enums import OrderSide, SizeUnit
from app.domain.intents import OrderPlan
from app.domain.money import fmt
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import parse

NOW = datetime(2024, 5, 14, 13, 45, 5, tzinfo=UTC)


def body_of(body: str | dict[str, Any]) -> bytes:
    return (json.dumps(body) if isinstance(body, dict) else body).encode("utf-8")


def read(body: str | dict[str, Any], dialect: str | None = None) -> Signal:
    return parse(body_of(body), datetime.now(UTC), dialect=dialect).signal


def refused(body: str | dict[str, Any], dialect: str | None = None) -> SignalParseError:
    """The parse error; the test fails on any other exception or on taking over a second."""
    started = time.monotonic()
    with pytest.raises(SignalParseError) as caught:
        read(body, dialect)
    assert time.monotonic() - started < 1, "parsing must never stall"
    assert caught.value.message and len(caught.value.message) < 600
    return caught.value


def tradewire(**fields: Any) -> dict[str, Any]:
    return {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", **fields}


def tradingview(**strategy: Any) -> dict[str, Any]:
    return {"ticker": "BTCUSDT", "exchange": "BINANCE", "strategy": {"order_action": "buy", **strategy}}


def traderspost(**fields: Any) -> dict[str, Any]:
    return {"ticker": "BTCUSDT", "action": "buy", "sentiment": "long", **fields}


def commas(order: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"secret": "s", "tv_instrument": "BTCUSDT", "action": "buy", "bot_uuid": "u", **fields}
    if order is not None:
        body["order"] = order
    return body


def okx(**fields: Any) -> dict[str, Any]:
    return {"action": "ENTER_LONG", "instrument": "BTC-USDT-SWAP", "signalToken": "t", **fields}


def octobot(**pairs: str) -> str:
    return "\n".join(["SYMBOL=BTCUSDT", "SIGNAL=BUY", *(f"{k}={v}" for k, v in pairs.items())])


def prediction(**fields: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": "0.8", **fields}


HUGE = ["1e999999", "9" * 5000, "1e31", "1e-999999", "1e-31", "1" * 41, "NaN", "Infinity", "-Infinity", "1_000",
        "0,5", "١٢"]


# --- issue 10.1: absurd numbers are refused before int(), quantize or comparisons -----


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize(("dialect", "make", "field"), [
    ("tradewire", lambda n: tradewire(max_lag=n), "max_lag"),
    ("tradewire", lambda n: tradewire(size=n), "size"),
    ("tradewire", lambda n: tradewire(price=n), "price"),
    ("tradewire", lambda n: tradewire(confidence=n), "confidence"),
    ("tradewire", lambda n: tradewire(indicators={"atr_14": n}), "indicators.atr_14"),
    ("tradingview", lambda n: tradingview(order_contracts=n), "order_contracts"),
    ("traderspost", lambda n: traderspost(quantity=n), "quantity"),
    ("traderspost", lambda n: traderspost(stopLoss={"stopPrice": n}), "stopLoss.stopprice"),
    ("threecommas", lambda n: commas({"amount": n}), "order.amount"),
    ("threecommas", lambda n: commas(max_lag=n), "max_lag"),
    ("okx", lambda n: okx(investmentType="contract", amount=n), "amount"),
    ("okx", lambda n: okx(maxLag=n), "maxLag"),
    ("okx", lambda n: okx(orderPriceOffset=n), "orderPriceOffset"),
    ("octobot", lambda n: octobot(STOP_PRICE=n), "STOP_PRICE"),
    ("prediction", lambda n: prediction(confidence=n), "confidence"),
    ("prediction", lambda n: prediction(indicators={"rsi_14": n}), "indicators.rsi_14"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_an_absurd_number_in_any_numeric_field_is_refused_naming_it(number: str, dialect: str, make: Any,
                                                                    field: str) -> None:
    assert refused(make(number), dialect).field == field


@pytest.mark.parametrize("number", ["1e999999", "9" * 5000, "1e-999999"])
def test_a_bare_json_number_with_a_huge_exponent_is_refused_quickly(number: str) -> None:
    body = '{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "max_lag": ' + number + "}"
    assert refused(body).field == "max_lag"
    body = '{"ticker": "BTCUSDT", "action": "buy", "quantity": ' + number + "}"
    assert refused(body).field == "quantity"


def test_numbers_at_the_edge_of_the_bounds_are_read_exactly() -> None:
    signal = read(tradewire(size="1e15", size_unit="quote", price="0.000000000000000000000000000001",
                            indicators={"big": "1e30", "fine": "1234567890.123456789012345678901234567890"}))
    assert signal.size is not None and signal.size.amount == Decimal("1e15")
    assert signal.price == Decimal("1e-30")
    assert signal.indicators == {"big": Decimal("1e30"), "fine": Decimal("1234567890.123456789012345678901234567890")}


def test_a_decimal_comma_is_refused_but_thousands_groups_are_read() -> None:
    assert refused(traderspost(quantity="0,5")).field == "quantity"  # was read as 5
    signal = read(traderspost(quantity="1,000.5", quantityType="dollar_amount"))
    assert signal.size is not None and signal.size.amount == Decimal("1000.5")


# --- issue 10.2: a size or price that is present but not positive and in range ---------


SIZE_CASES = [
    ("tradewire", tradewire(size=0), "size"),
    ("tradewire", tradewire(size="0"), "size"),
    ("tradewire", tradewire(size="-0"), "size"),
    ("tradewire", tradewire(size="-1"), "size"),
    ("tradewire", tradewire(size={"a": 1}), "size.amount"),
    ("tradewire", tradewire(size={"amount": 0, "unit": "quote"}), "size.amount"),
    ("tradewire", tradewire(size=[1]), "size"),
    ("tradewire", tradewire(size=True), "size"),
    ("tradewire", tradewire(size="150", size_unit="percent_equity"), "size"),
    ("tradewire", tradewire(size={"amount": "100.01", "unit": "percent_position"}), "size.amount"),
    ("tradewire", tradewire(size="1e16"), "size"),
    ("tradewire", tradewire(size="1", size_unit="lots"), "size_unit"),
    ("tradingview", tradingview(order_contracts="0"), "order_contracts"),
    ("tradingview", {"ticker": "BTCUSDT", "action": "buy", "contracts": "-2"}, "contracts"),
    ("traderspost", traderspost(quantity=0), "quantity"),
    ("traderspost", traderspost(quantity="150", quantityType="percent_of_equity"), "quantity"),
    ("threecommas", commas({"amount": "0"}), "order.amount"),
    ("threecommas", commas({"amount": "101", "currency_type": "margin_percent"}), "order.amount"),
    ("okx", okx(investmentType="margin", amount="0"), "amount"),
    ("okx", okx(investmentType="percentage_balance", amount="150"), "amount"),
    ("okx", okx(action="EXIT_LONG", investmentType="percentage_position", amount="150"), "amount"),
    ("okx", okx(action="EXIT_LONG", investmentType="percentage_position", amount="0"), "amount"),
    ("octobot", octobot(VOLUME="0"), "VOLUME"),
    ("octobot", octobot(VOLUME="0q"), "VOLUME"),
    ("octobot", octobot(VOLUME="100.5%"), "VOLUME"),
    ("octobot", octobot(VOLUME="1e16"), "VOLUME"),
]


@pytest.mark.parametrize(("dialect", "body", "field"), SIZE_CASES,
                         ids=[f"{d}-{f}-{i}" for i, (d, _, f) in enumerate(SIZE_CASES)])
def test_a_present_size_that_is_not_a_positive_amount_in_range_is_refused_not_defaulted(
        dialect: str, body: Any, field: str) -> None:
    assert refused(body, dialect).field == field


PRICE_CASES = [
    ("tradewire", tradewire(price=0), "price"),
    ("tradewire", tradewire(limit_price="-1", order_type="limit"), "limit_price"),
    ("tradewire", tradewire(stop_loss="0"), "stop_loss"),
    ("tradewire", tradewire(take_profit="1e16"), "take_profit"),
    ("tradingview", {"ticker": "BTCUSDT", "action": "buy", "close": "0"}, "close"),
    ("tradingview", tradingview(order_price="-5"), "order_price"),
    ("traderspost", traderspost(price="0"), "price"),
    ("traderspost", traderspost(signalPrice="-1"), "signalPrice"),
    ("traderspost", traderspost(orderType="limit", limitPrice=0), "limitPrice"),
    ("traderspost", traderspost(takeProfit={"limitPrice": 0}), "takeProfit.limitprice"),
    ("traderspost", traderspost(stopLoss="0"), "stopLoss"),
    ("threecommas", commas({"amount": "1", "order_type": "limit", "price": "0"}), "order.price"),
    ("threecommas", commas(trigger_price="-67000"), "trigger_price"),
    ("okx", okx(orderPriceOffset="-1"), "orderPriceOffset"),
    ("okx", okx(orderPriceOffset="100.5"), "orderPriceOffset"),
    ("octobot", octobot(ORDER_TYPE="LIMIT", PRICE="0"), "PRICE"),
    ("octobot", octobot(TAKE_PROFIT_PRICE="-1"), "TAKE_PROFIT_PRICE"),
]


@pytest.mark.parametrize(("dialect", "body", "field"), PRICE_CASES,
                         ids=[f"{d}-{f}-{i}" for i, (d, _, f) in enumerate(PRICE_CASES)])
def test_a_zero_or_negative_price_is_refused_not_read_as_absent(dialect: str, body: Any, field: str) -> None:
    assert refused(body, dialect).field == field


@pytest.mark.parametrize(("dialect", "body", "field"), [
    ("tradewire", tradewire(confidence="1.01"), "confidence"),
    ("tradewire", tradewire(confidence="-0.5"), "confidence"),
    ("prediction", prediction(confidence="2"), "confidence"),
    ("tradewire", tradewire(max_lag=0), "max_lag"),
    ("tradewire", tradewire(max_lag="3.5"), "max_lag"),
    ("tradewire", tradewire(max_lag=604801), "max_lag"),
    ("threecommas", commas(max_lag="0"), "max_lag"),
    ("okx", okx(maxLag="-60"), "maxLag"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_confidence_and_max_lag_stay_in_their_ranges(dialect: str, body: Any, field: str) -> None:
    assert refused(body, dialect).field == field


@pytest.mark.parametrize(("dialect", "body", "want"), [
    ("tradewire", tradewire(size="100", size_unit="percent_equity"), (Decimal(100), SizeUnit.PERCENT_EQUITY)),
    ("tradewire", tradewire(size={"amount": "0.5", "unit": "percent_position"}),
     (Decimal("0.5"), SizeUnit.PERCENT_POSITION)),
    ("traderspost", traderspost(quantity="100", quantityType="percent_of_equity"),
     (Decimal(100), SizeUnit.PERCENT_EQUITY)),
    ("threecommas", commas({"amount": "1e15", "currency_type": "quote"}), (Decimal("1e15"), SizeUnit.QUOTE)),
    ("okx", okx(investmentType="percentage_balance", amount="100"), (Decimal(100), SizeUnit.PERCENT_EQUITY)),
    ("octobot", octobot(VOLUME="100%"), (Decimal(100), SizeUnit.PERCENT_EQUITY)),
    ("tradewire", tradewire(size=""), None),
    ("tradewire", tradewire(size=None), None),
    ("traderspost", traderspost(quantity=" "), None),
    ("octobot", octobot(VOLUME=""), None),
], ids=lambda v: v if isinstance(v, str) else None)
def test_sizes_at_the_edge_are_kept_and_an_empty_size_still_defaults(dialect: str, body: Any, want: Any) -> None:
    size = read(body, dialect).size
    assert (size.amount, size.unit) == want if want else size is None


def test_a_full_position_exit_on_okx_is_still_flat() -> None:
    signal = read(okx(action="EXIT_LONG", investmentType="percentage_position", amount="100"))
    assert (signal.size, signal.target_position) == (None, "flat")
    assert read(okx(action="EXIT_LONG", investmentType="percentage_position")).target_position == "flat"


def test_an_unrendered_placeholder_size_is_still_refused_as_a_placeholder() -> None:
    error = refused(tradewire(size="{{strategy.order.contracts}}"))
    assert error.field == "size" and "placeholder" in error.message


# --- issue 10.3: domain arithmetic never raises ----------------------------------------


def test_notional_of_the_largest_parsed_amounts_is_exact_and_beyond_that_infinite() -> None:
    largest = OrderPlan(side=OrderSide.BUY, quantity=Decimal("1e15"), price=Decimal("1234567890123456789.123456789"))
    assert largest.notional == Decimal("1234567890123456789123456789000000")
    absurd = OrderPlan(side=OrderSide.BUY, quantity=Decimal("1e999999"), price=Decimal("1e999999"))
    assert absurd.notional is not None and absurd.notional.is_infinite()


def test_fmt_keeps_all_forty_digits() -> None:
    assert fmt(Decimal("1234567890123456789012345678901234567890")) == "1234567890123456789012345678901234567890"


# --- issue 10.4: texts fit their columns ------------------------------------------------


LONG_TICKER = "A" * 61 + "USDT"  # 65 characters


@pytest.mark.parametrize(("dialect", "body", "field"), [
    ("tradewire", tradewire(symbol=LONG_TICKER), "symbol"),
    ("tradewire", tradewire(symbol="BINANCE:" + "A" * 60 + "USDT"), "symbol"),
    ("tradingview", {"ticker": LONG_TICKER, "action": "buy"}, "ticker"),
    ("traderspost", traderspost(ticker=LONG_TICKER), "ticker"),
    ("threecommas", commas(tv_instrument=LONG_TICKER), "tv_instrument"),
    ("okx", okx(instrument=LONG_TICKER), "instrument"),
    ("octobot", f"SYMBOL={LONG_TICKER}\nSIGNAL=BUY", "SYMBOL"),
    ("prediction", prediction(symbol=LONG_TICKER), "symbol"),
    ("tradewire", tradewire(symbol="BTC/" + "U" * 61), "symbol"),
    ("tradewire", tradewire(symbol="BTC/USDT:US DT"), "symbol"),
    ("tradewire", tradewire(idempotency_key="k" * 201), "idempotency_key"),
    ("tradewire", tradewire(exchange="e" * 65), "exchange"),
    ("tradewire", tradewire(account="a" * 65), "account"),
    ("tradewire", tradewire(timeframe="1" * 65), "timeframe"),
    ("tradewire", tradewire(indicators={"x" * 65: 1}), "indicators name"),
    ("tradewire", tradewire(indicators={f"i{n}": n for n in range(65)}), "indicators"),
    ("traderspost", traderspost(interval="m" * 65), "interval"),
    ("threecommas", commas(tv_exchange="E" * 65), "tv_exchange"),
    ("octobot", octobot(EXCHANGE="E" * 65), "EXCHANGE"),
    ("prediction", prediction(timeframe="4" * 65), "timeframe"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_identifiers_longer_than_their_column_are_refused_naming_the_field(dialect: str, body: Any,
                                                                           field: str) -> None:
    assert refused(body, dialect).field == field


def test_a_64_character_ticker_or_symbol_and_a_200_character_key_fit() -> None:
    ticker = "BINANCE:" + "A" * 52 + "USDT"  # 64 characters as written
    signal = read(tradewire(symbol=ticker, idempotency_key="k" * 200))
    assert (signal.symbol, signal.raw_symbol, signal.idempotency_key) == ("A" * 52 + "/USDT", ticker, "k" * 200)
    assert read(tradewire(symbol="A" * 59 + "USDT")).symbol == "A" * 59 + "/USDT"  # 64 characters unified
    assert refused(tradewire(symbol="A" * 60 + "USDT")).field == "symbol"  # 65 unified


@pytest.mark.parametrize(("dialect", "body"), [
    ("tradewire", tradewire(comment="c" * 5000)),
    ("tradingview", tradingview(order_id="c" * 5000)),
    ("okx", okx(id="c" * 5000, orderPriceOffset="0.1")),
    ("octobot", octobot(TAG="c" * 5000, REDUCE_ONLY="true")),
])
def test_a_long_comment_is_cut_to_1000_characters_not_refused(dialect: str, body: Any) -> None:
    comment = read(body, dialect).comment
    assert comment is not None and len(comment) == 1000 and comment.endswith("…")


# --- issue 10.5: times ------------------------------------------------------------------


@pytest.mark.parametrize("stamp", [
    "9" * 5000, "9" * 16, "1715694302.1234567890", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
    "2024-05-14T13:45:02ZZ", "2024-13-01T00:00:00Z", "x" * 100, "１７１５６９４３０２", "-1715694302", "NaN", "1e10",
])
@pytest.mark.parametrize(("dialect", "make", "field"), [
    ("tradewire", lambda t: tradewire(signal_time=t), "signal_time"),
    ("traderspost", lambda t: traderspost(time=t), "time"),
    ("threecommas", lambda t: commas(timestamp=t), "timestamp"),
    ("okx", lambda t: okx(timestamp=t), "timestamp"),
    ("prediction", lambda t: prediction(timestamp=t), "timestamp"),
    ("tradingview", lambda t: {"ticker": "BTCUSDT", "action": "buy", "time": t}, "time"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_an_unreadable_or_impossible_time_is_refused_naming_the_field(stamp: str, dialect: str, make: Any,
                                                                     field: str) -> None:
    assert refused(make(stamp), dialect).field == field


@pytest.mark.parametrize(("stamp", "want"), [
    ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("253402300799000", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("0", datetime(1970, 1, 1, tzinfo=UTC)),
    ("1715694302", datetime(2024, 5, 14, 13, 45, 2, tzinfo=UTC)),
    ("", None),
])
def test_far_future_but_valid_times_parse_and_an_empty_time_is_absent(stamp: str, want: datetime | None) -> None:
    assert read(tradewire(signal_time=stamp)).signal_time == want


# --- issue 10.6 and 10.7: odd zeros, bad text, duplicate keys ---------------------------


@pytest.mark.parametrize(("body", "field"), [
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": NaN}', "body"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": Infinity}', "body"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": -0}', "size"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": 0e-999999}', "size"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "comment": "a\\u0000b"}', "comment"),
    ('{"tradewire": 1, "symbol": "BTC/USDT\\u0000", "action": "buy"}', "symbol"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "comment": "\\ud800"}', "comment"),
    ('{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "x": ' + "[" * 2000 + "]" * 2000 + "}", "body"),
])
def test_odd_json_values_are_clean_parse_errors(body: str, field: str) -> None:
    assert refused(body).field in (field, "body")


def test_a_negative_zero_indicator_reads_as_zero() -> None:
    assert read(prediction(indicators={"macd": "-0"}), "prediction").indicators == {"macd": Decimal(0)}


def test_duplicate_keys_keep_the_last_value() -> None:
    body = '{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": "1", "size": "2"}'
    assert read(body).size.amount == Decimal(2)  # type: ignore[union-attr]
    body = '{"tradewire": 1, "symbol": "BTCUSDT", "action": "buy", "size": "1", "size": "0"}'
    assert refused(body).field == "size"


def test_a_timeframe_with_non_ascii_digits_is_kept_as_text_and_does_not_crash() -> None:
    assert read(prediction(timeframe="²h", timestamp=None), "prediction").timeframe == "²h"
