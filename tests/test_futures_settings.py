"""Futures settings (issue 13): leverage and margin mode set on the venue before an entry, once
per (account, symbol); refusals by the venue or by ``max_leverage``; hedge mode refused; the
sender's ``prev_position`` checked against the ledger. Real ``ccxt.bybit`` against the fake
Bybit v5 (signatures verified), alerts through the webhook, the risk engine and the queue."""

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.bootstrap import create_strategy
from app.db import unit_of_work
from app.jobs.worker import warm_up
from app.persistence.models import Account, OrderRecord, Strategy
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings, bybit_account

PERP = "BTC/USDT:USDT"
LEVERAGE, MARGIN, SWITCH, CREATE = ("/v5/position/set-leverage", "/v5/account/set-margin-mode",
                                    "/v5/position/switch-mode", "/v5/order/create")
_keys = itertools.count(1)


@pytest.fixture
def fake(fake_bybit):
    return fake_bybit


def futures_strategy(fake, monkeypatch, *, strategy: dict | None = None, **futures) -> str:
    """A Bybit account with ``[futures]`` = ``futures`` and a strategy on it; returns its webhook token."""
    apply_settings(monkeypatch)
    account_id = bybit_account(fake, monkeypatch, futures=futures, market_data="")
    with unit_of_work() as session:
        account = session.get(Account, account_id)
        created = create_strategy(session, "perp-trend", account)
        if strategy:
            session.execute(update(Strategy).where(Strategy.name == "perp-trend")
                            .values(settings={"account": account.name, **strategy}))
    warm_up(["bybit"])
    return created.token


def alert(client, token: str, **fields) -> dict:
    body = {"tradewire": 1, "symbol": "BYBIT:BTCUSDT.P", "action": "buy", "size": "0.01", "price": "60000",
            "idempotency_key": f"k{next(_keys)}", **fields}
    answer = client.post(f"/webhooks/tradingview/{token}", json=body)
    assert answer.status_code in (200, 202), answer.text
    drain_queues()
    return answer.json()


def trace(client, admin, answer: dict) -> dict:
    return client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()


def check(trace_: dict, name: str) -> dict:
    return next(c for c in trace_["decision"]["checks"] if c["check"] == name)


def orders() -> list[OrderRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(OrderRecord).order_by(OrderRecord.created_at)).scalars())


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


def test_hedge_mode_is_a_clear_refusal(client, admin, fake, monkeypatch):
    token = futures_strategy(fake, monkeypatch, position_mode="hedge")
    answer = alert(client, token)
    assert answer["status"] == "rejected"
    assert trace(client, admin, answer)["decision"]["reason"].startswith("position_mode hedge is not supported yet")
    assert fake.count_calls("POST", SWITCH) == 0 and orders() == []


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
