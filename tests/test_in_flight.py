"""Alerts that arrive while earlier orders are still on their way (issue 10, defect 1).

Risk plans from the position the fills will leave (filled + in flight), and the worker
executes one symbol's intents in decision order, cutting each reduce-only order to what the
position still holds. Here no worker runs between the posts, so every earlier intent is
still pending when the next alert is decided.
"""

import json
from decimal import Decimal

from sqlalchemy import select

from app.db import unit_of_work
from app.execution.service import execute_intent
from app.persistence.models import BalanceRecord, FillRecord, OrderEventRecord, OrderIntentRecord, OrderRecord, PositionRecord
from tests.conftest import drain_queues

PERP = "BTC/USDT:USDT"


def post(client, token: str, key: str, **fields) -> dict:
    body = {"tradewire": 1, "symbol": "BYBIT:BTCUSDT.P", "price": "100", "size": "1", "size_unit": "base",
            "idempotency_key": key} | fields
    answer = client.post(f"/webhooks/tradingview/{token}", content=json.dumps(body))
    assert answer.status_code == 202, answer.text
    return answer.json()


def position(symbol: str = PERP) -> Decimal:
    with unit_of_work() as session:
        quantity = session.execute(select(PositionRecord.quantity).where(PositionRecord.symbol == symbol)).scalar()
    return quantity if quantity is not None else Decimal(0)


def fills() -> list[tuple[str, Decimal]]:
    with unit_of_work() as session:
        return [(f.side, f.quantity) for f in session.execute(select(FillRecord).order_by(FillRecord.created_at)).scalars()]


def test_two_exits_posted_together_close_the_long_once(client, db):
    post(client, db, "open", action="buy")
    drain_queues()
    first, second = post(client, db, "exit-1", action="exit"), post(client, db, "exit-2", action="exit")
    assert first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert second["reason"] == f"exit to flat but there is no {PERP} position to close (position 1 filled, -1 in flight)"
    drain_queues()
    assert position() == 0
    assert fills() == [("buy", Decimal(1)), ("sell", Decimal(1))]


def test_reversal_and_exit_together_end_flat_in_decision_order(client, db):
    post(client, db, "open", action="buy")
    reversal = post(client, db, "reverse", action="sell", target_position="short")
    exit_ = post(client, db, "exit", action="exit")
    assert (reversal["intents"], exit_["intents"]) == (2, 1)  # close 1 + open short 1; then buy back 1
    drain_queues()
    assert position() == 0
    assert fills() == [("buy", Decimal(1)), ("sell", Decimal(1)), ("sell", Decimal(1)), ("buy", Decimal(1))]


def test_spot_sells_never_sell_what_the_ledger_does_not_hold(client, db):
    post(client, db, "open", action="buy", symbol="BINANCE:ETHUSDT", size="2")
    first = post(client, db, "sell-1", action="sell", symbol="BINANCE:ETHUSDT")
    second = post(client, db, "sell-2", action="sell", symbol="BINANCE:ETHUSDT")
    assert (first["status"], second["status"]) == ("accepted", "rejected")
    assert "a spot account cannot open a short" in second["reason"]
    drain_queues()
    assert position("ETH/USDT") == 0


def test_a_later_intent_waits_for_the_earlier_one_of_its_symbol(client, db):
    post(client, db, "open", action="buy")
    post(client, db, "exit", action="exit")
    with unit_of_work() as session:
        entry, exit_ = session.execute(select(OrderIntentRecord).order_by(OrderIntentRecord.created_at)).scalars().all()
    assert execute_intent(exit_.id) is None  # the buy it closes has not been sent yet: it waits, pending
    assert execute_intent(entry.id).value == "FILLED"
    drain_queues()  # the buy's follow-up enqueued the exit
    assert position() == 0


def test_reduce_only_order_is_cut_to_what_the_position_holds(client, db):
    post(client, db, "open", action="buy", size="2")
    drain_queues()
    post(client, db, "exit", action="exit", size="2")
    with unit_of_work() as session:  # the venue-side truth changed meanwhile: half was closed elsewhere
        session.execute(PositionRecord.__table__.update().values(quantity=Decimal(1)))
    drain_queues()
    with unit_of_work() as session:
        order = session.execute(select(OrderRecord).order_by(OrderRecord.created_at.desc())).scalars().first()
        submitted = session.execute(select(OrderEventRecord.reason).where(
            OrderEventRecord.order_id == order.id, OrderEventRecord.to_status == "SUBMITTED")).scalar_one()
    assert (order.quantity, order.status) == (Decimal(1), "FILLED")
    assert submitted == "reduce-only sell cut from 2 to 1: position 1"
    assert position() == 0


def test_the_trace_shows_what_each_step_set_in_motion(client, db, admin):
    """Follow-up work is durable events: the signal's intents are ready, and each order's end
    frees its symbol's line, all visible in the trace with when they were written."""
    post(client, db, "open", action="buy")
    reversal = post(client, db, "reverse", action="sell", target_position="short")
    drain_queues()
    trace = client.get(f"/api/v1/signals/{reversal['signal_id']}", headers=admin).json()
    kinds = [e["kind"] for e in trace["events"]]
    assert kinds == ["intent.ready", "intent.ready", "order.terminal", "order.terminal"]
    intents = [i["id"] for i in trace["intents"]]
    assert [e["payload"]["intent_id"] for e in trace["events"][:2]] == intents
    orders = [i["order"]["id"] for i in trace["intents"]]
    assert [e["order_id"] for e in trace["events"][2:]] == orders  # the close ended first, then the open
    assert all(e["payload"]["status"] == "FILLED" for e in trace["events"][2:])


def test_a_target_size_alert_sent_three_times_orders_once(client, db):
    answers = [post(client, db, f"target-{n}", action="buy", target_size="1") for n in range(3)]
    assert [a["intents"] for a in answers] == [1, 0, 0]  # the 2nd and 3rd see the 1st in flight
    drain_queues()
    assert post(client, db, "target-late", action="buy", target_size="1")["intents"] == 0  # late: already there
    assert position() == 1
    assert post(client, db, "target-swap", action="sell", target_size="-0.5")["intents"] == 2  # close 1, open 0.5 short
    drain_queues()
    assert position() == Decimal("-0.5")


def test_a_perpetual_round_trip_settles_its_realised_pnl_into_the_balance(client, db):
    post(client, db, "open", action="buy", price="100")
    drain_queues()
    post(client, db, "close", action="exit", price="110")
    drain_queues()
    with unit_of_work() as session:
        usdt = session.execute(select(BalanceRecord.total).where(BalanceRecord.currency == "USDT")).scalar_one()
    assert usdt == Decimal("10000") - Decimal("0.1") + Decimal("10") - Decimal("0.11")  # fees 0.1% each way
