"""Futures settings (issue 13): leverage and margin mode set on the venue before an entry, once
per (account, symbol); refusals by the venue or by ``max_leverage``; hedge mode (a long and a
short per symbol, each closed on its own, drifts per side); the sender's ``prev_position``
checked against the ledger. Real ``ccxt.bybit`` against the fake
Bybit v5 (signatures verified), alerts through the webhook, the risk engine and the queue."""

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.db import unit_of_work
from app.jobs.reconciler import reconcile
from app.persistence.models import ExitLadderRecord, PositionDriftRecord, Strategy
from tests.perps import orders, positions_of, post_alert, settle, strategy_on
from tests.venues.tradewire import bybit_account

PERP = "BTC/USDT:USDT"
LEVERAGE, MARGIN, SWITCH, CREATE = ("/v5/position/set-leverage", "/v5/account/set-margin-mode",
                                    "/v5/position/switch-mode", "/v5/order/create")


@pytest.fixture
def fake(fake_bybit):
    return fake_bybit


def futures_strategy(fake, monkeypatch, **kwargs) -> str:
    """A Bybit account with ``[futures]`` = the keywords and a strategy on it; its webhook token."""
    return strategy_on(bybit_account, "bybit", fake, monkeypatch, **kwargs)


def alert(client, token: str, **fields) -> dict:
    return post_alert(client, token, "BYBIT:BTCUSDT.P", **fields)


def trace(client, admin, answer: dict) -> dict:
    return client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()


def check(trace_: dict, name: str) -> dict:
    return next(c for c in trace_["decision"]["checks"] if c["check"] == name)


def test_leverage_and_margin_mode_are_set_once_and_not_again(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, leverage=5, margin_mode="isolated")
    first = alert(client, token)
    assert first["status"] == "accepted"
    assert orders()[0].status == "FILLED"
    assert (fake.count_calls("POST", LEVERAGE), fake.count_calls("POST", MARGIN)) == (1, 1)
    assert fake.leverage(PERP) == Decimal(5) and fake.engine.margin_mode == "ISOLATED_MARGIN"
    sent = fake.calls("POST", LEVERAGE)[0]["params"]
    assert (sent["buyLeverage"], sent["sellLeverage"]) == ("5", "5")
    assert fake.calls("POST", MARGIN)[0]["params"]["setMarginMode"] == "ISOLATED_MARGIN"
    # set before the entry was sent
    assert fake.calls("POST", LEVERAGE)[0]["time"] <= fake.calls("POST", CREATE)[0]["time"]

    shown = trace(client, admin, first)
    assert "leverage 5x (config), margin isolated (config)" in check(shown, "futures")["detail"]
    reasons = [e["reason"] or "" for e in shown["intents"][0]["order"]["events"]]
    assert any("futures: set margin isolated, leverage 5x on bybit" in r for r in reasons), reasons

    reads = fake.count_calls("GET", "/v5/position/list")
    second = alert(client, token)  # the same settings: nothing is sent again, nothing is read
    assert second["status"] == "accepted" and [o.status for o in orders()] == ["FILLED", "FILLED"]
    assert (fake.count_calls("POST", LEVERAGE), fake.count_calls("POST", MARGIN)) == (1, 1)
    assert fake.count_calls("GET", "/v5/position/list") == reads
    assert any("already set on bybit" in (e["reason"] or "")
               for e in trace(client, admin, second)["intents"][0]["order"]["events"])

    alert(client, token, leverage="7")  # the signal's leverage wins over the account's: set once more
    assert fake.count_calls("POST", LEVERAGE) == 2 and fake.leverage(PERP) == Decimal(7)
    assert fake.count_calls("POST", MARGIN) == 1
    settings = client.get("/api/v1/futures-settings", headers=admin).json()
    assert [(s["symbol"], s["leverage"], s["margin_mode"]) for s in settings] == [(PERP, "7", "isolated")]
    assert fake.position_size(PERP) == Decimal("0.03")


def test_a_setting_already_on_the_venue_is_not_sent(client, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, leverage=10, margin_mode="cross")  # the venue's defaults
    alert(client, token)
    assert orders()[0].status == "FILLED"
    assert (fake.count_calls("POST", LEVERAGE), fake.count_calls("POST", MARGIN)) == (0, 0)
    assert fake.count_calls("GET", "/v5/account/info") == 1  # read once, then remembered
    alert(client, token)
    assert fake.count_calls("GET", "/v5/account/info") == 1


def test_a_leverage_the_venue_refuses_denies_the_entry_with_its_message_and_places_nothing(client, admin, fake,
                                                                                           monkeypatch):
    token = futures_strategy(fake, monkeypatch)
    answer = alert(client, token, leverage="150")  # Bybit's BTCUSDT allows 1–100
    assert answer["status"] == "accepted"  # risk had no cap to apply; the venue refuses
    (order,) = orders()
    assert order.status == "DENIED"
    assert "bybit refused the futures settings (leverage 150x)" in order.reason
    assert "leverage 150 is out of range [1, 100]" in order.reason  # the venue's own message
    assert fake.count_calls("POST", LEVERAGE) == 1 and fake.count_calls("POST", CREATE) == 0
    assert fake.leverage(PERP) == Decimal(10) and fake.position_size(PERP) == 0
    assert trace(client, admin, answer)["intents"][0]["order"]["status"] == "DENIED"


def test_max_leverage_refuses_a_higher_request_in_risk(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, leverage=5, max_leverage=10,
                             symbols={PERP: {"max_leverage": 8}})
    answer = alert(client, token, leverage="9")
    assert answer["status"] == "rejected"
    reason = trace(client, admin, answer)["decision"]["reason"]
    assert reason == "leverage 9x (signal) exceeds max_leverage 8x for BTC/USDT:USDT"
    assert orders() == [] and fake.count_calls("POST", LEVERAGE) == 0 and fake.count_calls("POST", CREATE) == 0
    assert alert(client, token, leverage="8")["status"] == "accepted"  # at the cap: allowed
    assert fake.leverage(PERP) == Decimal(8)


def positions() -> dict[str, Decimal]:
    return positions_of(PERP)


def test_hedge_mode_keeps_a_long_and_a_short_and_closes_each_on_its_own(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge", leverage=5)
    opened_long = alert(client, token)  # buy: opens the long
    assert opened_long["status"] == "accepted"
    assert fake.calls("POST", SWITCH)[0]["params"]["mode"] == 3 and fake.engine.position_mode == 3
    long_order = fake.calls("POST", CREATE)[-1]["params"]
    assert (long_order["side"], long_order["positionIdx"]) == ("Buy", 1)
    shown = trace(client, admin, opened_long)
    assert check(shown, "futures")["detail"].endswith("position mode hedge; acts on the long position")

    opened_short = alert(client, token, action="sell", size="0.02")  # sell: opens the short beside it
    assert opened_short["status"] == "accepted"
    assert fake.calls("POST", CREATE)[-1]["params"]["positionIdx"] == 2
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal("0.01"), Decimal("-0.02"))
    assert positions() == {"long": Decimal("0.01"), "short": Decimal("-0.02")}
    assert fake.count_calls("POST", SWITCH) == 1  # set once, remembered

    # TradingView's close of the long (target flat, previous long): a sell on the long only
    closed = alert(client, token, action="sell", target_position="flat", prev_position="long")
    assert closed["status"] == "accepted"
    sent = fake.calls("POST", CREATE)[-1]["params"]
    assert (sent["side"], sent["positionIdx"], sent["qty"]) == ("Sell", 1, "0.01")
    assert positions() == {"long": Decimal(0), "short": Decimal("-0.02")}
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal(0), Decimal("-0.02"))

    again = alert(client, token, action="exit", prev_position="long")  # nothing left on the long
    assert again["status"] == "rejected"
    assert trace(client, admin, again)["decision"]["reason"].startswith("exit closes the long BTC/USDT:USDT position "
                                                                        "but there is none")
    unsaid = alert(client, token, action="exit")  # which side? refused, not guessed
    assert unsaid["status"] == "rejected"
    assert trace(client, admin, unsaid)["decision"]["reason"] == (
        "the account trades in hedge mode: say which position this exit closes (position_side long / short, "
        "or prev_position)")
    half = alert(client, token, action="buy", position_side="short", size="0.01")  # a buy on the short reduces it
    assert half["status"] == "accepted"
    assert positions()["short"] == Decimal("-0.01") and fake.position_size(PERP, "short") == Decimal("-0.01")
    assert positions()["long"] == 0  # the buy did not open a long

    listed = client.get("/api/v1/positions", params={"open": True}, headers=admin).json()
    assert [(p["symbol"], p["position_side"], p["quantity"]) for p in listed] == [(PERP, "short", "-0.01")]

    # closed by hand on the exchange: a drift of the short alone
    fake.close_by_hand(PERP, "short")
    assert reconcile().drifts == 1
    with unit_of_work() as session:
        (drift,) = session.execute(select(PositionDriftRecord)).scalars().all()
    assert (drift.position_side, drift.kind, drift.ledger_quantity, drift.venue_quantity) == (
        "short", "closed_on_venue", Decimal("-0.01"), Decimal(0))
    assert "(short position)" in drift.detail


def test_a_tradingview_reversal_in_hedge_mode_closes_the_long_then_opens_the_short(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge")
    alert(client, token, target_position="long", prev_position="flat")
    assert positions() == {"long": Decimal("0.01")}
    # {{strategy.order.action}} sell, market_position short, prev_market_position long
    reversed_ = alert(client, token, action="sell", size="0.02", target_position="short", prev_position="long")
    assert reversed_["status"] == "accepted"
    sent = [c["params"] for c in fake.calls("POST", CREATE)[-2:]]
    assert [(c["side"], c["positionIdx"], c["qty"]) for c in sent] == [("Sell", 1, "0.01"), ("Sell", 2, "0.02")]
    assert positions() == {"long": Decimal(0), "short": Decimal("-0.02")}
    shown = trace(client, admin, reversed_)
    assert check(shown, "position_sync").get("detail") is None  # the sender's long was the ledger's long
    assert [i["position_side"] for i in shown["intents"]] == ["long", "short"]


def resting(fake) -> list[tuple]:
    """The venue's untriggered conditional orders: (side, positionIdx, trigger, qty)."""
    with fake.engine.lock:
        return sorted((o["side"], o.get("idx", 0), str(o["trigger"]), str(o["qty"]))
                      for o in fake.engine.orders if o["status"] == "Untriggered")


def test_hedge_mode_native_ladder_protects_its_side_and_closing_the_long_leaves_the_short_alone(
        client, admin, fake, monkeypatch):
    ladder = {"take_profits": [{"price": "60600", "fraction": "0.5"}], "stop_loss": "59000"}
    token = futures_strategy(fake, monkeypatch, position_mode="hedge", strategy={"exit_ladder": ladder})
    alert(client, token, size="0.02", target_position="long", prev_position="flat")
    alert(client, token, action="sell", position_side="short", exit_ladder={"stop_loss": "61500"})
    settle()
    assert resting(fake) == [("Buy", 2, "61500", "0.01"),                       # the short's stop
                             ("Sell", 1, "59000", "0.02"), ("Sell", 1, "60600", "0.01")]  # the long's ladder
    closed = alert(client, token, action="exit", prev_position="long", size="0.02")
    assert closed["status"] == "accepted"
    settle()
    assert positions() == {"long": Decimal(0), "short": Decimal("-0.01")}
    assert resting(fake) == [("Buy", 2, "61500", "0.01")]  # the long's ladder is gone, the short's stop stays
    with unit_of_work() as session:
        ladders = dict(session.execute(select(ExitLadderRecord.position_side, ExitLadderRecord.status)).all())
    assert ladders == {"long": "cancelled", "short": "active"}


def test_position_side_on_a_one_way_account_is_refused(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch)
    answer = alert(client, token, position_side="long")
    assert answer["status"] == "rejected"
    assert trace(client, admin, answer)["decision"]["reason"] == (
        "position_side long applies to hedge mode; the account's position_mode is not set (one-way: one net "
        "position per symbol)")
    assert fake.count_calls("POST", CREATE) == 0 and orders() == []


def test_close_all_in_hedge_mode_closes_the_long_and_the_short(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge")
    alert(client, token)
    alert(client, token, action="sell", size="0.03")
    assert positions() == {"long": Decimal("0.01"), "short": Decimal("-0.03")}
    flat = alert(client, token, action="close_all")
    assert flat["status"] == "accepted"
    assert positions() == {"long": Decimal(0), "short": Decimal(0)}
    assert (fake.position_size(PERP, "long"), fake.position_size(PERP, "short")) == (Decimal(0), Decimal(0))
    closes = [c["params"] for c in fake.calls("POST", CREATE)[-2:]]
    assert sorted((c["side"], c["positionIdx"], c["qty"]) for c in closes) == [("Buy", 2, "0.03"), ("Sell", 1, "0.01")]


def test_prev_position_that_disagrees_with_the_ledger_warns_or_rejects(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch)
    warned = alert(client, token, prev_position="long")  # the ledger is flat
    assert warned["status"] == "accepted"
    detail = check(trace(client, admin, warned), "position_sync")["detail"]
    assert detail == "desync: the sender's prev_position is long but the ledger holds 0 BTC/USDT:USDT (flat)"

    with unit_of_work() as session:
        session.execute(update(Strategy).where(Strategy.name == "perp-trend").values(
            settings={"account": "bybit-test", "on_desync": "reject"}))
    rejected = alert(client, token, prev_position="flat")  # the ledger now holds 0.01
    assert rejected["status"] == "rejected"
    assert trace(client, admin, rejected)["decision"]["reason"] == (
        "desync: the sender's prev_position is flat but the ledger holds 0.01 BTC/USDT:USDT (long); "
        "the strategy's on_desync is reject")
    assert alert(client, token, prev_position="long")["status"] == "accepted"  # agrees: no warning
