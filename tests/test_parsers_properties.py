"""Whatever arrives, every dialect answers with a Signal or a SignalParseError, nothing else.

Hypothesis builds bodies from each dialect's own keys with hostile values (placeholders,
huge or odd numbers, nested objects, wrong types), random bytes and random KEY=VALUE text.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
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


# --- WunderTrading, Tickerly, pipe and key=value (issue 18) ----------------------------------

OTHER_KEYS: dict[str, list[str]] = {
    "wundertrading": ["code", "ticker", "orderType", "amountPerTradeType", "amountPerTrade", "leverage", "takeProfits",
                      "stopLoss", "reduceOnly", "placeConditionalOrdersOnExchange", "moveToBreakeven"],
    "tickerly": ["ticker", "action", "prev_position", "quantity", "pointer", "closeall", "hedgemode"],
}
OTHER_VALID: dict[str, dict[str, Any]] = {
    "wundertrading": {"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTradeType": "quote", "amountPerTrade": "100"},
    "tickerly": {"ticker": "BTCUSDT", "action": "buy", "prev_position": "flat", "quantity": "0.1", "pointer": "m1K3Y"},
}
OTHER_WORDS = ["ENTER-LONG", "Enter-Short", "EXIT-LONG", "exit-all", "ENTER-LONG_BINANCE_BTCUSDT_Bot_5M_0f1e2d3c",
               "ENTER-LONG_BINANCE-FUTURES_ETHUSDT_B_1H_x", "quote", "base", "$", "percents", "contracts", "market",
               "limit", "true", "false", "0.1", "10%", "1.5", "m1K3Y"]
OTHER_VALUES = st.one_of(VALUES, st.sampled_from(OTHER_WORDS),
                         st.lists(st.dictionaries(st.sampled_from(["price", "priceDeviation", "portfolio", "x"]),
                                                  SCALARS, max_size=3), max_size=7),
                         st.dictionaries(st.sampled_from(["price", "priceDeviation"]), SCALARS, max_size=2))


@st.composite
def other_json_body(draw: st.DrawFn, dialect: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(OTHER_VALID[dialect]) if draw(st.integers(0, 3)) else {}
    for key in draw(st.lists(st.sampled_from(OTHER_KEYS[dialect]), max_size=4, unique=True)):
        body[key] = draw(OTHER_VALUES)
    return body


def check_secret_kept_out(result: Signal | SignalParseError, *secrets: str) -> None:
    if isinstance(result, Signal):
        summary = json.dumps(result.summary())
        assert not any(secret in summary for secret in secrets)


@FAST
@given(data=st.data())
def test_wundertrading_and_tickerly_json_gives_a_signal_or_a_parse_error(data: st.DataObject) -> None:
    dialect = data.draw(st.sampled_from(list(OTHER_KEYS)))
    body = data.draw(other_json_body(dialect))
    check(json.dumps(body).encode(), dialect)
    shouted = {k.upper() if data.draw(st.booleans()) else k: v for k, v in body.items()}
    check(json.dumps(shouted).encode(), dialect)
    check(json.dumps(json.dumps(body)).encode(), dialect)
    for dialect_or_none in (dialect, None):
        check_secret_kept_out(outcome(json.dumps(body).encode(), dialect_or_none), "m1K3Y", "0f1e2d3c")


@FAST
@given(amount=st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), places=8),
       quoted=st.booleans())
def test_other_tools_amounts_arrive_exactly_whether_quoted_or_bare(amount: Decimal, quoted: bool) -> None:
    number = f'"{amount}"' if quoted else str(amount)
    bodies = {
        "wundertrading": f'{{"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTradeType": "base", '
                         f'"amountPerTrade": {number}}}',
        "tickerly": f'{{"ticker": "BTCUSDT", "action": "buy", "quantity": {number}, "pointer": "p"}}',
        "delimited": f"action=buy|symbol=BTCUSDT|qty={number}",
    }
    for dialect, body in bodies.items():
        for forced in (dialect, None):
            signal = outcome(body.encode(), forced)
            assert isinstance(signal, Signal) and signal.dialect == dialect and signal.size is not None
            assert signal.size.amount == amount


@FAST
@given(ratio=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1), places=4), quoted=st.booleans())
def test_wundertrading_ratios_quoted_or_bare_are_exact_percents(ratio: Decimal, quoted: bool) -> None:
    number = f'"{ratio}"' if quoted else str(ratio)
    body = (f'{{"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTradeType": "percents", "amountPerTrade": '
            f'{number}, "stopLoss": {{"priceDeviation": {number if ratio <= Decimal("0.99") else 0.5}}}}}')
    signal = outcome(body.encode())
    assert isinstance(signal, Signal) and signal.size.amount == ratio * 100
    assert signal.exit_ladder.stop_loss_percent == (ratio * 100 if ratio <= Decimal("0.99") else Decimal(50))


PLACEHOLDER_FIELDS = {
    "wundertrading": {"ticker": "ticker", "amountPerTrade": "amountPerTrade", "leverage": "leverage",
                      "amountPerTradeType": "amountPerTradeType"},
    "tickerly": {"ticker": "ticker", "action": "action", "quantity": "quantity", "prev_position": "prev_position"},
}


@FAST
@given(data=st.data(), name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz._", min_size=1, max_size=20))
def test_other_tools_name_the_field_left_holding_a_placeholder(data: st.DataObject, name: str) -> None:
    placeholder = f"{{{{{name}}}}}"
    dialect = data.draw(st.sampled_from(list(PLACEHOLDER_FIELDS)))
    key = data.draw(st.sampled_from(list(PLACEHOLDER_FIELDS[dialect])))
    body = {**OTHER_VALID[dialect], "leverage": "5"} if dialect == "wundertrading" else dict(OTHER_VALID[dialect])
    body[key] = placeholder
    for forced in (dialect, None):
        result = outcome(json.dumps(body).encode(), forced)
        assert isinstance(result, SignalParseError) and "placeholder" in result.message
        assert result.field == PLACEHOLDER_FIELDS[dialect][key]
    fields = {"action": "buy", "symbol": "BTCUSDT", "qty": "0.1", "price": "1", "time": "1715694302"}
    target = data.draw(st.sampled_from(list(fields)))
    text = "|".join(f"{k}={placeholder if k == target else v}" for k, v in fields.items())
    result = outcome(text.encode())
    assert isinstance(result, SignalParseError) and result.field == target and "placeholder" in result.message
    bva = ["k", "name", "buy", "BTCUSDT"]
    index = data.draw(st.sampled_from([2, 3]))
    bva[index] = placeholder if index == 3 else "{{strategy.order.action}}"
    result = outcome("|".join(bva).encode())
    assert isinstance(result, SignalParseError) and result.field == ("symbol" if index == 3 else "action")


@FAST
@given(moment=st.datetimes(min_value=datetime(2001, 9, 10), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       form=st.sampled_from(["seconds", "millis", "iso", "iso_offset"]))
def test_key_value_times_in_every_format_arrive_as_the_same_utc_second(moment: datetime, form: str) -> None:
    moment = moment.replace(microsecond=0)
    stamp = {"seconds": str(int(moment.timestamp())), "millis": str(int(moment.timestamp()) * 1000),
             "iso": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "iso_offset": moment.astimezone(timezone(timedelta(hours=-5))).isoformat()}[form]
    signal = outcome(f"action=buy&symbol=BTCUSDT&time={stamp}".encode())
    assert isinstance(signal, Signal) and signal.signal_time == moment


@FAST
@given(at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_tools_that_send_no_time_key_the_alert_by_its_arrival(at: datetime) -> None:
    """WunderTrading and Tickerly messages carry no time: the same message arriving a second
    later is a new alert, never a duplicate of the first."""
    for body in ('{"code": "ENTER-LONG", "ticker": "BTCUSDT"}',
                 '{"ticker": "BTCUSDT", "action": "buy", "quantity": "1", "pointer": "p"}', "buy|BTCUSDT"):
        first = parse(body.encode(), at).signal
        assert parse(body.encode(), at).signal.idempotency_key == first.idempotency_key
        assert parse(body.encode(), at + timedelta(seconds=1)).signal.idempotency_key != first.idempotency_key


PIPE_PIECES = st.sampled_from([
    "action=buy", "side=SELL", "signal=LONG", "symbol=BTCUSDT", "ticker=BINANCE:ETHUSDT.P", "qty=0.1", "qty=5%",
    "price=67432.5", "sl=1%", "tp=70000", "type=limit", "limit=60000", "leverage=10x", "time=1715694302000",
    "token=hunter2", "key=hunter2", "foo=bar", "qty=", "=", "qty=1e999999", "price=NaN", "{{close}}",
    "buy", "sell", "close", "take", "BTCUSDT", "hunter2", "long", "spot", "futures", "true", "", " ",
])


@FAST
@given(parts=st.lists(st.one_of(PIPE_PIECES, st.text(max_size=8)), min_size=1, max_size=9),
       separator=st.sampled_from(["|", "&", " | "]), quoted=st.booleans())
def test_any_pipe_or_key_value_text_gives_a_signal_or_a_named_error(parts: list[str], separator: str,
                                                                     quoted: bool) -> None:
    text = separator.join(parts)
    body = json.dumps(text) if quoted else text
    for dialect in ("delimited", None):
        result = outcome(body.encode(), dialect)
        check_secret_kept_out(result, "hunter2")
    check(body.encode(), "delimited")


@FAST
@given(data=st.data())
def test_other_tools_numbers_stay_within_their_bounds(data: st.DataObject) -> None:
    """Whatever number arrives, a parsed signal carries positive, bounded amounts (percentages at
    most 100) and prices, and a leverage of at most 1000."""
    number = data.draw(HOSTILE_NUMBERS)
    bodies = [
        {"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTradeType": data.draw(st.sampled_from(list(
            ["quote", "base", "percents", "contracts"]))), "amountPerTrade": number, "leverage": data.draw(HOSTILE_NUMBERS),
         "takeProfits": [{"priceDeviation": data.draw(HOSTILE_NUMBERS), "portfolio": data.draw(HOSTILE_NUMBERS)}],
         "stopLoss": {"price": data.draw(HOSTILE_NUMBERS)}},
        {"ticker": "BTCUSDT", "action": "buy", "quantity": number, "pointer": "p"},
        f"action=buy|symbol=BTCUSDT|qty={number}|price={data.draw(HOSTILE_NUMBERS)}|leverage={number}"
        f"|sl={data.draw(HOSTILE_NUMBERS)}%",
    ]
    for body in bodies:
        result = outcome(body.encode() if isinstance(body, str) else json.dumps(body).encode())
        if isinstance(result, SignalParseError):
            continue
        if result.size is not None:
            limit = Decimal(100) if result.size.unit in ("percent_equity", "percent_position") else Decimal("1e15")
            assert Decimal(0) < result.size.amount <= limit
        for price in (result.price, result.limit_price, result.stop_loss, result.take_profit):
            assert price is None or Decimal(0) < price <= Decimal("1e15")
        assert result.leverage is None or Decimal(0) < result.leverage <= 1000
