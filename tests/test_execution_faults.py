"""Every fault of the fake Binance on the order send: exactly one order on the venue per
intent (none when the venue rejects it for good), and the intent's order ends terminal.

The job runs as in production (RQ SimpleWorker on the venue queue); the reconciler then
follows what is left in doubt, as the scheduler would.
"""

from decimal import Decimal

import pytest

from app.jobs.queue import enqueue_intent
from app.jobs.reconciler import reconcile
from tests.conftest import drain_queues
from tests.venues import start_fake_binance
from tests.venues.binance_spot import ROUTES
from tests.venues.tradewire import apply_settings, binance_account, eventually, events_of, intent_status, make_intent, order_of

ORDER = "/api/v3/order"


@pytest.fixture
def fake():
    server = start_fake_binance()
    yield server
    server.stop()
    assert server.unknown_requests == [], server.unknown_requests
    assert server.server_errors == [], server.server_errors[-1:]
    assert server.endpoints_called() <= set(ROUTES)


@pytest.fixture
def account(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    return binance_account(fake, monkeypatch)


def run_job(intent) -> None:
    enqueue_intent(intent.id, intent.client_order_id, "binance")
    drain_queues()


def terminal(intent) -> bool:
    order = order_of(intent)
    return order is not None and order.status in ("FILLED", "REJECTED", "CANCELED", "EXPIRED")


# fault → (inject kwargs, final status, orders on the venue, a phrase the order's events carry)
FAULTS = {
    "delay_before_store": (dict(kind="delay_before_store", delay=1.2), "FILLED", 1, "not found on binance yet"),
    "delay_after_store": (dict(kind="delay_after_store", delay=1.2), "FILLED", 1, "RequestTimeout"),
    "http_500": (dict(kind="http_500"), "FILLED", 1, "send 2 with the same client order id"),
    "http_500_after_store": (dict(kind="http_500", store=True), "FILLED", 1, "ExchangeNotAvailable"),
    "rate_limit": (dict(kind="rate_limit"), "FILLED", 1, "DDoSProtection"),
    "min_notional": (dict(kind="min_notional"), "REJECTED", 0, "Filter failure: NOTIONAL"),
    "duplicate": (dict(kind="duplicate"), "FILLED", 1, "Duplicate order sent"),
    "timestamp": (dict(kind="timestamp"), "FILLED", 1, "InvalidNonce"),
}


@pytest.mark.faults
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_on_the_send_leaves_exactly_one_order_per_intent(fake, account, fault):
    inject, final, on_venue, phrase = FAULTS[fault]
    fake.inject(ORDER, method="POST", **inject)
    intent = make_intent(account)

    run_job(intent)
    assert eventually(lambda: terminal(intent), step=reconcile), (order_of(intent).status, events_of(intent))

    order = order_of(intent)
    assert order.status == final
    assert fake.count_orders(intent.client_order_id) == on_venue
    assert any(phrase in (reason or "") for _, _, reason in events_of(intent)), events_of(intent)
    assert intent_status(intent) == ("done" if final == "FILLED" else "failed")
    if final == "FILLED":
        assert order.filled_quantity == Decimal("0.001") and order.average_price == Decimal("60000")
    fake.wait(1.5)  # a late request of the fault (delay_before_store) has landed by now ...
    assert fake.count_orders(intent.client_order_id) == on_venue  # ... and it was the only one


@pytest.mark.faults
def test_min_notional_rejection_keeps_the_venue_message(fake, account):
    intent = make_intent(account, symbol="DOGE/USDT", quantity="1")  # 0.15 USDT < 5 USDT
    run_job(intent)
    order = order_of(intent)
    assert order.status == "REJECTED"
    assert "Filter failure: NOTIONAL" in order.reason
    assert fake.count_orders(intent.client_order_id) == 0
