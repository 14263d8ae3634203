"""WunderTrading, Tickerly and pipe / key=value alerts: each documented example (tests/dialects/*.json,
with the page it comes from), the refusals that name the key and what to use instead, detection that
leaves every other dialect's bodies and the shared corpus where they were, ``?dialect=`` forcing one,
each tool's credential kept out of storage, and the documented examples filled on the default paper
account."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import Signal
from app.errors import SignalParseError
from app.ingest.parsers import DIALECTS, decode_body, parse
from app.persistence.models import FillRecord, OrderIntentRecord, OrderRecord, SignalRecord
from tests.conftest import CORPUS_DIR, drain_queues

RECEIVED_AT = datetime(2024, 5, 14, 13, 45, 5, tzinfo=UTC)
SAMPLES = Path(__file__).parent / "dialects"
NEW = ("tickerly", "wundertrading", "delimited")
BOT_ID = "0f1e2d3c4b5a69788796a5b4"  # the made-up bot id of the long WunderTrading comment
# What TradingView renders the examples' placeholders to.
RENDERED = {"{{ticker}}": "BTCUSDT", "{{strategy.order.action}}": "buy", "{{strategy.prev_market_position}}": "flat",
            "{{strategy.order.contracts}}": "0.015", "{{strategy.market_position}}": "long", "{{close}}": "67432.5",
            "{{interval}}": "15"}


def example(tool: str, name: str) -> Any:
    entry = json.loads((SAMPLES / f"{tool}.json").read_text(encoding="utf-8"))
    assert entry["sources"][name].startswith("https://"), "each sample names the public page it comes from"
    return entry["examples"][name]


def render(body: Any, **values: str) -> Any:
    """The body as TradingView sends it: placeholders filled (``values`` override ``RENDERED``)."""
    text = body if isinstance(body, str) else json.dumps(body)
    for placeholder, value in {**RENDERED, **{f"{{{{{k}}}}}": v for k, v in values.items()}}.items():
        text = text.replace(placeholder, value)
    return text if isinstance(body, str) else json.loads(text)


def raw(body: Any) -> bytes:
    return (body if isinstance(body, str) else json.dumps(body)).encode()


def read(body: Any, dialect: str | None = None) -> Signal:
    return parse(raw(body), RECEIVED_AT, dialect=dialect).signal


def refused(body: Any, dialect: str | None = None) -> SignalParseError:
    with pytest.raises(SignalParseError) as caught:
        read(body, dialect)
    return caught.value


def with_ticker(body: dict[str, Any], ticker: str = "DOGEUSDT") -> dict[str, Any]:
    return {**body, "ticker": ticker}


# --- WunderTrading ---------------------------------------------------------------------------

def test_wundertrading_documented_entry_names_no_pair_and_the_422_says_how_to_add_it() -> None:
    error = refused(example("wundertrading", "enter_long"))
    assert error.field == "code" and '"ticker": "{{ticker}}"' in error.message and "long comment" in error.message


def test_wundertrading_documented_entry_with_a_ticker_is_a_quote_buy_with_its_exit_ladder() -> None:
    signal = read(with_ticker(example("wundertrading", "enter_long")))
    assert (signal.dialect, signal.action, signal.target_position, signal.symbol) == (
        "wundertrading", Action.BUY, PositionSide.LONG, "DOGE/USDT")
    assert (signal.size.amount, signal.size.unit, signal.order_type) == (Decimal(150), SizeUnit.QUOTE, OrderType.MARKET)
    ladder = signal.exit_ladder
    assert [(tp.percent, tp.fraction) for tp in ladder.take_profits] == [
        (Decimal(1), Decimal("0.25")), (Decimal(2), Decimal("0.25")), (Decimal(3), Decimal("0.25")),
        (Decimal(4), Decimal("0.15")), (Decimal(5), Decimal("0.07")), (Decimal(6), Decimal("0.03"))]
    assert ladder.stop_loss_percent == Decimal(1) and ladder.stop_loss is None


def test_wundertrading_documented_short_entry_and_exits() -> None:
    short = read(with_ticker(example("wundertrading", "enter_short")))
    assert (short.action, short.target_position, short.size.amount) == (Action.SELL, PositionSide.SHORT, Decimal(150))
    exit_long = read(with_ticker(example("wundertrading", "exit_long")))
    assert (exit_long.action, exit_long.target_position, exit_long.prev_position) == (
        Action.EXIT, PositionSide.FLAT, PositionSide.LONG)
    exit_all = read(with_ticker(example("wundertrading", "exit_all")))
    assert (exit_all.action, exit_all.target_position, exit_all.prev_position) == (Action.EXIT, PositionSide.FLAT, None)


def test_wundertrading_guide_entry_is_refused_key_by_key_and_read_once_both_are_dropped() -> None:
    entry = with_ticker(example("wundertrading", "guide_entry"), "SOLUSDT.P")
    error = refused(entry)
    assert error.field == "moveToBreakeven" and "break_even_after" in error.message
    del entry["moveToBreakeven"]
    error = refused(entry)
    assert error.field == "placeConditionalOrdersOnExchange" and "send false" in error.message
    entry["placeConditionalOrdersOnExchange"] = False
    signal = read(entry)
    assert (signal.symbol, signal.leverage, signal.size.amount, signal.size.unit) == (
        "SOL/USDT:USDT", Decimal(5), Decimal(10), SizeUnit.PERCENT_EQUITY)
    assert [(tp.price, tp.fraction) for tp in signal.exit_ladder.take_profits] == [
        (Decimal("148.50"), Decimal("0.33")), (Decimal("155.00"), Decimal("0.33")),
        (Decimal("162.00"), Decimal("0.34"))]
    assert signal.exit_ladder.stop_loss == Decimal("138.00")


def test_wundertrading_long_comment_as_text_carries_the_pair_and_never_the_bot_id() -> None:
    signal = read(example("wundertrading", "long_comment"))
    assert (signal.dialect, signal.action, signal.symbol, signal.exchange, signal.comment) == (
        "wundertrading", Action.BUY, "API3/USDT", "binance", "BOT-NAME-RDSh9d 5M")
    assert BOT_ID not in json.dumps(signal.summary())
    futures = read({"code": f"EXIT-SHORT_BINANCE-FUTURES_BTCUSDT_Bot_1H_{BOT_ID}", "orderType": "market"})
    assert (futures.symbol, futures.action, futures.prev_position) == ("BTC/USDT:USDT", Action.EXIT, PositionSide.SHORT)


@pytest.mark.parametrize("body, field, words", [
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "orderType": "limit"}, "orderType", "limit_price"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "trailingStop": {"priceDeviation": 0.01}}, "trailingStop",
     "trailing_stop"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "dcaOrders": 3}, "dcaOrders", "exit_ladder"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTrade": 100}, "amountPerTradeType", "percents"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "amountPerTrade": 10, "amountPerTradeType": "percents"},
     "amountPerTrade", "0.1 means 10 %"),
    ({"code": "EXIT-LONG", "ticker": "BTCUSDT", "takeProfits": [{"price": 1, "portfolio": 1}]}, "takeProfits",
     "belongs to an entry"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "takeProfits": [{"price": 1, "priceDeviation": 0.1, "portfolio": 1}]},
     "takeProfits[0]", "exactly one"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "takeProfits": [{"price": 1, "portfolio": 0.7},
                                                                 {"price": 2, "portfolio": 0.7}]},
     "takeProfits", "more than 1"),
    ({"code": "ENTER-LONG", "ticker": "BTCUSDT", "stopLoss": {"priceDeviation": 1.5}}, "stopLoss.priceDeviation",
     "ratio"),
    ({"code": "ENTER-LONG_BINANCE_ETHUSDT_Bot_1H_abc", "ticker": "BTCUSDT"}, "ticker", "not the pair"),
    ({"code": "ENTER-LONG_BINANCE_Bot_abc"}, "code", "six fields"),
    ({"code": "ENTER-LONG", "ticker": "{{ticker}}"}, "ticker", "placeholder"),
    ({"code": "ENTER-LONG_BINANCE_{{ticker}}_Bot_1H_abc"}, "code.pair", "placeholder"),
])
def test_wundertrading_refusals_name_the_key_and_what_to_do(body: dict[str, Any], field: str, words: str) -> None:
    error = refused(body)
    assert (error.field, words in error.message) == (field, True), error.message


@pytest.mark.parametrize("amount", ["150", 150, "150.0", 150.0])
def test_wundertrading_numbers_quoted_or_bare_are_exact(amount: Any) -> None:
    body = with_ticker({"code": "ENTER-LONG", "amountPerTradeType": "quote", "amountPerTrade": amount,
                        "takeProfits": [{"priceDeviation": "0.01" if isinstance(amount, str) else 0.01,
                                         "portfolio": "1" if isinstance(amount, str) else 1}]})
    signal = read(body)
    assert signal.size.amount == Decimal(150) and signal.exit_ladder.take_profits[0].percent == Decimal(1)


def test_wundertrading_custom_comment_is_not_detected_and_forcing_the_dialect_says_why() -> None:
    body = {"code": "My own comment", "ticker": "BTCUSDT"}
    assert not any(DIALECTS[name].detect(decode_body(raw(body))) for name in NEW)
    assert refused(body, "wundertrading").field == "code"


# --- Tickerly --------------------------------------------------------------------------------

def test_tickerly_standard_template_rendered_is_the_strategy_order_and_unrendered_names_the_field() -> None:
    assert refused(example("tickerly", "standard")).field == "ticker"
    signal = read(render(example("tickerly", "standard")))
    assert (signal.dialect, signal.action, signal.prev_position, signal.size.amount, signal.size.unit) == (
        "tickerly", Action.BUY, PositionSide.FLAT, Decimal("0.015"), SizeUnit.BASE)


def test_tickerly_fixed_values_example() -> None:
    signal = read(example("tickerly", "fixed_values"))
    assert (signal.symbol, signal.action, signal.prev_position, signal.size.amount) == (
        "BTC/USDT", Action.BUY, PositionSide.FLAT, Decimal("0.1"))
    assert "m1K3Y" not in json.dumps(signal.summary())


@pytest.mark.parametrize("name, action, prev, target", [
    ("enter_long", Action.BUY, PositionSide.FLAT, None), ("exit_long", Action.SELL, PositionSide.LONG, PositionSide.FLAT),
    ("enter_short", Action.SELL, PositionSide.FLAT, None), ("exit_short", Action.BUY, PositionSide.SHORT, PositionSide.FLAT),
])
def test_tickerly_directional_examples(name: str, action: Action, prev: PositionSide, target) -> None:
    """An exit (a sell after a long, a buy after a short) targets flat: it closes, never reverses."""
    signal = read(example("tickerly", name))
    assert (signal.symbol, signal.action, signal.prev_position, signal.size.amount, signal.target_position) == (
        "EUR/USD", action, prev, Decimal(1000), target)


def test_tickerly_close_all_flattens_the_ticker_and_ignores_action_and_quantity() -> None:
    assert refused(example("tickerly", "close_all")).field == "ticker"
    signal = read(render(example("tickerly", "close_all")))
    assert (signal.action, signal.target_position, signal.size) == (Action.EXIT, PositionSide.FLAT, None)
    both = read({"ticker": "BTCUSDT", "closeall": True, "action": "buy", "quantity": "5", "pointer": "p"})
    assert (both.action, both.size) == (Action.EXIT, None)


@pytest.mark.parametrize("body, field", [
    (render(example("tickerly", "hedge_mode")) | {"pointer": "p"}, "hedgemode"),
    ({"ticker": "BTCUSDT", "action": "buy", "price": "60000", "pointer": "p"}, "price"),
    ({"ticker": "BTCUSDT", "action": "hold", "pointer": "p"}, "action"),
    ({"ticker": "BTCUSDT", "pointer": "p"}, "action"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": "0", "pointer": "p"}, "quantity"),
    ({"ticker": "BTCUSDT", "closeall": "false", "pointer": "p"}, "closeall"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": "{{strategy.order.contracts}}", "pointer": "p"}, "quantity"),
])
def test_tickerly_refusals_name_the_element(body: dict[str, Any], field: str) -> None:
    error = refused(body)
    assert error.field == field, error.message


@pytest.mark.parametrize("quantity", ["0.1", 0.1, " 0.1 ", "1e-1"])
def test_tickerly_numbers_quoted_or_bare_are_exact(quantity: Any) -> None:
    body = {"ticker": "BTCUSDT", "action": "buy", "quantity": quantity, "pointer": "p"}
    assert read(body).size.amount == Decimal("0.1")


# --- Pipe and key=value ----------------------------------------------------------------------

def test_bva_documented_formats_and_samples() -> None:
    signal = read(render(example("delimited", "bva_format")))
    assert (signal.dialect, signal.action, signal.symbol, signal.comment) == (
        "delimited", Action.BUY, "BTC/USDT", "your strategy name")
    full = read(render(example("delimited", "bva_format2")).replace("extra_data", "ema cross")
                .replace("|published|", "|false|").replace("trade_size_pct", "").replace("trading_market", "spot"))
    assert (full.target_position, full.comment) == (PositionSide.LONG, "your strategy name ema cross")
    python = read(example("delimited", "bva_python_sample"))
    node = read(example("delimited", "bva_node_sample"))
    assert (python.comment, node.comment, python.action, node.symbol) == ("Strat Test ABC", "Strat Test", Action.BUY,
                                                                         "BTC/USDT")
    assert "bva key" not in json.dumps(python.summary()).lower()


@pytest.mark.parametrize("text, field, words", [
    ("k|Strat|take|BTCUSDT", "action", "close"),
    ("k|Strat|buy|BTCUSDT|long||false|50|spot", "trade_size_pct", "sizing rule"),
    ("k|Strat|buy|BTCUSDT|long||false||futures", "trading_market", "BTCUSDT.P"),
    ("k|Strat|buy|BTCUSDT|long||maybe", "published", "true or false"),
])
def test_bva_refusals_name_the_field(text: str, field: str, words: str) -> None:
    error = refused(text)
    assert (error.field, words in error.message) == (field, True), error.message


def test_tradestack_positional_example_reads_price_and_interval_never_a_quantity() -> None:
    signal = read(render(example("delimited", "tradestack_positional")))
    assert (signal.action, signal.symbol, signal.price, signal.timeframe, signal.size) == (
        Action.BUY, "BTC/USDT", Decimal("67432.5"), "15", None)
    assert read("sell|BTCUSDT.P|50000").symbol == "BTC/USDT:USDT"
    assert refused(example("delimited", "tradestack_positional"), "delimited").field == "symbol"


def test_proxy_key_value_example_and_the_common_keys() -> None:
    signal = read(render(example("delimited", "proxy_pairs")))
    assert (signal.action, signal.target_position, signal.symbol, signal.price) == (
        Action.BUY, PositionSide.LONG, "BTC/USDT", Decimal("67432.5"))
    full = read("action=sell|symbol=BINANCE:ETHUSDT|qty=2%|type=limit|limit=3100|sl=3200|tp=2900|leverage=3x"
                "|tf=1h|comment=swing|token=hunter2")
    assert (full.action, full.exchange, full.size.unit, full.order_type, full.limit_price, full.stop_loss,
            full.take_profit, full.leverage, full.timeframe, full.comment) == (
        Action.SELL, "binance", SizeUnit.PERCENT_EQUITY, OrderType.LIMIT, Decimal(3100), Decimal(3200), Decimal(2900),
        Decimal(3), "1h", "swing")
    assert "hunter2" not in json.dumps(full.summary())
    ladder = read("side=buy&ticker=BTCUSDT&qty=0.01&sl=2%&tp=5%").exit_ladder
    assert (ladder.stop_loss_percent, ladder.take_profits[0].percent) == (Decimal(2), Decimal(5))


@pytest.mark.parametrize("stamp", ["1715694302", "1715694302000", "2024-05-14T13:45:02Z", "2024-05-14T15:45:02+02:00"])
def test_key_value_times_in_every_format_are_utc(stamp: str) -> None:
    signal = read(f"action=buy|symbol=BTCUSDT|time={stamp}")
    assert signal.signal_time == datetime(2024, 5, 14, 13, 45, 2, tzinfo=UTC)


@pytest.mark.parametrize("text, field", [
    ("action=buy|symbol=BTCUSDT|trail=1%", "trail"),
    ("action=buy|symbol=BTCUSDT|ticker=ETHUSDT", "ticker"),
    ("action=hold|symbol=BTCUSDT", "action"),
    ("action=buy|symbol=BTCUSDT|qty=0", "qty"),
    ("action=buy|symbol=BTCUSDT|type=limit", "limit"),
    ("action=buy|symbol=BTCUSDT|price={{close}}", "price"),
    ("buy|BTCUSDT|{{close}}", "price"),
    ("buy|BTCUSDT|0,5", "price"),
])
def test_delimited_refusals_name_the_key(text: str, field: str) -> None:
    assert refused(text).field == field


@pytest.mark.parametrize("qty", ["0.01", '"0.01"', "'0.01'", " 0.01 "])
def test_delimited_numbers_quoted_or_bare_are_exact(qty: str) -> None:
    assert read(f"action=buy|symbol=BTCUSDT|qty={qty}").size.amount == Decimal("0.01")


# --- Detection, forcing, the corpus ----------------------------------------------------------

@pytest.mark.parametrize("tool, name, dialect", [
    ("wundertrading", "enter_long", "wundertrading"), ("wundertrading", "long_comment", "wundertrading"),
    ("tickerly", "fixed_values", "tickerly"), ("tickerly", "exit_long", "tickerly"),
    ("delimited", "bva_node_sample", "delimited"), ("delimited", "tradestack_positional", "delimited"),
    ("delimited", "proxy_pairs", "delimited"), ("delimited", "bva_python_sample", "delimited"),
])
def test_each_documented_example_is_detected_as_its_own_dialect_first(tool: str, name: str, dialect: str) -> None:
    data = decode_body(raw(render(example(tool, name))))
    claimed = [d for d, module in DIALECTS.items() if module.detect(data)]
    assert claimed[0] == dialect, claimed


def test_a_tickerly_body_traderspost_could_read_is_tickerly_and_dialect_forces_traderspost() -> None:
    body = example("tickerly", "fixed_values")
    data = decode_body(raw(body))
    assert [d for d in ("tickerly", "traderspost", "tradingview") if DIALECTS[d].detect(data)] == [
        "tickerly", "traderspost", "tradingview"]
    assert read(body).dialect == "tickerly"
    assert read(body, "traderspost").dialect == "traderspost"


@pytest.mark.parametrize("body, dialect", [
    ("EXCHANGE=BINANCE\nSYMBOL=BTCUSDT\nSIGNAL=BUY", "octobot"),
    ("EXCHANGE=BINANCE;SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=1", "octobot"),
    ("SYMBOL=BTCUSDT|SIGNAL=BUY|VOLUME=0.1", "delimited"),  # OctoBot's keys claim it; only delimited reads pipes
    ("60123456789,buy,EURUSD,risk=1", "pineconnector"),
    ("MyKeys(BTCUSDT) { market(side=buy, amount=1); } #bot", "alertatron"),
    ({"ticker": "BTCUSDT", "action": "buy", "quantity": "1"}, "traderspost"),
    ({"ticker": "BTCUSDT", "action": "buy"}, "tradingview"),
])
def test_other_dialects_bodies_stay_with_their_dialect(body: Any, dialect: str) -> None:
    assert read(body).dialect == dialect


def _first_claimer(data: Any, names: list[str]) -> str | None:
    return next((name for name in names if DIALECTS[name].detect(data)), None)


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_no_corpus_payload_changes_dialect(path: Path) -> None:
    """The dialect each corpus payload is detected as, with and without the three new dialects."""
    rendered = json.loads(path.read_text(encoding="utf-8"))["rendered"]
    data = decode_body((rendered if isinstance(rendered, str) else json.dumps(rendered)).encode())
    before = [name for name in DIALECTS if name not in NEW]
    assert not any(DIALECTS[name].detect(data) for name in NEW)
    assert _first_claimer(data, list(DIALECTS)) == _first_claimer(data, before)


# --- Through the webhook: storage and the default paper account ------------------------------

def stored(signal_id: str) -> SignalRecord:
    with unit_of_work() as session:
        return session.execute(select(SignalRecord).where(SignalRecord.id == signal_id)).scalar_one()


def post(client, token: str, body: Any, query: str = ""):
    return client.post(f"/webhooks/tradingview/{token}{query}", content=raw(body),
                       headers={"content-type": "application/json" if isinstance(body, dict) else "text/plain"})


@pytest.mark.parametrize("body, secret", [
    (example("wundertrading", "long_comment"), BOT_ID),
    ({"code": f"ENTER-LONG_BINANCE_DOGEUSDT_Bot_5M_{BOT_ID}", "moveToBreakeven": {}}, BOT_ID),
    ({"code": f"ENTER-LONG_BINANCE_{{{{ticker}}}}_Bot_5M_{BOT_ID}"}, BOT_ID),
    (example("tickerly", "fixed_values"), "m1K3Y"),
    ({"ticker": "DOGEUSDT", "hedgemode": "hedge", "pointer": "m1K3Y"}, "m1K3Y"),
    ("your BVA key|Strat Test|buy|DOGEUSDT", "your BVA key"),
    ("your BVA key|Strat Test|take|DOGEUSDT", "your BVA key"),
    (example("delimited", "bva_python_sample"), "your bva key"),
    ("action=buy|symbol=DOGEUSDT|token=hunter2|qty=5", "hunter2"),
    ("token=hunter2|action=buy|symbol=DOGEUSDT|foo=1", "hunter2"),
])
def test_each_tools_credential_is_never_stored(client, db, body: Any, secret: str) -> None:
    answer = post(client, db, body)
    assert answer.status_code in (202, 422), answer.text
    record = stored(answer.json()["signal_id"])
    assert "***" in record.raw_body
    for text in (record.raw_body, record.reason or "", json.dumps(record.payload or {}), answer.text):
        assert secret.lower() not in text.lower(), text


def test_dialect_query_forces_one_through_the_webhook(client, db) -> None:
    answer = post(client, db, example("tickerly", "fixed_values"), "?dialect=traderspost")
    assert answer.status_code == 202 and stored(answer.json()["signal_id"]).dialect == "traderspost"
    answer = post(client, db, {"code": "ENTER-LONG", "ticker": "DOGEUSDT"}, "?dialect=tickerly")
    assert answer.status_code == 422 and answer.json()["field"] == "code"


def quote(symbol: str, bid: str, ask: str) -> None:
    """A fresh quote of the paper account's market-data source, as the streamer writes it: these
    tools' messages carry no price, so the paper venue fills them at the market."""
    from app.domain.marketdata import Quote
    from app.marketdata import cache

    now = datetime.now(UTC)
    cache.write_quote(Quote("binance", symbol, Decimal(bid), Decimal(ask), Decimal(bid), now, now))


def outcome(answer) -> tuple[int, str, str]:
    """(HTTP status, signal status, the first order as "STATUS quantity @ price", or the reason)."""
    signal_id = answer.json()["signal_id"]
    drain_queues()
    with unit_of_work() as session:
        record = session.get(SignalRecord, signal_id)
        order = session.execute(
            select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
            .where(OrderIntentRecord.signal_id == signal_id).order_by(OrderIntentRecord.sequence)
        ).scalars().first()
        if order is None:
            return answer.status_code, record.status, record.reason or "(no orders)"
        fill = session.execute(select(FillRecord).where(FillRecord.order_id == order.id)).scalars().first()
        result = f"{order.status} {fill.quantity.normalize():f} @ {fill.price.normalize():f}" if fill else (
            f"{order.status}: {order.reason}")
    return answer.status_code, record.status, result


# The documented examples, each rendered as TradingView would send it, in the order posted:
# (tool, example, what is added or filled in, the body) → the outcome the default paper account gives.
PAPER = [
    ("WunderTrading", "enter_long", '+ "ticker": "DOGEUSDT"', with_ticker(example("wundertrading", "enter_long"))),
    ("WunderTrading", "exit_long", '+ "ticker": "DOGEUSDT"', with_ticker(example("wundertrading", "exit_long"))),
    ("WunderTrading", "long_comment", "pair DOGEUSDT",
     example("wundertrading", "long_comment").replace("API3USDT", "DOGEUSDT")),
    ("WunderTrading", "enter_long", "as published", example("wundertrading", "enter_long")),
    ("Tickerly", "fixed_values", "as published", example("tickerly", "fixed_values")),
    ("Tickerly", "close_all", "{{ticker}} = BTCUSDT", render(example("tickerly", "close_all"))),
    ("BVA (pipe)", "bva_node_sample", "as published", example("delimited", "bva_node_sample")),
    ("TradeStack (pipe)", "tradestack_positional", "{{ticker}} = DOGEUSDT, {{close}} = 0.1",
     render(example("delimited", "tradestack_positional"), ticker="DOGEUSDT", close="0.1")),
    ("tradingview-proxy (key=value)", "proxy_pairs", "{{ticker}} = DOGEUSDT, {{close}} = 0.1",
     render(example("delimited", "proxy_pairs"), ticker="DOGEUSDT", close="0.1")),
]


def test_documented_examples_on_the_default_paper_account(client, db) -> None:
    """The outcome column of the report, printed as its table's rows."""
    quote("DOGE/USDT", "0.1", "0.1001")
    quote("BTC/USDT", "60000", "60001")
    seen = {}
    for tool, name, change, body in PAPER:
        answer = post(client, db, body)
        seen[(tool, name, change)] = result = outcome(answer)
        print(f"| {tool} | {name} ({change}) | {stored(answer.json()['signal_id']).payload} | {result} |")
    filled = {key: result for key, result in seen.items() if result[2].startswith("FILLED")}
    assert {tool for tool, _, _ in filled} >= {"WunderTrading", "Tickerly", "BVA (pipe)", "TradeStack (pipe)",
                                               "tradingview-proxy (key=value)"}, seen
    assert seen[("WunderTrading", "enter_long", "as published")][:2] == (422, "invalid")
