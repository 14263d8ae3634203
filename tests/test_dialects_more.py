"""PineConnector and Alertatron alerts: each documented example (tests/dialects/*.json, with the
page it comes from), the refusals that name the command, detection that leaves the shared
corpus where it was, hostile input, and the PineConnector License ID kept out of storage."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import unit_of_work
from app.domain.enums import Action, OrderType, PositionSide, SizeUnit
from app.domain.signal import LimitOffset, Signal
from app.errors import SignalParseError
from app.ingest.parsers import parse
from app.persistence.models import SignalRecord
from tests.conftest import CORPUS_DIR

RECEIVED_AT = datetime(2024, 5, 14, 13, 45, 5, tzinfo=UTC)
SAMPLES = Path(__file__).parent / "dialects"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LICENSE = "60123456789"


def example(tool: str, name: str) -> str:
    entry = json.loads((SAMPLES / f"{tool}.json").read_text(encoding="utf-8"))
    assert entry["source"].startswith("https://"), "each sample names the public page it comes from"
    return entry["examples"][name]


def read(text: str, dialect: str | None = None) -> Signal:
    return parse(text.encode(), RECEIVED_AT, dialect=dialect).signal


def refused(text: str, dialect: str | None = None) -> SignalParseError:
    with pytest.raises(SignalParseError) as caught:
        read(text, dialect)
    return caught.value


# --- PineConnector -------------------------------------------------------------------------

def test_pineconnector_documented_buy_with_risk_is_a_percent_of_equity_market_buy() -> None:
    signal = read(example("pineconnector", "buy_risk"))
    assert (signal.dialect, signal.action, signal.symbol, signal.order_type) == (
        "pineconnector", Action.BUY, "AUD/USD", OrderType.MARKET)
    assert (signal.size.amount, signal.size.unit) == (Decimal("0.1"), SizeUnit.PERCENT_EQUITY)
    assert LICENSE not in json.dumps(signal.summary())


def test_pineconnector_documented_close_with_spaces_and_alias_long() -> None:
    signal = read(example("pineconnector", "closelong_spaced"))
    assert (signal.action, signal.target_position, signal.symbol) == (Action.EXIT, PositionSide.FLAT, "GBP/USD")
    assert read(example("pineconnector", "long_alias")).action == Action.BUY


def test_pineconnector_sl_in_pips_is_refused_naming_the_key_not_read_as_a_price() -> None:
    error = refused(example("pineconnector", "sell_sl_pips"))
    assert error.field == "sl" and "sl_price=" in error.message
    assert refused(f"{LICENSE},buy,BTCUSDT,risk=1,tp_pips=40").field == "tp_pips"


def test_pineconnector_absolute_prices_and_a_quoted_comment() -> None:
    signal = read(f'{LICENSE},buylimit,BTCUSDT,risk=2,price=60000,sl_price=58000,tp_price="65000",'
                  'comment="strategy 1"')
    assert (signal.order_type, signal.limit_price, signal.stop_loss, signal.take_profit, signal.comment) == (
        OrderType.LIMIT, Decimal(60000), Decimal(58000), Decimal(65000), "strategy 1")


@pytest.mark.parametrize("command", ["closeall", "buystop", "newsltplong", "eaoff"])
def test_pineconnector_commands_without_an_equivalent_name_the_command_and_the_alternative(command: str) -> None:
    error = refused(f"{LICENSE},{command},EURUSD,risk=1")
    assert error.field == "command" and command in error.message and "no Tradewire equivalent" in error.message


def test_pineconnector_unknown_parameter_and_documented_secret() -> None:
    error = refused(example("pineconnector", "sell_vol_lots_secret"))
    assert error.field == "vol_lots" and "HappyTrader501" not in error.message
    assert read(f"{LICENSE},sell,EURUSD,risk=1, secret=HappyTrader501").action == Action.SELL


@pytest.mark.parametrize("risk", ["1", '"1"', "'1'", " 1 "])
def test_pineconnector_numbers_bare_or_quoted_are_exact(risk: str) -> None:
    assert read(f"{LICENSE},buy,BTCUSDT,risk={risk}").size.amount == Decimal(1)


@pytest.mark.parametrize("text, field", [
    (f"{LICENSE},buy,{{{{ticker}}}},risk=1", "symbol"),
    (f"{LICENSE},buy,BTCUSDT,risk={{{{plot_0}}}}", "risk"),
    (f"{LICENSE},buy,BTCUSDT,risk=0", "risk"),
    (f"{LICENSE},buy,BTCUSDT,risk=101", "risk"),
    (f"{LICENSE},buylimit,BTCUSDT,risk=1", "price"),
])
def test_pineconnector_placeholders_and_bad_numbers_are_refused_naming_the_key(text: str, field: str) -> None:
    assert refused(text).field == field


# --- Alertatron ----------------------------------------------------------------------------

def test_alertatron_documented_market_order() -> None:
    signal = read(example("alertatron", "market"))
    assert (signal.dialect, signal.action, signal.symbol, signal.size.amount, signal.size.unit) == (
        "alertatron", Action.BUY, "BTC/USDT", Decimal(100), SizeUnit.BASE)


def test_alertatron_limit_with_percent_offset_and_stop_loss() -> None:
    signal = read(example("alertatron", "limit_with_stop"))
    assert (signal.action, signal.order_type, signal.limit_offset, signal.stop_loss) == (
        Action.SELL, OrderType.LIMIT, LimitOffset(percent=Decimal(-1)), Decimal(70000))
    assert signal.size.unit == SizeUnit.PERCENT_EQUITY


def test_alertatron_cancel_close_and_take_profit() -> None:
    assert read(example("alertatron", "cancel_all")).action == Action.CANCEL
    assert read(example("alertatron", "close")).target_position == PositionSide.FLAT
    partial = read("K(BTCUSDT) { close(amount=50%p); }")
    assert (partial.action, partial.size.unit) == (Action.EXIT, SizeUnit.PERCENT_POSITION)
    entry = read("K(BTCUSDT) { market(side=buy, amount=0.1); limit(side=sell, amount=0.1, offset=@70000, "
                 "reduceOnly=true); }")
    assert (entry.take_profit, entry.limit_price) == (Decimal(70000), None)


@pytest.mark.parametrize("text, field", [
    ("K(BTCUSDT) { trailingStop(side=sell, amount=1, offset=1%); }", "trailingStop"),
    ("K(BTCUSDT) { stopOrder(side=buy, amount=1, offset=@70000); }", "stoporder"),
    ("K(BTCUSDT) { cancel(which=buy); }", "cancel"),
    ("K(BTCUSDT) { limit(side=buy, amount=1, offset=10); }", "offset"),
    ("K(BTCUSDT) { market(side=buy, amount=50%p); }", "amount"),
    ("K({{ticker}}) { market(side=buy, amount=1); }", "symbol"),
    ("K(BTCUSDT) { market(side=buy, amount={{strategy.order.contracts}}); }", "market.amount"),
])
def test_alertatron_refusals_name_the_command_or_argument(text: str, field: str) -> None:
    assert refused(text).field == field


# --- Detection, hostile input, storage -----------------------------------------------------

@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_no_corpus_payload_is_claimed_by_the_new_dialects(path: Path) -> None:
    from app.ingest.parsers import alertatron, decode_body, pineconnector

    rendered = json.loads(path.read_text(encoding="utf-8"))["rendered"]
    data = decode_body((rendered if isinstance(rendered, str) else json.dumps(rendered)).encode())
    assert not pineconnector.detect(data) and not alertatron.detect(data)


def test_octobot_key_value_text_stays_octobot() -> None:
    assert read("EXCHANGE=BINANCE;SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=1").dialect == "octobot"


PIECES = st.sampled_from(["buy", "sell", "closelong", "closeall", "BTCUSDT", "risk=1", "risk=", "sl=50",
                          "price=1.1", "comment=\"x\"", "{{close}}", "=", ",", "1e999999", "NaN", "", " "])


@FAST
@given(parts=st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=7))
def test_any_comma_text_gives_a_signal_or_a_named_error(parts: list[str]) -> None:
    for dialect in ("pineconnector", None):
        try:
            signal = read(",".join([LICENSE, *parts]), dialect)
        except SignalParseError as e:
            assert e.message and e.field
        else:
            assert LICENSE not in json.dumps(signal.summary())


SCRIPT_PIECES = st.sampled_from(["market", "limit", "stopOrder", "cancel", "close", "wait", "side=buy",
                                 "side=sell", "amount=1", "amount=50%%", "amount=0", "offset=@1", "offset=5%",
                                 "which=all", "position=0", "reduceOnly=true", "{{close}}", "(", ")", ";"])


@FAST
@given(commands=st.lists(st.tuples(SCRIPT_PIECES, st.lists(st.one_of(SCRIPT_PIECES, st.text(max_size=6)),
                                                           max_size=3)), min_size=1, max_size=3))
def test_any_alertatron_script_gives_a_signal_or_a_named_error(commands: list[tuple[str, list[str]]]) -> None:
    body = " ".join(f"{name}({', '.join(args)});" for name, args in commands)
    for dialect in ("alertatron", None):
        try:
            read(f"Keys(BTCUSDT) {{ {body} }} #bot", dialect)
        except SignalParseError as e:
            assert e.message and e.field


def stored(signal_id: str) -> SignalRecord:
    with unit_of_work() as session:
        return session.execute(select(SignalRecord).where(SignalRecord.id == signal_id)).scalar_one()


@pytest.mark.parametrize("text", [f"{LICENSE},buy,DOGEUSDT,risk=1", f"{LICENSE},closeall,DOGEUSDT"])
def test_pineconnector_license_id_is_never_stored(client, db, text: str) -> None:
    answer = client.post(f"/webhooks/tradingview/{db}", content=text.encode(),
                         headers={"content-type": "text/plain"})
    assert answer.status_code in (202, 422), answer.text
    record = stored(answer.json()["signal_id"])
    assert LICENSE not in (record.raw_body or "") and LICENSE not in (record.reason or "")
    assert record.raw_body.startswith("***,")
    assert LICENSE not in json.dumps(answer.json())


def test_documented_alerts_on_the_default_paper_account(client, db) -> None:
    """The outcome column of the report: what the default paper account does with each."""
    outcomes: dict[str, Any] = {}
    for text in (f"{LICENSE},buy,DOGEUSDT,risk=1", "MyKeys(DOGEUSDT) { market(side=buy, amount=100); } #bot",
                 "MyKeys(DOGEUSDT) { cancel(which=all); } #bot"):
        answer = client.post(f"/webhooks/tradingview/{db}", content=text.encode(),
                             headers={"content-type": "text/plain"})
        outcomes[text] = (answer.status_code, answer.json().get("status"), answer.json().get("reason"))
    print(json.dumps(outcomes, indent=1))
    assert all(code == 202 for code, _, _ in outcomes.values()), outcomes
