"""The circuit breaker of a venue: after N consecutive failures its intents wait (pending,
not failed), the admin API shows why, and a successful probe resumes the queue."""

import logging

import pytest

from app.execution.service import execute_intent
from app.jobs.reconciler import probe_open_breakers, reconcile
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings, eventually, intent_status, make_intent, order_of

ORDER = "/api/v3/order"


def breaker_of(client, admin) -> dict | None:
    return {v["venue"]: v for v in client.get("/api/v1/venues", headers=admin).json()}["binance"]["breaker"]


@pytest.mark.faults
def test_failures_open_the_breaker_intents_wait_and_a_probe_resumes(client, fake, account, admin, caplog):
    fake.inject(ORDER, "http_500", count=1000)  # the venue's order endpoint is down: sends and look-ups fail
    # Three symbols: one symbol's intents execute in decision order, so a second intent of BTC
    # would wait for the first (in doubt) instead of failing on the venue.
    first, second = make_intent(account), make_intent(account, symbol="ETH/USDT", quantity="0.01")
    with caplog.at_level(logging.ERROR, logger="app.execution.breaker"):
        execute_intent(first.id)  # send fails, look-up fails: 2 failures
        execute_intent(second.id)  # the send fails: 3 → open
    assert "circuit breaker OPEN for venue binance" in caplog.text
    state = breaker_of(client, admin)
    assert state["open"] and state["consecutive_failures"] >= 3 and "500" in state["last_error"]
    venues = {v["venue"]: v for v in client.get("/api/v1/venues", headers=admin).json()}
    assert {o["client_order_id"] for o in venues["binance"]["in_doubt"]} == {first.client_order_id, second.client_order_id}

    waiting = make_intent(account, symbol="DOGE/USDT", quantity="100")
    posts = len(fake.calls("POST", ORDER))
    assert execute_intent(waiting.id) is None
    assert intent_status(waiting) == "pending" and order_of(waiting) is None
    assert len(fake.calls("POST", ORDER)) == posts  # nothing was sent while open
    reconcile()  # the reconciler leaves the open venue alone too
    assert len(fake.calls("POST", ORDER)) == posts

    assert probe_open_breakers() == ["binance"]  # /api/v3/time answers (only the order endpoint failed) ...
    fake.clear_faults()  # ... and the order endpoint is back
    assert breaker_of(client, admin)["open"] is False
    drain_queues()  # the probe re-enqueued the waiting intent
    assert order_of(waiting).status == "FILLED"
    assert eventually(lambda: order_of(first).status == order_of(second).status == "FILLED", step=reconcile)
    for intent in (first, second, waiting):
        assert fake.count_orders(intent.client_order_id) == 1


@pytest.mark.faults
def test_a_probe_that_fails_keeps_the_intents_waiting(fake, account, monkeypatch):
    apply_settings(monkeypatch, TRADEWIRE_BREAKER_FAILURE_THRESHOLD="1")
    fake.inject("/api/v3/exchangeInfo", "http_500", count=1000)
    fake.inject("/api/v3/time", "http_500", count=1000)
    intent = make_intent(account)
    assert execute_intent(intent.id) is None  # markets cannot load: the intent stays pending, the breaker opens
    assert probe_open_breakers() == []
    assert execute_intent(intent.id) is None and intent_status(intent) == "pending"
    fake.clear_faults()
    assert probe_open_breakers() == ["binance"]
    drain_queues()
    assert order_of(intent).status == "FILLED" and fake.count_orders(intent.client_order_id) == 1
