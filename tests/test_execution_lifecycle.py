"""The order lifecycle against the fake Binance through the real ccxt: fills, partial fills,
positions, markets and balances written for risk, and accounts that cannot be served."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.db import unit_of_work
from app.execution.service import claim, execute_intent
from app.jobs.reconciler import reconcile
from app.persistence.models import BalanceRecord, FillRecord, MarketRecord, OrderRecord, PositionRecord
from tests.venues import start_fake_binance
from tests.venues.binance_spot import ROUTES
from tests.venues.tradewire import (
    KEY_ENV, apply_settings, binance_account, events_of, intent_status, make_intent, order_of,
)


@pytest.fixture
def fake():
    server = start_fake_binance()
    yield server
    server.stop()
    assert server.unknown_requests == [] and server.server_errors == []
    assert server.endpoints_called() <= set(ROUTES)


@pytest.fixture
def account(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    return binance_account(fake, monkeypatch)


def fills(intent) -> list[FillRecord]:
    with unit_of_work() as session:
        return list(session.execute(select(FillRecord).where(FillRecord.order_id == order_of(intent).id)
                                    .order_by(FillRecord.ts_event, FillRecord.trade_id)).scalars())


def position(account_id, symbol="BTC/USDT") -> PositionRecord | None:
    with unit_of_work() as session:
        return session.execute(select(PositionRecord).where(
            PositionRecord.account_id == account_id, PositionRecord.symbol == symbol)).scalar_one_or_none()


def test_market_buy_fills_with_the_venue_trade_fee_and_position(fake, account):
    intent = make_intent(account, quantity="0.002")
    assert execute_intent(intent.id).value == "FILLED"

    [fill] = fills(intent)
    assert fill.trade_id == str(fake.trades[0]["id"])
    assert (fill.quantity, fill.price, fill.fee, fill.fee_currency) == (
        Decimal("0.002"), Decimal("60000"), Decimal("0.12"), "USDT")
    assert position(account).quantity == Decimal("0.002") and position(account).average_price == Decimal("60000")
    assert order_of(intent).venue_order_id == str(fake.orders[0]["orderId"])
    assert [e[1] for e in events_of(intent)] == ["SUBMITTED", "ACCEPTED", "FILLED"]
    assert intent_status(intent) == "done"


def test_round_trip_realises_pnl_net_of_fees(fake, account):
    execute_intent(make_intent(account, quantity="0.01").id)
    fake.set_price("BTC/USDT", "61000")
    execute_intent(make_intent(account, side="sell", quantity="0.01").id)
    held = position(account)
    # (61000 - 60000) * 0.01 - 0.6 (buy fee) - 0.61 (sell fee)
    assert held.quantity == 0 and held.realized_pnl == Decimal("8.79")


def test_partial_fills_then_filled_through_the_reconciler(fake, account):
    intent = make_intent(account, order_type="limit", limit_price="59000", quantity="0.003")
    assert execute_intent(intent.id).value == "ACCEPTED"
    assert intent_status(intent) == "submitting"

    fake.fill_partially(intent.client_order_id, "0.001")
    reconcile()
    assert order_of(intent).status == "PARTIALLY_FILLED" and order_of(intent).filled_quantity == Decimal("0.001")
    reconcile()  # nothing new: no new event, no duplicate fill
    assert len(events_of(intent)) == 3 and len(fills(intent)) == 1

    fake.fill_partially(intent.client_order_id, "0.001")
    reconcile()
    fake.fill_partially(intent.client_order_id, "0.001")
    reconcile()
    order = order_of(intent)
    assert order.status == "FILLED" and order.filled_quantity == Decimal("0.003")
    assert [e[1] for e in events_of(intent)] == [
        "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED"]
    assert [f.quantity for f in fills(intent)] == [Decimal("0.001")] * 3
    assert position(account).quantity == Decimal("0.003")
    assert intent_status(intent) == "done"


def test_markets_and_balances_are_written_for_risk(fake, account):
    execute_intent(make_intent(account).id)
    reconcile()
    with unit_of_work() as session:
        markets = dict(session.execute(select(MarketRecord.symbol, MarketRecord.market)
                                       .where(MarketRecord.venue == "binance")).all())
        balances = dict(session.execute(select(BalanceRecord.currency, BalanceRecord.total)
                                        .where(BalanceRecord.account_id == account)).all())
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "DOGE/USDT"}
    assert markets["BTC/USDT"]["precision"]["amount"] == 0.00001
    assert markets["DOGE/USDT"]["limits"]["cost"]["min"] == 5
    assert balances["BTC"] == Decimal("0.501") and balances["USDT"] == Decimal("9939.94")


def test_unset_credential_variable_denies_the_order_naming_the_variable(fake, account, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    intent = make_intent(account)
    assert execute_intent(intent.id).value == "DENIED"
    order = order_of(intent)
    assert order.status == "DENIED" and KEY_ENV in order.reason and fake.api_key not in order.reason
    assert intent_status(intent) == "failed" and fake.orders == []


def sent_a_minute_ago(intent) -> None:
    with unit_of_work() as session:
        session.execute(update(OrderRecord).where(OrderRecord.intent_id == intent.id)
                        .values(last_sent_at=datetime.now(UTC) - timedelta(minutes=1)))


def test_job_rerun_after_a_crash_between_claim_and_send_sends_once_after_the_grace(fake, account):
    intent = make_intent(account)
    claim(intent.id)  # the worker died right after writing SUBMITTED: nothing reached the venue
    assert execute_intent(intent.id).value == "SUBMITTED"  # not found, but too early to trust that
    assert "not found on binance yet" in order_of(intent).reason and order_of(intent).in_doubt_since
    sent_a_minute_ago(intent)  # the grace window has passed
    assert execute_intent(intent.id).value == "FILLED"
    assert execute_intent(intent.id) is None  # done: a further run does nothing
    assert fake.count_orders(intent.client_order_id) == 1 and len(fake.calls("POST", "/api/v3/order")) == 1


def test_paper_job_rerun_after_a_crash_between_claim_and_send_fills_once(db):
    from app.persistence.models import Account

    with unit_of_work() as session:
        paper = session.execute(select(Account.id).where(Account.name == "paper")).scalar_one()
    intent = make_intent(paper, symbol="DOGE/USDT", quantity="100", reference_price="0.1")
    claim(intent.id)
    assert execute_intent(intent.id).value == "FILLED"  # the paper book is ours: absent means never placed
    assert execute_intent(intent.id) is None
    assert len(fills(intent)) == 1


def test_sends_exhausted_without_the_order_appearing_rejects_it_as_never_placed(fake, account, monkeypatch):
    apply_settings(monkeypatch, TRADEWIRE_ORDER_MAX_SENDS="2")
    fake.inject("/api/v3/order", "http_500", method="POST", count=2)
    intent = make_intent(account)
    execute_intent(intent.id)  # send 1: 500; not found, too early to send again
    sent_a_minute_ago(intent)
    reconcile()  # not found after the grace: send 2: 500
    sent_a_minute_ago(intent)
    reconcile()  # not found again, 2 sends made: give up
    order = order_of(intent)
    assert order.status == "REJECTED" and "never placed" in order.reason
    assert fake.count_orders(intent.client_order_id) == 0 and len(fake.calls("POST", "/api/v3/order")) == 2


def test_host_clock_behind_the_venue_is_resynchronised_and_the_order_fills_once(fake, account):
    fake.clock_offset_ms = 20_000  # our timestamps look 20 s old: outside ccxt's 10 s recvWindow (-1021)
    intent = make_intent(account)
    assert execute_intent(intent.id).value == "FILLED"
    assert fake.calls("GET", "/api/v3/time")  # load_time_difference
    assert fake.count_orders(intent.client_order_id) == 1
    assert [c["status"] for c in fake.calls("POST", "/api/v3/order")] == [400, 200]


def test_lookups_are_retried_through_rate_limits_and_5xx(fake, account):
    fake.inject("/api/v3/order", "delay_after_store", method="POST", delay=1.0)  # the reply is lost
    fake.inject("/api/v3/order", "rate_limit", method="GET")
    fake.inject("/api/v3/order", "http_500", method="GET")
    intent = make_intent(account)
    assert execute_intent(intent.id).value == "FILLED"
    assert [c["status"] for c in fake.calls("GET", "/api/v3/order")] == [429, 500, 200]
    assert fake.count_orders(intent.client_order_id) == 1 and len(fake.calls("POST", "/api/v3/order")) == 1
