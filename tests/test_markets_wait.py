"""An alert that arrives before its venue's markets are stored waits for them (bounded) instead
of being refused as "not listed"; after the bound it is rejected with a reason that says what
to check; /readyz says each venue's market state. Against the fake Binance through real ccxt."""

import threading
import time

import pytest

from app.bootstrap import create_strategy
from app.db import unit_of_work
from app.ingest import market_wait
from app.jobs.queue import get_queue
from app.jobs.worker import warm_up
from app.persistence.models import Account
from tests.conftest import drain_queues

ALERT = {"ticker": "BTCUSDT", "exchange": "BINANCE", "time": "2026-01-01T00:00:00Z", "bar": {"close": "60000"},
         "strategy": {"order_action": "buy", "order_contracts": "0.001", "market_position": "long",
                      "prev_market_position": "flat"}}


@pytest.fixture
def token(account) -> str:
    """The webhook token of a strategy on the Binance account (``account``, the fake Binance)."""
    with unit_of_work() as session:
        return create_strategy(session, "btc-trend", session.get(Account, account)).token


def alert(**changes: str) -> dict:
    return ALERT | {"time": changes.get("time", ALERT["time"]), "ticker": changes.get("ticker", ALERT["ticker"])}


def binance_state(client) -> dict:
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json()["status"] == "ready"  # says, never fails readiness
    return answer.json()["markets"]["binance"]


def test_an_alert_before_the_markets_are_stored_waits_for_the_worker_and_is_accepted(client, token):
    assert binance_state(client) == {"markets": 0, "loaded_at": None, "state": "not loaded"}
    loader = threading.Timer(1.0, warm_up, args=(["binance"],))  # what `tradewire worker` does at start
    loader.start()
    started = time.monotonic()
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT)
    waited = time.monotonic() - started
    loader.join()
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    assert 0.9 < waited < market_wait.MARKETS_WAIT_SECONDS
    state = binance_state(client)
    assert state["state"] == "loaded" and state["markets"] > 0 and state["loaded_at"]


def test_with_no_worker_the_alert_is_rejected_with_the_reason_and_the_workers_are_asked(
    client, token, admin, monkeypatch
):
    monkeypatch.setattr(market_wait, "wait_seconds", lambda: 1.0)
    answer = client.post(f"/webhooks/tradingview/{token}", json=ALERT)
    reason = "markets of binance are not loaded yet (waited 1 s); the worker loads them at start — is it running?"
    assert answer.status_code == 202 and answer.json() | {"signal_id": None} == {
        "signal_id": None, "status": "rejected", "reason": reason, "intents": 0}
    trace = client.get(f"/api/v1/signals/{answer.json()['signal_id']}", headers=admin).json()
    last = trace["decision"]["checks"][-1]
    assert (last["check"], last["passed"], last["reason"]) == ("symbol", False, reason)
    dry = client.post("/api/v1/signals/dry-run?strategy=btc-trend", json=ALERT, headers=admin).json()
    assert dry["approved"] is False and dry["reason"] == reason

    # The wait asked the workers for the markets: one job on the venue's queue, whoever waits.
    assert [j for j in get_queue("binance").job_ids if "markets-binance" in j] != []
    drain_queues()  # a worker starts and serves the queue
    assert binance_state(client)["state"] == "loaded"
    again = client.post(f"/webhooks/tradingview/{token}", json=alert(time="2026-01-01T00:01:00Z"))
    assert again.json()["status"] == "accepted", again.text


def test_once_the_markets_are_stored_an_unlisted_symbol_is_rejected_at_once_as_not_listed(client, token):
    warm_up(["binance"])
    started = time.monotonic()
    answer = client.post(f"/webhooks/tradingview/{token}", json=alert(ticker="NOPEUSDT"))
    assert time.monotonic() - started < 1.0
    assert answer.json()["status"] == "rejected" and "NOPE/USDT is not listed on binance" in answer.json()["reason"]


def test_a_paper_account_never_waits_and_readyz_lists_only_real_venues(client, db):
    started = time.monotonic()
    answer = client.post(f"/webhooks/tradingview/{db}", json=ALERT)
    assert answer.status_code == 202 and time.monotonic() - started < 1.0
    assert client.get("/readyz").json()["markets"] == {}


def test_the_wait_delays_only_its_own_alert_another_account_is_answered_meanwhile(client, token, db, monkeypatch):
    monkeypatch.setattr(market_wait, "wait_seconds", lambda: 2.0)
    results: dict[str, float] = {}

    def binance() -> None:
        client.post(f"/webhooks/tradingview/{token}", json=ALERT)
        results["binance"] = time.monotonic()

    waiting = threading.Thread(target=binance)
    waiting.start()
    time.sleep(0.3)
    answer = client.post(f"/webhooks/tradingview/{db}", json=alert(time="2026-01-01T00:02:00Z"))
    results["paper"] = time.monotonic()
    waiting.join()
    assert answer.status_code == 202 and results["paper"] < results["binance"]
