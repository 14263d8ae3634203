"""Exit ladders on paper, with prices moved by the fake Binance public server (issue 13).

As ``tradewire marketdata`` runs them: the streamer in a thread with the paper matcher and the
ladder listener (``app.followups.ladder.on_market_update``); the in-process RQ worker
(``drain_queues``) runs the follow-ups and the exits. Waits are bounded; nothing asserts a duration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from app.db import unit_of_work
from app.domain.marketdata import Quote
from app.domain import ladder as model
from app.domain.enums import OrderSide
from app.execution import paper_matcher
from app.marketdata import cache
from app.followups import ladder
from app.marketdata.feed import FeedTuning
from app.marketdata.streamer import Streamer, StreamerTuning, add_listener, remove_listener
from app.persistence.models import EventRecord, ExitLadderRecord, OrderIntentRecord, OrderRecord, PositionRecord
from tests.conftest import drain_queues
from tests.test_marketdata import eventually
from tests.test_paper_market import BTC, configure, post, warm
from tests.venues.binance_public import FakeBinancePublic

LADDER = {
    "take_profits": [{"price": "60600", "fraction": "0.5"}, {"price": "61200", "fraction": "0.25"}],
    "stop_loss": "59000",
    "break_even_after": 1,
    "break_even_offset_percent": "0.1",
    "trailing_stop": {"percent": "1", "activation_price": "61000"},
}


class Market:
    """The fake exchange plus a streamer that can be restarted, as a market-data process can."""

    def __init__(self, fake: FakeBinancePublic) -> None:
        self.fake, self.streamer = fake, None

    def start(self) -> None:
        ladder.forget_active()
        self.streamer = Streamer(tuning=StreamerTuning(watch_refresh_seconds=1.0, candle_refresh_seconds=3600,
                                                       feed=FeedTuning(failure_backoff_seconds=0.2))).start_thread()
        add_listener(paper_matcher.on_market_update)
        add_listener(ladder.on_market_update)

    def stop(self) -> None:
        remove_listener(ladder.on_market_update)
        remove_listener(paper_matcher.on_market_update)
        self.streamer.stop_thread()


@pytest.fixture
def market(db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Market]:
    fake = FakeBinancePublic(heartbeat_s=0.3, spread_bps="2").start()
    configure(monkeypatch, tmp_path, fake)
    running = Market(fake)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        fake.stop()


def settle() -> None:
    """Run queued jobs until none are left (a job's follow-ups queue more jobs)."""
    for _ in range(10):
        if not drain_queues():
            return


def the_ladder() -> ExitLadderRecord:
    with unit_of_work() as session:
        return session.execute(select(ExitLadderRecord)).scalar_one()


def steps(client, admin, signal_id: str) -> list[dict]:
    trace = client.get(f"/api/v1/signals/{signal_id}", headers=admin).json()
    return [e["payload"] for e in trace["events"] if e["kind"] == "ladder.step"]


def position() -> D:
    with unit_of_work() as session:
        return session.execute(select(PositionRecord.quantity).where(PositionRecord.symbol == BTC)).scalar_one()


def exits() -> list[OrderRecord]:
    with unit_of_work() as session:
        return list(session.execute(
            select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
            .where(OrderIntentRecord.parent_intent_id.is_not(None)).order_by(OrderIntentRecord.sequence)).scalars())


def move_to(market: Market, price: str, until, what: str):
    market.fake.set_price(BTC, price)
    found = eventually(until, what=what)
    settle()
    return found


def test_two_take_profits_break_even_and_a_trailing_stop_run_to_completion(client, db, admin, market):
    market.fake.set_price(BTC, "60000")
    warm()
    answer = post(client, db, size="0.01", size_unit="base", exit_ladder=LADDER)
    settle()
    started = the_ladder()
    entry = started.entry_price
    assert (started.status, started.quantity, started.stop) == ("active", D("0.01"), D("59000"))

    move_to(market, "60700", lambda: the_ladder().taken == 1, "take-profit 1")
    assert the_ladder().stop == (entry * D("1.001")).quantize(D("1e-18"))  # break-even + 0.1 %
    version = the_ladder().version

    market.stop()  # the market-data process restarts while the price sits above take-profit 1
    market.start()
    warm()
    time.sleep(1.5)  # several fresh quotes at 60700 reach the new listener
    settle()
    assert the_ladder().version == version
    assert len(exits()) == 1

    move_to(market, "61300", lambda: the_ladder().taken == 2 and the_ladder().trail is not None, "take-profit 2")
    move_to(market, "61800", lambda: the_ladder().trail == D("61182"), "the trailing stop to rise")
    move_to(market, "61100", lambda: the_ladder().status == "done", "the trailing exit")

    assert [(o.side, o.status, o.filled_quantity) for o in exits()] == [
        ("sell", "FILLED", D("0.005")), ("sell", "FILLED", D("0.0025")), ("sell", "FILLED", D("0.0025"))]
    assert position() == 0
    trace = steps(client, admin, answer["signal_id"])
    assert [(s["step"], s.get("index")) for s in trace] == [
        ("started", None), ("take_profit", 1), ("break_even", 1), ("take_profit", 2), ("trailing_raised", None),
        ("trailing_raised", None), ("trailing_exit", None)]
    assert trace[1]["trigger"] == "60600" and trace[1]["quantity"] == "0.005"
    assert trace[4]["stop"] == "60687" and trace[5]["stop"] == "61182"
    assert trace[6]["trigger"] == "61182" and trace[6]["quantity"] == "0.0025"
    print_trace(client, admin, answer["signal_id"])


def print_trace(client, admin, signal_id: str) -> None:
    """The completed ladder's trace, for the closing note (pytest -s shows it)."""
    trace = client.get(f"/api/v1/signals/{signal_id}", headers=admin).json()
    for event in trace["events"]:
        print(event["kind"], {k: v for k, v in event["payload"].items() if k not in ("account_id", "ladder_id")})


def test_a_partial_entry_fill_resizes_the_ladder(client, db, admin, market):
    market.fake.set_book(BTC, bids=[("59990", "1")], asks=[("60000", "0.004"), ("60500", "5")])
    warm()
    # the cache holds this book, not the fixture's deeper one (which would fill the whole entry at once)
    eventually(lambda: cache.read_book("binance", BTC).asks[:2] == ((D("60000"), D("0.004")), (D("60500"), D("5"))),
               what="the thin book in the cache")
    # No update reaches the paper matcher until the entry's immediate part is checked: the fake's
    # book does not know that part took the 0.004 at 60000, so its next update would fill the rest.
    market.fake.freeze(BTC)
    ladder_spec = {"take_profits": [{"percent": "2", "fraction": "0.5"}], "stop_loss_percent": "5"}
    answer = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="60100",
                  exit_ladder=ladder_spec)
    settle()
    first = the_ladder()
    assert (first.quantity, first.entry_price) == (D("0.004"), D("60000"))  # what filled at once; the rest rests
    market.fake.set_price(BTC, "60050")  # the ask comes down through 60100: the resting rest fills
    market.fake.unfreeze(BTC)
    eventually(lambda: settle() or the_ladder().quantity == D("0.01"), what="the ladder to be re-sized")
    resized = the_ladder()
    assert resized.entry_price == D("60060")  # 0.004 @ 60000 + 0.006 @ 60100
    trace = steps(client, admin, answer["signal_id"])
    assert [(s["step"], s["quantity"]) for s in trace] == [("started", "0.004"), ("resized", "0.01")]
    move_to(market, "61300", lambda: the_ladder().taken == 1, "take-profit 1")  # 60060 + 2 % = 61261.2
    assert [(o.side, o.filled_quantity) for o in exits()] == [("sell", D("0.005"))]


def test_closing_the_position_by_an_exit_alert_cancels_what_is_left(client, db, admin, market):
    market.fake.set_price(BTC, "60000")
    warm()
    answer = post(client, db, size="0.01", size_unit="base", exit_ladder=LADDER)
    settle()
    assert the_ladder().status == "active"
    post(client, db, action="exit")
    settle()
    assert position() == 0
    assert the_ladder().status == "cancelled"
    market.fake.set_price(BTC, "60700")  # take-profit 1's price: nothing is left to take
    time.sleep(1.0)
    settle()
    assert exits() == []
    trace = steps(client, admin, answer["signal_id"])
    assert [s["step"] for s in trace] == ["started", "cancelled"]
    assert trace[1]["reason"] == "the position was closed" and trace[1]["left"] == "0.01"


def test_a_strategy_ladder_applies_to_its_entries(client, db, admin, market, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, market.fake, strategy=(
        "exit_ladder = { take_profits = [ { percent = 1, fraction = 1 } ], stop_loss_percent = 2 }"))
    market.fake.set_price(BTC, "60000")
    warm()
    post(client, db, size="0.01", size_unit="base")
    settle()
    started = the_ladder()
    assert started.stop == (started.entry_price * D("0.98")).quantize(D("1e-18"))
    move_to(market, "58500", lambda: the_ladder().status == "done", "the stop-loss")
    assert [(o.side, o.filled_quantity) for o in exits()] == [("sell", D("0.01"))]
    assert position() == 0


def test_one_trigger_seen_by_many_processes_acts_once(client, db, admin, market, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, market.fake, strategy=(
        '\n[notifications.channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        'events = ["exit_ladder"]'))
    market.stop()  # only the threads below step the ladder
    market.fake.set_price(BTC, "60000")
    answer = post(client, db, size="0.01", size_unit="base", price="60000", exit_ladder=LADDER)
    settle()
    ladder_id = the_ladder().id
    now = datetime.now(UTC)
    quote = Quote("binance", BTC, D("60690"), D("60710"), D("60700"), now, now)
    with ThreadPoolExecutor(8) as pool:
        moved = list(pool.map(lambda _: ladder.step(ladder_id, quote), range(8)))
    assert sorted(moved) == [0] * 7 + [2]  # take-profit 1 and the break-even move, by one of them
    with unit_of_work() as session:
        intents = session.execute(select(OrderIntentRecord.quantity).where(
            OrderIntentRecord.parent_intent_id.is_not(None))).scalars().all()
        notes = session.execute(select(EventRecord.payload).where(EventRecord.kind == "notification")
                                .order_by(EventRecord.created_at)).scalars().all()
    assert intents == [D("0.005")]
    assert [(n["kind"], n["payload"]["step"]) for n in notes] == [
        ("exit_ladder", "started"), ("exit_ladder", "take_profit"), ("exit_ladder", "break_even")]
    assert [s["step"] for s in steps(client, admin, answer["signal_id"])] == ["started", "take_profit", "break_even"]
    market.start()


# --------------------------------------------------------------------------- the pure model
def test_a_short_ladder_mirrors_a_long_one():
    spec = model.ExitLadder.model_validate({**LADDER, "take_profits": [{"percent": "1", "fraction": "0.5"}],
                                            "stop_loss": "61000", "trailing_stop": {"amount": "100"}})
    state = model.start(spec, OrderSide.SELL, D("60000"), D("2"))
    state, moves = model.advance(spec, state, D("59400"))
    assert [(m.kind, m.quantity, m.stop) for m in moves] == [
        ("take_profit", D("1.0"), None), ("break_even", None, D("59940.0")), ("trailing_raised", None, D("59500"))]
    state, moves = model.advance(spec, state, D("59500"))
    assert [(m.kind, m.quantity) for m in moves] == [("trailing_exit", D("1.0"))] and state.status == "done"
    assert model.advance(spec, state, D("50000")) == (state, [])  # done: acts once


def test_a_ladder_refuses_fractions_over_one_and_more_than_ten_targets():
    with pytest.raises(ValueError, match="add up to more than 1"):
        model.ExitLadder.model_validate({"take_profits": [{"price": "1", "fraction": "0.6"}] * 2})
    with pytest.raises(ValueError, match="at most 10"):
        model.ExitLadder.model_validate({"take_profits": [{"price": "1", "fraction": "0.01"}] * 11})
    with pytest.raises(ValueError, match="only 1 take-profits"):
        model.ExitLadder.model_validate({"take_profits": [{"price": "1", "fraction": "1"}], "break_even_after": 2})
