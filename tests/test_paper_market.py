"""Paper trading that fills like a venue, from market data (issue 12).

The fake Binance public API (REST + WebSocket, tests/venues/binance_public.py) is the market:
the real ccxt.pro classes stream its quotes and books into the Redis cache (the streamer runs
in a thread, with the paper matcher listening, as ``tradewire marketdata`` runs them), risk
reads the cache, the paper venue walks the cached book, and the in-process RQ worker records.
Prices are moved by the test. Waits are bounded; nothing asserts a duration.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.domain.indicators import wilder_atr
from app.domain.marketdata import Candle
from app.execution import paper_matcher
from app.marketdata import cache
from app.marketdata.feed import FeedTuning
from app.marketdata.streamer import Streamer, StreamerTuning, add_listener, remove_listener
from app.persistence.models import BalanceRecord, FillRecord, OrderIntentRecord, OrderRecord, PositionRecord
from tests.conftest import corpus, drain_queues, rendered_bytes
from tests.test_marketdata import eventually, source_toml, use_config
from tests.venues.binance_public import FakeBinancePublic

BTC = "BTC/USDT"
H4 = 4 * 3600 * 1000


@pytest.fixture
def market(db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeBinancePublic]:
    """The default paper account priced by the fake Binance (max quote age 2 s), with the
    streamer and the paper matcher running."""
    fake = FakeBinancePublic(heartbeat_s=0.3, spread_bps="2").start()
    configure(monkeypatch, tmp_path, fake)
    streamer = Streamer(tuning=StreamerTuning(watch_refresh_seconds=1.0, candle_refresh_seconds=3600,
                                              feed=FeedTuning(failure_backoff_seconds=0.2))).start_thread()
    add_listener(paper_matcher.on_market_update)
    try:
        yield fake
    finally:
        remove_listener(paper_matcher.on_market_update)
        streamer.stop_thread()
        fake.stop()


def configure(monkeypatch, tmp_path, fake, risk: str = "", strategy: str = "") -> None:
    from app.bootstrap import apply_config
    from app.config_file import load_config
    from app.execution.venues.registry import venue_for
    from app.risk.market import forget_sources

    text = source_toml(fake, "max_quote_age_seconds = 2\n") + f"[accounts.paper]\nvenue = \"paper\"\n{risk}\n" \
        + f"[strategies.default]\naccount = \"paper\"\n{strategy}\n"
    use_config(monkeypatch, tmp_path, text)
    with unit_of_work() as session:
        apply_config(session, load_config(tmp_path / "tradewire.toml"))
    forget_sources()
    venue_for.cache_clear()


def post(client, token: str, **fields) -> dict:
    body = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "idempotency_key": str(time.time_ns())} | fields
    answer = client.post(f"/webhooks/tradingview/{token}", content=json.dumps(body))
    assert answer.status_code == 202, answer.text
    return answer.json()


def order_of(signal_id: str) -> OrderRecord | None:
    with unit_of_work() as session:
        return session.execute(select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
                               .where(OrderIntentRecord.signal_id == signal_id)
                               .order_by(OrderIntentRecord.sequence)).scalars().first()


def fills_of(order: OrderRecord) -> list[tuple[D, D, D]]:
    with unit_of_work() as session:
        rows = session.execute(select(FillRecord).where(FillRecord.order_id == order.id).order_by(FillRecord.trade_id))
        return [(f.price, f.quantity, f.fee) for f in rows.scalars()]


def warm(symbol: str = BTC) -> None:
    """The symbol is watched and its quote and book are cached (the streamer is streaming)."""
    cache.request("binance", symbol)
    eventually(lambda: cache.usable_book("binance", symbol, 2)[0], what=f"a fresh {symbol} book")


def test_corpus_30_prediction_fills_at_the_books_volume_weighted_ask_sized_by_atr_from_klines(
        client, admin, market, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, market, risk="risk = { sizing = \"atr_risk\", sizing_value = 1 }")
    now_ms = int(time.time() * 1000)
    rows = market.generate_candles(BTC, "4h", now_ms // H4 * H4 - 40 * H4, 40, seed=30, start_price="67000",
                                   volatility=0.01)
    market.set_book(BTC, bids=[("67400", "5")], asks=[("67500", "0.01"), ("67510", "0.02"), ("67600", "5")])
    warm()
    cache.request_candles("binance", BTC, "4h")  # as the first prediction for 4h would; waited for here
    closed = [Candle(datetime.fromtimestamp(r[0] / 1000, UTC), *(D(str(v)) for v in r[1:]))
              for r in rows if r[0] + H4 <= now_ms]
    from app.marketdata.candles import recent_candles
    eventually(lambda: len(recent_candles("binance", BTC, "4h", 15, sync=False)) == 15, what="4h candles stored")
    atr = wilder_atr(closed[-15:], 14)
    key = client.post("/api/v1/api-keys", headers=admin, json={"name": "p", "strategies": ["default"]}).json()["key"]

    answer = client.post("/api/v1/predictions", content=rendered_bytes(corpus("30")),
                         headers={"authorization": f"Bearer {key}", "content-type": "application/json"}).json()
    assert answer["status"] == "accepted", answer
    drain_queues()
    order = order_of(answer["signal_id"])
    quantity = (D(10000) * D(1) / 100 / (atr * D("1.5"))).quantize(D("1e-8"), rounding="ROUND_DOWN")
    assert (order.status, order.quantity) == ("FILLED", quantity)
    levels = [(D("67500"), D("0.01")), (D("67510"), D("0.02")), (D("67600"), quantity - D("0.03"))]
    assert [(p, q) for p, q, _ in fills_of(order)] == levels
    vwap = sum(p * q for p, q in levels) / quantity
    assert order.average_price == vwap.quantize(D("1e-18"))
    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    checks = {c["check"]: c for c in trace["decision"]["checks"]}
    assert checks["market"]["detail"].startswith("price: the binance ask 67500 (no price in the signal)")
    assert checks["sizing"]["detail"] == f"ATR(14) {atr.quantize(D('1e-8')).normalize():f} from 4h candles on binance"
    assert "priced from the binance order book (3 levels)" in trace["intents"][0]["order"]["reason"]


def test_a_thin_book_fills_partially_and_cancels_the_rest(client, db, market):
    market.set_book(BTC, bids=[("60000", "1")], asks=[("60100", "0.001"), ("60200", "0.002")])
    warm()
    answer = post(client, db, size="0.01", size_unit="base")
    drain_queues()
    order = order_of(answer["signal_id"])
    assert (order.status, order.filled_quantity) == ("CANCELED", D("0.003"))
    assert [(p, q) for p, q, _ in fills_of(order)] == [(D("60100"), D("0.001")), (D("60200"), D("0.002"))]
    assert "filled 0.003 of 0.01: the book had no more levels; the rest is cancelled" in order.reason
    with unit_of_work() as session:
        position = session.execute(select(PositionRecord.quantity).where(PositionRecord.symbol == BTC)).scalar_one()
    assert position == D("0.003")


def test_a_resting_limit_fills_when_the_market_crosses_it(client, db, market):
    market.set_price(BTC, "60000")
    warm()
    answer = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="59000")
    drain_queues()
    assert order_of(answer["signal_id"]).status == "ACCEPTED"  # resting below the market
    market.set_price(BTC, "59500")
    time.sleep(0.5)
    assert order_of(answer["signal_id"]).status == "ACCEPTED"  # not reached yet
    market.set_price(BTC, "58900")  # the ask passes through 59000
    order = eventually(lambda: (o := order_of(answer["signal_id"])).status == "FILLED" and o, what="the limit to fill")
    assert fills_of(order) == [(D("59000"), D("0.01"), D("0.59"))]  # at its price, maker fee 0.1%
    assert "resting limit filled at 59000" in order.reason
    with unit_of_work() as session:
        usdt = session.execute(select(BalanceRecord.total).where(BalanceRecord.currency == "USDT")).scalar_one()
    assert usdt == D("10000") - D("590") - D("0.59")


def test_a_stale_source_gives_the_freshness_reason(client, db, market):
    market.set_price(BTC, "60000")
    warm()
    market.freeze(BTC)
    eventually(lambda: cache.usable_quote("binance", BTC, 2)[0] is None, what="the quote to go stale")
    answer = post(client, db)  # no price in the signal: the default sizing needs the market's
    assert answer["status"] == "rejected"
    assert "no fresh quote for BTC/USDT on binance: last" in answer["reason"] and "s old, max 2 s" in answer["reason"]


def test_the_deviation_guard_rejects_with_both_prices(client, db, market, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, market, strategy="max_price_deviation_bps = 100")
    market.set_book(BTC, bids=[("59990", "1")], asks=[("60010", "1")])
    warm()
    answer = post(client, db, price="61000")
    assert answer["status"] == "rejected"
    assert answer["reason"] == ("price 61000 is 167 bps from the binance market (mid 60000, bid 59990, ask 60010); "
                                "max_price_deviation_bps is 100")
    assert post(client, db, price="60300")["status"] == "accepted"  # 50 bps: within the guard


def test_a_limit_offset_is_priced_from_the_market(client, db, market):
    market.set_book(BTC, bids=[("60000", "1")], asks=[("60010", "1")])
    warm()
    answer = post(client, db, size="0.01", size_unit="base", limit_offset="-0.5%")
    drain_queues()
    with unit_of_work() as session:
        intent = session.execute(select(OrderIntentRecord).where(OrderIntentRecord.signal_id == answer["signal_id"])).scalar_one()
    assert (intent.order_type, intent.limit_price) == ("limit", D("59700"))  # 0.5% under the bid
    assert order_of(answer["signal_id"]).status == "ACCEPTED"


def test_ioc_fok_and_post_only_behave_as_on_binance(client, db, market):
    market.set_book(BTC, bids=[("59990", "1")], asks=[("60010", "0.004"), ("60100", "1")])
    warm()
    ioc = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="60050", time_in_force="IOC")
    fok = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="60050", time_in_force="FOK")
    po = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="60050", time_in_force="PO")
    drain_queues()
    ioc_order, fok_order, po_order = (order_of(a["signal_id"]) for a in (ioc, fok, po))
    assert (ioc_order.status, ioc_order.filled_quantity) == ("EXPIRED", D("0.004"))
    assert (fok_order.status, fok_order.filled_quantity) == ("EXPIRED", D(0))
    assert po_order.status == "REJECTED" and "Order would immediately match and take" in po_order.reason


def test_a_stop_loss_triggers_from_market_data(client, db, market):
    market.set_price(BTC, "60000")
    warm()
    answer = post(client, db, size="0.01", size_unit="base", stop_loss="59000")
    drain_queues()  # the entry fills, then its stop-loss is written and rests on the paper venue
    drain_queues()
    with unit_of_work() as session:
        stop = session.execute(select(OrderRecord).join(OrderIntentRecord, OrderIntentRecord.id == OrderRecord.intent_id)
                               .where(OrderIntentRecord.purpose == "stop_loss")).scalar_one()
    assert stop.status == "ACCEPTED"
    market.set_price(BTC, "58800")
    eventually(lambda: order_of_id(stop.id).status == "FILLED", what="the stop-loss to fire")
    with unit_of_work() as session:
        position = session.execute(select(PositionRecord.quantity).where(PositionRecord.symbol == BTC)).scalar_one()
    assert position == 0
    assert "stop-loss triggered at 59000" in order_of_id(stop.id).reason


def order_of_id(order_id) -> OrderRecord:
    with unit_of_work() as session:
        return session.get(OrderRecord, order_id)


def test_without_market_data_a_signal_with_a_price_still_fills_and_says_which_price(client, db, admin):
    answer = post(client, db, price="123.5", symbol="BINANCE:SOLUSDT", size="1", size_unit="base")
    drain_queues()
    order = order_of(answer["signal_id"])
    assert (order.status, order.average_price) == ("FILLED", D("123.5"))
    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    market_check = next(c for c in trace["decision"]["checks"] if c["check"] == "market")
    assert market_check["detail"] == ("price: the sender's price 123.5 (no quote for SOL/USDT on binance yet (the binance "
                                      "market data is down: no market-data process (tradewire marketdata) has reported))")
    assert order.reason.startswith("priced from the signal's reference price (no book for SOL/USDT on binance yet")


def test_stats_show_slippage_against_the_market_at_receipt(client, db, admin, market):
    market.set_book(BTC, bids=[("59990", "1")], asks=[("60000", "0.001"), ("60060", "1")])
    warm()
    post(client, db, size="0.002", size_unit="base", price="59000")  # a stale sender's price
    drain_queues()
    overall = client.get("/api/v1/stats", headers=admin).json()["overall"]
    # filled 0.001 @ 60000 and 0.001 @ 60060: average 60030, 5 bps above the ask at receipt
    assert overall["avg_market_slippage_bps"] == "5"
    assert overall["avg_slippage_bps"] == "174.58"  # against the sender's 59000


def test_positions_are_marked_to_market_in_the_admin_api_and_metrics(client, db, admin, market):
    market.set_book(BTC, bids=[("60000", "1")], asks=[("60010", "1")])
    warm()
    post(client, db, size="0.01", size_unit="base")
    drain_queues()  # bought 0.01 at 60010, fee 0.6001
    market.set_book(BTC, bids=[("61000", "1")], asks=[("61010", "1")])
    eventually(lambda: (q := cache.read_quote("binance", BTC)) and q.bid == D("61000"), what="the new bid")
    view = client.get("/api/v1/accounts/paper", headers=admin).json()
    position = view["open_positions"][0]
    assert (position["mark_price"], position["notional"], position["unrealized_pnl"]) == ("61000", "610", "9.9")
    assert (D(view["equity_at_market"]), view["unrealized_pnl"], view["exposure"]) == (
        D("10000") - D("600.1") - D("0.6001") + D("610"), "9.9", "610")
    metrics = client.get("/metrics").text
    assert 'tradewire_unrealized_pnl{account="paper",symbol="BTC/USDT"} 9.9' in metrics


def test_a_slippage_cap_stops_the_book_walk_and_the_account_sets_its_fees(client, db, market, monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, market, risk="paper = { max_slippage_bps = 10, taker_fee_rate = 0.0005, "
                                                   "latency_ms = 20, latency_jitter_ms = 10 }")
    market.set_book(BTC, bids=[("59990", "1")], asks=[("60000", "0.001"), ("60050", "0.001"), ("60100", "1")])
    warm()
    answer = post(client, db, size="0.01", size_unit="base")
    drain_queues()
    order = order_of(answer["signal_id"])
    # 60000 × 1.001 = 60060 is the worst price the cap allows: the 60100 level is not taken
    assert (order.status, order.filled_quantity) == ("CANCELED", D("0.002"))
    assert fills_of(order) == [(D("60000"), D("0.001"), D("0.03")), (D("60050"), D("0.001"), D("0.030025"))]
    assert "within max_slippage_bps 10" in order.reason


def test_every_corpus_payload_that_lacked_a_price_fills_against_the_market(client, db, admin, market):
    """Corpus 16 (OctoBot: no price), 02 (TradersPost: a price), 03 (TradersPost: sell to flat, no
    price) and 30 (APIndicators prediction: no price) on the default paper account, as sent."""
    market.set_book(BTC, bids=[("67440", "1")], asks=[("67450", "1")])
    warm()
    key = client.post("/api/v1/api-keys", headers=admin, json={"name": "p", "strategies": ["default"]}).json()["key"]
    outcomes = {}
    for name in ("16", "02", "03", "30"):
        entry = corpus(name)
        if entry["kind"] == "prediction_api":
            answer = client.post("/api/v1/predictions", content=rendered_bytes(entry),
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        else:
            answer = client.post(f"/webhooks/tradingview/{db}", content=rendered_bytes(entry),
                                 headers={"content-type": entry["content_type"]})
        assert answer.json()["status"] == "accepted", (name, answer.json())
        drain_queues()
        order = order_of(answer.json()["signal_id"])
        outcomes[name] = (order.side, order.status, order.average_price)
    assert outcomes == {"16": ("buy", "FILLED", D("67450")), "02": ("buy", "FILLED", D("67450")),
                        "03": ("sell", "FILLED", D("67440")), "30": ("buy", "FILLED", D("67450"))}


def test_a_resting_paper_limit_can_be_cancelled_and_then_never_fills(client, db, admin, market):
    market.set_price(BTC, "60000")
    warm()
    answer = post(client, db, size="0.01", size_unit="base", order_type="limit", limit_price="59000")
    drain_queues()
    order = order_of(answer["signal_id"])
    assert order.status == "ACCEPTED"
    cancelled = client.post(f"/api/v1/orders/{order.id}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELED", cancelled.text
    market.set_price(BTC, "58000")  # through its price: nothing may fill now
    time.sleep(0.5)
    order = order_of(answer["signal_id"])
    assert (order.status, order.filled_quantity) == ("CANCELED", D(0))
    with unit_of_work() as session:
        assert session.execute(select(FillRecord)).first() is None
