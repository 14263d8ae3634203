"""Binance USDⓈ-M futures (issue 13): the real ``ccxt.binanceusdm`` against the fake Binance
futures server (``tests/venues/binance_futures.py``, signatures verified), Tradewire's real
paths (webhook → risk → queue → worker, ``execute_intent``, the reconciler) on the session's
PostgreSQL and Redis. Leverage and margin type set once; hedge mode (``dualSidePosition``,
every order naming its ``positionSide``); stop-loss and take-profit resting on the venue as
conditional orders and the reconciler learning of their fills; a position closed by hand.
"""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.execution.service import execute_intent
from app.jobs.reconciler import reconcile
from app.persistence.models import ExitLadderRecord, OrderIntentRecord, OrderRecord, PositionDriftRecord
from tests.perps import orders, positions_of, post_alert, settle, strategy_on
from tests.venues.tradewire import apply_settings, binance_futures_account, make_intent

PERP = "BTC/USDT:USDT"
LEVERAGE, MARGIN, DUAL = "/fapi/v1/leverage", "/fapi/v1/marginType", "/fapi/v1/positionSide/dual"
ORDER, ALGO = "/fapi/v1/order", "/fapi/v1/algoOrder"


@pytest.fixture
def fake(fake_binance_futures):
    return fake_binance_futures


def futures_strategy(fake, monkeypatch, **kwargs) -> str:
    """A Binance USDⓈ-M account with ``[futures]`` = the keywords and a strategy on it; its webhook token."""
    return strategy_on(binance_futures_account, "binanceusdm", fake, monkeypatch, **kwargs)


def alert(client, token: str, **fields) -> dict:
    return post_alert(client, token, "BINANCE:BTCUSDT.P", **fields)


def positions() -> dict[str, Decimal]:
    return positions_of(PERP)


def sent(fake, path: str = ORDER, method: str = "POST") -> list[dict]:
    """The parameters of the requests the fake answered 200 to (signature, timestamp left out)."""
    return [{k: v for k, v in c["params"].items() if k not in ("timestamp", "recvWindow")}
            for c in fake.calls(method, path) if c["status"] == 200]


def test_leverage_and_margin_type_are_set_once_and_not_again(client, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, leverage=5, margin_mode="isolated")
    assert alert(client, token)["status"] == "accepted"
    assert [o.status for o in orders()] == ["FILLED"]
    assert sent(fake, LEVERAGE) == [{"symbol": "BTCUSDT", "leverage": "5"}]
    assert sent(fake, MARGIN) == [{"symbol": "BTCUSDT", "marginType": "ISOLATED"}]
    assert (fake.leverage(PERP), fake.margin_type(PERP)) == (5, "ISOLATED")
    # both set before the entry was sent
    assert fake.calls("POST", MARGIN)[0]["time"] <= fake.calls("POST", LEVERAGE)[0]["time"] \
        <= fake.calls("POST", ORDER)[0]["time"]

    reads = fake.count_calls("GET", "/fapi/v1/symbolConfig")
    assert alert(client, token)["status"] == "accepted"  # the same settings: nothing sent, nothing read
    assert [o.status for o in orders()] == ["FILLED", "FILLED"]
    assert (fake.count_calls("POST", LEVERAGE), fake.count_calls("POST", MARGIN)) == (1, 1)
    assert fake.count_calls("GET", "/fapi/v1/symbolConfig") == reads

    alert(client, token, leverage="8")  # the signal's leverage: set once more, the margin type is kept
    assert sent(fake, LEVERAGE)[-1] == {"symbol": "BTCUSDT", "leverage": "8"} and fake.leverage(PERP) == 8
    assert fake.count_calls("POST", MARGIN) == 1
    assert fake.position_size(PERP) == Decimal("0.03")
    # the venue's position: 0.03 at 60000 with 8x leverage holds 225 USDT of isolated margin
    (row,) = sent_rows = [r for r in fake.engine.position_risk({}) if r["symbol"] == "BTCUSDT"]
    assert (row["positionAmt"], row["isolatedMargin"]) == ("0.03", "225"), sent_rows


def test_hedge_mode_holds_a_long_and_a_short_and_an_exit_closes_the_long_only(client, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge", leverage=4)
    assert alert(client, token)["status"] == "accepted"  # buy: opens the long
    assert sent(fake, DUAL) == [{"dualSidePosition": "true"}] and fake.engine.dual_side
    assert alert(client, token, action="sell", size="0.02")["status"] == "accepted"  # sell: a short beside it
    entries = sent(fake)
    assert [(o["side"], o["positionSide"], o["quantity"]) for o in entries] == [
        ("BUY", "LONG", "0.01"), ("SELL", "SHORT", "0.02")]
    assert all("reduceOnly" not in o for o in entries)  # -1106 in hedge mode: the position side says it
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal("0.01"), Decimal("-0.02"))
    assert positions() == {"long": Decimal("0.01"), "short": Decimal("-0.02")}
    assert fake.count_calls("POST", DUAL) == 1  # set once, remembered

    # TradingView's close of the long: an exit with the previous position long
    closed = alert(client, token, action="exit", prev_position="long")
    assert closed["status"] == "accepted"
    close = sent(fake)[-1]
    assert (close["side"], close["positionSide"], close["quantity"], "reduceOnly" in close) == (
        "SELL", "LONG", "0.01", False)
    assert [o.status for o in orders()] == ["FILLED", "FILLED", "FILLED"]
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal(0), Decimal("-0.02"))
    assert positions() == {"long": Decimal(0), "short": Decimal("-0.02")}
    # the venue's position rows (positionRisk) agree with the ledger, side by side
    venue = {r["positionSide"]: Decimal(r["positionAmt"]) for r in fake.engine.position_risk({"symbol": "BTCUSDT"})}
    assert venue == {"SHORT": Decimal("-0.02")}
    assert reconcile().drifts == 0
    with unit_of_work() as session:
        assert session.execute(select(PositionDriftRecord)).scalars().all() == []


def protective_orders(entry) -> list[tuple]:
    """The ledger's protective orders of ``entry``: (purpose, status, filled quantity)."""
    with unit_of_work() as session:
        rows = session.execute(select(OrderIntentRecord.purpose, OrderRecord.status, OrderRecord.filled_quantity)
                               .join(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
                               .where(OrderIntentRecord.parent_intent_id == entry.id)
                               .order_by(OrderIntentRecord.purpose)).all()
    return [tuple(r) for r in rows]


def test_stop_loss_and_take_profit_rest_on_the_venue_and_the_filled_stop_cancels_the_take_profit(
        fake, db, monkeypatch):
    apply_settings(monkeypatch)
    account = binance_futures_account(fake, monkeypatch)
    entry = make_intent(account, symbol=PERP, quantity="0.02", stop_loss="58500", take_profit="62000")
    assert execute_intent(entry.id).value == "FILLED"
    settle()  # entry.filled: the protective orders are written and placed
    placed = sent(fake, ALGO)
    assert sorted((o["type"], o["side"], o["triggerPrice"], o["quantity"], o["reduceOnly"], o["algoType"])
                  for o in placed) == [("STOP_MARKET", "SELL", "58500", "0.02", "true", "CONDITIONAL"),
                                       ("TAKE_PROFIT_MARKET", "SELL", "62000", "0.02", "true", "CONDITIONAL")]
    assert all("positionSide" not in o for o in placed)  # one-way mode: BOTH, by default
    assert [(a["orderType"], a["algoStatus"]) for a in fake.algo_orders()] == [
        ("STOP_MARKET", "NEW"), ("TAKE_PROFIT_MARKET", "NEW")]
    assert protective_orders(entry) == [("stop_loss", "ACCEPTED", 0), ("take_profit", "ACCEPTED", 0)]

    fake.set_price(PERP, "58400")  # the stop triggers on the venue: the position is closed there
    assert fake.position_size(PERP) == 0
    reconcile()  # Tradewire learns of the fill from the reconciler...
    settle()  # ...and position.flat cancels the take-profit
    assert protective_orders(entry) == [("stop_loss", "FILLED", Decimal("0.02")), ("take_profit", "CANCELED", 0)]
    assert [(a["orderType"], a["algoStatus"]) for a in fake.algo_orders()] == [
        ("STOP_MARKET", "FINISHED"), ("TAKE_PROFIT_MARKET", "CANCELED")]
    assert positions() == {"net": Decimal(0)}
    with unit_of_work() as session:
        stop = session.execute(select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
                               .where(OrderIntentRecord.parent_intent_id == entry.id,
                                      OrderIntentRecord.purpose == "stop_loss")).scalar_one()
    assert stop.average_price == Decimal("58400")


def drifts() -> list[PositionDriftRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(PositionDriftRecord).order_by(PositionDriftRecord.detected_at)).scalars())


def test_a_position_closed_by_hand_on_the_exchange_is_a_drift(client, admin, fake, db, monkeypatch):
    apply_settings(monkeypatch)
    account = binance_futures_account(fake, monkeypatch)
    assert execute_intent(make_intent(account, symbol=PERP, quantity="0.01").id).value == "FILLED"
    assert reconcile().drifts == 0 and drifts() == []  # the ledger and the venue agree

    fake.close_by_hand(PERP)  # on the exchange's site, not through Tradewire
    assert fake.position_size(PERP) == 0
    assert reconcile().drifts == 1
    (drift,) = drifts()
    assert (drift.kind, drift.ledger_quantity, drift.venue_quantity, drift.action, drift.resolved_at) == (
        "closed_on_venue", Decimal("0.01"), Decimal(0), "reported", None)
    assert "closed on the venue (liquidation, or closed by hand on the exchange)" in drift.detail
    assert reconcile().drifts == 0 and len(drifts()) == 1  # seen again: the same drift
    assert positions() == {"net": Decimal("0.01")}  # report mode: the ledger is left as it was
    shown = client.get("/api/v1/drifts", headers=admin).json()
    assert [(d["account"], d["symbol"], d["kind"], d["ledger_quantity"], d["venue_quantity"]) for d in shown] == [
        ("binance-usdm-test", PERP, "closed_on_venue", "0.01", "0")]


def test_hedge_mode_a_short_closed_by_hand_is_a_drift_of_the_short_alone(client, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge")
    alert(client, token)
    alert(client, token, action="sell", size="0.02")
    assert reconcile().drifts == 0
    fake.close_by_hand(PERP, "short")
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal("0.01"), Decimal(0))
    assert reconcile().drifts == 1
    (drift,) = drifts()
    assert (drift.position_side, drift.kind, drift.ledger_quantity, drift.venue_quantity) == (
        "short", "closed_on_venue", Decimal("-0.02"), Decimal(0))
    assert "(short position)" in drift.detail


def resting(fake) -> list[tuple]:
    """The venue's waiting conditional orders: (orderType, side, positionSide, triggerPrice, quantity, reduceOnly)."""
    return sorted((a["orderType"], a["side"], a["positionSide"], a["triggerPrice"], a["quantity"], a["reduceOnly"])
                  for a in fake.algo_orders("NEW"))


def test_hedge_mode_native_ladder_rests_per_side_and_a_filled_take_profit_moves_the_stop(client, fake, monkeypatch):
    ladder = {"take_profits": [{"price": "60600", "fraction": "0.5"}], "stop_loss": "59000", "break_even_after": 1}
    token = futures_strategy(fake, monkeypatch, position_mode="hedge", strategy={"exit_ladder": ladder})
    alert(client, token, size="0.02", target_position="long", prev_position="flat")
    alert(client, token, action="sell", position_side="short", exit_ladder={"stop_loss": "61500"})
    settle()
    assert resting(fake) == [
        ("STOP_MARKET", "BUY", "SHORT", "61500", "0.01", False),  # the short's stop
        ("STOP_MARKET", "SELL", "LONG", "59000", "0.02", False),  # the long's stop, all of it
        ("TAKE_PROFIT_MARKET", "SELL", "LONG", "60600", "0.01", False)]  # the long's take-profit, half
    assert all("reduceOnly" not in o and o["algoType"] == "CONDITIONAL" for o in sent(fake, ALGO))

    fake.set_price(PERP, "60700")  # the take-profit triggers on the venue: half the long is sold
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal("0.01"), Decimal("-0.01"))
    reconcile()
    settle()
    assert positions() == {"long": Decimal("0.01"), "short": Decimal("-0.01")}
    assert resting(fake) == [
        ("STOP_MARKET", "BUY", "SHORT", "61500", "0.01", False),  # untouched
        ("STOP_MARKET", "SELL", "LONG", "60000", "0.01", False)]  # break-even for the rest of the long
    assert [a["algoStatus"] for a in fake.algo_orders() if a["triggerPrice"] == "59000"] == ["CANCELED"]
    with unit_of_work() as session:
        ladders = {r.position_side: (r.status, r.taken, r.closed, r.stop)
                   for r in session.execute(select(ExitLadderRecord)).scalars()}
    assert ladders == {"long": ("active", 1, Decimal("0.01"), Decimal("60000")),
                       "short": ("active", 0, Decimal(0), Decimal("61500"))}
    assert reconcile().drifts == 0


def test_the_fake_answers_the_real_ccxt_class_as_binance_documents(fake):
    """The fake's own rules, through ``ccxt.binanceusdm``. Against a host other than
    fapi.binance.com ccxt applies only its common error table (``get_exceptions_by_url``), so
    -2021 / -2022 / -4061 arrive as ``ExchangeError`` here, not as the linear table's classes."""
    import ccxt

    from tests.venues import make_ccxt_binanceusdm

    ex = make_ccxt_binanceusdm(fake)
    ex.set_margin_mode("isolated", PERP)
    with pytest.raises(ccxt.MarginModeAlreadySet, match="-4046"):  # Tradewire takes it as "already set"
        ex.set_margin_mode("isolated", PERP)
    ex.set_leverage(3, PERP)
    assert ex.fetch_leverage(PERP)["longLeverage"] == 3 and ex.fetch_margin_mode(PERP)["marginMode"] == "isolated"

    ex.create_order(PERP, "market", "buy", 0.01, None, {"clientOrderId": "a1"})
    with pytest.raises(ccxt.ExchangeError, match="-2021"):  # a stop the price has already crossed
        ex.create_order(PERP, "market", "sell", 0.01, None, {"stopLossPrice": 60100, "reduceOnly": True})
    cut = ex.create_order(PERP, "market", "sell", 0.05, None, {"reduceOnly": True, "clientOrderId": "a2"})
    assert (cut["amount"], cut["filled"], cut["status"]) == (0.01, 0.01, "closed")  # cut to the position
    with pytest.raises(ccxt.ExchangeError, match="-2022"):  # nothing left to reduce
        ex.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.ExchangeError, match="-4059"):
        ex.set_position_mode(False)

    ex.set_position_mode(True)
    with pytest.raises(ccxt.ExchangeError, match="-4061"):  # hedge mode: the order must name its side
        ex.create_order(PERP, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="-1106"):  # and reduceOnly is not read
        ex.create_order(PERP, "market", "buy", 0.01, None, {"positionSide": "LONG", "reduceOnly": False})
    ex.create_order(PERP, "market", "buy", 0.01, None, {"hedged": True})  # ccxt: positionSide LONG
    ex.create_order(PERP, "market", "sell", 0.02, None, {"hedged": True})  # SHORT
    held = {(p["side"], p["contracts"], p["hedged"]) for p in ex.fetch_positions()}
    assert held == {("long", 0.01, True), ("short", 0.02, True)}
    # margin = notional / leverage: 0.03 × 60000 / 3 = 600 USDT of the wallet in use
    assert ex.fetch_balance()["USDT"]["used"] == 600
