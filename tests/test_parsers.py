"""Alert dialects: what a user sees when a real payload, or a variant of it, arrives.

Pure tests: no database, no Redis. Every corpus file (tests/corpus, copied with its
provenance) goes through ``parse()`` exactly as published.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.enums import Action, OrderType, PositionSide, SizeUnit, TimeInForce
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import DIALECTS, parse
from app.ingest.parsers.body import decode, find_secret
from tests.conftest import CORPUS_DIR

RECEIVED_AT = datetime(2024, 5, 14, 13, 45, 5, tzinfo=UTC)
CORPUS_TIME = datetime(2024, 5, 14, 13, 45, 2, tzinfo=UTC)


def corpus_dir() -> Path:
    return CORPUS_DIR


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.json"))


def corpus_body(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The rendered payload as the bytes TradingView (or the prediction API) would send."""
    entry = json.loads(path.read_text(encoding="utf-8"))
    rendered = entry["rendered"]
    body = json.dumps(rendered) if isinstance(rendered, dict) else rendered
    return body.encode("utf-8"), entry


def read(body: str | dict[str, Any], dialect: str | None = None) -> Signal:
    raw = json.dumps(body) if isinstance(body, dict) else body
    return parse(raw.encode("utf-8"), RECEIVED_AT, dialect=dialect).signal


def rejected(body: str | dict[str, Any], dialect: str | None = None) -> SignalParseError:
    with pytest.raises(SignalParseError) as caught:
        read(body, dialect)
    return caught.value


# What a user notices per corpus file: (dialect forced or None, expected fields).
CORPUS_EXPECTED: dict[str, tuple[str | None, dict[str, Any]]] = {
    "01_hackingthemarkets_binance_strategy_filled.json": (None, {
        "dialect": "tradingview", "symbol": "DOGE/USDT", "exchange": "binance", "action": Action.BUY,
        "target_position": PositionSide.LONG, "prev_position": PositionSide.FLAT,
        "size": (Decimal("10000"), SizeUnit.BASE), "price": Decimal("0.0027486"),
        "signal_time": datetime(2020, 9, 6, 1, 44, 17, tzinfo=UTC), "comment": "doge door",
    }),
    "02_traderspost_indicator.json": (None, {
        "symbol": "BTC/USDT", "action": Action.BUY, "target_position": None, "size": None,
        "price": Decimal("67432.5"), "signal_time": CORPUS_TIME, "timeframe": "15",
    }),
    "03_traderspost_strategy.json": (None, {
        "dialect": "traderspost", "symbol": "BTC/USDT", "action": Action.SELL,
        "target_position": PositionSide.FLAT, "size": (Decimal("0.015"), SizeUnit.BASE),
        "price": None, "signal_time": None,
    }),
    "05_3commas_signal_bot_strategy.json": (None, {
        "dialect": "threecommas", "symbol": "BTC/USDT", "exchange": "binance", "action": Action.BUY,
        "target_position": PositionSide.LONG, "prev_position": PositionSide.FLAT,
        "size": (Decimal("0.015"), SizeUnit.BASE), "price": Decimal("67432.5"),
        "signal_time": CORPUS_TIME, "max_lag": 300, "comment": "signal-bot-uuid",
    }),
    "16_octobot_plain_text.json": (None, {
        "dialect": "octobot", "symbol": "BTC/USDT", "exchange": "binance", "action": Action.BUY,
        "target_position": None, "size": None, "price": None, "signal_time": None,
    }),
    "30_apindicators_prediction.json": ("prediction", {
        "dialect": "prediction", "symbol": "BTC/USDT", "action": Action.BUY, "size": None,
        "confidence": Decimal("0.82"), "timeframe": "4h",
        "indicators": {"rsi_14": Decimal("42.3"), "macd_histogram": Decimal("150.2"), "adx": Decimal("32.1")},
        "signal_time": datetime(2026, 2, 10, 14, 0, tzinfo=UTC),
    }),
}


def assert_signal(signal: Signal, expected: dict[str, Any]) -> None:
    for name, want in expected.items():
        got = getattr(signal, name)
        if name == "size":
            got = (got.amount, got.unit) if got is not None else None
        assert got == want, f"{name}: {got!r} != {want!r}"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_payload_parses_as_published_or_is_rejected_with_the_reason(path: Path) -> None:
    body, entry = corpus_body(path)
    if entry.get("kind") == "malformed":
        with pytest.raises(SignalParseError) as caught:
            parse(body, RECEIVED_AT)
        assert caught.value.field == "body"
        assert "not valid JSON" in caught.value.message and "line" in caught.value.message
        return
    dialect, expected = CORPUS_EXPECTED.get(path.name, (None, {}))
    if entry.get("kind") == "prediction_api":
        dialect = "prediction"
    signal = parse(body, RECEIVED_AT, dialect=dialect).signal
    assert signal.idempotency_key
    assert_signal(signal, expected)


def test_the_known_corpus_files_are_all_there() -> None:
    names = {p.name for p in corpus_files()}
    missing = set(CORPUS_EXPECTED) - names
    assert not missing, f"corpus files missing from {corpus_dir()}: {sorted(missing)}"


def test_corpus_02_reads_the_same_whichever_dialect_takes_it() -> None:
    path = corpus_dir() / "02_traderspost_indicator.json"
    body, _ = corpus_body(path)
    for dialect in (None, "traderspost", "tradingview"):
        signal = parse(body, RECEIVED_AT, dialect=dialect).signal
        assert (signal.symbol, signal.action, signal.price, signal.signal_time) == (
            "BTC/USDT", Action.BUY, Decimal("67432.5"), CORPUS_TIME,
        )


def test_secrets_in_the_body_never_reach_the_signal() -> None:
    bodies = [
        ({"secret": "s3cr3t-3c", "tv_instrument": "BTCUSDT", "action": "buy", "bot_uuid": "b-1"}, "s3cr3t-3c"),
        ({"signalToken": "okx-t0ken", "instrument": "BTC-USDT-SWAP", "action": "ENTER_LONG"}, "okx-t0ken"),
        ("PASSPHRASE=octo-pass\nSYMBOL=BTCUSDT\nSIGNAL=BUY", "octo-pass"),
    ]
    for body, secret in bodies:
        assert secret not in json.dumps(read(body).summary())


@pytest.mark.parametrize("text", [
    "EXCHANGE=binance;SYMBOL=BTCUSDT;TOKEN=octo-pass;SIGNAL=BUY",
    "EXCHANGE=binance\nTOKEN=octo-pass\nSYMBOL=BTCUSDT\nSIGNAL=BUY",
])
def test_the_body_secret_of_key_value_text_ends_at_the_separator(text: str) -> None:
    assert find_secret(decode(text.encode())) == "octo-pass"


# --- TradersPost ------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "sentiment", "want_action", "want_target"), [
    ("buy", None, Action.BUY, None),
    ("SELL", None, Action.SELL, None),
    ("sell", "flat", Action.SELL, PositionSide.FLAT),
    ("buy", "flat", Action.BUY, PositionSide.FLAT),
    ("buy", "bullish", Action.BUY, PositionSide.LONG),
    ("Buy", "long", Action.BUY, PositionSide.LONG),
    ("sell", "bearish", Action.SELL, PositionSide.SHORT),
    ("sell", "SHORT", Action.SELL, PositionSide.SHORT),
    ("exit", None, Action.EXIT, PositionSide.FLAT),
    ("cancel", None, Action.CANCEL, None),
    ("add", "bullish", Action.BUY, PositionSide.LONG),
    ("ADD", "short", Action.SELL, PositionSide.SHORT),
])
def test_traderspost_actions_and_sentiments(action: str, sentiment: str | None, want_action: Action,
                                            want_target: PositionSide | None) -> None:
    body: dict[str, Any] = {"ticker": "BTCUSDT", "action": action, "quantity": "1"}
    if sentiment:
        body["sentiment"] = sentiment
    signal = read(body)
    assert (signal.dialect, signal.action, signal.target_position) == ("traderspost", want_action, want_target)


@pytest.mark.parametrize(("body", "field"), [
    ({"ticker": "BTCUSDT", "action": "add"}, "sentiment"),
    ({"ticker": "BTCUSDT", "action": "exit", "sentiment": "bullish"}, "sentiment"),
    ({"ticker": "BTCUSDT", "action": "bu", "quantity": 1}, "action"),
    ({"ticker": "BTCUSDT", "action": "buy", "sentiment": "sideways"}, "sentiment"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": 1, "quantityType": "risk_dollar_amount"}, "quantityType"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": 1, "quantityType": "lots"}, "quantityType"),
    ({"ticker": "BTCUSDT", "action": "buy", "orderType": "trailing_stop"}, "orderType"),
    ({"ticker": "BTCUSDT", "action": "buy", "timeInForce": "day"}, "timeInForce"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": "-1"}, "quantity"),
    ({"ticker": "", "action": "buy", "quantity": 1}, "ticker"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_traderspost_refuses_what_it_cannot_express_and_names_the_field(body: dict[str, Any], field: str) -> None:
    assert rejected(body, "traderspost").field == field


@pytest.mark.parametrize(("quantity_type", "unit"), [
    (None, SizeUnit.BASE),
    ("fixed_quantity", SizeUnit.BASE),
    ("dollar_amount", SizeUnit.QUOTE),
    ("percent_of_equity", SizeUnit.PERCENT_EQUITY),
])
def test_traderspost_quantity_types(quantity_type: str | None, unit: SizeUnit) -> None:
    # A percentage is at most 100 (issue 10), so the amount stays below that for every type.
    body: dict[str, Any] = {"ticker": "BTCUSDT", "action": "buy", "quantity": "25.5"}
    if quantity_type:
        body["quantityType"] = quantity_type
    size = read(body).size
    assert size is not None and (size.amount, size.unit) == (Decimal("25.5"), unit)


@pytest.mark.parametrize(("take_profit", "stop_loss", "want_tp", "want_sl"), [
    ({"limitPrice": 70000}, {"type": "stop", "stopPrice": "65000.5"}, Decimal("70000"), Decimal("65000.5")),
    ({"price": "70000"}, {"type": "stop_limit", "stopPrice": 65000, "limitPrice": 64990}, Decimal("70000"),
     Decimal("65000")),
    ("70000", 65000, Decimal("70000"), Decimal("65000")),
    ({"percent": 10}, {"type": "stop", "percent": 5}, None, None),
    ({"amount": 100}, {"type": "trailing_stop", "trailAmount": 1}, None, None),
])
def test_traderspost_protective_orders_take_the_absolute_prices(take_profit: Any, stop_loss: Any,
                                                                want_tp: Decimal | None,
                                                                want_sl: Decimal | None) -> None:
    signal = read({"ticker": "BTCUSDT", "action": "buy", "takeProfit": take_profit, "stopLoss": stop_loss})
    assert (signal.take_profit, signal.stop_loss) == (want_tp, want_sl)


def test_traderspost_limit_order_with_time_in_force_and_epoch_ms_time() -> None:
    signal = read('{"ticker": "BTCUSDT", "action": "buy", "orderType": "LIMIT", "limitPrice": 67000.25, '
                  '"timeInForce": "gtc", "signalPrice": "67432.5", "time": 1715694302000}')
    assert (signal.order_type, signal.limit_price, signal.time_in_force) == (
        OrderType.LIMIT, Decimal("67000.25"), TimeInForce.GTC,
    )
    assert (signal.price, signal.signal_time) == (Decimal("67432.5"), CORPUS_TIME)


def test_generic_tradingview_alerts_stay_with_the_tradingview_dialect() -> None:
    assert read({"ticker": "BTCUSDT", "action": "buy", "price": "1"}).dialect == "tradingview"
    strategy = {"ticker": "BTCUSDT", "strategy": {"order_action": "sell", "order_contracts": "2"}, "quantity": 1}
    assert read(strategy).dialect == "tradingview"


# --- 3Commas ---------------------------------------------------------------------------


def commas(**extra: Any) -> dict[str, Any]:
    return {"secret": "token", "tv_exchange": "BINANCE", "tv_instrument": "BTCUSDT", "action": "buy",
            "bot_uuid": "uuid-1", **extra}


@pytest.mark.parametrize(("action", "want"), [
    ("buy", (Action.BUY, None, None)),
    ("SELL", (Action.SELL, None, None)),
    ("enter_long", (Action.BUY, PositionSide.LONG, None)),
    ("exit_long", (Action.SELL, PositionSide.FLAT, PositionSide.LONG)),
    ("enter_short", (Action.SELL, PositionSide.SHORT, None)),
    ("EXIT_SHORT", (Action.BUY, PositionSide.FLAT, PositionSide.SHORT)),
])
def test_threecommas_actions(action: str, want: tuple[Action, PositionSide | None, PositionSide | None]) -> None:
    signal = read(commas(action=action))
    assert (signal.action, signal.target_position, signal.prev_position) == want


def test_threecommas_strategy_positions_tell_a_close_from_an_open() -> None:
    signal = read(commas(action="sell", strategy_info={"market_position": "flat", "prev_market_position": "long"}))
    assert (signal.action, signal.target_position, signal.prev_position) == (
        Action.SELL, PositionSide.FLAT, PositionSide.LONG,
    )


@pytest.mark.parametrize(("currency_type", "unit"), [
    ("base", SizeUnit.BASE), ("quote", SizeUnit.QUOTE), ("margin_percent", SizeUnit.PERCENT_EQUITY), (None, SizeUnit.BASE),
])
def test_threecommas_order_currency_types(currency_type: str | None, unit: SizeUnit) -> None:
    order: dict[str, Any] = {"amount": "25"}
    if currency_type:
        order["currency_type"] = currency_type
    size = read(commas(order=order)).size
    assert size is not None and (size.amount, size.unit) == (Decimal("25"), unit)


@pytest.mark.parametrize(("body", "field"), [
    (commas(order={"amount": "1", "currency_type": "coins"}), "order.currency_type"),
    (commas(action="hodl"), "action"),
    (commas(max_lag="3.5"), "max_lag"),
    (commas(max_lag="1e999999"), "max_lag"),
    (commas(order="0.1"), "order"),
    (commas(strategy_info={"market_position": "sideways"}), "strategy_info.market_position"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_threecommas_refusals_name_the_field(body: dict[str, Any], field: str) -> None:
    assert rejected(body).field == field


def test_threecommas_limit_order_fields() -> None:
    signal = read(commas(order={"amount": 1, "order_type": "limit", "price": "67000"}, max_lag=60))
    assert (signal.order_type, signal.limit_price, signal.max_lag) == (OrderType.LIMIT, Decimal("67000"), 60)


# --- OKX -------------------------------------------------------------------------------


def okx(**extra: Any) -> dict[str, Any]:
    return {"action": "ENTER_LONG", "instrument": "BTC-USDT-SWAP", "signalToken": "tkn",
            "timestamp": "2024-05-14T13:45:02Z", **extra}


@pytest.mark.parametrize(("action", "want"), [
    ("ENTER_LONG", (Action.BUY, PositionSide.LONG, None)),
    ("EXIT_LONG", (Action.SELL, PositionSide.FLAT, PositionSide.LONG)),
    ("ENTER_SHORT", (Action.SELL, PositionSide.SHORT, None)),
    ("exit_short", (Action.BUY, PositionSide.FLAT, PositionSide.SHORT)),
])
def test_okx_actions(action: str, want: tuple[Action, PositionSide | None, PositionSide | None]) -> None:
    signal = read(okx(action=action))
    assert (signal.dialect, signal.symbol, signal.exchange) == ("okx", "BTC/USDT:USDT", "okx")
    assert (signal.action, signal.target_position, signal.prev_position) == want


@pytest.mark.parametrize(("investment_type", "unit"), [
    ("margin", SizeUnit.QUOTE),
    ("contract", SizeUnit.CONTRACTS),
    ("base", SizeUnit.BASE),
    ("percentage_balance", SizeUnit.PERCENT_EQUITY),
    ("percentage_investment", SizeUnit.PERCENT_EQUITY),
])
def test_okx_investment_types(investment_type: str, unit: SizeUnit) -> None:
    size = read(okx(investmentType=investment_type, amount="50")).size
    assert size is not None and (size.amount, size.unit) == (Decimal("50"), unit)


def test_okx_full_position_exit_means_flat_and_partial_exits_are_refused() -> None:
    full = read(okx(action="EXIT_LONG", investmentType="percentage_position", amount="100"))
    assert (full.action, full.target_position, full.size) == (Action.SELL, PositionSide.FLAT, None)
    assert rejected(okx(action="EXIT_LONG", investmentType="percentage_position", amount="50")).field == "investmentType"
    assert rejected(okx(investmentType="percentage_position", amount="100")).field == "investmentType"


def test_okx_section_a_strategy_message() -> None:
    signal = read(okx(action="sell", id="Long Exit", marketPosition="flat", prevMarketPosition="long",
                      investmentType="base", amount="0.015", maxLag="60", orderType="limit", orderPriceOffset="0.1"))
    assert (signal.action, signal.target_position, signal.prev_position) == (
        Action.SELL, PositionSide.FLAT, PositionSide.LONG,
    )
    assert (signal.max_lag, signal.order_type, signal.signal_time) == (60, OrderType.LIMIT, CORPUS_TIME)
    assert signal.comment is not None and signal.comment.startswith("Long Exit")


@pytest.mark.parametrize(("body", "field"), [
    (okx(action="OPEN_LONG"), "action"),
    (okx(amount="10"), "investmentType"),
    (okx(investmentType="lots", amount="10"), "investmentType"),
    (okx(orderType="stop"), "orderType"),
    (okx(instrument="???"), "instrument"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_okx_refusals_name_the_field(body: dict[str, Any], field: str) -> None:
    assert rejected(body).field == field


# --- OctoBot ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "action"), [
    ("EXCHANGE=BINANCE\nSYMBOL=BTCUSDT\nSIGNAL=BUY", Action.BUY),
    ("exchange=binance;symbol=BTCUSDT;signal=sell", Action.SELL),
    ("Exchange = Binance ; Symbol = BTCUSDT ; Signal = Sell", Action.SELL),
    ("EXCHANGE=BINANCE\\nSYMBOL=BTCUSDT\\nSIGNAL=BUY", Action.BUY),
    ("EXCHANGE=BINANCE\r\nSYMBOL=BTCUSDT\r\nSIGNAL=BUY\r\n", Action.BUY),
])
def test_octobot_keys_in_any_case_and_either_separator(text: str, action: Action) -> None:
    signal = read(text)
    assert (signal.dialect, signal.symbol, signal.exchange, signal.action) == ("octobot", "BTC/USDT", "binance", action)


@pytest.mark.parametrize(("volume", "want"), [
    ("0.01", (Decimal("0.01"), SizeUnit.BASE)),
    ("100q", (Decimal("100"), SizeUnit.QUOTE)),
    ("2%", (Decimal("2"), SizeUnit.PERCENT_EQUITY)),
    ("12a%", (Decimal("12"), SizeUnit.PERCENT_EQUITY)),
    ("12t%", (Decimal("12"), SizeUnit.PERCENT_EQUITY)),
])
def test_octobot_volume_syntax(volume: str, want: tuple[Decimal, SizeUnit]) -> None:
    size = read(f"SYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME={volume}").size
    assert size is not None and (size.amount, size.unit) == want


def test_octobot_order_details() -> None:
    signal = read("EXCHANGE=binance;SYMBOL=SOLUSDT;SIGNAL=BUY;ORDER_TYPE=LIMIT;VOLUME=1.5;PRICE=142.5;"
                  "STOP_PRICE=130;TAKE_PROFIT_PRICE_1=160;TAKE_PROFIT_PRICE_2=170;TAG=entry-1;REDUCE_ONLY=false")
    assert (signal.order_type, signal.limit_price, signal.stop_loss, signal.take_profit, signal.comment) == (
        OrderType.LIMIT, Decimal("142.5"), Decimal("130"), Decimal("160"), "entry-1",
    )


@pytest.mark.parametrize(("text", "field"), [
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME=12s%", "VOLUME"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME=lots", "VOLUME"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME=150%", "VOLUME"),
    ("SYMBOL=BTCUSDT\nSIGNAL=HOLD", "SIGNAL"),
    ("SYMBOL=BTCUSDT\nEXCHANGE=binance", "SIGNAL"),
    ("SIGNAL=BUY\nEXCHANGE=binance", "SYMBOL"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nORDER_TYPE=STOP\nSTOP_PRICE=1", "ORDER_TYPE"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nORDER_TYPE=LIMIT\nPRICE=-25%", "PRICE"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nSTOP_PRICE=100d", "STOP_PRICE"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nREDUCE_ONLY=maybe", "REDUCE_ONLY"),
    ("SYMBOL=BTCUSDT\nSIGNAL=BUY\nSIGNAL=SELL", "SIGNAL"),
    ("SYMBOL=BTCUSDT\nSIGNAL BUY", "body"),
], ids=lambda v: v if len(v) < 20 else None)
def test_octobot_refusals_name_the_key(text: str, field: str) -> None:
    assert rejected(text).field == field


# --- Predictions -----------------------------------------------------------------------


def prediction(**extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": 0.82,
            "indicators": {"atr_14": "1520.75"}, "timestamp": "2026-02-10T14:00:00Z", **extra}


@pytest.mark.parametrize(("word", "action"), [("BUY", Action.BUY), ("sell", Action.SELL), ("Hold", Action.HOLD)])
def test_prediction_words(word: str, action: Action) -> None:
    signal = read(prediction(prediction=word), "prediction")
    assert (signal.action, signal.indicators["atr_14"]) == (action, Decimal("1520.75"))


def test_prediction_key_is_stable_and_depends_on_the_prediction_time() -> None:
    first = read(prediction(), "prediction")
    again = parse(json.dumps(prediction()).encode(), datetime(2030, 1, 1, tzinfo=UTC), dialect="prediction")
    later = read(prediction(timestamp="2026-02-10T18:00:00Z"), "prediction")
    assert first.idempotency_key == again.signal.idempotency_key != later.idempotency_key


@pytest.mark.parametrize(("body", "field"), [
    (prediction(confidence="1.2"), "confidence"),
    (prediction(confidence="-0.1"), "confidence"),
    (prediction(prediction="STRONG_BUY"), "prediction"),
    (prediction(indicators={"rsi_14": "high"}), "indicators.rsi_14"),
    (prediction(indicators=[1, 2]), "indicators"),
    (prediction(symbol=""), "symbol"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_prediction_refusals_name_the_field(body: dict[str, Any], field: str) -> None:
    assert rejected(body, "prediction").field == field


def test_trading_alerts_are_never_detected_as_predictions() -> None:
    alert = prediction(action="buy", ticker="BTCUSDT")
    assert read(alert).dialect != "prediction"
    assert not DIALECTS["prediction"].detect({"symbol": "BTCUSDT", "prediction": "BUY"})
    assert list(DIALECTS)[-1] == "prediction"


# --- Across dialects: tickers, numbers, times, placeholders ----------------------------


def with_ticker(dialect: str, ticker: str) -> str | dict[str, Any]:
    bodies: dict[str, str | dict[str, Any]] = {
        "tradingview": {"ticker": ticker, "action": "buy"},
        "traderspost": {"ticker": ticker, "action": "buy", "sentiment": "long"},
        "threecommas": commas(tv_instrument=ticker),
        "okx": okx(instrument=ticker),
        "octobot": f"SYMBOL={ticker}\nSIGNAL=BUY",
        "prediction": prediction(symbol=ticker),
        "tradewire": {"tradewire": 1, "symbol": ticker, "action": "buy"},
        "pineconnector": f"60123456789,buy,{ticker},risk=1",
        "alertatron": f"MyKeys({ticker}) {{ market(side=buy, amount=1); }} #bot",
        "signals_mtf": {"symbol": ticker, "signals": {"4h": {"direction": "LONG", "confidence": 0.8}}},
        "forecast": {"symbol": ticker, "signal_24h": {"direction": "UP", "confidence": 0.7}},
        "trade_levels": {"symbol": ticker, "action": "BUY", "entry_price": 100, "stop_loss": 90, "take_profit": 120,
                         "tp_hit_probability": 0.6},
        "tickerly": {"ticker": ticker, "action": "buy", "quantity": "0.1", "pointer": "m1K3Y"},
        "wundertrading": {"code": "ENTER-LONG", "ticker": ticker},
        "delimited": f"action=buy|symbol={ticker}",
    }
    return bodies[dialect]


# Token Metrics names a bare token (BTC), never a ticker: tests/test_prediction_dialects.py covers it.
@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "tokenmetrics"])
@pytest.mark.parametrize(("ticker", "symbol"), [
    ("BTCUSDT", "BTC/USDT"),
    ("BINANCE:BTCUSDT", "BTC/USDT"),
    ("BTCUSDTPERP", "BTC/USDT:USDT"),
    ("BTCUSDT.P", "BTC/USDT:USDT"),
    ("BTC-USDT-SWAP", "BTC/USDT:USDT"),
    ("BTC/USDT", "BTC/USDT"),
])
def test_every_dialect_maps_every_ticker_form(dialect: str, ticker: str, symbol: str) -> None:
    signal = read(with_ticker(dialect, ticker), dialect)
    assert (signal.symbol, signal.raw_symbol) == (symbol, ticker)


@pytest.mark.parametrize(("dialect", "template"), [
    ("traderspost", '{{"ticker": "BTCUSDT", "action": "buy", "quantity": {n}, "price": {p}}}'),
    ("threecommas", '{{"tv_instrument": "BTCUSDT", "action": "buy", "order": {{"amount": {n}}}, '
                    '"trigger_price": {p}}}'),
    ("okx", '{{"instrument": "BTCUSDT.P", "action": "ENTER_LONG", "signalToken": "t", "investmentType": "base", '
            '"amount": {n}}}'),
    ("tradingview", '{{"ticker": "BTCUSDT", "action": "buy", "contracts": {n}, "close": {p}}}'),
])
@pytest.mark.parametrize("quote", ["", '"'])
def test_numbers_quoted_or_bare_are_exact_decimals(dialect: str, template: str, quote: str) -> None:
    body = template.format(n=f"{quote}0.015{quote}", p=f"{quote}67432.10{quote}")
    signal = read(body, dialect)
    assert signal.size is not None and signal.size.amount == Decimal("0.015")
    assert isinstance(signal.size.amount, Decimal)
    if dialect != "okx":
        assert signal.price == Decimal("67432.10") and isinstance(signal.price, Decimal)


@pytest.mark.parametrize(("dialect", "field"), [
    ("traderspost", "time"), ("threecommas", "timestamp"), ("okx", "timestamp"), ("prediction", "timestamp"),
])
@pytest.mark.parametrize("stamp", ["1715694302", "1715694302000", 1715694302000, "2024-05-14T13:45:02Z",
                                   "2024-05-14T15:45:02+02:00"])
def test_times_in_epoch_seconds_milliseconds_or_iso_are_utc(dialect: str, field: str, stamp: Any) -> None:
    base = with_ticker(dialect, "BTCUSDT")
    assert isinstance(base, dict)
    signal = read({**base, field: stamp}, dialect)
    assert signal.signal_time == CORPUS_TIME and signal.signal_time.tzinfo is not None


@pytest.mark.parametrize(("dialect", "body", "field"), [
    ("traderspost", {"ticker": "BTCUSDT", "action": "buy", "price": "{{close}}", "sentiment": "long"}, "price"),
    ("traderspost", {"ticker": "{{ticker}}", "action": "buy", "quantity": 1}, "ticker"),
    ("threecommas", commas(strategy_info={"market_position": "{{strategy.market_position}}"}),
     "strategy_info.market_position"),
    ("okx", okx(amount="{{strategy.order.contracts}}", investmentType="base"), "amount"),
    ("octobot", "SYMBOL=BTCUSDT\nSIGNAL=BUY\nVOLUME={{strategy.order.contracts}}", "VOLUME"),
    ("prediction", prediction(timestamp="{{timenow}}"), "timestamp"),
    ("tradingview", {"ticker": "BTCUSDT", "action": "{{strategy.order.action}}"}, "action"),
])
def test_a_leftover_placeholder_fails_with_the_field_named(dialect: str, body: Any, field: str) -> None:
    error = rejected(body, dialect)
    assert error.field == field and "placeholder" in error.message
    auto = rejected(body, "prediction" if dialect == "prediction" else None)
    assert auto.field == field


def test_an_unknown_dialect_or_an_unclaimed_body_is_refused_with_a_reason() -> None:
    assert rejected({"ticker": "BTCUSDT", "action": "buy"}, "pinebridge").field == "dialect"
    error = rejected("hello there")
    assert error.field == "body" and "octobot" in error.message


def test_prediction_without_timestamp_is_the_same_signal_within_its_bar():
    from datetime import UTC, datetime, timedelta

    from app.ingest.parsers import parse

    body = json.dumps({"symbol": "BTCUSDT", "timeframe": "4h", "prediction": "BUY", "confidence": 0.8}).encode()
    at = datetime(2026, 2, 10, 13, 5, tzinfo=UTC)  # the 12:00–16:00 bar
    first = parse(body, at, dialect="prediction").signal.idempotency_key
    assert parse(body, at + timedelta(hours=2), dialect="prediction").signal.idempotency_key == first
    assert parse(body, at + timedelta(hours=3), dialect="prediction").signal.idempotency_key != first
