"""Native exit ladders on Bybit linear perpetuals (issue 13): the take-profits and the stop rest
on the venue as reduce-only conditional orders, and Tradewire moves the ladder on their fills.

The fake Bybit v5 server (signatures verified) behind the real ``ccxt.bybit``; the venue's
price is moved with ``fake.set_price``, which triggers the conditional orders it crosses. As in
production, Tradewire learns a resting order's fill from the reconciler (``reconcile``) and
runs the follow-ups on the in-process RQ worker (``settle``). No market-data process runs in
these tests: nothing of Tradewire watches the price.
"""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select, update

from app import followups
from app.db import unit_of_work
from app.domain import ladder as model
from app.domain.marketdata import Quote
from app.execution.service import execute_intent
from app.followups import ladder, native_ladder
from app.jobs.reconciler import reconcile
from app.persistence.models import EventRecord, ExitLadderRecord, OrderIntentRecord, OrderRecord, SignalRecord
from tests.conftest import drain_queues
from tests.venues.tradewire import apply_settings, bybit_account, make_intent

PERP = "BTC/USDT:USDT"
LADDER = {
    "take_profits": [{"price": "60600", "fraction": "0.5"}, {"price": "61200", "fraction": "0.25"}],
    "stop_loss": "59000",
    "break_even_after": 1,
    "break_even_offset_percent": "0.1",
}


@pytest.fixture
def fake(fake_bybit):
    return fake_bybit


@pytest.fixture
def account(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    return bybit_account(fake, monkeypatch)


def settle() -> None:
    for _ in range(10):
        if not drain_queues():
            return


def follow() -> None:
    """What the scheduler does every few seconds: a reconciler pass, then the follow-up jobs."""
    reconcile()
    settle()


def entry_with_ladder(account, ladder=LADDER, **kwargs):
    intent = make_intent(account, symbol=PERP, **kwargs)
    with unit_of_work() as session:  # as ingest writes a signal with a ladder and its entry
        session.execute(update(SignalRecord).where(SignalRecord.id == intent.signal_id)
                        .values(payload={"exit_ladder": ladder}))
        session.execute(update(OrderIntentRecord).where(OrderIntentRecord.id == intent.id).values(exit_ladder=True))
    return intent


def the_ladder() -> ExitLadderRecord:
    with unit_of_work() as session:
        return session.execute(select(ExitLadderRecord)).scalar_one()


def venue_orders(fake, entry) -> list[tuple]:
    """The ladder's orders as the venue holds them, in the order they were placed:
    (status, side, triggerPrice, triggerDirection, reduceOnly, qty)."""
    with unit_of_work() as session:
        links = session.execute(select(OrderIntentRecord.client_order_id).where(
            OrderIntentRecord.parent_intent_id == entry.id).order_by(OrderIntentRecord.sequence)).scalars().all()
    views = [fake.order(link) for link in links]
    return [(v["orderStatus"], v["side"], v["triggerPrice"], v["triggerDirection"], v["reduceOnly"], v["qty"])
            for v in views if v is not None]


def open_on_venue(fake) -> list[dict]:
    with fake.engine.lock:
        return [o for o in fake.engine.orders if o["status"] in ("New", "PartiallyFilled", "Untriggered")]


def steps(entry) -> list[dict]:
    with unit_of_work() as session:
        return list(session.execute(select(EventRecord.payload).where(
            EventRecord.signal_id == entry.signal_id, EventRecord.kind == "ladder.step")
            .order_by(EventRecord.created_at)).scalars())


def test_take_profits_then_break_even_stop_run_on_the_venue_to_a_flat_position(fake, account):
    entry = entry_with_ladder(account, quantity="0.02")
    assert execute_intent(entry.id).value == "FILLED"
    settle()
    started = the_ladder()
    assert (started.mode, started.status, started.quantity, started.entry_price) == (
        "native", "active", D("0.02"), D("60000"))
    assert venue_orders(fake, entry) == [
        ("Untriggered", "Sell", "60600", 1, True, "0.01"),  # take-profit 1: half, above the entry
        ("Untriggered", "Sell", "61200", 1, True, "0.005"),  # take-profit 2: a quarter
        ("Untriggered", "Sell", "59000", 2, True, "0.02")]  # the stop: everything, on a fall

    fake.set_price(PERP, "60700")  # take-profit 1 fills on the venue
    assert fake.position_size(PERP) == D("0.01")
    follow()
    ladder = the_ladder()
    assert (ladder.taken, ladder.closed, ladder.stop) == (1, D("0.01"), D("60060.000"))
    assert venue_orders(fake, entry) == [
        ("Filled", "Sell", "60600", 1, True, "0.01"),
        ("Untriggered", "Sell", "61200", 1, True, "0.005"),
        ("Deactivated", "Sell", "59000", 2, True, "0.02"),  # the old stop, cancelled
        ("Untriggered", "Sell", "60060", 2, True, "0.01")]  # break-even + 0.1 % for what is left

    fake.set_price(PERP, "61300")  # take-profit 2
    follow()
    assert venue_orders(fake, entry)[1:] == [
        ("Filled", "Sell", "61200", 1, True, "0.005"),
        ("Deactivated", "Sell", "59000", 2, True, "0.02"),
        ("Deactivated", "Sell", "60060", 2, True, "0.01"),
        ("Untriggered", "Sell", "60060", 2, True, "0.005")]  # the stop follows the smaller position

    fake.set_price(PERP, "60000")  # back through break-even: the stop closes the rest
    assert fake.position_size(PERP) == 0
    follow()
    done = the_ladder()
    assert (done.status, done.closed) == ("done", D("0.02"))
    assert open_on_venue(fake) == []
    with unit_of_work() as session:
        statuses = session.execute(select(OrderIntentRecord.purpose, OrderRecord.status, OrderRecord.filled_quantity)
                                   .join(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
                                   .where(OrderIntentRecord.parent_intent_id == entry.id)
                                   .order_by(OrderIntentRecord.sequence)).all()
    assert [tuple(s) for s in statuses] == [
        ("take_profit", "FILLED", D("0.01")), ("take_profit", "FILLED", D("0.005")),
        ("stop_loss", "CANCELED", 0), ("stop_loss", "CANCELED", 0), ("stop_loss", "FILLED", D("0.005"))]
    trace = steps(entry)
    assert [(s["step"], s.get("order") or s.get("index")) for s in trace] == [
        ("started", None), ("order_placed", "take_profit"), ("order_placed", "take_profit"),
        ("order_placed", "stop_loss"),
        ("take_profit", 1), ("break_even", 1), ("order_placed", "stop_loss"), ("order_cancelled", None),
        ("take_profit", 2), ("order_placed", "stop_loss"), ("order_cancelled", None),
        ("stop_loss", None)]
    assert trace[6]["replaces"] == trace[3]["intent_id"] and trace[6]["trigger"] == "60060"
    assert trace[-1]["quantity"] == "0.005" and trace[-1]["price"] == "60000"
    for step in trace:
        print(step["step"], {k: v for k, v in step.items() if k not in ("account_id", "ladder_id", "step", "venue")})


def test_the_stop_on_the_venue_closes_the_position_while_tradewire_watches_nothing(fake, account):
    entry = entry_with_ladder(account, quantity="0.02")
    execute_intent(entry.id)
    settle()
    assert len(open_on_venue(fake)) == 3

    # Tradewire is not running from here on: no worker, no reconciler, no market data.
    fake.set_price(PERP, "58800")
    assert fake.position_size(PERP) == 0  # the venue's stop closed the position by itself
    assert [o["trigger"] for o in open_on_venue(fake)] == [D("60600"), D("61200")]  # the take-profits wait

    follow()  # Tradewire comes back
    ladder = the_ladder()
    assert (ladder.status, ladder.taken, ladder.closed) == ("done", 0, D("0.02"))
    assert open_on_venue(fake) == []  # the take-profits were cancelled
    assert [s["step"] for s in steps(entry)][-3:] == ["stop_loss", "order_cancelled", "order_cancelled"]
    fake.set_price(PERP, "61300")  # take-profit prices: nothing is left to act
    follow()
    assert fake.position_size(PERP) == 0 and the_ladder().version == ladder.version


def test_a_partial_entry_fill_resizes_the_orders_on_the_venue(fake, account):
    entry = entry_with_ladder(account, quantity="0.04", order_type="limit", limit_price="59900",
                              ladder={"take_profits": [{"percent": "1", "fraction": "0.5"}], "stop_loss": "59000"})
    execute_intent(entry.id)  # rests below the price
    fake.fill_partially(entry.client_order_id, "0.02")
    follow()
    assert venue_orders(fake, entry) == [
        ("Untriggered", "Sell", "60499", 1, True, "0.01"),  # 59900 + 1 %, half of the 0.02 filled
        ("Untriggered", "Sell", "59000", 2, True, "0.02")]

    fake.set_price(PERP, "59850")  # the rest of the entry fills at its limit
    follow()
    assert the_ladder().quantity == D("0.04")
    assert venue_orders(fake, entry) == [
        ("Deactivated", "Sell", "60499", 1, True, "0.01"),
        ("Deactivated", "Sell", "59000", 2, True, "0.02"),
        ("Untriggered", "Sell", "60499", 1, True, "0.02"),  # re-placed for the whole entry
        ("Untriggered", "Sell", "59000", 2, True, "0.04")]
    assert [s["step"] for s in steps(entry)].count("resized") == 1


def test_an_exit_alert_cancels_the_ladder_and_its_orders_on_the_venue(fake, account):
    entry = entry_with_ladder(account, quantity="0.02")
    execute_intent(entry.id)
    settle()
    close = make_intent(account, symbol=PERP, side="sell", quantity="0.02", reduce_only=True)
    assert execute_intent(close.id).value == "FILLED"
    settle()  # position.flat
    assert fake.position_size(PERP) == 0
    assert the_ladder().status == "cancelled"
    assert open_on_venue(fake) == []
    trace = [s["step"] for s in steps(entry)]
    assert trace[trace.index("cancelled"):] == ["cancelled", "order_cancelled", "order_cancelled", "order_cancelled"]


def test_a_position_closed_by_hand_on_the_exchange_ends_the_ladder_once_adopted(fake, db, monkeypatch):
    apply_settings(monkeypatch)
    account = bybit_account(fake, monkeypatch, sync_mode="adopt")
    entry = entry_with_ladder(account, quantity="0.02")
    execute_intent(entry.id)
    settle()
    fake.close_by_hand(PERP)  # on the exchange's site: no order of the ladder ended
    reconcile()
    reconcile()  # the drift check adopts the venue's flat position (seen twice)
    assert native_ladder.check_positions() == 1
    settle()
    assert the_ladder().status == "cancelled"
    assert open_on_venue(fake) == []
    trace = [s["step"] for s in steps(entry)]
    assert trace[trace.index("cancelled"):] == ["cancelled", "order_cancelled", "order_cancelled", "order_cancelled"]


def test_a_break_even_stop_the_venue_refuses_leaves_the_old_stop_protecting(fake, account):
    entry = entry_with_ladder(account, quantity="0.02")
    execute_intent(entry.id)
    settle()
    fake.set_price(PERP, "60700")  # take-profit 1 fills on the venue...
    fake.set_price(PERP, "60050")  # ...and the price falls below break-even before Tradewire looks
    follow()
    assert the_ladder().taken == 1
    assert venue_orders(fake, entry) == [
        ("Filled", "Sell", "60600", 1, True, "0.01"),
        ("Untriggered", "Sell", "61200", 1, True, "0.005"),
        ("Untriggered", "Sell", "59000", 2, True, "0.02")]  # kept: its replacement was refused
    with unit_of_work() as session:
        refused = session.execute(select(OrderRecord.status, OrderRecord.reason)
                                  .join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
                                  .where(OrderIntentRecord.parent_intent_id == entry.id,
                                         OrderIntentRecord.trigger_price == D("60060"))).one()
    assert refused.status == "REJECTED" and "expect Falling" in refused.reason

    fake.set_price(PERP, "58900")  # the old stop closes what is left
    assert fake.position_size(PERP) == 0
    follow()
    done = the_ladder()
    assert (done.status, done.closed) == ("done", D("0.02"))
    assert open_on_venue(fake) == []


def test_every_ladder_event_handled_again_places_nothing_twice(fake, account):
    entry = entry_with_ladder(account, quantity="0.02")
    execute_intent(entry.id)
    settle()
    fake.set_price(PERP, "60700")
    follow()
    before = venue_orders(fake, entry)
    with unit_of_work() as session:  # a restart finds every follow-up of the ladder unhandled
        replayed = session.execute(update(EventRecord).where(
            EventRecord.signal_id == entry.signal_id,
            EventRecord.kind.in_(("entry.filled", "ladder.order", "position.flat")))
            .values(handled_at=None).returning(EventRecord.id)).scalars().all()
    for event_id in replayed:
        followups.handle(event_id)
    settle()
    assert len(replayed) > 5
    assert venue_orders(fake, entry) == before
    assert len(open_on_venue(fake)) == 2 and the_ladder().taken == 1


def test_a_ladder_on_binance_spot_stays_emulated(monkeypatch, db):
    from tests.venues import start_fake_binance
    from tests.venues.tradewire import binance_account

    apply_settings(monkeypatch)
    spot = start_fake_binance()
    try:
        spot_entry = make_intent(binance_account(spot, monkeypatch), symbol="BTC/USDT")
        with unit_of_work() as session:
            intent = session.get(OrderIntentRecord, spot_entry.id)
            assert not native_ladder.native_capable(intent, model.ExitLadder.model_validate(LADDER))
    finally:
        spot.stop()


def quote(price: str) -> Quote:
    now = datetime.now(UTC)
    return Quote("bybit", PERP, D(price) - 1, D(price) + 1, D(price), now, now)


def test_a_trailing_stop_moves_the_stop_order_on_the_venue(fake, account):
    trailing = {**LADDER, "take_profits": LADDER["take_profits"][:1],
                "trailing_stop": {"percent": "1", "activation_price": "61000"}}
    entry = entry_with_ladder(account, quantity="0.02", ladder=trailing)
    execute_intent(entry.id)
    settle()
    ladder_id = the_ladder().id
    assert venue_orders(fake, entry) == [
        ("Untriggered", "Sell", "60600", 1, True, "0.01"), ("Untriggered", "Sell", "59000", 2, True, "0.02")]
    fake.set_price(PERP, "60700")
    follow()  # take-profit 1, the break-even stop
    assert venue_orders(fake, entry)[-1] == ("Untriggered", "Sell", "60060", 2, True, "0.01")

    fake.set_price(PERP, "61500")
    assert ladder.step(ladder_id, quote("61500")) == 1  # the market-data listener: the trail starts at 60885
    settle()
    assert venue_orders(fake, entry)[-2:] == [
        ("Deactivated", "Sell", "60060", 2, True, "0.01"), ("Untriggered", "Sell", "60885", 2, True, "0.01")]
    assert ladder.step(ladder_id, quote("61200")) == 0  # the trail never falls
    settle()
    assert len(venue_orders(fake, entry)) == 4  # no new stop

    fake.set_price(PERP, "60800")  # Tradewire watches nothing now: the venue's trailed stop closes the rest
    assert fake.position_size(PERP) == 0
    follow()
    done = the_ladder()
    assert (done.status, done.closed) == ("done", D("0.02"))
    assert open_on_venue(fake) == []
    trace = [(s["step"], s.get("trigger")) for s in steps(entry)]
    assert ("trailing_raised", "61500") in trace and trace[-1] == ("trailing_exit", "60885")
