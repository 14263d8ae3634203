"""The reconciler: follows non-terminal orders to the end and reports open orders on the venue
that Tradewire did not place (log, table, ``GET /api/v1/venues``) without touching them."""

import logging


from app.execution.service import execute_intent
from app.jobs.reconciler import reconcile
from tests.venues import make_ccxt_binance
from tests.venues.tradewire import make_intent, order_of


def test_resting_order_is_followed_until_filled(fake, account):
    intent = make_intent(account, order_type="limit", limit_price="59000", quantity="0.001")
    execute_intent(intent.id)
    reconcile()
    assert order_of(intent).status == "ACCEPTED"
    fake.set_price("BTC/USDT", "58500")
    report = reconcile()
    assert order_of(intent).status == "FILLED" and report.followed == {"FILLED": 1}
    assert reconcile().followed == {}  # terminal orders are no longer followed


def test_order_canceled_on_the_venue_by_hand_is_recorded_canceled(fake, account):
    intent = make_intent(account, order_type="limit", limit_price="50000", quantity="0.001")
    execute_intent(intent.id)
    make_ccxt_binance(fake).cancel_order(None, "BTC/USDT", {"origClientOrderId": intent.client_order_id})
    reconcile()
    assert order_of(intent).status == "CANCELED"


def test_foreign_open_orders_are_reported_not_touched(client, fake, account, admin, caplog):
    ours = make_intent(account, order_type="limit", limit_price="50000", quantity="0.001")
    execute_intent(ours.id)
    manual = make_ccxt_binance(fake).create_order("ETH/USDT", "limit", "sell", 0.5, 3500, {"clientOrderId": "by-hand"})

    with caplog.at_level(logging.WARNING, logger="app.jobs.reconciler"):
        assert reconcile().foreign == 1
    assert "not placed by Tradewire" in caplog.text and manual["id"] in caplog.text
    venues = {v["venue"]: v for v in client.get("/api/v1/venues", headers=admin).json()}
    [reported] = venues["binance"]["foreign_open_orders"]
    assert (reported["venue_order_id"], reported["client_order_id"], reported["symbol"], reported["quantity"]) == (
        manual["id"], "by-hand", "ETH/USDT", "0.5")
    assert reported["account"] == "binance-test"
    assert [o["status"] for o in fake.orders if o["clientOrderId"] == "by-hand"] == ["NEW"]

    make_ccxt_binance(fake).cancel_order(manual["id"], "ETH/USDT")  # the owner closes it
    assert reconcile().foreign == 0
    assert client.get("/api/v1/venues", headers=admin).json()[0]["foreign_open_orders"] == []
