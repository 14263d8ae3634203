"""Whatever arrives, every dialect answers with a Signal or a SignalParseError, nothing else.

Hypothesis builds bodies from each dialect's own keys with hostile values (placeholders,
huge or odd numbers, nested objects, wrong types), random bytes and random KEY=VALUE text.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import DIALECTS, parse

RECEIVED_AT = datetime(2024, 5, 14, 13, 45, 5, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = [
    "buy", "SELL", "exit", "cancel", "add", "hold", "ENTER_LONG", "exit_short", "enter_long", "long", "short",
    "flat", "bullish", "bearish", "market", "limit", "stop", "gtc", "day", "base", "quote", "margin",
    "contract", "margin_percent", "percentage_position", "percent_of_equity", "dollar_amount", "BUY", "HOLD",
    "BTCUSDT", "BINANCE:BTCUSDT", "BTC-USDT-SWAP", "BTCUSDT.P", "BTCUSDTPERP", "ETH-PERP", "BTC/USDT", "X",
    "{{close}}", "{{ticker}}", "", " ", "NaN", "Infinity", "-1", "0", "1e999999", "1e-999999", "0.015",
    "67432.5", "1715694302000", "2024-05-14T13:45:02Z", "true", "100", "12s%", "2%",
]
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.sampled_from(WORDS), NUMBERS, st.text(max_size=20))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(WORDS), inner, max_size=3)),
    max_leaves=6,
)

KEYS: dict[str, list[str]] = {
    "tradewire": ["tradewire", "symbol", "ticker", "action", "size", "size_unit", "target_position",
                  "prev_position", "price", "signal_time", "max_lag", "confidence", "indicators", "order_type",
                  "limit_price", "time_in_force", "comment", "idempotency_key"],
    "tradingview": ["ticker", "exchange", "time", "action", "bar", "strategy", "close", "contracts", "interval"],
    "traderspost": ["ticker", "action", "sentiment", "quantity", "quantityType", "price", "signalPrice", "time",
                    "takeProfit", "stopLoss", "orderType", "limitPrice", "timeInForce", "interval"],
    "threecommas": ["secret", "max_lag", "timestamp", "trigger_price", "tv_exchange", "tv_instrument", "action",
                    "bot_uuid", "strategy_info", "order"],
    "okx": ["action", "instrument", "signalToken", "timestamp", "maxLag", "orderType", "orderPriceOffset",
            "investmentType", "amount", "id", "marketPosition", "prevMarketPosition"],
    "prediction": ["symbol", "timeframe", "prediction", "confidence", "indicators", "timestamp"],
    "octobot": ["EXCHANGE", "SYMBOL", "SIGNAL", "ORDER_TYPE", "VOLUME", "PRICE", "STOP_PRICE",
                "TAKE_PROFIT_PRICE", "TAKE_PROFIT_PRICE_1", "REDUCE_ONLY", "TAG", "TOKEN"],
}
NESTED: dict[str, dict[str, list[str]]] = {
    "tradingview": {"strategy": ["order_action", "order_contracts", "order_price", "order_id", "market_position",
                                 "prev_market_position"], "bar": ["time", "close"]},
    "traderspost": {"takeProfit": ["limitPrice", "price", "percent"], "stopLoss": ["type", "stopPrice", "percent"]},
    "threecommas": {"strategy_info": ["market_position", "prev_market_position"],
                    "order": ["amount", "currency_type", "order_type", "price"]},
    "prediction": {"indicators": ["atr_14", "rsi_14"]},
}


def outcome(body: bytes, dialect: str | None = None) -> Signal | SignalParseError:
    """The parse result; any exception other than SignalParseError fails the test."""
    try:
        return parse(body, RECEIVED_AT, dialect=dialect).signal
    except SignalParseError as e:
        assert e.message and e.field, "a SignalParseError must say what and which field"
        return e


# A valid message per dialect; the strategies below damage some of its keys.
VALID: dict[str, Any] = {
    "tradewire": {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "size": "0.1"},
    "tradingview": {"ticker": "BTCUSDT", "strategy": {"order_action": "buy", "order_contracts": "1"}},
    "traderspost": {"ticker": "BTCUSDT", "action": "sell", "sentiment": "flat", "quantity": "0.015"},
    "threecommas": {"secret": "s", "tv_instrument": "BTCUSDT", "action": "buy", "bot_uuid": "u",
                    "order": {"amount": "1", "currency_type": "quote"}},
    "okx": {"action": "ENTER_LONG", "instrument": "BTC-USDT-SWAP", "signalToken": "t", "investmentType": "margin",
            "amount": "100"},
    "prediction": {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": "0.8"},
    "octobot": "EXCHANGE=BINANCE\nSYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME=0.1",
}


@st.composite
def json_body(draw: st.DrawFn, dialect: str) -> dict[str, Any]:
    """The dialect's valid message with some keys dropped and some set to hostile values."""
    keys = KEYS[dialect]
    body: dict[str, Any] = dict(VALID[dialect]) if draw(st.integers(0, 3)) else {}
    if body and draw(st.integers(0, 3)) == 0:
        del body[draw(st.sampled_from(list(body)))]
    for key in draw(st.lists(st.sampled_from(keys), min_size=0 if body else 1, max_size=3 if body else 8,
                             unique=True)):
        inner = NESTED.get(dialect, {}).get(key)
        if inner and draw(st.booleans()):
            body[key] = draw(st.dictionaries(st.sampled_from(inner), SCALARS, max_size=len(inner)))
        else:
            body[key] = draw(VALUES)
    return body


@st.composite
def key_value_text(draw: st.DrawFn) -> str:
    parts = VALID["octobot"].split("\n") if draw(st.booleans()) else []
    parts += [
        f"{draw(st.sampled_from(KEYS['octobot'] + ['symbol', 'Signal', '']))}"
        f"{draw(st.sampled_from(['=', ' = ', '', '==']))}"
        f"{draw(st.one_of(st.sampled_from(WORDS), NUMBERS, st.text(max_size=12)))}"
        for _ in range(draw(st.integers(min_value=1, max_value=8)))
    ]
    parts = draw(st.permutations(parts))
    return draw(st.sampled_from(["\n", ";", "\r\n", "\\n"])).join(parts)


def check(body: bytes, dialect: str) -> None:
    forced = outcome(body, dialect)
    auto = outcome(body)
    for result in (forced, auto):
        if isinstance(result, Signal):
            assert result.idempotency_key
            for number in (result.price, result.limit_price, result.stop_loss, result.take_profit):
                assert number is None or isinstance(number, Decimal)
            assert result.signal_time is None or result.signal_time.tzinfo is not None


JSON_DIALECTS = [name for name in KEYS if name != "octobot"]


@FAST
@given(data=st.data())
def test_json_built_from_a_dialects_keys_gives_a_signal_or_a_parse_error(data: st.DataObject) -> None:
    dialect = data.draw(st.sampled_from(JSON_DIALECTS))
    body = data.draw(json_body(dialect))
    check(json.dumps(body).encode(), dialect)


@FAST
@given(data=st.data())
def test_keys_in_any_case_and_quoted_json_text_never_crash(data: st.DataObject) -> None:
    dialect = data.draw(st.sampled_from(JSON_DIALECTS))
    body = data.draw(json_body(dialect))
    shouted = {key.upper() if data.draw(st.booleans()) else key: value for key, value in body.items()}
    check(json.dumps(shouted).encode(), dialect)
    check(json.dumps(json.dumps(body)).encode(), dialect)


@FAST
@given(text=key_value_text())
def test_key_value_text_gives_a_signal_or_a_parse_error(text: str) -> None:
    check(text.encode(), "octobot")


@FAST
@given(body=st.binary(max_size=300), dialect=st.sampled_from(list(DIALECTS)))
def test_random_bytes_give_a_parse_error_or_a_signal(body: bytes, dialect: str) -> None:
    check(body, dialect)


@FAST
@given(body=st.text(max_size=200), dialect=st.sampled_from(list(DIALECTS)))
def test_random_text_gives_a_parse_error_or_a_signal(body: str, dialect: str) -> None:
    check(body.encode(), dialect)


@FAST
@given(amount=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), places=8),
       quoted=st.booleans())
def test_amounts_arrive_exactly_whether_quoted_or_bare(amount: Decimal, quoted: bool) -> None:
    number = f'"{amount}"' if quoted else str(amount)
    bodies = {
        "traderspost": f'{{"ticker": "BTCUSDT", "action": "buy", "quantity": {number}}}',
        "threecommas": f'{{"tv_instrument": "BTCUSDT", "action": "buy", "order": {{"amount": {number}}}}}',
        "okx": f'{{"instrument": "BTC-USDT-SWAP", "action": "ENTER_LONG", "signalToken": "t", '
               f'"investmentType": "contract", "amount": {number}}}',
    }
    for dialect, body in bodies.items():
        signal = outcome(body.encode(), dialect)
        assert isinstance(signal, Signal) and signal.size is not None
        assert signal.size.amount == amount


HOSTILE_NUMBERS = st.one_of(
    NUMBERS,
    st.sampled_from(["0", "-0", "0.0", "0e-999999", "1e999999", "1e-999999", "1e15", "1.000000000000001e15", "100",
                     "100.0000001", "150", "0,5", "1,000", "9" * 41, "1e30", "1e31", "1e-30", "1e-31", "NaN"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
SIZE_KEYS = {
    "tradewire": ("size", "price", "limit_price", "stop_loss", "take_profit", "max_lag", "confidence"),
    "traderspost": ("quantity", "price", "signalPrice", "limitPrice", "takeProfit", "stopLoss"),
    "okx": ("amount", "maxLag", "orderPriceOffset"),
    "tradingview": ("contracts", "close"),
    "prediction": ("confidence",),
}


@FAST
@given(data=st.data())
def test_every_parsed_number_is_within_its_bounds(data: st.DataObject) -> None:
    """Whatever number arrives, a signal that parses carries only positive, bounded amounts
    (percentages at most 100) and prices, a confidence in 0–1 and a max lag of at most a week."""
    dialect = data.draw(st.sampled_from(list(SIZE_KEYS)))
    body = dict(VALID[dialect])
    for key in data.draw(st.lists(st.sampled_from(SIZE_KEYS[dialect]), min_size=1, max_size=3, unique=True)):
        body[key] = data.draw(HOSTILE_NUMBERS)
    if dialect in ("tradewire", "traderspost", "okx"):
        unit_key, units = {"tradewire": ("size_unit", ["base", "quote", "percent_equity", "percent_position"]),
                           "traderspost": ("quantityType", ["fixed_quantity", "percent_of_equity"]),
                           "okx": ("investmentType", ["margin", "percentage_balance", "contract"])}[dialect]
        body[unit_key] = data.draw(st.sampled_from(units))
    result = outcome(json.dumps(body).encode(), dialect)
    if isinstance(result, SignalParseError):
        return
    if result.size is not None:
        limit = Decimal(100) if result.size.unit in ("percent_equity", "percent_position") else Decimal("1e15")
        assert Decimal(0) < result.size.amount <= limit
    for price in (result.price, result.limit_price, result.stop_loss, result.take_profit):
        assert price is None or Decimal(0) < price <= Decimal("1e15")
    assert result.confidence is None or Decimal(0) <= result.confidence <= Decimal(1)
    assert result.max_lag is None or 1 <= result.max_lag <= 7 * 24 * 3600
