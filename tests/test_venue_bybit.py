"""A second venue family: Bybit linear perpetuals (fake Bybit v5, signatures verified) through the
real ``ccxt.bybit`` — reduce-only closes, positions, protective orders, and the send faults."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.execution.service import execute_intent
from app.jobs.reconciler import reconcile
from app.persistence.models import MarketRecord, OrderIntentRecord, OrderRecord, PositionRecord
from tests.conftest import drain_queues
from tests.venues import make_ccxt_bybit
from tests.venues.tradewire import apply_settings, bybit_account, eventually, events_of, make_intent, order_of

PERP = "BTC/USDT:USDT"
CREATE = "/v5/order/create"


@pytest.fixture
def fake(fake_bybit):
    return fake_bybit


@pytest.fixture
def account(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    return bybit_account(fake, monkeypatch)


def position(account_id) -> PositionRecord:
    with unit_of_work() as session:
        return session.execute(select(PositionRecord).where(PositionRecord.account_id == account_id,
                                                            PositionRecord.symbol == PERP)).scalar_one()


def test_long_then_reduce_only_close_matches_the_venue_position(fake, account):
    opened = make_intent(account, symbol=PERP, quantity="0.01")
    assert execute_intent(opened.id).value == "FILLED"
    assert fake.position_size(PERP) == Decimal("0.01") and position(account).quantity == Decimal("0.01")

    fake.set_price(PERP, "61000")
    closed = make_intent(account, symbol=PERP, side="sell", quantity="0.01", reduce_only=True)
    assert execute_intent(closed.id).value == "FILLED"
    assert fake.calls("POST", CREATE)[-1]["params"]["reduceOnly"] is True
    assert fake.position_size(PERP) == 0 and position(account).quantity == 0
    # 0.01 × (61000 − 60000) − fees 0.33 (buy) − 0.3355 (sell), taker 0.055% in USDT
    assert position(account).realized_pnl == Decimal("9.3345")
    with unit_of_work() as session:
        market = session.execute(select(MarketRecord.market).where(MarketRecord.venue == "bybit",
                                                                   MarketRecord.symbol == PERP)).scalar_one()
    assert market["contract"] and market["precision"]["amount"] == 0.001


def test_reduce_only_without_a_position_is_denied_before_the_venue_and_changes_nothing(fake, account):
    intent = make_intent(account, symbol=PERP, side="sell", quantity="0.01", reduce_only=True)
    assert execute_intent(intent.id).value == "DENIED"
    assert "nothing left to reduce (position 0)" in order_of(intent).reason
    assert fake.count_orders(intent.client_order_id) == 0
    assert fake.position_size(PERP) == 0


def test_reduce_only_the_venue_refuses_is_rejected_with_its_message(fake, account):
    # The ledger holds a position the venue does not (closed by hand on the exchange): the
    # order is sent, and the venue's reduce-only rule rejects it.
    with unit_of_work() as session:
        session.add(PositionRecord(account_id=account, symbol=PERP, quantity=Decimal("0.01"), average_price=Decimal(60000)))
    intent = make_intent(account, symbol=PERP, side="sell", quantity="0.01", reduce_only=True)
    assert execute_intent(intent.id).value == "REJECTED"
    assert "Reduce-only rule not satisfied" in order_of(intent).reason
    assert fake.position_size(PERP) == 0


def test_stop_loss_and_take_profit_are_placed_after_the_fill_and_one_cancels_the_other(fake, account):
    entry = make_intent(account, symbol=PERP, quantity="0.02", stop_loss="58000", take_profit="62000")
    assert execute_intent(entry.id).value == "FILLED"
    drain_queues()  # the protective intents were queued on the bybit queue
    with unit_of_work() as session:
        protective = {i.purpose: i for i in session.execute(
            select(OrderIntentRecord).where(OrderIntentRecord.parent_intent_id == entry.id)).scalars()}
    assert set(protective) == {"stop_loss", "take_profit"}
    sl, tp = (fake.order(protective[p].client_order_id) for p in ("stop_loss", "take_profit"))
    assert (sl["orderStatus"], sl["triggerPrice"], sl["triggerDirection"], sl["reduceOnly"], sl["side"], sl["qty"]) == (
        "Untriggered", "58000", 2, True, "Sell", "0.02")
    assert (tp["triggerPrice"], tp["triggerDirection"]) == ("62000", 1)

    fake.set_price(PERP, "62500")  # the take-profit triggers and closes the position
    reconcile()
    drain_queues()  # position.flat: the follow-up job cancels the stop-loss
    with unit_of_work() as session:
        states = dict(session.execute(select(OrderIntentRecord.purpose, OrderRecord.status)
                                      .join(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
                                      .where(OrderIntentRecord.parent_intent_id == entry.id)).all())
    assert states == {"take_profit": "FILLED", "stop_loss": "CANCELED"}
    assert fake.order(protective["stop_loss"].client_order_id)["orderStatus"] == "Deactivated"
    assert fake.position_size(PERP) == 0 and position(account).quantity == 0
    drain_queues()
    execute_intent(entry.id)  # follow-ups run again: nothing new is written
    with unit_of_work() as session:
        assert len(session.execute(select(OrderIntentRecord.id).where(
            OrderIntentRecord.parent_intent_id == entry.id)).all()) == 2


@pytest.mark.faults
@pytest.mark.parametrize("kind, phrase", [
    ("delay_after_store", "RequestTimeout"),
    ("delay_before_store", "not found on bybit yet"),
    ("http_500", "send 2 with the same client order id"),
    ("rate_limit", "RateLimitExceeded"),
    ("timestamp", "InvalidNonce"),
    ("duplicate", "OrderLinkedID is duplicate"),
])
def test_send_faults_leave_one_order_on_bybit(fake, account, kind, phrase):
    fake.inject(CREATE, kind, method="POST", delay=1.2)
    intent = make_intent(account, symbol=PERP, quantity="0.01")
    execute_intent(intent.id)
    assert eventually(lambda: order_of(intent).status == "FILLED", step=reconcile), events_of(intent)
    assert any(phrase in (r or "") for _, _, r in events_of(intent)), events_of(intent)
    fake.wait(1.5)
    assert fake.count_orders(intent.client_order_id) == 1 and fake.position_size(PERP) == Decimal("0.01")


def test_foreign_order_on_bybit_is_reported(fake, account):
    make_ccxt_bybit(fake).create_order(PERP, "limit", "buy", 0.01, 50000, {"clientOrderId": "by-hand"})
    assert reconcile().foreign == 1
