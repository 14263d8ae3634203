"""Replay: a hand-computed case, determinism, live state untouched, the API job."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

DATA = Path(__file__).resolve().parent / "replay_data"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Hourly candles (open, high, low, close) of BTC/USDT on the source "replaytest", from T0.
HAND_CANDLES = [
    (100, 100, 100, 100),  # 00:00
    (100, 108, 99, 106),   # 01:00  trade 1 buys 1 at the open, 100
    (106, 112, 105, 110),  # 02:00
    (110, 121, 109, 120),  # 03:00  trade 1 sells at 110
    (120, 121, 119, 120),  # 04:00
    (120, 121, 109, 110),  # 05:00  trade 2 buys at 120
    (110, 111, 104, 105),  # 06:00
    (105, 106, 99, 100),   # 07:00  trade 2 sells at 105
    (100, 101, 99, 100),   # 08:00
    (100, 103, 99, 102),   # 09:00  trade 3 buys at 100
    (102, 105, 101, 104),  # 10:00
    (104, 105, 103, 104),  # 11:00  trade 3 sells at 104
    (104, 105, 103, 104),  # 12:00
]


def store_candles(source: str, symbol: str, timeframe: str, start: datetime, step: timedelta,
                  candles: list[tuple[float, float, float, float]]) -> None:
    from app.db import unit_of_work
    from app.marketdata.candles import upsert_candles

    rows = [{"source": source, "symbol": symbol, "timeframe": timeframe, "ts": start + step * k,
             "open": Decimal(str(o)), "high": Decimal(str(h)), "low": Decimal(str(low)), "close": Decimal(str(c)),
             "volume": Decimal(1)} for k, (o, h, low, c) in enumerate(candles)]
    with unit_of_work() as session:
        for k in range(0, len(rows), 5000):
            upsert_candles(session, rows[k:k + 5000])


def alert(at: datetime, action: str, target: str) -> str:
    body = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": action, "size": "1", "size_unit": "base",
            "target_position": target, "price": "100", "signal_time": at.replace(minute=0).isoformat()}
    return json.dumps({"received_at": at.isoformat(), "body": body})


def hand_request() -> dict:
    lines = []
    for hour, action, target in ((0, "buy", "long"), (2, "sell", "flat"), (4, "buy", "long"), (6, "sell", "flat"),
                                 (8, "buy", "long"), (10, "sell", "flat")):
        lines.append(alert(T0 + timedelta(hours=hour, minutes=30), action, target))
    return {
        "input": {"kind": "jsonl", "content": "\n".join(lines)},
        "since": T0.isoformat(), "until": (T0 + timedelta(hours=13)).isoformat(),
        "fill": {"source": "replaytest", "timeframe": "1h", "spread_bps": "0", "slippage_bps": "0",
                 "taker_fee_rate": "0.001", "fetch_missing": False},
        "mark_period": "1h",
    }


def test_three_hand_computed_trades_give_exact_pnl_drawdown_and_profit_factor(db):
    from app.replay.service import execute
    from app.replay.spec import load_request

    store_candles("replaytest", "BTC/USDT", "1h", T0, timedelta(hours=1), HAND_CANDLES)
    report = execute(load_request(hand_request()))
    section = report["configurations"][0]
    summary = section["summary"]
    # Each signal fills at the next candle's open; fee 0.1% of the notional on both sides.
    # Trade 1: buy 100 (fee 0.1), sell 110 (fee 0.11): +10 − 0.21 = 9.79
    # Trade 2: buy 120 (fee 0.12), sell 105 (fee 0.105): −15 − 0.225 = −15.225
    # Trade 3: buy 100 (fee 0.1), sell 104 (fee 0.104): +4 − 0.204 = 3.796
    assert [t["pnl"] for t in section["trades"]] == ["9.79", "-15.225", "3.796"]
    assert [(t["entry_price"], t["exit_price"]) for t in section["trades"]] == [("100", "110"), ("120", "105"),
                                                                                ("100", "104")]
    assert summary["realised_pnl"] == "-1.639"
    assert summary["fees"] == "0.639"
    assert summary["final_equity"] == "9998.361"
    assert summary["trades"] == 3 and summary["wins"] == 2 and summary["losses"] == 1
    # Profit factor: (9.79 + 3.796) / 15.225
    assert summary["profit_factor"] == round(13.586 / 15.225, 6)
    # Equity peaks at 10009.9 (cash 9899.9 + 1 BTC marked at the 02:00 candle's close 110, the
    # 03:00 mark); its low is 9994.465 right after trade 3's buy at 09:00 (cash 9894.465 + 1 BTC
    # at 100); it never regains the peak.
    drawdown = summary["max_drawdown"]
    assert drawdown["amount"] == "15.435"
    assert drawdown["percent"] == round(15.435 / 10009.9 * 100, 6)
    assert drawdown["peak_at"] == "2026-01-01T03:00:00+00:00"
    assert drawdown["trough_at"] == "2026-01-01T09:00:00+00:00"
    assert drawdown["recovered_at"] is None
    assert drawdown["duration_seconds"] == 10 * 3600
    # Each trade names the signal that opened and the one that closed it.
    first = section["trades"][0]
    assert first["entry_signal"]["ref"] == "line 1" and first["exit_signal"]["ref"] == "line 2"
    assert summary["signals"] == {"total": 6, "traded": 6, "untraded": 0}
    assert summary["exposure"] == round(6 / 13, 6)


def test_the_same_replay_twice_gives_the_same_bytes(db, monkeypatch):
    from app.replay import inputs
    from app.replay.report import dumps
    from app.replay.service import execute
    from app.replay.spec import load_request

    store_candles("replaytest", "BTC/USDT", "1h", T0, timedelta(hours=1), HAND_CANDLES)
    request = hand_request()
    request["configs"] = [{"name": "small", "risk": {"sizing": "fixed_base", "sizing_value": "0.5"}},
                          {"name": "cooldown", "risk": {"cooldown_seconds": 10800}}]
    first = dumps(execute(load_request(request))).encode()
    monkeypatch.setattr(inputs, "KEEP_SIGNALS", 0)  # the second run parses each signal again when it is replayed
    second = dumps(execute(load_request(json.loads(json.dumps(request))))).encode()
    assert first == second
    report = json.loads(first)
    assert [row["config"] for row in report["comparison"]] == ["small", "cooldown"]


LIVE_TABLES = ("SignalRecord", "RiskDecisionRecord", "OrderIntentRecord", "OrderRecord", "OrderEventRecord",
               "FillRecord", "PositionRecord", "BalanceRecord", "EventRecord", "Account", "Strategy")


def live_state() -> dict[str, object]:
    from app.db import unit_of_work
    from app.persistence import models

    with unit_of_work() as session:
        counts = {name: session.execute(select(func.count()).select_from(getattr(models, name))).scalar_one()
                  for name in LIVE_TABLES}
        counts["balances"] = sorted((b.currency, str(b.total)) for b in session.execute(
            select(models.BalanceRecord)).scalars())
        counts["positions"] = sorted((p.symbol, str(p.quantity)) for p in session.execute(
            select(models.PositionRecord)).scalars())
        counts["accounts"] = sorted((a.name, a.trading_state) for a in session.execute(select(models.Account)).scalars())
    return counts


def test_a_replay_of_stored_signals_changes_nothing_live(client, admin, db):
    from app.replay.service import create, run
    from app.db import unit_of_work
    from app.replay.spec import load_request
    from tests.conftest import corpus01_with_token

    store_candles("replaytest", "BTC/USDT", "1h", T0, timedelta(hours=1), HAND_CANDLES)
    for _ in range(2):
        answer = client.post(f"/webhooks/tradingview/{db}", content=corpus01_with_token(db))
        assert answer.status_code in (200, 202), answer.text
    before = live_state()
    assert before["SignalRecord"] >= 1
    request = load_request({"input": {"kind": "stored", "strategy": "default"},
                            "fill": {"source": "replaytest", "timeframe": "1h", "fetch_missing": False},
                            "configs": [{"name": "a"}, {"name": "b", "risk": {"sizing": "percent_equity",
                                                                              "sizing_value": "50"}}]})
    with unit_of_work() as session:
        replay_id = create(session, request)
    assert run(replay_id) == "done"
    assert live_state() == before
    with unit_of_work() as session:
        from app.persistence.models import ReplayRecord

        report = json.loads(session.get(ReplayRecord, replay_id).report)
    assert report["inputs"]["items"] == before["SignalRecord"]
    # The second alert repeats the first: the replay says so, as ingest did.
    reasons = [u["reason"] for u in report["configurations"][0]["untraded"]]
    assert any(r.startswith("duplicate of") or "candle" in r for r in reasons)


def drain_replay_queue() -> int:
    from rq import SimpleWorker

    from app.jobs.queue import JOB_SERIALIZER, get_redis
    from app.replay.jobs import get_replay_queue

    queue = get_replay_queue()
    before = queue.count
    SimpleWorker([queue], connection=get_redis(), serializer=JOB_SERIALIZER).work(
        burst=True, with_scheduler=False, logging_level="ERROR")
    return before


def test_the_api_runs_a_replay_as_a_job_and_returns_its_report(client, admin):
    store_candles("replaytest", "BTC/USDT", "1h", T0, timedelta(hours=1), HAND_CANDLES)
    request = hand_request()
    request["configs"] = [{"name": "base"}, {"name": "strict", "strategy": {"max_lag_seconds": 5}}]
    assert client.post("/api/v1/replays", json=request).status_code == 401
    answer = client.post("/api/v1/replays", json=request, headers=admin)
    assert answer.status_code == 202, answer.text
    replay_id = answer.json()["id"]
    queued = client.get(f"/api/v1/replays/{replay_id}", headers=admin).json()
    assert queued["status"] == "queued" and queued["report"] is None
    assert drain_replay_queue() == 1
    done = client.get(f"/api/v1/replays/{replay_id}", headers=admin).json()
    assert done["status"] == "done", done["error"]
    assert done["progress"]["signals_done"] == done["progress"]["signals_total"] == 12
    base, strict = done["report"]["comparison"]
    assert base["realised_pnl"] == "-1.639" and base["trades"] == 3
    # Every alert arrives 30 min after its bar: a 5 s max lag refuses them all, and says why.
    assert strict["trades"] == 0
    untraded = done["report"]["configurations"][1]["untraded"]
    assert len(untraded) == 6
    assert all(u["reason"].startswith("risk staleness: signal is 1800 s old") for u in untraded), untraded[0]
    raw = client.get(f"/api/v1/replays/{replay_id}/report", headers=admin)
    assert raw.status_code == 200 and json.loads(raw.content) == done["report"]


def test_a_configuration_the_settings_refuse_is_a_422(client, admin):
    request = hand_request()
    request["configs"] = [{"name": "bad", "strategy": {"min_confidence": 2}}]
    answer = client.post("/api/v1/replays", json=request, headers=admin)
    assert answer.status_code == 422
    assert "configs.bad" in answer.json()["message"]
