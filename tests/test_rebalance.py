"""Target weights and rebalancing (issue 19), through HTTP against the real PostgreSQL and Redis:
a portfolio signal (``"action": "rebalance"`` with ``weights``) moves the paper account's spot
holdings to the targets — sells first, then the buys re-sized to the cash the sells brought —
as one recorded decision with every leg in the trace and a ``rebalances`` row that ends
``complete`` or ``incomplete`` with the reason. Quotes are written into the market-data cache
as the streamer writes them; holdings are seeded by filling earlier orders on paper."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import count

import pytest
from sqlalchemy import select

from app.bootstrap import create_strategy, ensure_account
from app.config_file import AccountConfig, RiskLimits, StrategyConfig
from app.db import unit_of_work
from app.domain.marketdata import Quote
from app.execution.service import execute_intent
from app.marketdata import cache
from app.persistence.models import (
    Account,
    BalanceRecord,
    OrderIntentRecord,
    OrderRecord,
    RebalanceRecord,
    SignalRecord,
)
from app.portfolio import schedule, store
from tests.conftest import drain_queues

_keys = count()
# Quotes of the paper account's market-data source (binance): bid, ask; mid = (bid + ask) / 2.
QUOTES = {"BTC/USDT": ("49990", "50010"), "ETH/USDT": ("1999", "2001"), "SOL/USDT": ("99.9", "100.1")}


def write_quotes(quotes: dict[str, tuple[str, str]] = QUOTES) -> None:
    now = datetime.now(UTC)
    for symbol, (bid, ask) in quotes.items():
        cache.write_quote(Quote("binance", symbol, D(bid), D(ask), D(bid), now, now))


def alert(client, token: str, **body) -> dict:
    answer = client.post(f"/webhooks/tradingview/{token}",
                         json={"tradewire": 1, "idempotency_key": f"seed{next(_keys)}", **body})
    assert answer.status_code == 202, answer.text
    return answer.json()


def seed(client, token: str) -> None:
    """0.1 BTC bought at 40000 and 2 ETH at 1500 on paper (fee 0.1 %): cash 10000 − 4004 − 3003 = 2993 USDT."""
    alert(client, token, symbol="BTCUSDT", action="buy", size="0.1", price="40000")
    alert(client, token, symbol="ETHUSDT", action="buy", size="2", price="1500")
    drain_queues()
    assert holdings() == {"BTC": D("0.1"), "ETH": D("2"), "USDT": D("2993")}


def holdings() -> dict[str, D]:
    with unit_of_work() as session:
        rows = session.execute(select(BalanceRecord.currency, BalanceRecord.total)).all()
    return {currency: total.normalize() for currency, total in rows if total != 0}


def portfolio_strategy(portfolio: dict, name: str = "folio", **settings) -> str:
    """A strategy on the paper account with a ``[portfolio]`` table; returns its webhook token."""
    with unit_of_work() as session:
        paper = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        config = StrategyConfig.model_validate({"account": "paper", "portfolio": portfolio, **settings})
        return create_strategy(session, name, paper, settings=config).token


def rebalance(client, token: str, **body) -> dict:
    answer = client.post(f"/webhooks/tradingview/{token}", json={"tradewire": 1, "action": "rebalance", **body})
    assert answer.status_code == 202, answer.text
    return answer.json()


def rebalance_row(signal_id: str) -> RebalanceRecord:
    with unit_of_work() as session:
        row = session.execute(select(RebalanceRecord).where(RebalanceRecord.signal_id == signal_id)).scalar_one()
        session.expunge(row)
        return row


def orders_of(signal_id: str) -> list[tuple[str, str, D, str, datetime, datetime]]:
    """(symbol, side, filled quantity, status, intent created, order last updated), in creation order."""
    with unit_of_work() as session:
        rows = session.execute(
            select(OrderIntentRecord.symbol, OrderIntentRecord.side, OrderRecord.filled_quantity, OrderRecord.status,
                   OrderIntentRecord.created_at, OrderRecord.updated_at)
            .join(OrderRecord, OrderRecord.intent_id == OrderIntentRecord.id)
            .where(OrderIntentRecord.signal_id == signal_id).order_by(OrderIntentRecord.created_at)).all()
    return [tuple(r) for r in rows]


def test_three_asset_rebalance_gives_the_legs_computed_by_hand_sells_first(client, db, admin):
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 2})
    write_quotes()
    answer = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    assert answer["status"] == "accepted", answer

    # By hand (app.portfolio.legs): E = 2993 + 0.1·50000 + 2·2000 = 11993 USDT at mid.
    # Weights now: BTC 5000/11993 = 41.69 % (−8.31 pp), ETH 4000/11993 = 33.35 % (+3.35 pp), SOL 0 (−20 pp):
    # all beyond 2 pp. ETH target 0.3·11993/2000 = 1.79895 → sell 0.20105 ETH at the bid 1999,
    # proceeds 0.20105·1999·0.999 = 401.49705105 → cash 3394.49705105.
    # Buys wanted: BTC 0.5·11993/50000 − 0.1 = 0.01993, SOL 0.2·11993/100 = 23.986, costing at the ask with
    # the fee 0.01993·50010·1.001 + 23.986·100.1·1.001 = 3401.0955979 > 3394.49705105: each scaled by
    # s = 3394.49705105 / 3401.0955979 = 0.99805987…, truncated to 8 decimals (the paper venue's precision):
    # BTC 0.01993·s = 0.01989133, SOL 23.986·s = 23.93946418.
    row = rebalance_row(answer["signal_id"])
    assert row.status == "pending_sells"
    legs = {(leg["symbol"], leg["side"]): leg for leg in row.legs}
    assert {k: (D(v["quantity"]), v["status"]) for k, v in legs.items()} == {
        ("ETH/USDT", "sell"): (D("0.20105"), "ordered"),
        ("BTC/USDT", "buy"): (D("0.01989133"), "planned"),
        ("SOL/USDT", "buy"): (D("23.93946418"), "planned"),
    }
    assert D(legs[("ETH/USDT", "sell")]["price"]) == D("1999") and D(legs[("BTC/USDT", "buy")]["price"]) == D("50010")
    assert D(row.plan["equity"]) == D("11993")
    spent = D("0.01989133") * 50010 * D("1.001") + D("23.93946418") * D("100.1") * D("1.001")
    assert spent <= D("3394.49705105")  # the cash after the sell suffices, fees included

    drain_queues()  # the sell fills; its order.terminal lets the follow-up write the buys; they fill
    row = rebalance_row(answer["signal_id"])
    assert row.status == "complete", (row.status, row.reason, row.legs)
    placed = orders_of(answer["signal_id"])
    assert [(s, side, q, st) for s, side, q, st, _, _ in placed] == [
        ("ETH/USDT", "sell", D("0.20105"), "FILLED"),
        ("BTC/USDT", "buy", D("0.01989133"), "FILLED"),
        ("SOL/USDT", "buy", D("23.93946418"), "FILLED"),
    ]
    sell_done = placed[0][5]
    assert all(created > sell_done for _, side, _, _, created, _ in placed if side == "buy")  # buys after the sell ended

    after = holdings()
    assert after["ETH"] == D("1.79895") and after["BTC"] == D("0.11989133") and after["SOL"] == D("23.93946418")
    equity = after["USDT"] + after["BTC"] * 50000 + after["ETH"] * 2000 + after["SOL"] * 100
    weights = {a: after[a] * p / equity for a, p in (("BTC", 50000), ("ETH", 2000), ("SOL", 100))}
    assert all(abs(weights[a] - D(w)) < D("0.002") for a, w in (("BTC", "0.5"), ("ETH", "0.3"), ("SOL", "0.2")))

    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    checks = {c["check"]: c for c in trace["decision"]["checks"]}
    assert "equity 11993 USDT" in checks["rebalance"]["detail"]
    assert checks["ETH/USDT sell leg"]["detail"].startswith("sell 0.20105 ETH at 1999")
    assert "waits for the sells" in checks["SOL/USDT buy leg"]["detail"]
    assert checks["SOL/USDT buy caps"]["passed"] and checks["ETH/USDT sell venue_rules"]["passed"]
    assert [i["symbol"] for i in trace["intents"]] == ["ETH/USDT", "BTC/USDT", "SOL/USDT"]
    steps = [e["payload"]["step"] for e in trace["events"] if e["kind"] == "rebalance.step"]
    assert steps == ["decided", "buys_written", "complete"]

    print("\nREBALANCE LEGS", [(leg["symbol"], leg["side"], leg.get("planned", {}).get("quantity", leg["quantity"]),
                                  leg["quantity"], leg["filled_quantity"], leg["average_price"]) for leg in row.legs],
          "\nHOLDINGS BEFORE", {"BTC": "0.1", "ETH": "2", "USDT": "2993"}, "AFTER", after,
          "\nWEIGHTS AFTER", {a: f"{w:.4%}" for a, w in weights.items()})
    shown = client.get(f"/api/v1/rebalances/{row.id}", headers=admin).json()
    assert shown["status"] == "complete" and shown["signal_id"] == answer["signal_id"]
    assert {leg["symbol"]: leg["filled_quantity"] for leg in shown["legs"]} == {
        "ETH/USDT": "0.20105", "BTC/USDT": "0.01989133", "SOL/USDT": "23.93946418"}


def test_drift_below_the_threshold_orders_nothing_and_the_decision_says_why(client, db, admin):
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 5})
    write_quotes()
    # E = 11993: BTC 41.69 % vs 40 % (+1.69 pp), ETH 33.35 % vs 33 % (+0.35 pp): both within 5 pp.
    answer = rebalance(client, token, weights={"BTC": "0.4", "ETH": "0.33"})
    assert answer["status"] == "accepted" and answer["intents"] == 0, answer
    assert answer["reason"].startswith("nothing to order: no asset drifted beyond 5 pp"), answer["reason"]
    assert "BTC 41.69% → 40% (+1.69 pp)" in answer["reason"] and "ETH 33.35% → 33% (+0.35 pp)" in answer["reason"]
    row = rebalance_row(answer["signal_id"])
    assert (row.status, row.legs) == ("complete", []) and row.finished_at is not None
    drain_queues()
    assert orders_of(answer["signal_id"]) == [] and holdings() == {"BTC": D("0.1"), "ETH": D("2"), "USDT": D("2993")}
    trace = client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()
    assert trace["decision"]["approved"] and trace["decision"]["reason"] == answer["reason"]


def test_a_leg_denied_by_a_risk_cap_leaves_the_others_done_and_the_rebalance_incomplete(client, db, admin):
    seed(client, db)
    with unit_of_work() as session:
        ensure_account(session, "paper", AccountConfig(risk=RiskLimits(max_order_notional=D(2000))))
    token = portfolio_strategy({"drift_threshold": 2})
    write_quotes()
    answer = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    assert answer["status"] == "accepted", answer
    assert answer["reason"].startswith("SOL/USDT buy: order notional 2"), answer["reason"]  # ≈2396 USDT > 2000
    drain_queues()
    row = rebalance_row(answer["signal_id"])
    assert row.status == "incomplete", (row.status, row.legs)
    assert row.reason.startswith("SOL/USDT buy: denied: order notional") and "max_order_notional 2000" in row.reason
    legs = {leg["symbol"]: leg for leg in row.legs}
    assert (legs["ETH/USDT"]["status"], D(legs["ETH/USDT"]["filled_quantity"])) == ("filled", D("0.20105"))
    # Alone, the BTC buy is not scaled: 0.01993 BTC (0.5·11993/50000 − 0.1), as wanted.
    assert (legs["BTC/USDT"]["status"], D(legs["BTC/USDT"]["filled_quantity"])) == ("filled", D("0.01993"))
    assert legs["SOL/USDT"]["status"] == "denied"
    assert "SOL" not in holdings() and holdings()["BTC"] == D("0.11993")

    # The next rebalance starts from the real holdings: only SOL is still far from its target.
    with unit_of_work() as session:
        ensure_account(session, "paper", AccountConfig())
    write_quotes()
    again = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    legs = {(leg["symbol"], leg["side"]) for leg in rebalance_row(again["signal_id"]).legs}
    assert legs == {("SOL/USDT", "buy")}, legs


def test_a_wanted_asset_without_any_price_fails_its_leg_and_the_others_are_done(client, db):
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 2})
    write_quotes({k: v for k, v in QUOTES.items() if k != "SOL/USDT"})  # no SOL quote, no prices.SOL
    answer = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    assert answer["status"] == "accepted" and "SOL/USDT: no price for SOL/USDT" in answer["reason"], answer
    drain_queues()
    row = rebalance_row(answer["signal_id"])
    assert row.status == "incomplete" and row.reason.startswith("SOL/USDT buy: failed: no price for SOL/USDT"), row.reason
    assert {leg["symbol"]: leg["status"] for leg in row.legs} == {
        "ETH/USDT": "filled", "BTC/USDT": "filled", "SOL/USDT": "failed"}


def test_a_reference_price_far_from_the_market_refuses_the_rebalance_with_both_prices(client, db):
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 2}, max_price_deviation_bps=100)
    write_quotes()
    answer = rebalance(client, token, weights={"BTC": "0.5"}, prices={"BTC": "52000"})
    assert answer["status"] == "rejected", answer
    assert answer["reason"].startswith("prices.BTC 52000 is 400 bps from the binance market of BTC/USDT (mid 50000")
    assert rebalance_row(answer["signal_id"]).status == "rejected" and orders_of(answer["signal_id"]) == []


def test_reference_prices_price_the_legs_without_market_data(client, db):
    """All cash, no quote: the signal's prices size the buys (0.5·10000/40000 = 0.125 BTC,
    0.25·10000/2500 = 1 ETH; 3750 USDT with fees is within the cash, no scaling)."""
    token = portfolio_strategy({})
    answer = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.25"},
                       prices={"BTC": "40000", "ETH": "2500"})
    assert answer["status"] == "accepted" and answer["intents"] == 2, answer
    assert rebalance_row(answer["signal_id"]).status == "buying"  # no sell: the buys are written at once
    drain_queues()
    assert rebalance_row(answer["signal_id"]).status == "complete"
    assert holdings() == {"BTC": D("0.125"), "ETH": D("1"), "USDT": D("10000") - D("7500") * D("1.001")}


def test_a_rebalance_under_way_refuses_a_new_one_until_it_ends(client, db):
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 2})
    write_quotes()
    first = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    second = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    row = rebalance_row(first["signal_id"])
    assert second["status"] == "rejected" and f"rebalance {row.id} of account paper is still under way" in second["reason"]
    drain_queues()
    assert rebalance_row(first["signal_id"]).status == "complete"


def test_bare_weights_body_and_the_strategy_s_own_weights(client, db):
    token = portfolio_strategy({"weights": {"BTC": 0.2}})
    write_quotes()
    bare = client.post(f"/webhooks/tradingview/{token}", json={"weights": {"eth": 0.1}})
    assert bare.status_code == 202 and bare.json()["status"] == "accepted", bare.text
    with unit_of_work() as session:
        signal = session.get(SignalRecord, bare.json()["signal_id"])
        assert (signal.dialect, signal.action, signal.payload["weights"]) == ("tradewire", "rebalance", {"ETH": "0.1"})
    drain_queues()
    # ETH target 0.1·10000/2000 = 0.5 ETH at the ask 2001 with the fee: 1000.5 · 1.001 = 1001.5005 USDT
    assert holdings() == {"ETH": D("0.5"), "USDT": D("8998.4995")}
    write_quotes()
    own = rebalance(client, token)  # no weights: the strategy's, BTC 0.2
    assert own["status"] == "accepted", own
    legs = rebalance_row(own["signal_id"]).legs
    assert [(leg["symbol"], leg["side"]) for leg in legs] == [("ETH/USDT", "sell"), ("BTC/USDT", "buy")]


@pytest.mark.parametrize("weights, field", [
    ({"BTC": "0.7", "ETH": "0.4"}, "weights"),
    ({"BTC": "-0.1"}, "weights.BTC"),
    ({"BTC": "1.5"}, "weights.BTC"),
    ({"BTC": "abc"}, "weights.BTC"),
    ({"BTC/USDT": "0.5"}, "weights.BTC/USDT"),
    ("BTC", "weights"),
])
def test_bad_weights_are_a_422_naming_the_field(client, db, weights, field):
    answer = client.post(f"/webhooks/tradingview/{db}", json={"tradewire": 1, "action": "rebalance", "weights": weights})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field, answer.json()


def test_a_weight_on_the_quote_currency_is_refused(client, db):
    answer = rebalance(client, db, weights={"USDT": "0.5"})
    assert answer["status"] == "rejected" and answer["reason"].startswith("weights.USDT: USDT is the account's quote")


def test_dry_run_shows_the_legs_and_records_nothing(client, db, admin):
    seed(client, db)
    portfolio_strategy({"drift_threshold": 2})
    write_quotes()
    answer = client.post("/api/v1/signals/dry-run", params={"strategy": "folio"}, headers=admin,
                         json={"tradewire": 1, "action": "rebalance", "weights": {"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["approved"] and body["status"] == "pending_sells"
    assert [(leg["symbol"], leg["side"], leg["quantity"], leg["waits"]) for leg in body["legs"]] == [
        ("ETH/USDT", "sell", "0.20105", False), ("BTC/USDT", "buy", "0.01989133", True),
        ("SOL/USDT", "buy", "23.93946418", True)]
    assert body["rebalance"]["equity"] == "11993" and body["rebalance"]["prices"]["ETH"]["bid"] == "1999"
    assert body["orders"] == [{"symbol": "ETH/USDT", "side": "sell", "type": "market", "quantity": "0.20105",
                               "limit_price": None, "price": "1999", "notional": "401.89895", "reduce_only": True}]
    with unit_of_work() as session:
        assert session.execute(select(RebalanceRecord)).first() is None
        assert session.execute(select(SignalRecord).where(SignalRecord.action == "rebalance")).first() is None


def test_the_schedule_triggers_once_per_period(client, db, admin):
    portfolio_strategy({"weights": {"BTC": 0.5}, "every": "1d"})
    write_quotes()
    now = datetime.now(UTC)
    assert [d.key for d in schedule.due_at(now, {})] == [d.key for d in schedule.due_at(now, {})]  # one key per period
    assert schedule.run_due(now, last_checked={}) == 1
    drain_queues()
    assert schedule.run_due(now, last_checked={}) == 0  # already rebalanced this period
    assert schedule.run_due(now + timedelta(hours=23), last_checked={}) == 0
    write_quotes()  # fresh again (a quote older than 5 s is not used)
    assert schedule.run_due(now + timedelta(days=1, seconds=1), last_checked={}) == 1
    drain_queues()
    with unit_of_work() as session:
        signals = session.execute(select(SignalRecord.source, SignalRecord.action, SignalRecord.status)
                                  .where(SignalRecord.action == "rebalance")).all()
        rows = session.execute(select(RebalanceRecord.status).order_by(RebalanceRecord.created_at)).scalars().all()
    assert signals == [("schedule", "rebalance", "accepted")] * 2
    # The first bought 0.5·10000/50000 = 0.1 BTC; the second found BTC at 50.03 %: selling the 0.00006 BTC
    # over (about 3 USDT) is below the paper venue's minimum notional of 5 USDT, so it ordered nothing.
    assert rows == ["complete", "complete"] and holdings()["BTC"] == D("0.1")


def test_drift_from_market_data_triggers_a_rebalance_beyond_the_threshold_only(client, db):
    seed(client, db)
    portfolio_strategy({"weights": {"BTC": 0.45, "ETH": 0.35}, "drift_threshold": 5, "on_drift": True,
                        "drift_cooldown": "15m"})
    write_quotes()  # BTC 41.69 % (−3.31 pp), ETH 33.35 % (−1.65 pp): within 5 pp
    now = datetime.now(UTC)
    assert schedule.run_due(now, last_checked={}) == 0
    write_quotes({**QUOTES, "BTC/USDT": ("39990", "40010")})  # BTC 4000/10993 = 36.39 % (−8.61 pp)
    checked: dict = {}
    assert schedule.run_due(now, last_checked=checked) == 1
    assert schedule.run_due(now + timedelta(minutes=5), last_checked=checked) == 0  # under way, then the cooldown
    with unit_of_work() as session:
        signal = session.execute(select(SignalRecord).where(SignalRecord.action == "rebalance")).scalar_one()
    assert signal.source == "schedule" and signal.payload["comment"].startswith("drift: BTC/USDT -8.61 pp")


def test_the_buys_are_written_once_whoever_advances_the_rebalance_and_however_often(client, db):
    """The sell executed in-process (its order.terminal follow-up is queued, not yet run): two
    concurrent advances, then the queued follow-up and the scheduler's sweep, write one set of buys."""
    seed(client, db)
    token = portfolio_strategy({"drift_threshold": 2})
    write_quotes()
    answer = rebalance(client, token, weights={"BTC": "0.5", "ETH": "0.3", "SOL": "0.2"})
    row = rebalance_row(answer["signal_id"])
    [sell] = [leg for leg in row.legs if leg["side"] == "sell"]
    assert execute_intent(uuid.UUID(sell["intent_id"])).value == "FILLED"
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(store.advance, [row.id, row.id]))
    assert sorted(o.said.split(": ", 1)[1] for o in outcomes) == ["2 buy(s) written", "waiting for 2 order(s)"]
    assert store.advance_running() == 0  # nothing moves twice
    drain_queues()  # the queued order.terminal follow-up, then the buys
    assert rebalance_row(answer["signal_id"]).status == "complete"
    with unit_of_work() as session:
        intents = session.execute(select(OrderIntentRecord.symbol, OrderIntentRecord.side)
                                  .where(OrderIntentRecord.signal_id == answer["signal_id"])).all()
    assert sorted(intents) == [("BTC/USDT", "buy"), ("ETH/USDT", "sell"), ("SOL/USDT", "buy")]


def test_a_rebalance_from_the_rest_api_with_an_api_key(client, db, admin):
    portfolio_strategy({})
    key = client.post("/api/v1/api-keys", headers=admin, json={"name": "index", "strategies": ["folio"]}).json()["key"]
    answer = client.post("/api/v1/signals", headers={"Authorization": f"Bearer {key}"},
                         json={"action": "rebalance", "weights": {"BTC": "0.1"}, "prices": {"BTC": "40000"},
                               "idempotency_key": "index-2026-01-02"})
    assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
    drain_queues()
    assert holdings() == {"BTC": D("0.025"), "USDT": D("10000") - D("1000") * D("1.001")}  # 0.1·10000/40000
    with unit_of_work() as session:
        assert session.get(SignalRecord, answer.json()["signal_id"]).source == "rest"
    again = client.post("/api/v1/signals", headers={"Authorization": f"Bearer {key}"},
                        json={"action": "rebalance", "weights": {"BTC": "0.1"}, "idempotency_key": "index-2026-01-02"})
    assert again.json()["status"] == "duplicate"  # a retried target orders nothing
