"""Cancel: ``POST /api/v1/orders/{id}/cancel`` and the ``cancel_open_orders`` job, against the
fake Binance through the real ccxt. Orders Tradewire did not place are never touched."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update

from app.db import unit_of_work
from app.execution.service import claim, execute_intent
from app.jobs.queue import get_queue
from app.persistence.models import OrderRecord
from tests.conftest import drain_queues
from tests.venues import make_ccxt_binance
from tests.venues.tradewire import events_of, intent_status, make_intent, order_of


def resting(account, price="50000", quantity="0.002", symbol="BTC/USDT"):
    intent = make_intent(account, symbol=symbol, order_type="limit", limit_price=price, quantity=quantity)
    assert execute_intent(intent.id).value == "ACCEPTED"
    return intent


def venue_status(fake, intent) -> str:
    return next(o["status"] for o in fake.orders if o["clientOrderId"] == intent.client_order_id)


def test_cancel_endpoint_cancels_a_resting_order_on_the_venue(client, fake, account, admin):
    intent = resting(account)
    answer = client.post(f"/api/v1/orders/{order_of(intent).id}/cancel", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELED"
    assert [e["to"] for e in answer.json()["events"]][-1] == "CANCELED"
    assert venue_status(fake, intent) == "CANCELED"
    assert intent_status(intent) == "done"


def test_cancel_after_a_partial_fill_keeps_the_fill(client, fake, account, admin):
    intent = resting(account)
    fake.fill_partially(intent.client_order_id, "0.001")
    answer = client.post(f"/api/v1/orders/{order_of(intent).id}/cancel", headers=admin).json()
    assert answer["status"] == "CANCELED" and answer["filled_quantity"] == "0.001"
    assert [f["quantity"] for f in answer["fills"]] == ["0.001"]


def test_cancel_of_a_filled_order_is_409_and_changes_nothing(client, fake, account, admin):
    intent = make_intent(account)
    execute_intent(intent.id)
    answer = client.post(f"/api/v1/orders/{order_of(intent).id}/cancel", headers=admin)
    assert answer.status_code == 409 and answer.json()["code"] == "conflict"
    assert "FILLED" in answer.json()["message"]
    assert order_of(intent).status == "FILLED"


def test_cancel_of_an_order_that_filled_meanwhile_records_the_fill(client, fake, account, admin):
    intent = resting(account, price="59000")
    fake.set_price("BTC/USDT", "58000")  # it fills on the venue; we have not seen it yet
    answer = client.post(f"/api/v1/orders/{order_of(intent).id}/cancel", headers=admin).json()
    assert answer["status"] == "FILLED" and answer["filled_quantity"] == "0.002"


def test_cancel_needs_the_admin_token_and_an_existing_order(client, db, admin):
    assert client.post("/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel").status_code == 401
    missing = client.post("/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel", headers=admin)
    assert missing.status_code == 404


def test_cancel_of_an_unacknowledged_order_waits_for_the_grace_window_then_stops_it(client, fake, account, admin):
    intent = make_intent(account)
    claim(intent.id)  # sent (as far as we know), never answered, not on the venue
    order_id = order_of(intent).id
    early = client.post(f"/api/v1/orders/{order_id}/cancel", headers=admin)
    assert early.status_code == 409 and "retry the cancel after" in early.json()["message"]
    with unit_of_work() as session:
        session.execute(update(OrderRecord).where(OrderRecord.id == order_id)
                        .values(last_sent_at=datetime.now(UTC) - timedelta(minutes=1)))
    late = client.post(f"/api/v1/orders/{order_id}/cancel", headers=admin).json()
    assert late["status"] == "CANCELED" and "will not be sent again" in late["reason"]
    assert execute_intent(intent.id) is None  # a re-run of its job sends nothing
    assert fake.count_orders(intent.client_order_id) == 0


def test_cancel_open_orders_job_cancels_ours_in_the_symbol_and_leaves_foreign_orders(fake, account):
    btc, eth = resting(account), resting(account, symbol="ETH/USDT", price="2500", quantity="0.01")
    filled = make_intent(account)
    execute_intent(filled.id)
    foreign = make_ccxt_binance(fake).create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "manual-1"})

    get_queue("binance").enqueue("app.jobs.tasks.cancel_open_orders", str(account), "BTC/USDT")
    drain_queues()
    assert order_of(btc).status == "CANCELED" and venue_status(fake, btc) == "CANCELED"
    assert order_of(eth).status == "ACCEPTED" and venue_status(fake, eth) == "NEW"
    assert order_of(filled).status == "FILLED"
    assert next(o for o in fake.orders if o["orderId"] == int(foreign["id"]))["status"] == "NEW"

    get_queue("binance").enqueue("app.jobs.tasks.cancel_open_orders", str(account))
    drain_queues()
    assert order_of(eth).status == "CANCELED"
    assert next(o for o in fake.orders if o["orderId"] == int(foreign["id"]))["status"] == "NEW"
    assert all(to != "SUBMITTED" or frm != "SUBMITTED" for frm, to, _ in events_of(eth))
    assert fake.balances["USDT"]["locked"] == Decimal("40.04")  # only the foreign order's reserve
