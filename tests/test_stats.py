"""GET /api/v1/stats against a scripted history whose numbers were computed by hand.

The history (BTC/USDT on the paper account, fees in USDT, realised PnL per fill net of fees
as the ledger writes it; t = 2026-11-20T10:00Z, fills recorded ``latency`` ms after receipt):

  signal            strategy/source        ref    fill             fee   realised   latency
  X  t-2m           alpha / tradingview    —      invalid, no fill
  R  t-1m           model-x / prediction   —      rejected (confidence 0.55), no fill
  S1 t+0m  buy 1    alpha / tradingview    100    buy 1 @ 101      0.1   -0.1        40 ms
  P1 t+1m  buy 1    model-x / prediction   50     buy 1 @ 50.5     0      0          20 ms  (confidence 0.72)
  S2 t+2m  sell 1   alpha                  110    sell 1 @ 109     0.1    7.9        60 ms  ((109-101)·1 - 0.1)
  S3 t+3m  buy 2    alpha                  100    buy 2 @ 100      0.2   -0.2        30 ms
  P2 t+4m  sell 1   model-x                60     sell 1 @ 60      0      9.5        80 ms  ((60-50.5)·1; conf 0.91)
  S4 t+5m  sell 2   alpha                  95     sell 2 @ 94.5    0.2  -11.2       200 ms  ((94.5-100)·2 - 0.2)
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import create_strategy
from app.db import unit_of_work
from app.domain.intents import client_order_id_for
from app.persistence.models import (
    Account,
    FillRecord,
    OrderIntentRecord,
    OrderRecord,
    RiskDecisionRecord,
    SignalRecord,
)
from tests.conftest import drain_queues

T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _signal(session, strategy_id, source, at, status, *, ref=None, confidence=None, side="buy") -> uuid.UUID:
    payload = {"symbol": "BTC/USDT", "action": side}
    if ref is not None:
        payload["price"] = ref
    if confidence is not None:
        payload["confidence"] = confidence
    signal_id = uuid.uuid4()
    session.add(SignalRecord(
        id=signal_id, source=source, strategy_id=strategy_id, dialect=None if status == "invalid" else "tradewire",
        status=status, idempotency_key=str(signal_id), symbol="BTC/USDT", action=side,
        payload=None if status == "invalid" else payload, raw_body="{}", received_at=at,
        decided_at=None if status == "invalid" else at,
    ))
    return signal_id


def _filled(session, account_id, strategy_id, source, at, side, qty, ref, price, fee, pnl, latency_ms, confidence=None):
    """A signal → decision → intent → order → one fill, as the pipeline would have written them."""
    signal_id = _signal(session, strategy_id, source, at, "accepted", ref=ref, confidence=confidence, side=side)
    session.flush()
    decision_id, intent_id, order_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session.add(RiskDecisionRecord(id=decision_id, signal_id=signal_id, account_id=account_id, approved=True,
                                   checks=[], quantity=Decimal(qty), created_at=at))
    session.flush()
    coid = client_order_id_for(intent_id)
    session.add(OrderIntentRecord(id=intent_id, signal_id=signal_id, decision_id=decision_id, account_id=account_id,
                                  venue="paper", symbol="BTC/USDT", side=side, order_type="market",
                                  quantity=Decimal(qty), client_order_id=coid, status="done", created_at=at))
    session.flush()
    filled_at = at + timedelta(milliseconds=latency_ms)
    session.add(OrderRecord(id=order_id, intent_id=intent_id, account_id=account_id, venue="paper", symbol="BTC/USDT",
                            side=side, order_type="market", quantity=Decimal(qty), client_order_id=coid,
                            status="FILLED", filled_quantity=Decimal(qty), average_price=Decimal(price),
                            created_at=at))
    session.flush()
    session.add(FillRecord(order_id=order_id, account_id=account_id, venue="paper", trade_id=f"t-{coid}",
                           symbol="BTC/USDT", side=side, quantity=Decimal(qty), price=Decimal(price),
                           fee=Decimal(fee), fee_currency="USDT", realized_pnl=Decimal(pnl), ts_event=filled_at,
                           created_at=filled_at))


def script_history() -> None:
    with unit_of_work() as session:
        account = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        alpha = create_strategy(session, "alpha", account).id
        model = create_strategy(session, "model-x", account).id
        _signal(session, alpha, "tradingview", T - timedelta(minutes=2), "invalid")
        _signal(session, model, "prediction", T - timedelta(minutes=1), "rejected", ref="50", confidence="0.55")
        m = timedelta(minutes=1)
        _filled(session, account.id, alpha, "tradingview", T, "buy", "1", "100", "101", "0.1", "-0.1", 40)
        _filled(session, account.id, model, "prediction", T + m, "buy", "1", "50", "50.5", "0", "0", 20, "0.72")
        _filled(session, account.id, alpha, "tradingview", T + 2 * m, "sell", "1", "110", "109", "0.1", "7.9", 60)
        _filled(session, account.id, alpha, "tradingview", T + 3 * m, "buy", "2", "100", "100", "0.2", "-0.2", 30)
        _filled(session, account.id, model, "prediction", T + 4 * m, "sell", "1", "60", "60", "0", "9.5", 80, "0.91")
        _filled(session, account.id, alpha, "tradingview", T + 5 * m, "sell", "2", "95", "94.5", "0.2", "-11.2", 200)


def by_key(groups: list[dict]) -> dict[str, dict]:
    return {g["key"]: g for g in groups}


def test_stats_of_a_scripted_history_match_the_hand_computation(client, db, admin):
    script_history()
    stats = client.get("/api/v1/stats", headers=admin).json()
    overall = stats["overall"]
    # Signals: 6 accepted, R rejected, X invalid.
    assert overall["signals"] == {"accepted": 6, "rejected": 1, "duplicate": 0, "invalid": 1, "total": 8}
    # Closing fills (PnL before fees ≠ 0): S2 (+8), P2 (+9.5), S4 (-11); wins S2, P2 → 2/3.
    assert (overall["fills"], overall["closing_fills"], overall["wins"], overall["losses"]) == (6, 3, 2, 1)
    assert overall["win_rate"] == "0.6667"
    # -0.1 + 0 + 7.9 - 0.2 + 9.5 - 11.2 = 5.9; profit 7.9 + 9.5 = 17.4; loss 0.1 + 0.2 + 11.2 = 11.5.
    assert (overall["realized_pnl"], overall["gross_profit"], overall["gross_loss"]) == ("5.9", "17.4", "11.5")
    assert overall["profit_factor"] == "1.513"  # 17.4 / 11.5 = 1.51304… → 1.5130
    # Equity 0, -0.1, -0.1, 7.8, 7.6, 17.1, 5.9: the deepest fall is 17.1 → 5.9 = 11.2.
    assert overall["max_drawdown"] == "11.2"
    # bps (buys: paid above ref, sells: got below ref), weight = qty × price:
    #   S1 +100 × 101, P1 +100 × 50.5, S2 +(1/110)·1e4 = 90.909… × 109, S3 0 × 200, P2 0 × 60,
    #   S4 +(0.5/95)·1e4 = 52.631… × 189  →  (10100 + 5050 + 9909.0909 + 9947.3684) / 709.5 = 49.3396 → 49.34
    assert overall["avg_slippage_bps"] == "49.34"
    # Latencies 20, 30, 40, 60, 80, 200 ms: p50 = 3rd (⌈0.5·6⌉), p99 = 6th (⌈0.99·6⌉).
    assert (overall["latency_ms_p50"], overall["latency_ms_p99"]) == (40.0, 200.0)


def test_stats_per_strategy_source_and_confidence_bucket(client, db, admin):
    script_history()
    stats = client.get("/api/v1/stats", headers=admin).json()
    alpha = by_key(stats["by_strategy"])["alpha"]
    # alpha: -0.1, 7.9, -0.2, -11.2 → -3.6; closing S2 (win), S4 (loss); PF 7.9 / 11.5 = 0.68696 → 0.6870;
    # equity 0, -0.1, 7.8, 7.6, -3.6 → drawdown 7.8 - (-3.6) = 11.4;
    # slippage (10100 + 9909.0909 + 0 + 9947.3684) / (101 + 109 + 200 + 189) = 50.0108 → 50.01;
    # latencies 30, 40, 60, 200 → p50 2nd = 40, p99 4th = 200.
    assert alpha["signals"]["total"] == 5 and alpha["signals"]["invalid"] == 1
    assert (alpha["realized_pnl"], alpha["win_rate"], alpha["profit_factor"]) == ("-3.6", "0.5", "0.687")
    assert (alpha["max_drawdown"], alpha["avg_slippage_bps"]) == ("11.4", "50.01")
    assert (alpha["latency_ms_p50"], alpha["latency_ms_p99"]) == (40.0, 200.0)
    model = by_key(stats["by_strategy"])["model-x"]
    # model-x: 0 then 9.5; one closing fill, a win; no losses → no profit factor; never below its peak;
    # slippage (100 × 50.5 + 0 × 60) / 110.5 = 45.7013 → 45.70; latencies 20, 80.
    assert (model["realized_pnl"], model["win_rate"], model["profit_factor"]) == ("9.5", "1", None)
    assert (model["max_drawdown"], model["avg_slippage_bps"]) == ("0", "45.7")
    assert (model["latency_ms_p50"], model["latency_ms_p99"]) == (20.0, 80.0)
    assert by_key(stats["by_source"])["prediction"]["realized_pnl"] == "9.5"
    assert by_key(stats["by_source"])["tradingview"]["realized_pnl"] == "-3.6"
    buckets = by_key(stats["by_confidence"])
    assert set(buckets) == {"0.5-0.6", "0.7-0.8", "0.9-1.0"}
    assert buckets["0.5-0.6"]["signals"]["rejected"] == 1 and buckets["0.5-0.6"]["fills"] == 0
    assert (buckets["0.7-0.8"]["realized_pnl"], buckets["0.7-0.8"]["win_rate"]) == ("0", None)
    assert (buckets["0.9-1.0"]["realized_pnl"], buckets["0.9-1.0"]["win_rate"]) == ("9.5", "1")


def test_stats_time_range_keeps_signals_and_fills_inside_it(client, db, admin):
    script_history()
    since = (T + timedelta(minutes=3)).isoformat()
    overall = client.get("/api/v1/stats", params={"from": since}, headers=admin).json()["overall"]
    # S3, P2, S4 only: -0.2 + 9.5 - 11.2 = -1.9; equity 0, -0.2, 9.3, -1.9 → drawdown 11.2; wins P2 of P2, S4.
    assert overall["signals"] == {"accepted": 3, "rejected": 0, "duplicate": 0, "invalid": 0, "total": 3}
    assert (overall["fills"], overall["realized_pnl"], overall["max_drawdown"], overall["win_rate"]) == (
        3, "-1.9", "11.2", "0.5")
    until = client.get("/api/v1/stats", params={"to": since, "strategy": "alpha"}, headers=admin).json()["overall"]
    assert (until["fills"], until["realized_pnl"], until["signals"]["total"]) == (2, "7.8", 3)  # X, S1, S2


def test_stats_through_the_pipeline_agree_with_the_position(client, db, admin):
    def alert(action: str, target: str, prev: str, close: str, minute: int) -> bytes:
        return (f'{{"tradewire": 1, "symbol": "BINANCE:DOGEUSDT", "action": "{action}", "size": "100", '
                f'"size_unit": "base", "target_position": "{target}", "prev_position": "{prev}", '
                f'"price": "{close}", "signal_time": "2026-11-20T10:0{minute}:00Z"}}').encode()

    client.post(f"/webhooks/tradingview/{db}", content=alert("buy", "long", "flat", "0.1", 0))
    drain_queues()
    client.post(f"/webhooks/tradingview/{db}", content=alert("sell", "flat", "long", "0.12", 1))
    drain_queues()
    default = by_key(client.get("/api/v1/stats", headers=admin).json()["by_strategy"])["default"]
    positions = client.get("/api/v1/positions", headers=admin).json()
    assert default["signals"]["accepted"] == 2 and default["fills"] == 2
    assert default["realized_pnl"] == positions[0]["realized_pnl"]
    assert (default["closing_fills"], default["wins"]) == (1, 1)  # bought at 0.1, sold at 0.12
