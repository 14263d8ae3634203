"""End to end on a real-venue account: a TradingView alert → risk (reading the markets the
worker stored) → the queue → the fake Binance through ccxt → one order, FILLED, in the trace."""


from app.bootstrap import create_strategy
from app.db import unit_of_work
from app.jobs.worker import warm_up
from app.persistence.models import Account
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings, binance_account


def test_tradingview_alert_on_a_binance_account_fills_once_on_binance(client, fake, admin, monkeypatch):
    apply_settings(monkeypatch)
    account_id = binance_account(fake, monkeypatch)
    with unit_of_work() as session:
        token = create_strategy(session, "btc-trend", session.get(Account, account_id)).token
    warm_up(["binance"])  # what `tradewire worker` does at start: markets and balances for risk

    alert = {"ticker": "BTCUSDT", "exchange": "BINANCE", "time": "2026-01-01T00:00:00Z", "bar": {"close": "60000"},
             "strategy": {"order_action": "buy", "order_contracts": "0.001", "market_position": "long",
                          "prev_market_position": "flat"}}
    answer = client.post(f"/webhooks/tradingview/{token}", json=alert)
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    drain_queues()
    client.post(f"/webhooks/tradingview/{token}", json=alert)  # TradingView retries the same alert
    drain_queues()

    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    order = trace["intents"][0]["order"]
    assert order["status"] == "FILLED" and order["venue"] == "binance"
    assert order["venue_order_id"] == str(fake.orders[0]["orderId"])
    assert [f["trade_id"] for f in order["fills"]] == [str(fake.trades[0]["id"])]
    assert len(fake.orders) == 1 and fake.count_orders(order["client_order_id"]) == 1
